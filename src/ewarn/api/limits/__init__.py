"""Bounded resources of the API: body limits, throttling, authentication before the body, the database
gate and the cap on open event streams. ``install_limits`` wires them into an application."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from ewarn.api.limits.bodylimit import BodyCaps, BodyLimitMiddleware
from ewarn.api.limits.guard import PRINCIPAL_SCOPE_KEY, ApiGuard, GuardMiddleware
from ewarn.api.limits.responses import refusal
from ewarn.runtime import Runtime
from ewarn.status.metrics import watch_auth_failures

__all__ = ["PRINCIPAL_SCOPE_KEY", "ApiGuard", "install_limits"]


def install_limits(app: FastAPI, runtime: Runtime) -> ApiGuard:
    """Add the limits to ``app``; the guard is ``app.state.guard`` and ``runtime.services["api_guard"]``."""
    guard = ApiGuard(runtime.settings.api.limits, runtime.sessions)
    # Added last = outermost. The body limit goes around the guard so that every early answer, the guard's
    # 401/429 included, says "Connection: close" when it leaves a body unread; the guard reads no body.
    app.add_middleware(GuardMiddleware, guard=guard)
    app.add_middleware(BodyLimitMiddleware, caps=BodyCaps.from_settings(runtime.settings))

    async def _pool_exhausted(_: Request, __: Exception) -> JSONResponse:
        guard.db.refused += 1
        return refusal(
            503,
            "no database connection came free in time; retry shortly",
            {"Retry-After": str(guard.limits.retry_after_seconds)},
        )

    app.add_exception_handler(PoolTimeoutError, _pool_exhausted)
    app.state.guard = guard
    watch_auth_failures(guard.counters)  # ewarn_auth_failures_total on /metrics
    runtime.services["api_guard"] = guard
    return guard
