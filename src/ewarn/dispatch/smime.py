"""S/MIME signing of outgoing e-mail: ``multipart/signed`` with a detached SHA-256 CMS signature (RFC 8551).

The signature comes from ``cryptography``'s ``PKCS7SignatureBuilder``; this module only decides what is signed
(the MIME body, in canonical CRLF form and 7-bit clean) and puts the envelope headers back on the outer message.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Sequence
from email import message_from_bytes, policy
from email.generator import BytesGenerator
from email.message import EmailMessage
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from pydantic import SecretStr

SIGNATURE_TYPE = "application/pkcs7-signature"
# The signed entity is written exactly as it travels: CRLF line ends (the canonical form S/MIME signs), lines
# folded at 78, and every header ASCII, so no generator on the way (aiosmtplib's included) rewrites it.
_CANONICAL = policy.default.clone(linesep="\r\n")
# Transfer encodings that leave the text as it is: 8-bit data may be re-encoded by a relay without 8BITMIME
# and trailing white space (the "-- " signature line) may be stripped; either breaks the signature.
_RAW_ENCODINGS = {"7bit", "8bit", "binary"}


class SmimeSetupError(Exception):
    """The S/MIME certificate, key or chain cannot be used; raised at start-up, naming the file."""


class SmimeSigner:
    """Signs messages with one certificate and key, loaded once; extra certificates travel with the signature."""

    def __init__(
        self,
        *,
        certificate: x509.Certificate,
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
        extra_certificates: Sequence[x509.Certificate] = (),
    ) -> None:
        self._certificate = certificate
        self._key = key
        self._extra = list(extra_certificates)

    def sign(self, message: EmailMessage) -> EmailMessage:
        """A new ``multipart/signed`` message: ``message``'s body signed, its envelope headers on the outside."""
        body = _signed_entity(message)
        builder = pkcs7.PKCS7SignatureBuilder().set_data(body)
        builder = builder.add_signer(self._certificate, self._key, hashes.SHA256())
        for cert in self._extra:  # last: set_data and add_signer return a builder without earlier extras
            builder = builder.add_certificate(cert)
        smime = builder.sign(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature])
        signed = message_from_bytes(smime, policy=policy.default)
        assert isinstance(signed, EmailMessage)
        # cryptography writes OpenSSL's legacy "application/x-pkcs7-signature"; RFC 8551 names it without "x-".
        # Both are outside the signed part, so they can be changed after signing.
        signed.set_param("protocol", SIGNATURE_TYPE)
        _, signature = signed.iter_parts()
        signature.set_type(SIGNATURE_TYPE)

        outer = EmailMessage()
        for name, value in message.items():
            if not _is_content_header(name):
                outer[name] = value
        for name, value in signed.items():
            outer[name] = value
        outer.preamble = signed.preamble
        outer.set_payload(list(signed.iter_parts()))
        return outer


def _is_content_header(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("content-") or lowered == "mime-version"


def _signed_entity(message: EmailMessage) -> bytes:
    """The body of ``message`` as a MIME entity: Content-* headers and parts only, 7-bit, CRLF."""
    entity = copy.deepcopy(message)
    for part in entity.walk():
        if (
            not part.is_multipart()
            and part.get("Content-Transfer-Encoding", "7bit").lower() in _RAW_ENCODINGS
        ):
            _transfer_encode(part)
        for name in {n for n in part if not n.lower().startswith("content-")}:
            del part[name]  # From, Subject, … stay outside; MIME-Version belongs to the outer message
    out = io.BytesIO()
    BytesGenerator(out, policy=_CANONICAL).flatten(entity)
    return out.getvalue()


def _transfer_encode(part: EmailMessage) -> None:
    """The same content, quoted-printable (text) or base64 (anything else)."""
    content = part.get_content()
    disposition, filename = part.get_content_disposition(), part.get_filename()
    if isinstance(content, str):
        part.set_content(
            content,
            subtype=part.get_content_subtype(),
            charset=part.get_content_charset("utf-8"),
            cte="quoted-printable",
            disposition=disposition,
            filename=filename,
        )
    else:
        part.set_content(
            content,
            maintype=part.get_content_maintype(),
            subtype=part.get_content_subtype(),
            cte="base64",
            disposition=disposition,
            filename=filename,
        )


def load_signer(
    *,
    cert_file: Path,
    key_file: Path,
    key_password: SecretStr | None = None,
    chain_file: Path | None = None,
) -> SmimeSigner:
    """Read the PEM files and check that the key belongs to the certificate; ``SmimeSetupError`` if not.

    ``cert_file`` may hold the chain after the signer's own certificate; ``chain_file`` adds more.
    """
    certificate, *extra = _certificates(cert_file, "certificate")
    if chain_file is not None:
        extra += _certificates(chain_file, "chain")
    key = _private_key(key_file, key_password)
    public = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*public) != certificate.public_key().public_bytes(*public):
        raise SmimeSetupError(
            f"S/MIME key {key_file} does not belong to the certificate {cert_file} "
            f"({certificate.subject.rfc4514_string()})"
        )
    return SmimeSigner(certificate=certificate, key=key, extra_certificates=extra)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SmimeSetupError(f"S/MIME {what} {path} cannot be read: {exc.strerror or exc}") from exc


def _certificates(path: Path, what: str) -> list[x509.Certificate]:
    data = _read(path, what)
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise SmimeSetupError(f"S/MIME {what} {path} holds no PEM certificate: {exc}") from exc


def _private_key(path: Path, password: SecretStr | None) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    data = _read(path, "key")
    secret = password.get_secret_value().encode() if password is not None else None
    try:
        key = serialization.load_pem_private_key(data, password=secret)
    except TypeError as exc:  # a password for a plain key, or none for an encrypted one
        raise SmimeSetupError(f"S/MIME key {path}: {exc}") from exc
    except ValueError as exc:  # not a PEM key, or the wrong password; the message never holds the password
        raise SmimeSetupError(
            f"S/MIME key {path} cannot be loaded (not a PEM private key, or the wrong password)"
        ) from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SmimeSetupError(f"S/MIME key {path} is a {type(key).__name__}; RSA or EC keys sign S/MIME here")
    return key
