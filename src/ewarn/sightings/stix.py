"""STIX 2.1 ``sighting`` objects → sightings. The observable comes from the ``sighting_of_ref`` indicator's
pattern or from the SCOs of its ``observed_data_refs``, all in the same bundle."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ewarn.ingest.records import RECORD_ERRORS
from ewarn.ingest.stix import observable_for, pattern_comparisons
from ewarn.models.common import TLP
from ewarn.models.indicator import IndicatorType
from ewarn.models.sighting import ObservableType, SightingIn
from ewarn.sightings.observables import InvalidSighting

MAX_OBJECTS = 10_000
_TLP_MARKINGS = {  # the TLP marking definitions of the STIX 2.1 specification (and TLP 2.0 extension ids)
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": TLP.CLEAR,
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": TLP.GREEN,
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": TLP.AMBER,
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": TLP.RED,
}
_SCO_VALUE = {"ipv4-addr", "ipv6-addr", "domain-name", "url"}


def _objects(payload: Any) -> list[dict[str, Any]]:
    if isinstance(payload, dict) and isinstance(payload.get("objects"), list):
        found: list[Any] = payload["objects"]
    elif isinstance(payload, dict) and payload.get("type") == "sighting":
        found = [payload]
    elif isinstance(payload, list):
        found = payload
    else:
        raise InvalidSighting("not a STIX bundle, a list of objects or a sighting")
    if len(found) > MAX_OBJECTS:
        raise InvalidSighting(f"more than {MAX_OBJECTS} objects")
    if not all(isinstance(o, dict) and isinstance(o.get("type"), str) for o in found):
        raise InvalidSighting("every STIX object is a JSON object with a type")
    return found


def _observable(sighting: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> tuple[ObservableType, str]:
    target = by_id.get(str(sighting.get("sighting_of_ref")))
    if target is not None and target.get("type") == "indicator" and isinstance(target.get("pattern"), str):
        for object_type, path, value in pattern_comparisons(target["pattern"]):
            observed = observable_for(object_type, path, value)
            if observed is not None and observed.type in _TYPES:
                return _declared(observed.type, observed.value), value
    refs = sighting.get("observed_data_refs")
    for ref in refs if isinstance(refs, list) else []:
        observed_data = by_id.get(str(ref), {})
        object_refs = observed_data.get("object_refs")
        for sco_id in object_refs if isinstance(object_refs, list) else []:
            sco = by_id.get(str(sco_id), {})
            if sco.get("type") in _SCO_VALUE and isinstance(sco.get("value"), str):
                kind = {"ipv4-addr": IndicatorType.IPV4, "ipv6-addr": IndicatorType.IPV6}.get(sco["type"])
                if kind is not None:
                    return _declared(kind, sco["value"]), sco["value"]
                return ObservableType(sco["type"].removesuffix("-name")), sco["value"]
    raise InvalidSighting("no ipv4/ipv6 address, domain or URL found in its indicator or observed data")


_TYPES = {IndicatorType.IPV4, IndicatorType.IPV6, IndicatorType.DOMAIN, IndicatorType.URL}


def _declared(kind: IndicatorType, value: str) -> ObservableType:
    if kind in (IndicatorType.IPV4, IndicatorType.IPV6):
        return ObservableType.CIDR if "/" in value else ObservableType.IP
    return ObservableType(kind.value)


def _tlp(sighting: dict[str, Any]) -> TLP:
    refs = sighting.get("object_marking_refs")
    levels = [_TLP_MARKINGS[r] for r in refs if r in _TLP_MARKINGS] if isinstance(refs, list) else []
    return max(levels, key=lambda t: t.rank) if levels else TLP.AMBER


# The STIX property a SightingIn field is read from, so a refusal names what the sender wrote.
_STIX_NAME = {"context": "description", "kind": "x_ewarn_kind", "share_identity": "x_ewarn_share_identity"}


def read_stix_sightings(payload: Any) -> tuple[list[SightingIn], int]:
    """The sightings of a bundle and how many other objects it held; ``InvalidSighting`` names the object."""
    objects = _objects(payload)
    by_id = {str(o.get("id")): o for o in objects}
    out: list[SightingIn] = []
    for obj in objects:
        if obj["type"] != "sighting":
            continue
        name = str(obj.get("id", "sighting"))[:100]
        try:
            type_, value = _observable(obj, by_id)
            first_seen = obj.get("first_seen") or obj.get("created")
            out.append(
                SightingIn.model_validate(
                    {
                        "observable": value,
                        "type": type_,
                        "first_seen": first_seen,
                        "last_seen": obj.get("last_seen") or first_seen,
                        "count": obj.get("count", 1),
                        "confidence": obj.get("confidence", 75),
                        "kind": obj.get("x_ewarn_kind", "scan"),
                        "context": obj.get("description"),
                        "tlp": _tlp(obj),
                        "share_identity": obj.get("x_ewarn_share_identity", False),
                    }
                )
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(_STIX_NAME.get(str(p), str(p)) for p in first.get("loc", ()))
            raise InvalidSighting(f"{name}: {where}: {first.get('msg', 'invalid')}") from exc
        except (InvalidSighting, *RECORD_ERRORS) as exc:
            raise InvalidSighting(f"{name}: {exc}") from exc
    if not out:
        raise InvalidSighting("the bundle holds no sighting object")
    return out, len(objects) - len(out)
