"""Throwaway certificates for tests, valid one day: TLS for loopback servers (openssl), S/MIME signers."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def self_signed_certificate(folder: Path, *, common_name: str, alt_name: str) -> tuple[Path, Path]:
    """Write a self-signed certificate and its key into ``folder``; ``alt_name`` like ``DNS:x`` or ``IP:y``."""
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            f"/CN={common_name}",
            "-addext",
            f"subjectAltName={alt_name}",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass(frozen=True)
class SmimeFiles:
    """A throwaway S/MIME signer: root CA (trust anchor), intermediate (the chain), signer certificate and key."""

    root: Path
    chain: Path
    cert: Path
    key: Path
    password: str | None


def smime_certificates(
    folder: Path, *, email: str, password: str | None = None, key_type: Literal["rsa", "ec"] = "rsa"
) -> SmimeFiles:
    """Write a root CA, an intermediate CA and a signer for ``email`` (valid one day) as PEM into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _certificate(_name("ewarn test root CA"), root_key, _name("ewarn test root CA"), root_key, ca=True)
    mid_key = ec.generate_private_key(ec.SECP256R1())
    mid = _certificate(_name("ewarn test CERT CA"), mid_key, root.subject, root_key, ca=True)
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if key_type == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    cert = _certificate(_name(email), key, mid.subject, mid_key, ca=False, email=email)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password is not None
        else serialization.NoEncryption()
    )
    files = SmimeFiles(
        root=folder / "root.pem",
        chain=folder / "chain.pem",
        cert=folder / "signer.pem",
        key=folder / "signer-key.pem",
        password=password,
    )
    files.root.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    files.chain.write_bytes(mid.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    return files


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: x509.Name,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    email: str | None = None,
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if email is not None:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        ).add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())
