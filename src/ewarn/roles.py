"""Start the roles of ewarn in this process: one (``ewarn run ROLE``) or all (``ewarn serve``)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from ewarn.bootstrapkey import install_bootstrap_key
from ewarn.logging import get_logger
from ewarn.runtime import Runtime
from ewarn.status.heartbeat import Heartbeat
from ewarn.status.metrics_export import exporting
from ewarn.store.migrate import upgrade_to_head

if TYPE_CHECKING:
    import uvicorn

log = get_logger(__name__)

ROLES = ("ingest", "correlate", "dispatch", "api")


class Worker(Protocol):
    async def run(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class RoleSet:
    """The running workers of this process and how to stop them."""

    runtime: Runtime
    http: httpx.AsyncClient
    workers: dict[str, Worker] = field(default_factory=dict)
    heartbeats: list[Heartbeat] = field(default_factory=list)
    api_server: uvicorn.Server | None = None
    transports: list[httpx.AsyncBaseTransport] = field(default_factory=list)

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        for hb in self.heartbeats:
            hb.stop()
        if self.api_server is not None:
            self.api_server.should_exit = True


async def prepare(runtime: Runtime) -> None:
    """Migrate the database, start the bus and store the bootstrap operator key if no operator exists."""
    await upgrade_to_head(runtime.engine)
    await runtime.bus.start()
    await install_bootstrap_key(runtime.sessions, runtime.settings.bootstrap_operator_key)


def build_roles(runtime: Runtime, roles: set[str], http: httpx.AsyncClient) -> RoleSet:
    """Construct the workers for ``roles``; nothing runs until ``run_roles``."""
    unknown = roles - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}; choose from {ROLES}")
    rs = RoleSet(runtime=runtime, http=http)
    if "ingest" in roles:
        rs.workers["ingest"] = ingest_service(runtime, http)
    if "correlate" in roles:
        from ewarn.correlate.worker import CorrelateSettings, CorrelateWorker

        knobs = runtime.settings.correlate
        rs.workers["correlate"] = CorrelateWorker(
            bus=runtime.bus,
            sessions=runtime.sessions,
            topics=runtime.topics,
            settings=CorrelateSettings(
                batch_size=knobs.batch_size,
                retrohunt_batch=knobs.retrohunt_batch,
                expiry_sweep_seconds=knobs.expiry_sweep_seconds,
                scope=runtime.settings.inventory.scope,
                playbooks=tuple(knobs.playbooks),
            ),
        )
    if "dispatch" in roles:
        from ewarn.dispatch.transport import PinnedHTTPTransport
        from ewarn.dispatch.worker import DispatchWorker

        # Webhooks connect to the address the SSRF guard checked (no second DNS lookup to rebind).
        transport = PinnedHTTPTransport(max_body_bytes=runtime.settings.dispatch.max_response_bytes)
        rs.transports.append(transport)
        rs.workers["dispatch"] = DispatchWorker(
            sessions=runtime.sessions,
            bus=runtime.bus,
            topics=runtime.topics,
            settings=runtime.settings,
            http=http,
            transport=transport,
        )
    for name, worker in rs.workers.items():
        runtime.services[name] = worker
        rs.heartbeats.append(Heartbeat(sessions=runtime.sessions, role=name, stats=_stats_of(worker)))
    if "dispatch" in roles and runtime.settings.retention.enabled:
        from ewarn.retention.worker import RetentionWorker

        # Added after the heartbeat loop: the pruner reports through its totals row, not a heartbeat.
        rs.workers["retention"] = RetentionWorker(engine=runtime.engine, settings=runtime.settings.retention)
    if (
        "dispatch" in roles and runtime.settings.workflow.scheduler_enabled
    ):  # deadlines, reminders, escalation
        from ewarn.workflow.scheduler import WorkflowScheduler

        rs.workers["workflow"] = WorkflowScheduler(
            sessions=runtime.sessions, settings=runtime.settings.workflow
        )
    if "api" in roles:
        import uvicorn  # the API's stack (fastapi, every route) only in processes that serve it

        from ewarn.api.app import create_app
        from ewarn.api.server import EmbeddedServer

        config = uvicorn.Config(
            create_app(runtime),
            host=runtime.settings.api_host,
            port=runtime.settings.api_port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        rs.api_server = EmbeddedServer(config)
        rs.heartbeats.append(
            Heartbeat(sessions=runtime.sessions, role="api", stats=_stats_of(runtime.services["api_guard"]))
        )
    return rs


def ingest_service(runtime: Runtime, http: httpx.AsyncClient) -> Worker:
    """The one ingest service of this process (the API's push endpoints use it too)."""
    existing = runtime.services.get("ingest")
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    from ewarn.ingest.service import IngestService

    service = IngestService(
        sessions=runtime.sessions,
        bus=runtime.bus,
        topics=runtime.topics,
        settings=runtime.settings,
        http=http,
    )
    runtime.services["ingest"] = service
    return service


def _stats_of(worker: Any) -> Callable[[], dict[str, Any]]:
    def stats() -> dict[str, Any]:
        raw = getattr(worker, "stats", None)
        if callable(raw):
            raw = raw()
        if raw is None:
            return {}
        if isinstance(raw, dict):
            return raw
        return {k: v for k, v in vars(raw).items() if isinstance(v, int | float | str | None)}

    return stats


async def run_roles(rs: RoleSet) -> None:
    """Run every worker until stopped (SIGTERM/SIGINT finish the work in flight, then return)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, rs.stop)
    jobs: list[Awaitable[Any]] = [w.run() for w in rs.workers.values()]
    jobs += [hb.run() for hb in rs.heartbeats]
    if rs.api_server is not None:
        jobs.append(rs.api_server.serve())
    try:
        async with asyncio.TaskGroup() as tg:
            for job in jobs:
                tg.create_task(job)  # type: ignore[arg-type]
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        for transport in rs.transports:
            await transport.aclose()


async def serve(runtime: Runtime, roles: set[str]) -> None:
    await prepare(runtime)
    async with httpx.AsyncClient(follow_redirects=False) as http:
        rs = build_roles(runtime, roles, http)
        log.info("roles_started", roles=sorted(roles), bus=type(runtime.bus).__name__)
        try:
            async with exporting(runtime.settings.metrics, runtime.sessions):
                await run_roles(rs)
        finally:
            await runtime.close()
