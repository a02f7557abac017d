"""Who may read an alert of which TLP: one rule for every read path (REST, SSE, TAXII, exports) and channel.

TLP 2.0 (FIRST) read as ewarn's roles:

- **TLP:RED** — for the named recipients only. An alert names one provider (the hospital whose asset is hit):
  that provider reads it, and the operator who runs the service does. Its CSIRT does not.
- **TLP:AMBER+STRICT** — the recipient organisation only: again the provider (and the operator), not the CSIRT,
  which is another organisation.
- **TLP:AMBER, GREEN, CLEAR** — may be shared with those who need to act on it: the provider's CSIRT too.

Channels carry the same limits on their side (``CHANNEL_TLP_LIMIT``): a webhook goes to a target the provider
named (up to RED); e-mail leaves our control once sent (forwarding, mailing lists), so never RED.
"""

from __future__ import annotations

from ewarn.models.common import TLP
from ewarn.models.provider import Role
from ewarn.models.subscription import Channel

# The most restricted TLP each role reads of an alert it can see at all (tenancy decides which alerts that is).
ROLE_TLP_CEILING: dict[Role, TLP] = {
    Role.OPERATOR: TLP.RED,
    Role.PROVIDER: TLP.RED,  # only ever its own alerts
    Role.CSIRT: TLP.AMBER,  # its constituency's alerts, not RED and not AMBER+STRICT
}

# The most restricted TLP each channel can ever carry, whatever a subscription asks for.
CHANNEL_TLP_LIMIT: dict[Channel, TLP] = {
    Channel.WEBHOOK: TLP.RED,
    Channel.EMAIL: TLP.AMBER_STRICT,
    Channel.SYSLOG: TLP.AMBER_STRICT,  # the provider's own SIEM: its organisation, not named people
}


def role_tlp_ceiling(role: Role) -> TLP:
    """The most restricted TLP a principal of ``role`` may read."""
    return ROLE_TLP_CEILING[role]


def may_read(role: Role, tlp: TLP) -> bool:
    """Whether a principal of ``role`` may read an alert marked ``tlp`` (of a provider it can see)."""
    return tlp.rank <= ROLE_TLP_CEILING[role].rank


def readable_tlps(role: Role) -> frozenset[TLP] | None:
    """The TLP values ``role`` may read, for a database filter; None when every TLP is readable."""
    ceiling = ROLE_TLP_CEILING[role]
    if ceiling is TLP.RED:
        return None
    return frozenset(t for t in TLP if t.rank <= ceiling.rank)


def channel_carries(channel: Channel, tlp: TLP) -> bool:
    """Whether ``channel`` may ever carry an alert marked ``tlp``."""
    return tlp.rank <= CHANNEL_TLP_LIMIT[channel].rank
