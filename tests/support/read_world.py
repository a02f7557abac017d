"""A served API over a seeded set of alerts of every TLP, severity and indicator kind, for the read paths.

Built on ``ServedApi`` (uvicorn on loopback in its own thread): synchronous clients such as taxii2-client
call it directly. Alerts are stored the way the correlator stores them (``write_revisions`` then
``mark_published``), so the alert list, the event stream, TAXII and exports all read real rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ewarn.correlate.repository import mark_published, write_revisions
from ewarn.models.alert import Alert
from ewarn.models.common import TLP
from tests.support.receivers import sample_alert
from tests.support.served_api import OTHER, OWN, ServedApi

TLPS = (TLP.CLEAR, TLP.GREEN, TLP.AMBER, TLP.AMBER_STRICT, TLP.RED)
SEVERITIES = ("critical", "high", "medium", "low", "info")
KINDS = (
    ("ipv4", "203.0.113.{n}"),
    ("domain", "c2-{n}.evil.example"),
    ("vulnerability", "CVE-2024-{n:04d}"),
    ("sha256", "{n:064x}"),
    ("url", "http://evil.example/{n}?a='b'"),
)
START = datetime(2026, 11, 1, tzinfo=UTC)


def seeded_alerts(own: int = 30, other: int = 4) -> list[Alert]:
    """``own`` alerts of the own tenant (TLP, severity and kind cycling), ``other`` of the other tenant."""
    alerts: list[Alert] = []
    for n in range(own + other):
        provider = OWN if n < own else OTHER
        kind, template = KINDS[n % len(KINDS)]
        value = template.format(n=n + 1)
        when = START + timedelta(minutes=n)
        cves = [value] if kind == "vulnerability" else []
        alerts.append(
            sample_alert(
                provider_id=provider,
                asset_id=f"ast_{n:03d}",
                indicator_key=f"{kind}:{value}",
                indicator_type=kind,
                tlp=TLPS[n % len(TLPS)].value,
                severity=SEVERITIES[(n // len(TLPS)) % len(SEVERITIES)],
                title=f"Threat {n} against asset {n}"
                if n % 7
                else "=cmd|' /C calc'!A0 (a title that starts with =)",
                cves=cves,
                matched_at=when,
                created_at=when,
                updated_at=when,
            )
        )
    return alerts


def store_alerts(served: ServedApi, alerts: list[Alert]) -> None:
    """Store and publish-mark ``alerts`` in the served database (the correlator's two writes)."""
    runtime = served.runtime
    assert runtime is not None

    async def write() -> None:
        async with runtime.sessions() as session:
            await write_revisions(session=session, revisions=[(None, a) for a in alerts])
            await mark_published(session=session, alerts=alerts, now=datetime.now(UTC))
            await session.commit()

    served.run(write)


def readable(alerts: list[Alert], who: str) -> list[Alert]:
    """What ``who`` (a role of ``ServedApi``) may read of ``alerts``: tenancy, then the TLP read rule."""
    if who == "operator":
        return list(alerts)
    if who == "provider":
        return [a for a in alerts if a.provider_id == OWN]
    if who == "other":
        return [a for a in alerts if a.provider_id == OTHER]
    if who == "csirt":  # cert-de: the own tenant's constituency; never RED nor AMBER+STRICT
        return [a for a in alerts if a.provider_id == OWN and a.tlp not in (TLP.RED, TLP.AMBER_STRICT)]
    raise ValueError(who)
