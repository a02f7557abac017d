"""What the correlator sets aside alone: alert revisions no encoder takes, and assets wider than the scope rules.

Pure functions over models; the worker writes what they return to the quarantine table and goes on.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from ewarn.correlate.repository import STAGE, alert_key
from ewarn.inventory.scope import scope_refusal
from ewarn.models import Alert, Asset
from ewarn.models.alert_fast import alert_json
from ewarn.settings import AssetScopeSettings
from ewarn.store.repositories.quarantine import Quarantined


def encode_alerts(
    alerts: Sequence[Alert], *, why: str
) -> tuple[list[tuple[Alert, bytes]], list[Quarantined]]:
    """Each alert with its message bytes, serialised alone; and those that cannot be, with their reason.

    Cannot be: text that is no valid UTF-8 (a lone surrogate), or a NUL, which PostgreSQL cannot store.
    The bytes are ``model_dump_json``'s, written by ``alert_json`` (a sixth of the stage's CPU saved).
    """
    out: list[tuple[Alert, bytes]] = []
    bad: list[Quarantined] = []
    for alert in alerts:
        try:
            value = alert_json(alert)
        except (TypeError, ValueError) as exc:  # orjson refuses a lone surrogate
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if b"\\u0000" not in value:
                out.append((alert, value))
                continue
            problem = "holds a NUL character, which PostgreSQL cannot store"
        bad.append(
            Quarantined(
                kind="alert",
                key=alert_key(alert.id, alert.revision),
                stage=STAGE,
                reason=f"{why}: {problem}",
                original=alert.model_dump(mode="json"),
                provider_id=alert.provider_id,
            )
        )
    return out, bad


def out_of_scope(
    asset: Asset, rules: AssetScopeSettings, approved: Collection[tuple[str, str]]
) -> Quarantined | None:
    """The quarantine record of an asset wider than the rules allow without approval (None: in scope)."""
    why = scope_refusal(asset, rules, approved)
    if why is None:
        return None
    return Quarantined(
        kind="asset",
        key=asset.id,
        stage=STAGE,
        reason=f"out of scope, left out of the index: {why}",
        original=asset.model_dump(mode="json"),
        provider_id=asset.provider_id,
    )
