"""Live operator status: JSON for tools and a self-refreshing page for the operations room."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from ewarn.api.deps import OperatorDep, SessionDep
from ewarn.status.report import StatusReport, build_status

router = APIRouter(tags=["status"])


@router.get("/api/v1/status")
async def status(session: SessionDep, _: OperatorDep) -> StatusReport:
    return await build_status(session=session)


@router.get("/status", response_class=HTMLResponse, include_in_schema=False)
async def status_page() -> HTMLResponse:
    """The page holds no data itself; its script polls /api/v1/status with the operator's key."""
    page = resources.files("ewarn.status").joinpath("status.html").read_text(encoding="utf-8")
    return HTMLResponse(page)
