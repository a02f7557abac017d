"""What one send through a channel came to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SendResult:
    """The outcome of one delivery attempt (after any redirects)."""

    status_code: int | None  # HTTP status, or the SMTP reply code when there is one
    latency_ms: float
    error: str | None = None
    retry_after: str | None = None  # the raw Retry-After header
    refused: bool = False  # we will not send there (SSRF guard, TLP): retrying cannot help
    ok: bool = False
    # failed here before reaching the endpoint (e.g. its secret cannot be decrypted): not the endpoint's health
    endpoint_untried: bool = False
