"""The problem+json answers the limits give before a request reaches its route."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

from fastapi.responses import JSONResponse

from ewarn.api.problems import problem


def refusal(status: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    response = problem(status, HTTPStatus(status).phrase, detail)
    if headers:
        response.headers.update(headers)
    return response


def unauthorized(detail: str) -> JSONResponse:
    return refusal(401, detail, {"WWW-Authenticate": "Bearer"})


def too_many(retry_after: int, detail: str) -> JSONResponse:
    return refusal(429, detail, {"Retry-After": str(retry_after)})
