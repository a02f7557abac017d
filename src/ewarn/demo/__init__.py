"""``ewarn demo``: a demo hospital, a real verifying webhook receiver, a STIX bundle, live alerts."""

from __future__ import annotations

from ewarn.demo.run import run_demo

__all__ = ["run_demo"]
