"""The collections of ewarn's TAXII API root: every alert the caller may read, and one per severity.

Collection ids are fixed UUIDs (v5 of their name), the same on every ewarn; what a collection holds is the
caller's own scope (a provider its tenant, a CSIRT its constituency within TLP, an operator everything).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ewarn import __version__
from ewarn.models.alert import Severity

TAXII_MEDIA = "application/taxii+json;version=2.1"
STIX_MEDIA = "application/stix+json;version=2.1"
DISCOVERY_PATH = "/taxii2/"
API_ROOT_PATH = "/taxii2/ewarn/"
MAX_CONTENT_LENGTH = 1_048_576  # advertised; the root takes no writes
_NAMESPACE = uuid.UUID("0c3b9f0e-7d0a-4a57-8a8e-2f4f8e1c7a21")


@dataclass(frozen=True)
class CollectionDef:
    id: str
    title: str
    description: str
    severities: frozenset[Severity] | None  # None: every severity
    kind: str = "alerts"  # "alerts": the caller's alerts; "sightings": the relay's sector sightings

    def resource(self) -> dict[str, Any]:
        """The TAXII collection resource."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "can_read": True,
            "can_write": False,
            "media_types": [STIX_MEDIA],
        }


def _collection(
    name: str, title: str, description: str, severities: frozenset[Severity] | None, kind: str = "alerts"
) -> CollectionDef:
    return CollectionDef(str(uuid.uuid5(_NAMESPACE, name)), title, description, severities, kind)


SECTOR_SIGHTINGS = _collection(
    "sector-sightings",
    "ewarn sector sightings",
    "The sighting relay's live blocklist entries you may read: an indicator per observable (labels: severity "
    "and corroboration; valid until its sightings expire) and the sightings behind it, the reporters unnamed "
    "unless they chose to share their identity",
    None,
    "sightings",
)


COLLECTIONS: tuple[CollectionDef, ...] = (
    _collection(
        "alerts",
        "ewarn alerts",
        "Every alert you may read: the threat (indicator or vulnerability), its sighting at the provider "
        "and the explanation, TLP-marked",
        None,
    ),
    *(
        _collection(
            f"alerts-{s.value}",
            f"ewarn alerts: {s.value}",
            f"The alerts of severity {s.value} you may read",
            frozenset({s}),
        )
        for s in sorted(Severity, key=lambda s: -s.rank)
    ),
    SECTOR_SIGHTINGS,
)
BY_ID = {c.id: c for c in COLLECTIONS}


def discovery(base_url: str) -> dict[str, Any]:
    """The discovery resource (``GET /taxii2/``)."""
    root = base_url.rstrip("/") + API_ROOT_PATH
    return {
        "title": "ewarn TAXII server",
        "description": "Alerts on cyber threats against hospitals, per API key (read-only)",
        "default": root,
        "api_roots": [root],
    }


def api_root() -> dict[str, Any]:
    """The API root resource (``GET /taxii2/ewarn/``)."""
    return {
        "title": "ewarn alerts",
        "description": f"ewarn {__version__}: the alerts your API key may read, as STIX 2.1",
        "versions": [TAXII_MEDIA],
        "max_content_length": MAX_CONTENT_LENGTH,
    }
