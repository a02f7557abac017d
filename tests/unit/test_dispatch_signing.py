"""Standard Webhooks signatures, checked with the standardwebhooks library's own verifier."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from ewarn.dispatch.webhook import Signer, new_secret

BODY = b'{"type":"alert.created","data":{"id":"alr_1"}}'


def test_new_secret_format() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert new_secret() != secret


def test_signature_verifies_and_headers_are_complete() -> None:
    secret = new_secret()
    now = datetime.now(UTC)
    headers = Signer().headers(msg_id="msg_abc", timestamp=now, body=BODY, secrets=[secret])
    assert headers["webhook-id"] == "msg_abc"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert Webhook(secret).verify(BODY, headers) == {"type": "alert.created", "data": {"id": "alr_1"}}


def test_rotation_signs_with_both_and_either_secret_verifies() -> None:
    new, old = new_secret(), new_secret()
    headers = Signer().headers(msg_id="msg_r", timestamp=datetime.now(UTC), body=BODY, secrets=[new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert all(part.startswith("v1,") for part in headers["webhook-signature"].split(" "))
    Webhook(new).verify(BODY, headers)
    Webhook(old).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda h, b: ({**h, "webhook-id": "msg_other"}, b), id="other-id"),
        pytest.param(lambda h, b: (h, b.replace(b"alr_1", b"alr_2")), id="body-changed"),
        pytest.param(
            lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b), id="timestamp"
        ),
    ],
)
def test_tampering_breaks_the_signature(tamper) -> None:  # type: ignore[no-untyped-def]
    secret = new_secret()
    headers = Signer().headers(msg_id="msg_t", timestamp=datetime.now(UTC), body=BODY, secrets=[secret])
    headers, body = tamper(headers, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)


def test_stale_timestamp_is_rejected_by_receivers() -> None:
    secret = new_secret()
    old = datetime.now(UTC) - timedelta(minutes=10)
    headers = Signer().headers(msg_id="msg_s", timestamp=old, body=BODY, secrets=[secret])
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, headers)


@pytest.mark.parametrize(
    "body",
    [BODY, '{"title":"Überwachung - 病院","n":1}'.encode(), b"", b"x" * 70_000],
    ids=["ascii", "utf8", "empty", "big"],
)
def test_signature_is_the_librarys_byte_for_byte(body: bytes) -> None:
    """Signed here with one hmac.digest; the value is exactly what standardwebhooks' own signer writes."""
    secrets = [new_secret(), new_secret().removeprefix("whsec_")]  # with and without the prefix
    when = datetime(2026, 12, 3, 15, 4, 5, 987654, tzinfo=UTC)
    ours = Signer().signature(msg_id="dlv_Ünïcode", timestamp=when, body=body, secrets=secrets)
    theirs = " ".join(Webhook(s).sign("dlv_Ünïcode", when, body.decode()) for s in secrets)
    assert ours == theirs
