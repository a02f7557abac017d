"""RFC 9457 problem+json for every API error, and the OpenAPI description of those errors."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from ewarn.models.common import storable_text

PROBLEM = "application/problem+json"
_WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})
_METHODS = _WRITE_METHODS | {"get", "head", "options"}
# What any /api/ operation may answer before or besides its own result: no or a wrong key (401), a role
# without the right (403), another tenant's or a missing resource (404), invalid input (422), throttled (429),
# no database connection free in time (503). Writes may also send a body that is not JSON (400), meet a
# conflicting state (409) or send a body over the limit (413).
_API_PROBLEMS = (401, 403, 404, 422, 429, 503)
_WRITE_PROBLEMS = (400, 409, 413)
_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["type", "title", "status"],
}


def problem(status: int, title: str, detail: Any = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = storable_text(exc.detail) if isinstance(exc.detail, str) else exc.detail
        resp = problem(exc.status_code, _title(exc.status_code), detail)
        # FastAPI's 401 carries WWW-Authenticate, Starlette's 405 an Allow header.
        if exc.headers:
            resp.headers.update(exc.headers)
        if exc.status_code == 405:
            resp.headers["Allow"] = ", ".join(_allowed_methods(request))
        return resp

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        # a location names the caller's keys, which may hold what no response can carry (lone surrogates)
        errors = [
            {
                "loc": [storable_text(p) if isinstance(p, str) else p for p in e.get("loc", ())],
                "msg": storable_text(str(e.get("msg"))),
                "type": e.get("type"),
            }
            for e in exc.errors()
        ]
        return problem(422, "Unprocessable Content", "request validation failed", errors=errors)

    app.openapi = _with_problems(app.openapi)  # type: ignore[method-assign]


def _with_problems(build: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """Document the problem+json answers on every operation (generated clients and fuzzers rely on them)."""
    done: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if done:
            return done
        schema = build()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = _PROBLEM_SCHEMA
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                if method in _METHODS:
                    _document(operation, api=path.startswith("/api/"), write=method in _WRITE_METHODS)
        done.update(schema)
        return done

    return openapi


def _document(operation: dict[str, Any], *, api: bool, write: bool) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    statuses = {int(code) for code in responses if code.isdigit() and int(code) >= 400}
    if api:
        statuses.update(_API_PROBLEMS)
        if write:
            statuses.update(_WRITE_PROBLEMS)
    for status in sorted(statuses):
        entry = responses.setdefault(str(status), {"description": _title(status)})
        if set(entry.get("content", {})) - {"application/json", PROBLEM}:
            continue  # a route with its own error format (TAXII's error message) keeps it
        entry["content"] = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this path (Starlette names only the first route that matched)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if isinstance(route, Route) and match is not Match.NONE:
            methods.update(route.methods or ())
    return sorted(methods)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
