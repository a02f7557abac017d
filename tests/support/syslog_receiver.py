"""A syslog receiver on 127.0.0.1 for tests: TCP or TLS, octet-counted frames parsed as RFC 5424 + CEF."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.rfc5424 import SyslogMessage, parse, read_frames

LOOPBACK = "127.0.0.1"


def self_signed(folder: Path, *, dns_name: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``dns_name`` and 127.0.0.1 (cryptography, valid one day): cert, key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(dns_name), x509.IPAddress(ipaddress.ip_address(LOOPBACK))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "siem.pem", folder / "siem.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class SyslogReceiver:
    """Collects every byte each connection sent; ``messages`` parses them once the peer has closed."""

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.port = 0
        self.connections: list[bytes] = []
        self.handshake_failures = 0
        self._server: asyncio.Server | None = None
        self._arrived = asyncio.Event()

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(
            self._handle, LOOPBACK, port or self.port, ssl=self.tls, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            data = await reader.read()  # until the sender closes
        except (ssl.SSLError, ConnectionError):
            self.handshake_failures += 1
            data = b""
        finally:
            writer.close()
        if data:
            self.connections.append(data)
            self._arrived.set()

    def frames(self) -> list[bytes]:
        return [frame for data in self.connections for frame in read_frames(data)]

    def messages(self) -> list[SyslogMessage]:
        return [parse(frame) for frame in self.frames()]

    async def wait_frames(self, count: int, timeout: float = 10.0) -> list[SyslogMessage]:
        async with asyncio.timeout(timeout):
            while len(self.frames()) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.messages()


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def client_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))
