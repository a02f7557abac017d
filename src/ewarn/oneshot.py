"""``ewarn ingest``: ingest one payload on the embedded default and see it through correlate and dispatch."""

from __future__ import annotations

from typing import Any

import httpx

from ewarn.pipeline import running_stages, wait_until_drained
from ewarn.roles import ingest_service, prepare
from ewarn.runtime import Runtime


async def ingest_once(runtime: Runtime, *, location: str, kind: str, wait: float) -> Any:
    """Ingest ``location``; with the in-process bus, also correlate and dispatch before returning."""
    await prepare(runtime)
    try:
        async with httpx.AsyncClient(follow_redirects=False) as http:
            service: Any = ingest_service(runtime, http)
            if runtime.settings.kafka.bootstrap:
                # On Kafka the running correlate/dispatch roles take it from here.
                return await service.ingest_location(location, kind=kind)
            async with running_stages(runtime, http):
                report = await service.ingest_location(location, kind=kind)
                await wait_until_drained(runtime, timeout=wait)
            return report
    finally:
        await runtime.close()
