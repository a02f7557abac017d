"""Canonical vendors: the brand an operator registers and the owner group both sides of a match are keyed by.

Vendor strings in advisories carry their history: short forms in brackets ("Becton, Dickinson and Company
(BD)"), owners after acquisitions ("Hillrom and ELI, Baxter International Inc.", "Sensormatic Electronics, LLC,
a subsidiary of Johnson Controls Inc."), legal suffixes, mojibake and trailing spaces. ``canonical_vendor``
reads them through an alias table: the shipped default (``vendor_aliases.json`` in this package) with the
operator's aliases on top (stored in the database, applied with ``set_operator_aliases``). The ``group`` is the
matching key, so a device registered under its brand (Welch Allyn) meets an advisory published under the
owner (Baxter) and vice versa. A name that resolves nowhere keeps its own folded form as brand and group.

The active table is process-wide; every change bumps ``generation()`` so caches keyed by it, and the asset
index's product keys, are rebuilt.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import NamedTuple

from ewarn.names.text import LEGAL_SUFFIXES, fold, repair_text, strip_legal_suffixes


class VendorName(NamedTuple):
    """A vendor string read through the alias table."""

    brand: str  # folded brand an operator would register: "welch allyn", "exacq"
    group: str  # folded owner group, the matching key: "baxter", "johnson controls"
    known: bool  # resolved through the table, not merely folded
    others: tuple[
        str, ...
    ] = ()  # further groups named in the same string ("Silex Technology and GE Healthcare")


@dataclass(frozen=True, slots=True)
class AliasEntry:
    """One brand of the table: its spellings and the group that owns it."""

    brand: str
    group: str
    aliases: tuple[str, ...] = ()
    note: str = ""
    strip: bool = True  # strip its names from the front of product names (False for product lines: Alaris)


class _Target(NamedTuple):
    brand: str
    group: str


class VendorTable:
    """Folded spelling → (brand, group), and every folded name of each group (to strip from product names)."""

    def __init__(self, entries: Iterable[AliasEntry]) -> None:
        self.lookup: dict[str, _Target] = {}
        kept: set[str] = set()  # spellings never stripped from product names
        for entry in entries:
            group = vendor_key(entry.group)
            owner = self.lookup.get(group)  # an operator may name the group by any known spelling or brand
            target = _Target(vendor_key(entry.brand), owner.group if owner is not None else group)
            if not target.brand or not target.group:
                continue
            for spelling in (entry.brand, *entry.aliases):
                key = vendor_key(spelling)
                if key:
                    self.lookup[key] = target  # later entries (the operator's) win
                    (kept.add if not entry.strip else kept.discard)(key)
            self.lookup.setdefault(target.group, _Target(target.group, target.group))
        names: dict[str, set[str]] = {}
        for key, target in self.lookup.items():
            names.setdefault(target.group, {target.group}).update(
                k for k in (key, target.brand) if k not in kept
            )
        self.group_names = {group: tuple(sorted(n, key=len, reverse=True)) for group, n in names.items()}


def vendor_key(name: str) -> str:
    """Folded vendor name without legal suffixes: ``Dahua Technology Co, Ltd`` → ``dahua technology``."""
    return " ".join(strip_legal_suffixes(fold(name).split()))


def load_default_entries() -> list[AliasEntry]:
    """The shipped table (``vendor_aliases.json``)."""
    text = resources.files("ewarn.names").joinpath("vendor_aliases.json").read_text(encoding="utf-8")
    return [
        AliasEntry(
            brand=e["brand"],
            group=e["group"],
            aliases=tuple(e.get("aliases", ())),
            note=e.get("note", ""),
            strip=e.get("strip", True),
        )
        for e in json.loads(text)["entries"]
    ]


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.default = load_default_entries()
        self.operator: tuple[AliasEntry, ...] = ()
        self.table = VendorTable(self.default)
        self.generation = 0


_state = _State()


def generation() -> int:
    """Bumped on every change of the active table."""
    return _state.generation


def active_table() -> VendorTable:
    return _state.table


def default_entries() -> list[AliasEntry]:
    return list(_state.default)


def operator_entries() -> tuple[AliasEntry, ...]:
    return _state.operator


def set_operator_aliases(entries: Iterable[AliasEntry]) -> bool:
    """Make ``entries`` the operator layer on top of the default table; False when nothing changed."""
    fresh = tuple(sorted(entries, key=lambda e: (vendor_key(e.brand), e.aliases, e.group)))
    with _state.lock:
        if fresh == _state.operator:
            return False
        _state.table = VendorTable([*_state.default, *fresh])
        _state.operator = fresh
        _state.generation += 1
    return True


# "X, a subsidiary of Y", "X, an affiliate of Y", "X by Y", "X, part of Y", "X, now Y"
_RELATION = re.compile(
    r",?\s+(?:a|an)\s+(?:subsidiary|affiliate|division|brand|business|unit|company)\s+of\s+"
    r"|\s+by\s+|,\s*(?:part of|now|formerly)\s+",
    re.IGNORECASE,
)
_BRACKETED = re.compile(r"\(([^)]*)\)")


def _pieces(text: str, lookup: dict[str, _Target]) -> list[str]:
    """The vendor names inside one vendor string, in order: brand first, owners after, short forms last."""
    short = [m.strip() for m in _BRACKETED.findall(text)]
    main = _BRACKETED.sub(" ", text)
    out: list[str] = []
    whole = vendor_key(main)
    if whole in lookup:
        out.append(whole)
    else:
        for related in _RELATION.split(main):
            for part in related.split(","):
                key = vendor_key(part)
                if not key or all(w in LEGAL_SUFFIXES for w in key.split()):
                    continue
                if key in lookup or " and " not in f" {key} ":
                    out.append(key)
                else:
                    out.extend(k for k in (vendor_key(p) for p in re.split(r"\band\b", key)) if k)
    out.extend(k for k in (vendor_key(s) for s in short) if k)
    return out


def canonical_vendor(name: str) -> VendorName:
    """Read a vendor string through the active alias table (see the module docstring)."""
    return _canonical(name, _state.generation)


@functools.lru_cache(maxsize=65536)
def _canonical(name: str, generation: int) -> VendorName:
    lookup = _state.table.lookup
    text = repair_text(name).strip()
    whole = vendor_key(text)
    if not whole:
        return VendorName("", "", False)
    hit = lookup.get(whole)
    if hit is not None:
        return VendorName(hit.brand, hit.group, True)
    pieces = _pieces(text, lookup)
    found = [lookup[p] for p in pieces if p in lookup]
    if not found:
        plain = vendor_key(_BRACKETED.sub(" ", text)) or whole
        prefixed = _known_prefix(plain, lookup)
        if prefixed is not None:
            return VendorName(prefixed.brand, prefixed.group, True)
        return VendorName(plain, plain, False)
    first = pieces[0]
    if first in lookup:
        brand, group = lookup[first]
    else:  # an unknown brand written with a known owner: "NewBrand, Johnson Controls Inc."
        brand, group = first, found[0].group
    others = tuple(dict.fromkeys(t.group for t in found if t.group != group))
    return VendorName(brand, group, True, others)


# words a company adds after its name for a division, a region or its kind of business
_DESCRIPTORS = frozenset(
    {
        "systems", "system", "technologies", "technology", "tech", "international", "intl", "global", "group",
        "holdings", "holding", "industries", "solutions", "electronics", "healthcare", "health", "medical",
        "labs", "laboratories", "software", "networks", "usa", "us", "america", "americas", "north", "europe",
        "deutschland", "nederland", "japan", "china", "uk", "france", "italia", "india", "asia", "pacific",
    }
)  # fmt: skip


def _known_prefix(key: str, lookup: dict[str, _Target]) -> _Target | None:
    """The known vendor an unknown string starts with: a division or region written after the name
    (``Philips Medical Systems Nederland``, ``Johnson & Johnson Diabetes Care``, ``Honeywell Building
    Technologies``). A short one-word name (``GE``, ``BD``, ``HP``) only before descriptor words
    (``GE Healthcare Japan`` yes, ``GE Digital`` no: another company)."""
    words = key.split()
    for size in range(len(words) - 1, 0, -1):
        hit = lookup.get(" ".join(words[:size]))
        if hit is None:
            continue
        if size == 1 and len(words[0]) <= 3 and not all(w in _DESCRIPTORS for w in words[size:]):
            return None
        return hit
    return None


def group_names(group: str) -> tuple[str, ...]:
    """Every folded name of ``group`` (brands and spellings), longest first; the group itself when unknown."""
    return _state.table.group_names.get(group, (group,))


def brand_group(folded: str) -> str | None:
    """The group of an exact folded brand or spelling, None when the table does not know it."""
    hit = _state.table.lookup.get(folded)
    return None if hit is None else hit.group
