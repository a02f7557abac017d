"""Throwaway TLS certificates for loopback servers in tests (openssl, self-signed, valid one day)."""

from __future__ import annotations

import subprocess
from pathlib import Path


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
