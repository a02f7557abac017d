"""Syslog channel: alerts as RFC 5424 messages carrying CEF, over TCP (RFC 6587) or TLS (RFC 5425) to a SIEM.

Targets are ``syslog+tcp://host:port`` and ``syslog+tls://host:port`` (default ports 601 and 6514). The host
passes the same SSRF guard as webhooks (every resolved address checked, the operator's allow-list honoured)
and the connection goes to the checked address, the TLS server name staying the host. Each message is
framed by octet counting (``<length> <message>``, RFC 6587 section 3.4.1, the framing RFC 5425 requires), so
a message may hold any byte, line breaks included. A job (one alert, or a digest's alerts) is written on one
connection; a failed connect or write is an attempt failed, retried by the outbox like a webhook's.

The RFC 5424 header is written here rather than with a library: the RFC 5424 packages on PyPI
(``rfc5424-logging-handler``, ``syslog-rfc5424-formatter``) are handlers and formatters for the standard
``logging`` module, bound to log records and blocking sockets; none builds a message from given fields for an
asyncio sender that connects to a pinned address. The header is small and fully specified (section 6):
``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG``. The MSG is the CEF line in UTF-8 without a BOM
(RFC 5424 ``MSG-ANY``): CEF collectors read the line from its first byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from ewarn import __version__
from ewarn.dispatch.formats.cef import cef_line
from ewarn.dispatch.payload import AlertData
from ewarn.dispatch.result import SendResult
from ewarn.dispatch.ssrf import ResolutionFailed, SsrfGuard, SsrfRefused
from ewarn.models.alert import Alert, Severity

SCHEMES = {"syslog+tcp": 601, "syslog+tls": 6514}
FACILITY_SECURITY = 4  # RFC 5424 table 1: security/authorization messages
APP_NAME = "ewarn"
MSGID = "alert"
SEVERITY = {  # RFC 5424 table 2
    Severity.CRITICAL: 2,  # critical conditions
    Severity.HIGH: 3,  # error conditions
    Severity.MEDIUM: 4,  # warning conditions
    Severity.LOW: 5,  # normal but significant condition
    Severity.INFO: 6,  # informational messages
}
_ERROR_EXCERPT = 300
_NOT_PRINTUSASCII = re.compile(r"[^\x21-\x7e]")


@dataclass(frozen=True)
class SyslogTarget:
    tls: bool
    host: str
    port: int

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"


def parse_target(target: str) -> SyslogTarget:
    """``syslog+tcp://host[:port]`` or ``syslog+tls://host[:port]``; ``ValueError`` saying what is wrong."""
    try:
        url = httpx.URL(target)
    except (httpx.InvalidURL, ValueError) as exc:
        raise ValueError(f"not a URL: {exc}") from exc
    if url.scheme not in SCHEMES:
        raise ValueError("target must be syslog+tcp://host:port or syslog+tls://host:port")
    if not url.host:
        raise ValueError("target has no host")
    if url.raw_path not in (b"", b"/") or url.query or url.fragment or url.userinfo:
        raise ValueError("a syslog target is host and port only (no path, query or credentials)")
    return SyslogTarget(tls=url.scheme == "syslog+tls", host=url.host, port=url.port or SCHEMES[url.scheme])


def _printusascii(value: str, limit: int) -> str:
    """A header field: printable US-ASCII without spaces (RFC 5424 PRINTUSASCII), at most ``limit``; ``-`` if
    nothing is left (the NILVALUE)."""
    return _NOT_PRINTUSASCII.sub("", value)[:limit] or "-"


def _sd_value(value: str) -> str:
    """A structured-data parameter value: ``"``, ``\\`` and ``]`` escaped (RFC 5424 section 6.3.3)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with microseconds, as RFC 5424 section 6.2.3 allows (at most 6 fraction digits)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc5424_message(data: AlertData, *, hostname: str) -> bytes:
    """One alert as an RFC 5424 message: PRI from its severity, its revision's time, the CEF line as MSG."""
    pri = FACILITY_SECURITY * 8 + SEVERITY[data.severity]
    when = data.updated_at or data.created_at or data.matched_at
    header = " ".join(
        [
            f"<{pri}>1",
            _timestamp(when),
            _printusascii(hostname, 255),
            APP_NAME,
            "-",  # PROCID
            MSGID,
            f'[origin software="{_sd_value(APP_NAME)}" swVersion="{_sd_value(__version__)}"]',
        ]
    )
    return f"{header} {cef_line(data)}".encode()


def frame(message: bytes) -> bytes:
    """Octet-counting framing (RFC 6587 section 3.4.1): the message length in ASCII digits, a space, the bytes."""
    return str(len(message)).encode("ascii") + b" " + message


def messages_for(payloads: Sequence[Alert | dict[str, Any]], *, hostname: str) -> list[bytes]:
    """The RFC 5424 messages of a job's alerts, one per alert."""
    return [rfc5424_message(AlertData.from_alert(p), hostname=hostname) for p in payloads]


class SyslogSender:
    """Writes framed messages to a SIEM over TCP or TLS after the SSRF guard has checked the host.

    ``ssl_context`` verifies the SIEM's certificate (the system's trust store by default, which honours
    ``SSL_CERT_FILE`` for a private CA); tests pass one that trusts their self-signed certificate.
    """

    def __init__(
        self,
        *,
        guard: SsrfGuard,
        timeout_seconds: float,
        ssl_context: ssl.SSLContext | None = None,
        hostname: str | None = None,
    ) -> None:
        self._guard = guard
        self._timeout = timeout_seconds
        self._ssl = ssl_context
        self.hostname = hostname or socket.gethostname()

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    async def send(self, *, target: str, messages: Sequence[bytes]) -> SendResult:
        """Write ``messages`` on one connection; the outcome as a ``SendResult`` (never raises for I/O)."""
        started = time.perf_counter()
        try:
            parsed = parse_target(target)
        except ValueError as exc:
            return SendResult(None, _ms(started), f"refused: {exc}"[:_ERROR_EXCERPT], refused=True)
        try:
            # The guard checks http(s) URLs: the same host and port in one, so names, address spellings and
            # the allow-list are decided exactly as for a webhook.
            pinned = await self._guard.check(httpx.URL(scheme="https", host=parsed.host, port=parsed.port))
            async with asyncio.timeout(self._timeout * 2):
                await self._write(parsed, str(pinned.address), messages)
        except SsrfRefused as exc:
            return SendResult(None, _ms(started), f"refused: {exc}"[:_ERROR_EXCERPT], refused=True)
        except ResolutionFailed as exc:
            return SendResult(None, _ms(started), f"dns: {exc}"[:_ERROR_EXCERPT])
        except TimeoutError:
            return SendResult(None, _ms(started), f"timeout: no connection within {self._timeout * 2:g}s")
        except (OSError, ssl.SSLError) as exc:  # a certificate refused too: the SIEM's owner can fix it
            return SendResult(None, _ms(started), f"syslog: {type(exc).__name__}: {exc}"[:_ERROR_EXCERPT])
        return SendResult(None, _ms(started), None, ok=True)

    async def _write(self, target: SyslogTarget, address: str, messages: Sequence[bytes]) -> None:
        tls = self._ssl_context() if target.tls else None
        _, writer = await asyncio.open_connection(
            address, target.port, ssl=tls, server_hostname=target.host if tls is not None else None
        )
        try:
            writer.write(b"".join(frame(m) for m in messages))
            await writer.drain()
        finally:
            writer.close()
            # A close that fails after the bytes were written and drained does not undo the delivery.
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
