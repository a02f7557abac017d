"""Apply VEX statements to a provider's assets: mark (or unmark) CVEs in ``not_affected``. Pure, no I/O."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from univers.version_range import VersionRange

from ewarn.inventory.fields import purl_core
from ewarn.inventory.models import RowError
from ewarn.models.asset import Asset

# univers ships without type hints; this is the one place its parser is called.
_parse_vers: Callable[[str], Any] = VersionRange.from_string


class Target(Protocol):
    """What a statement is about; ``lookup_keys`` narrow the candidates, ``matches`` decides."""

    def lookup_keys(self) -> Iterable[str]: ...

    def matches(self, asset: Asset) -> bool: ...


@dataclass(frozen=True)
class VexStatement:
    row: str  # names the statement in error reports: "CVE-2020-25649 pkg:maven/…" or "CVE-… CSAFPID-0001"
    cve: str
    not_affected: bool  # False: the product is (again, or under investigation) affected; unmark it
    target: Target
    must_match: bool = True  # a CycloneDX ref names a registered component; CSAF lists whole product lines


@dataclass
class VexResult:
    changed: list[Asset] = field(default_factory=list)
    unchanged: list[Asset] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def name_key(text: str) -> str:
    """Vendor and product names compare case-insensitively with runs of whitespace collapsed."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def asset_keys(asset: Asset) -> list[str]:
    keys = []
    if asset.bom_ref:
        keys.append(f"ref:{asset.bom_ref}")
    core = purl_core(asset.purl) if asset.purl else None
    if core:
        keys.append(f"purl:{core}")
    if asset.cpe:
        keys.append(f"cpe:{asset.cpe}")
    if asset.vendor and asset.product:
        keys.append(f"vp:{name_key(asset.vendor)}|{name_key(asset.product)}")
    return keys


@dataclass(frozen=True)
class ComponentTarget:
    """A CycloneDX ``affects[].ref``: a bom-ref, a PURL, or a component of the VEX document itself."""

    ref: str
    bom_refs: frozenset[str]
    purls: frozenset[str]  # PURL cores: qualifiers such as ?type=jar do not change the package
    cpes: frozenset[str]

    def lookup_keys(self) -> Iterable[str]:
        yield from (f"ref:{r}" for r in self.bom_refs)
        yield from (f"purl:{p}" for p in self.purls)
        yield from (f"cpe:{c}" for c in self.cpes)

    def matches(self, asset: Asset) -> bool:
        return (
            (asset.bom_ref is not None and asset.bom_ref in self.bom_refs)
            or (asset.purl is not None and purl_core(asset.purl) in self.purls)
            or (asset.cpe is not None and asset.cpe in self.cpes)
        )


@dataclass(frozen=True)
class ProductTarget:
    """A CSAF product: by CPE or PURL, or by vendor + product name and a version or ``vers:`` range.

    Without any version information the statement covers every version. A version range that is not a
    ``vers:`` string cannot be evaluated, so it matches nothing by name (an alert too many beats one too few).
    """

    cpe: str | None = None
    purl: str | None = None
    vendor: str | None = None
    product: str | None = None
    version: str | None = None
    version_range: str | None = None

    def lookup_keys(self) -> Iterable[str]:
        if self.cpe:
            yield f"cpe:{self.cpe}"
        core = purl_core(self.purl) if self.purl else None
        if core:
            yield f"purl:{core}"
        if self.vendor and self.product:
            yield f"vp:{name_key(self.vendor)}|{name_key(self.product)}"

    def matches(self, asset: Asset) -> bool:
        if self.cpe and asset.cpe == self.cpe:
            return True
        if self.purl and asset.purl and purl_core(asset.purl) == purl_core(self.purl):
            return True
        if not (self.vendor and self.product and asset.vendor and asset.product):
            return False
        if (name_key(asset.vendor), name_key(asset.product)) != (
            name_key(self.vendor),
            name_key(self.product),
        ):
            return False
        return self._covers(asset.version)

    def _covers(self, version: str | None) -> bool:
        if self.version is None and self.version_range is None:
            return True
        if version is None:
            return False
        if self.version is not None:
            return name_key(version) == name_key(self.version)
        bounds = self._bounds
        if bounds is None:
            return False
        try:
            return bool(bounds.version_class(version) in bounds)
        except ValueError:
            return False

    @cached_property
    def _bounds(self) -> Any:
        try:
            return _parse_vers(self.version_range or "")
        except ValueError:
            return None


def apply_vex(assets: Sequence[Asset], statements: Sequence[VexStatement]) -> VexResult:
    """Apply statements in document order (a later statement about the same CVE and asset wins)."""
    index: dict[str, list[Asset]] = defaultdict(list)
    for asset in assets:
        for key in asset_keys(asset):
            index[key].append(asset)
    marks: dict[str, set[str]] = {}
    touched: dict[str, Asset] = {}
    result = VexResult()
    for statement in statements:
        candidates = {a.id: a for key in statement.target.lookup_keys() for a in index.get(key, [])}
        hits = [a for a in candidates.values() if statement.target.matches(a)]
        if not hits and statement.must_match:
            result.errors.append(RowError(row=statement.row, reason="no registered asset matches this ref"))
        for asset in hits:
            cves = marks.setdefault(asset.id, set(asset.not_affected))
            touched[asset.id] = asset
            if statement.not_affected:
                cves.add(statement.cve)
            else:
                cves.discard(statement.cve)
    for asset_id, asset in touched.items():
        if marks[asset_id] == set(asset.not_affected):
            result.unchanged.append(asset)
        else:
            result.changed.append(asset.model_copy(update={"not_affected": sorted(marks[asset_id])}))
    return result
