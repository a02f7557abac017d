"""The FastAPI application factory. Every module in ``ewarn.api.routes`` with a ``router`` is mounted."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from fastapi import APIRouter, FastAPI

from ewarn import __version__
from ewarn.api import routes
from ewarn.api.limits import install_limits
from ewarn.api.problems import PROBLEM, install_problem_handlers
from ewarn.api.requestid import RequestIdMiddleware
from ewarn.runtime import Runtime


def _route_modules() -> list[APIRouter]:
    found: list[APIRouter] = []
    for info in sorted(pkgutil.iter_modules(routes.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{routes.__name__}.{info.name}")
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            found.append(router)
    return found


def create_app(runtime: Runtime) -> FastAPI:
    """Build the API over an existing runtime (the caller owns its lifecycle)."""
    app = FastAPI(
        title="ewarn",
        version=__version__,
        description="Early warning of cyber threats for hospitals: alerts, assets, subscriptions, feeds.",
        docs_url="/docs",
    )
    app.state.runtime = runtime
    install_problem_handlers(app)
    install_limits(app, runtime)
    for router in _route_modules():
        app.include_router(router, responses=LIMIT_RESPONSES if router.prefix.startswith("/api/") else None)
    app.add_middleware(RequestIdMiddleware)  # added last: outermost, so the limits' log lines carry it too
    return app


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": {"type": "object"}}}}


# What the limits may answer on any /api/ route before (or instead of) the route itself (README, security).
LIMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem("No API key, or not a valid one"),
    413: _problem("The request body is larger than this route's cap"),
    429: _problem("Too many requests or failed authentications; see Retry-After"),
    503: _problem("No database connection came free in time; see Retry-After"),
}
