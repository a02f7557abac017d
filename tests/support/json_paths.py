"""Editing JSON documents by path, for tests that poison one field of a valid document."""

from __future__ import annotations

import json
from typing import Any


def graft(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A deep copy of ``document`` with the value at ``path`` (keys and indexes) replaced by ``value``."""
    if not path:
        return value
    copy = json.loads(json.dumps(document))
    node = copy
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return copy
