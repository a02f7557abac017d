"""Integration formats: an alert written for the tool a hospital SOC already watches.

``teams`` (Adaptive Card), ``slack`` (Block Kit) and ``thehive`` (TheHive 5 alert) go out as webhook bodies
through the same guarded, retried outbox as the Standard Webhooks JSON; ``cef`` is the message of the syslog
channel. ``payload.render_body`` and ``jobs.webhook_body`` hand every format other than json and stix here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ewarn.dispatch.formats import cef, slack, teams, thehive
from ewarn.dispatch.payload import AlertData
from ewarn.models.alert import Alert
from ewarn.models.subscription import PayloadFormat

Rendered = tuple[bytes, str]


class DigestNotSupported(ValueError):
    """The format creates one record per alert (a TheHive alert, a syslog line): no digest message."""


@dataclass(frozen=True)
class Integration:
    render: Callable[[AlertData], Rendered]
    render_digest: Callable[..., Rendered] | None = None  # (alerts, *, window) → one message
    # Extra request headers from the subscription's stored secret (TheHive's API key); None: the body is
    # signed with the secret as a Standard Webhooks payload like any webhook.
    auth_headers: Callable[[str], dict[str, str]] | None = None


INTEGRATIONS: Mapping[str, Integration] = {
    PayloadFormat.TEAMS.value: Integration(teams.render, teams.render_digest),
    PayloadFormat.SLACK.value: Integration(slack.render, slack.render_digest),
    PayloadFormat.THEHIVE.value: Integration(thehive.render, auth_headers=thehive.auth_headers),
    PayloadFormat.CEF.value: Integration(cef.render),
}


def _integration(payload_format: str) -> Integration:
    found = INTEGRATIONS.get(payload_format)
    if found is None:
        raise ValueError(f"unknown payload format {payload_format!r}")
    return found


def render_integration(alert: Alert | dict[str, Any], *, payload_format: str) -> Rendered:
    """The body and content type of one alert in an integration format (``ValueError`` for an unknown one)."""
    return _integration(payload_format).render(AlertData.from_alert(alert))


def render_integration_digest(
    alerts: Sequence[Alert | dict[str, Any]], *, payload_format: str, window: str
) -> Rendered:
    """One digest message in an integration format; ``DigestNotSupported`` for one-record-per-alert formats."""
    integration = _integration(payload_format)
    if integration.render_digest is None:
        raise DigestNotSupported(f"the {payload_format} format has no digest message")
    return integration.render_digest([AlertData.from_alert(a) for a in alerts], window=window)


def supports_digest(payload_format: str) -> bool:
    found = INTEGRATIONS.get(payload_format)
    return found is None or found.render_digest is not None


def request_auth(payload_format: str, secrets: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """(secrets to sign with, extra headers) for a webhook in ``payload_format``.

    TheHive authenticates with the API key stored as the subscription's secret: it is sent as a header and
    nothing is signed with it. Every other format is signed with the whsec_ secret(s) as before.
    """
    found = INTEGRATIONS.get(payload_format)
    if found is None or found.auth_headers is None or not secrets:
        return list(secrets), {}
    return [], found.auth_headers(secrets[0])


__all__ = [
    "INTEGRATIONS",
    "DigestNotSupported",
    "Integration",
    "render_integration",
    "render_integration_digest",
    "request_auth",
    "supports_digest",
]
