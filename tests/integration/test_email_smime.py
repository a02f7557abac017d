"""S/MIME signed e-mail, read back from a real aiosmtpd server on loopback and verified with the openssl CLI."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtplib.email import flatten_message
from cryptography import x509
from pydantic import SecretStr, ValidationError
from tests.support.netutil import free_port
from tests.support.receivers import (
    SmtpReceiver,
    add_provider,
    add_subscription,
    dispatch_settings,
    publish,
    running_dispatch,
    sample_alert,
    wait_settled,
)
from tests.support.tls import SmimeFiles, smime_certificates

from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.dispatch.email import EmailSender, alert_email, digest_email, disabled_notice
from ewarn.dispatch.smime import SmimeSetupError
from ewarn.dispatch.worker import DispatchWorker
from ewarn.models.subscription import Channel
from ewarn.settings import SmtpSettings, load_settings
from ewarn.store.db import SessionFactory

TOPICS = Topics(prefix="t-smime")
SOC = "soc@st-elsewhere.example"
SENDER = "ewarn@csirt.example"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    server = SmtpReceiver(port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SmimeFiles:
    """RSA signer under an intermediate CA, its key encrypted."""
    return smime_certificates(tmp_path_factory.mktemp("smime-rsa"), email=SENDER, password=PASSWORD)


@pytest.fixture(scope="module")
def ec_pki(tmp_path_factory: pytest.TempPathFactory) -> SmimeFiles:
    """EC signer, plain key."""
    return smime_certificates(tmp_path_factory.mktemp("smime-ec"), email=SENDER, key_type="ec")


def _settings(port: int, files: SmimeFiles | None = None, *, chain: bool = True, **kw: Any) -> SmtpSettings:
    if files is not None:
        kw.update(smime_cert_file=files.cert, smime_key_file=files.key)
        if files.password is not None:
            kw["smime_key_password"] = SecretStr(files.password)
        if chain:
            kw["smime_chain_file"] = files.chain
    return SmtpSettings(host="127.0.0.1", port=port, sender=SENDER, timeout_seconds=5, **kw)


def openssl_verify(raw: bytes, trusted: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    """``openssl smime -verify`` trusting ``trusted`` only; writes the signed content and the signer's certificate."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "msg.eml").write_bytes(raw)
    return subprocess.run(
        [
            "openssl",
            "smime",
            "-verify",
            "-in",
            str(folder / "msg.eml"),
            "-CAfile",
            str(trusted),
            "-out",
            str(folder / "content.eml"),
            "-signer",
            str(folder / "signer.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _verified_content(folder: Path) -> EmailMessage:
    content = message_from_bytes((folder / "content.eml").read_bytes(), policy=policy.default)
    assert isinstance(content, EmailMessage)
    return content


def _text(message: EmailMessage, kind: str) -> str:
    """A body part's text; line ends as LF (parsed from the wire, quoted-printable text keeps CRLF)."""
    part = message.get_body((kind,))
    assert part is not None
    content: str = part.get_content()
    return content.replace("\r\n", "\n")


def _tampered(raw: bytes) -> bytes:
    """One byte of the signed text part changed: the TLP marking on its first line."""
    at = raw.index(b"TLP:AMBER", raw.index(b"Content-Type: text/plain"))
    return raw[: at + 8] + b"X" + raw[at + 9 :]


async def test_signed_alert_through_dispatch_verifies_and_tampering_fails(
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    smtp: SmtpReceiver,
    pki: SmimeFiles,
    tmp_path: Path,
) -> None:
    # German wording: umlauts make the text part 8-bit, which must be transfer-encoded before signing.
    await add_provider(sqlite_sessions, language="de")
    await add_subscription(sqlite_sessions, SOC, channel=Channel.EMAIL)
    alert = sample_alert(cves=["CVE-2024-3400"])
    async with running_dispatch(
        sessions=sqlite_sessions,
        bus=memory_bus,
        topics=TOPICS,
        settings=dispatch_settings(smtp=_settings(smtp.port, pki)),
    ):
        await publish(memory_bus, TOPICS, alert)
        [mail] = await smtp.wait_for(1)
        [row] = await wait_settled(sqlite_sessions, 1)
    [raw] = [m.raw for m in smtp.inbox]
    assert row.status == "delivered"

    # The envelope stays outside, for SOC mail rules; the body is multipart/signed.
    msg = mail.message
    assert msg["Subject"] == (
        f"[ewarn][HIGH][st-elsewhere] Known C2 server inside your range (alert {alert.id}) [TLP:AMBER]"
    )
    assert msg["From"] == SENDER and msg["To"] == SOC and msg["Date"]
    assert msg["Message-ID"] == f"<{row.id}@ewarn>" and msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Ewarn-Alert-Id"] == alert.id and msg["X-Ewarn-TLP"] == "TLP:AMBER"
    assert msg.get_content_type() == "multipart/signed"
    assert msg.get_param("protocol") == "application/pkcs7-signature"
    assert msg.get_param("micalg") == "sha-256"
    body, signature = msg.iter_parts()
    assert body.get_content_type() == "multipart/alternative"
    assert signature.get_content_type() == "application/pkcs7-signature"
    assert signature.get_filename() == "smime.p7s"
    assert all(name.lower().startswith("content-") for name in body), "no envelope header is signed"
    assert b"Content-Transfer-Encoding: 8bit" not in raw, "signed parts travel 7-bit"

    # openssl, trusting the root only: the intermediate must come with the signature (smime_chain_file).
    good = openssl_verify(raw, pki.root, tmp_path / "good")
    assert good.returncode == 0, good.stderr
    assert "Verification successful" in good.stderr
    signer = x509.load_pem_x509_certificate((tmp_path / "good" / "signer.pem").read_bytes())
    assert signer == x509.load_pem_x509_certificate(pki.cert.read_bytes())
    content = _verified_content(tmp_path / "good")
    assert content.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in content.iter_parts()] == ["text/plain", "text/html"]
    text, html = _text(content, "plain"), _text(content, "html")
    assert text.startswith("TLP:AMBER") and "Begründung" in text and alert.reason in text
    assert "CVE-2024-3400" in text and text.endswith("Bitte nicht antworten.\n")
    assert "TLP:AMBER" in html and "PACS DMZ" in html and "Begründung" in html
    assert text == _text(msg, "plain"), "a mail client shows the same text"

    # One byte of the signed text changed after signing: verification fails on the digest.
    bad = openssl_verify(_tampered(raw), pki.root, tmp_path / "bad")
    assert bad.returncode != 0
    assert "digest failure" in bad.stderr


def _alert_message(to: str, sender: str) -> EmailMessage:
    return alert_email(
        alert=sample_alert().model_dump(mode="json"), to=to, sender=sender, language="en", message_id="m1"
    )


def _digest_message(to: str, sender: str) -> EmailMessage:
    alerts = [sample_alert(severity="low", asset_id=f"ast_{i}").model_dump(mode="json") for i in range(3)]
    return digest_email(
        alerts=alerts,
        to=to,
        sender=sender,
        language="en",
        provider_id="st-elsewhere",
        window="hourly:2026-01-05T13",
        message_id="d1",
    )


def _owner_notice(to: str, sender: str) -> EmailMessage:
    return disabled_notice(
        to=[to],
        sender=sender,
        language="de",
        provider_id="st-elsewhere",
        subscription_id="sub_1",
        target="https://soc.st-elsewhere.example/hook",
        reason="410 Gone",
    )


@pytest.mark.parametrize(
    ("build", "header"),
    [
        pytest.param(_alert_message, "X-Ewarn-Alert-Id", id="alert"),
        pytest.param(_digest_message, "X-Ewarn-Digest", id="digest"),
        pytest.param(_owner_notice, "X-Ewarn-Subscription-Id", id="owner-notice"),
    ],
)
async def test_every_message_the_sender_sends_is_signed(
    smtp: SmtpReceiver,
    ec_pki: SmimeFiles,
    tmp_path: Path,
    build: Callable[[str, str], EmailMessage],
    header: str,
) -> None:
    # EC key without password, no chain file: openssl is given root and intermediate as trusted instead.
    sender = EmailSender(_settings(smtp.port, ec_pki, chain=False))
    original = build(SOC, SENDER)
    before = original.as_bytes()
    await sender.send(original)
    [mail] = await smtp.wait_for(1)
    assert original.as_bytes() == before, "the caller's message is not changed"
    assert mail.message.get_content_type() == "multipart/signed"
    assert mail.message["Subject"] == original["Subject"] and mail.message[header] == original[header]
    both = tmp_path / "root-and-chain.pem"
    both.write_bytes(ec_pki.root.read_bytes() + ec_pki.chain.read_bytes())
    result = openssl_verify(smtp.inbox[0].raw, both, tmp_path / "chained")
    assert result.returncode == 0, result.stderr
    content = _verified_content(tmp_path / "chained")
    assert [p.get_content_type() for p in content.iter_parts()] == ["text/plain", "text/html"]
    assert _text(content, "plain") == _text(original, "plain")
    assert _text(content, "html") == _text(original, "html")
    # Without the intermediate, nothing links the signer to the root: no chain file, no chain in the message.
    unchained = openssl_verify(smtp.inbox[0].raw, ec_pki.root, tmp_path / "unchained")
    assert unchained.returncode != 0 and "unable to get local issuer certificate" in unchained.stderr


async def test_unsigned_when_not_configured(smtp: SmtpReceiver) -> None:
    msg = _alert_message(SOC, SENDER)
    msg.as_bytes()  # fixes the multipart boundary, so the message flattens the same each time
    await EmailSender(_settings(smtp.port)).send(msg)
    [mail] = await smtp.wait_for(1)
    assert [m.raw for m in smtp.inbox] == [flatten_message(msg)], "sent exactly as built"
    assert mail.message.get_content_type() == "multipart/alternative"
    assert b"pkcs7" not in smtp.inbox[0].raw


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        pytest.param({"smime_cert_file": "cert.pem"}, "go together", id="cert-without-key"),
        pytest.param({"smime_key_file": "key.pem"}, "go together", id="key-without-cert"),
        pytest.param({"smime_key_password": "pw"}, "need smime_cert_file", id="password-alone"),
        pytest.param({"smime_chain_file": "chain.pem"}, "need smime_cert_file", id="chain-alone"),
    ],
)
def test_settings_reject_half_an_smime_configuration(fields: dict[str, str], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        SmtpSettings(**fields)


def test_settings_from_the_environment_keep_the_password_secret(
    monkeypatch: pytest.MonkeyPatch, pki: SmimeFiles
) -> None:
    monkeypatch.setenv("EWARN_SMTP__SMIME_CERT_FILE", str(pki.cert))
    monkeypatch.setenv("EWARN_SMTP__SMIME_KEY_FILE", str(pki.key))
    monkeypatch.setenv("EWARN_SMTP__SMIME_KEY_PASSWORD", PASSWORD)
    monkeypatch.setenv("EWARN_SMTP__SMIME_CHAIN_FILE", str(pki.chain))
    smtp = load_settings().smtp
    assert smtp.signs_email and smtp.smime_cert_file == pki.cert and smtp.smime_chain_file == pki.chain
    assert PASSWORD not in repr(load_settings()) and PASSWORD not in str(smtp.model_dump())
    EmailSender(smtp)  # loads


async def test_startup_stops_on_a_key_that_is_not_the_certificates(
    sqlite_sessions: SessionFactory, memory_bus: MemoryBus, pki: SmimeFiles, ec_pki: SmimeFiles
) -> None:
    settings = dispatch_settings(
        smtp=SmtpSettings(smime_cert_file=pki.cert, smime_key_file=ec_pki.key, smime_chain_file=pki.chain)
    )
    async with httpx.AsyncClient() as http:
        with pytest.raises(SmimeSetupError) as failure:
            DispatchWorker(
                sessions=sqlite_sessions, bus=memory_bus, topics=TOPICS, settings=settings, http=http
            )
    assert str(failure.value) == (
        f"S/MIME key {ec_pki.key} does not belong to the certificate {pki.cert} (CN={SENDER})"
    )


@pytest.mark.parametrize(
    ("case", "error"),
    [
        pytest.param("missing-cert", "S/MIME certificate {missing} cannot be read", id="missing-cert"),
        pytest.param("key-as-cert", "S/MIME certificate {key} holds no PEM certificate", id="key-as-cert"),
        pytest.param("missing-chain", "S/MIME chain {missing} cannot be read", id="missing-chain"),
        pytest.param("wrong-password", "S/MIME key {key} cannot be loaded", id="wrong-password"),
        pytest.param("no-password", "S/MIME key {key}: Password was not given", id="encrypted-no-password"),
        pytest.param("cert-as-key", "S/MIME key {cert} cannot be loaded", id="cert-as-key"),
    ],
)
def test_startup_errors_name_the_file(pki: SmimeFiles, tmp_path: Path, case: str, error: str) -> None:
    missing = tmp_path / "nowhere.pem"
    files: dict[str, Any] = {
        "smime_cert_file": pki.cert,
        "smime_key_file": pki.key,
        "smime_key_password": SecretStr(PASSWORD),
    }
    if case == "missing-cert":
        files["smime_cert_file"] = missing
    elif case == "key-as-cert":
        files["smime_cert_file"] = pki.key
    elif case == "missing-chain":
        files["smime_chain_file"] = missing
    elif case == "wrong-password":
        files["smime_key_password"] = SecretStr("not the password")
    elif case == "no-password":
        del files["smime_key_password"]
    elif case == "cert-as-key":
        files["smime_key_file"] = pki.cert
    expected = error.format(missing=missing, key=pki.key, cert=pki.cert)
    with pytest.raises(SmimeSetupError, match=re.escape(expected)) as failure:
        EmailSender(SmtpSettings(**files))
    assert "not the password" not in str(failure.value) and PASSWORD not in str(failure.value)
