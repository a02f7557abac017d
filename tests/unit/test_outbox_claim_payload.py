"""A claimed delivery's payload, read back as text: parsed as stored, repaired only when it must be."""

from __future__ import annotations

import json

from ewarn.store.repositories.deliveries import _claimed_payload
from ewarn.textsafe import REPLACEMENT


def test_a_plain_payload_comes_back_as_stored() -> None:
    payload = {"id": "alr_1", "title": "Überwachung - 病院", "n": [1, 2.5, None, True]}
    assert _claimed_payload(json.dumps(payload)) == payload
    assert _claimed_payload(json.dumps(payload, ensure_ascii=False)) == payload


def test_a_lone_surrogate_or_nul_is_repaired() -> None:
    assert _claimed_payload('{"name": "bad \\ud800 name"}') == {"name": f"bad {REPLACEMENT} name"}
    assert _claimed_payload('{"name": "nul \\u0000 here"}') == {"name": f"nul {REPLACEMENT} here"}


def test_no_payload_stays_none() -> None:
    assert _claimed_payload(None) is None
