"""Push: operators (or a source that pushes rather than waits to be polled) send a document directly."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status

from ewarn.api.deps import OperatorDep, RuntimeDep
from ewarn.ingest.audit import audit_ingest
from ewarn.ingest.models import IngestReport
from ewarn.ingest.service import ingest_service_for
from ewarn.models.common import TLP
from ewarn.models.provider import Principal

router = APIRouter(prefix="/api/v1/ingest", tags=["ingest"])

FeedIdQuery = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


async def _push(
    request: Request, runtime: RuntimeDep, principal: Principal, *, kind: str, feed_id: str, tlp: TLP
) -> IngestReport:
    cap = runtime.settings.ingest.max_payload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body larger than {cap} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > cap:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body larger than {cap} bytes")
    if not body:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "empty body")
    service = ingest_service_for(runtime)
    report = await service.ingest_bytes(payload=bytes(body), kind=kind, feed_id=feed_id, default_tlp=tlp)
    await audit_ingest(runtime.sessions, principal, "push", report, bytes=len(body), default_tlp=tlp.value)
    return report


@router.post("/stix")
async def push_stix(
    request: Request,
    runtime: RuntimeDep,
    principal: OperatorDep,
    feed_id: FeedIdQuery = "push-stix",
    default_tlp: TLP = TLP.CLEAR,
) -> IngestReport:
    """Ingest a STIX 2.0/2.1 bundle sent as the request body."""
    return await _push(request, runtime, principal, kind="stix_bundle", feed_id=feed_id, tlp=default_tlp)


@router.post("/csaf")
async def push_csaf(
    request: Request,
    runtime: RuntimeDep,
    principal: OperatorDep,
    feed_id: FeedIdQuery = "push-csaf",
    default_tlp: TLP = TLP.CLEAR,
) -> IngestReport:
    """Ingest one CSAF 2.0 advisory sent as the request body."""
    return await _push(request, runtime, principal, kind="csaf", feed_id=feed_id, tlp=default_tlp)
