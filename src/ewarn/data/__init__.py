"""Package data: the demo STIX bundle shipped with ewarn."""

from __future__ import annotations

from importlib import resources

DEMO_BUNDLE = "demo_bundle.json"


def demo_bundle_bytes() -> bytes:
    """The demo STIX 2.1 bundle: ransomware/C2 infrastructure against hospitals, in documentation ranges."""
    return resources.files(__name__).joinpath(DEMO_BUNDLE).read_bytes()
