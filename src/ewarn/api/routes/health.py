"""Liveness (``/healthz``: the process answers, no database needed) and readiness (``/readyz``)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from ewarn.api.deps import SessionDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Answers as long as the event loop does: never waits for the database or its pool."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(session: SessionDep) -> dict[str, str]:
    """Ready when a database connection can be had within the API's wait (else 503 with Retry-After)."""
    await session.execute(text("SELECT 1"))
    return {"status": "ready"}
