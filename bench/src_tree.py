"""``--src DIR``: which source tree a benchmark measures, read before ``ewarn`` is imported.

The same script can then measure an older checkout in the same run (old and new alternated: ratios).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def src_from_argv(argv: list[str]) -> str:
    """The tree after ``--src`` (or ``--src=``), else this checkout's ``src``."""
    for i, arg in enumerate(argv):
        if arg == "--src" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--src="):
            return arg.split("=", 1)[1]
    return str(ROOT / "src")


def use_src_from_argv() -> None:
    """Put the chosen tree (and the repository, for ``tests.support``) first on ``sys.path``."""
    sys.path[:0] = [src_from_argv(sys.argv), str(ROOT)]
