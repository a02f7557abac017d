"""The TLP read rule per role and the channel limits (TLP 2.0 as ewarn's roles read it)."""

from __future__ import annotations

import pytest

from ewarn.models.common import TLP
from ewarn.models.provider import Role
from ewarn.models.subscription import Channel
from ewarn.models.tlp_access import channel_carries, may_read, readable_tlps

READS = [
    pytest.param(Role.PROVIDER, TLP.RED, True, id="provider-red"),
    pytest.param(Role.PROVIDER, TLP.AMBER_STRICT, True, id="provider-amber-strict"),
    pytest.param(Role.OPERATOR, TLP.RED, True, id="operator-red"),
    pytest.param(Role.CSIRT, TLP.RED, False, id="csirt-not-red"),
    pytest.param(Role.CSIRT, TLP.AMBER_STRICT, False, id="csirt-not-amber-strict"),
    pytest.param(Role.CSIRT, TLP.AMBER, True, id="csirt-amber"),
    pytest.param(Role.CSIRT, TLP.GREEN, True, id="csirt-green"),
    pytest.param(Role.CSIRT, TLP.CLEAR, True, id="csirt-clear"),
]


@pytest.mark.parametrize(("role", "tlp", "allowed"), READS)
def test_may_read(role: Role, tlp: TLP, allowed: bool) -> None:
    assert may_read(role, tlp) is allowed
    tlps = readable_tlps(role)
    assert (tlps is None or tlp in tlps) is allowed


@pytest.mark.parametrize(
    ("channel", "tlp", "carried"),
    [
        pytest.param(Channel.WEBHOOK, TLP.RED, True, id="webhook-red"),
        pytest.param(Channel.EMAIL, TLP.RED, False, id="email-never-red"),
        pytest.param(Channel.EMAIL, TLP.AMBER_STRICT, True, id="email-amber-strict"),
    ],
)
def test_channel_limits(channel: Channel, tlp: TLP, carried: bool) -> None:
    assert channel_carries(channel, tlp) is carried
