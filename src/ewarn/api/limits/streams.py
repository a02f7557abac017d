"""Open event streams per API key: a key gets ``api.limits.max_streams_per_key`` at once, the next one 429.

Counted in this process (each API replica allows the full number).
"""

from __future__ import annotations

from collections import Counter


class StreamSlot:
    """One open stream; ``release`` is idempotent (the stream's end and its response's end both call it)."""

    def __init__(self, owner: StreamSlots, key_id: str) -> None:
        self._owner = owner
        self._key_id = key_id
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._owner._release(self._key_id)


class StreamSlots:
    def __init__(self, per_key: int) -> None:
        self.per_key = per_key
        self._open: Counter[str] = Counter()
        self.refused = 0

    def acquire(self, key_id: str) -> StreamSlot | None:
        """A slot for one more stream of this key, or None when it has ``per_key`` open."""
        if self._open[key_id] >= self.per_key:
            self.refused += 1
            return None
        self._open[key_id] += 1
        return StreamSlot(self, key_id)

    def open_count(self, key_id: str | None = None) -> int:
        return sum(self._open.values()) if key_id is None else self._open[key_id]

    def _release(self, key_id: str) -> None:
        self._open[key_id] -= 1
        if self._open[key_id] <= 0:
            del self._open[key_id]
