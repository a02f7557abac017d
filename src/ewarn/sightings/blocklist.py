"""Firewall blocklists: the live entries a principal may see, one per line, as firewalls poll them.

One list per observable family, because every firewall takes one type per list: ``ip`` (addresses and
networks, both families), ``ipv4``, ``ipv6`` — Palo Alto EDL "IP list", Fortinet threat feed "IP address",
pfSense/OPNsense "URL table (IPs)"; ``domain`` — Palo Alto "domain list", Fortinet "domain name"; ``url`` —
Palo Alto "URL list" and Fortinet "URL" take URLs without the scheme, so the scheme is dropped.
Plain ASCII, ``\\n`` line ends, no comments or blank lines (pfSense reads every line as an entry).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import quote

from ewarn.models.alert import Severity
from ewarn.models.common import TLP
from ewarn.models.indicator import IndicatorType
from ewarn.models.provider import Principal, Role
from ewarn.models.sighting import Sighting, SightingStatus
from ewarn.sightings.corroboration import Entry, entries


class ListName(StrEnum):
    IP = "ip"
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    DOMAIN = "domain"
    URL = "url"


TYPES: dict[ListName, tuple[IndicatorType, ...]] = {
    ListName.IP: (IndicatorType.IPV4, IndicatorType.IPV6),
    ListName.IPV4: (IndicatorType.IPV4,),
    ListName.IPV6: (IndicatorType.IPV6,),
    ListName.DOMAIN: (IndicatorType.DOMAIN,),
    ListName.URL: (IndicatorType.URL,),
}
# CSIRTs are another organisation than the reporter: AMBER+STRICT stays with providers (see TLP 2.0).
_CSIRT_CEILING = TLP.AMBER
_URL_SAFE = "/:?#[]@!$&'()*+,;=%~"  # already meaningful in a URL: left as they are


@dataclass(frozen=True)
class Filters:
    min_corroboration: int = 1
    max_age: timedelta | None = None  # newest sighting received within
    min_severity: Severity | None = None


def readable(sighting: Sighting, principal: Principal, own: set[str] | None) -> bool:
    """Whether ``principal`` may read ``sighting`` on a blocklist.

    Relayed sightings are the sector's (up to TLP:AMBER+STRICT; a CSIRT reads up to AMBER). A sighting held
    back as TLP:RED is on its reporter's own list and the operator's only. ``own``: the providers the
    principal speaks for (None: the operator)."""
    if sighting.status is SightingStatus.RELAYED:
        return principal.role is not Role.CSIRT or sighting.tlp.rank <= _CSIRT_CEILING.rank
    if sighting.held_reason is not None and sighting.held_reason.value == "tlp_red":
        return own is None or (principal.role is Role.PROVIDER and sighting.provider_id in own)
    return False


def select_entries(
    sightings: Iterable[Sighting],
    principal: Principal,
    own: set[str] | None,
    *,
    now: datetime,
    filters: Filters,
) -> list[Entry]:
    """The entries of a principal's blocklist: its readable live sightings, filtered."""
    out = []
    for entry in entries((s for s in sightings if readable(s, principal, own)), now=now):
        if entry.corroboration < filters.min_corroboration:
            continue
        if filters.max_age is not None and entry.last_received < now - filters.max_age:
            continue
        if filters.min_severity is not None and entry.severity.rank < filters.min_severity.rank:
            continue
        out.append(entry)
    return out


def line(entry: Entry) -> str:
    """One entry as a firewall line: the URL list drops the scheme (Palo Alto, Fortinet)."""
    if entry.indicator_type == IndicatorType.URL.value:
        return quote(entry.value.split("://", 1)[1], safe=_URL_SAFE)
    return entry.value


def render(found: Iterable[Entry]) -> bytes:
    """The list body: sorted unique lines, ``\\n`` after each (empty list: empty body)."""
    lines = sorted({line(e) for e in found})
    return "".join(f"{item}\n" for item in lines).encode("ascii")


def etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
