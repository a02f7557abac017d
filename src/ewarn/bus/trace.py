"""Per-batch timing of a stage's consumer, for the pipeline benchmark's latency breakdown (off by default).

With ``kafka.trace_file`` set, a consumer appends one JSON line per batch it is told is finished:
``{"group", "pid", "asked", "fetched", "handled", "parts": [[topic, partition, first_offset, last_offset], ...]}``,
times as ``time.time()``. ``asked`` is when the runner called the fetch that returned the batch (the stage was
free from then on), ``fetched`` when that fetch returned, ``handled`` when the runner handed the batch to
``commit`` (the stage's output stored or acknowledged). Joined with the records' own timestamps (their
producers' send time) the benchmark tells how long each record waited on the bus and in each stage.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

from ewarn.bus.base import Record


class BatchTrace:
    """Appends one line per finished batch to ``path`` (opened once, line-buffered)."""

    def __init__(self, path: str, group: str) -> None:
        self._file = Path(path).open("a", buffering=1, encoding="utf-8")  # noqa: SIM115 - kept open for the run
        self._group = group
        self._asking = 0.0
        self._asked = 0.0
        self._fetched = 0.0

    def asking(self) -> None:
        self._asking = time.time()

    def fetched(self) -> None:
        self._asked, self._fetched = self._asking, time.time()

    def handled(self, records: Sequence[Record]) -> None:
        if not records:
            return
        parts: dict[tuple[str, int], list[int]] = {}
        for record in records:
            span = parts.setdefault((record.topic, record.partition), [record.offset, record.offset])
            span[0] = min(span[0], record.offset)
            span[1] = max(span[1], record.offset)
        line = {
            "group": self._group,
            "pid": os.getpid(),
            "asked": self._asked,
            "fetched": self._fetched,
            "handled": time.time(),
            "parts": [[topic, partition, lo, hi] for (topic, partition), (lo, hi) in parts.items()],
        }
        self._file.write(json.dumps(line) + "\n")

    def close(self) -> None:
        self._file.close()
