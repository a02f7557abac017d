"""``GET /metrics``: the Prometheus text exposition of this API process, for operator keys.

Authenticated and throttled like every ``/api/`` route (the guard admits ``/metrics`` the same way): the
series name feeds and count failed logins, which only operators see. Prometheus sends the key with
``authorization: {type: Bearer, credentials_file: ...}``. Role processes without the API export the same
registry unauthenticated on ``EWARN_METRICS__PORT`` (loopback by default).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from ewarn.api.deps import OperatorDep, SessionDep
from ewarn.status.metrics_export import exposition, sample_database

router = APIRouter(tags=["status"])

METRICS_PATH = "/metrics"


@router.get(
    METRICS_PATH,
    response_class=Response,
    responses={200: {"description": "Prometheus text exposition", "content": {"text/plain": {}}}},
)
async def metrics(session: SessionDep, _: OperatorDep) -> Response:
    """Every ``ewarn_*`` series of this process, database gauges sampled now."""
    await sample_database(session)
    body, content_type = exposition()
    return Response(content=body, media_type=content_type)
