"""Local feed files: read only under the operator's file roots, after ``..`` and symlinks are resolved.

A location is a plain path (relative ones are taken under the first root) or a ``file:`` URL on this host;
any other scheme is refused. The real path must lie under a root, and it is opened without following a
symlink, so one swapped in between the check and the read is not followed either.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit


class LocalFileError(Exception):
    """A local location that may not or cannot be read; the message is the reason."""


def path_of(location: str) -> Path:
    """The filesystem path a location names: a plain path or a ``file:`` URL (no other scheme)."""
    parts = urlsplit(location)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise LocalFileError(f"refused: file URL on another host {parts.netloc!r}")
        return Path(unquote(parts.path))
    if parts.scheme and len(parts.scheme) > 1:  # one letter is a Windows drive, not a scheme
        raise LocalFileError(f"refused: scheme {parts.scheme!r} is not supported")
    return Path(location).expanduser()


def real_path_under(location: str, roots: Sequence[Path]) -> Path:
    """The real path of ``location`` when it lies under one of ``roots``; else ``LocalFileError``."""
    path = path_of(location)
    if not roots:
        raise LocalFileError("refused: local feed files are not enabled (set ingest.file_root)")
    if not path.is_absolute():
        path = roots[0] / path
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise LocalFileError(f"cannot read file: {getattr(exc, 'strerror', None) or exc}") from exc
    for root in roots:
        if real.is_relative_to(root.resolve()):
            return real
    raise LocalFileError("refused: the file lies outside the configured file root")


def read_under(location: str, roots: Sequence[Path], *, max_bytes: int) -> bytes:
    """The bytes of ``location`` (checked as above), at most ``max_bytes``."""
    real = real_path_under(location, roots)
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise LocalFileError(f"file of {size} bytes exceeds the cap of {max_bytes}")
            return handle.read()
    except OSError as exc:
        raise LocalFileError(f"cannot read file: {exc.strerror or exc}") from exc
