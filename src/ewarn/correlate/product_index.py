"""The product half of the asset index: software, medical devices and equipment filed by what they are.

Products are filed per vendor group (``group → product key → records``) under every key ``ewarn.names``
derives from vendor/product, the CPE's vendor/product and, for an asset known only by its PURL, the PURL's
namespace/name; ``lookup`` tries exact keys first (the models a name lists and the product line it carries
among them), then word order, then keys that start with a listed model, then wildcard family patterns scanned
only within the advisory vendor's group, then names of different specificity (every word of the shorter name in
the longer one, both starting from the same product word: "Sigma Spectrum" and "Sigma Spectrum LVP", "MyCareLink
Monitor" and "24950 MyCareLink Monitor"), which the matcher reports as possibly affected; a version line in the
advisory's name keeps only the assets in that line. The keys are a function of the alias table: when it changes (``names.generation()``), ``stale`` says so
and the owner re-files every record into a ``reset`` index before the next change or lookup, so a record is
always taken out under the very keys it was put under.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ewarn import names
from ewarn.correlate import products
from ewarn.correlate.asset_records import AssetRef
from ewarn.correlate.entries import Entry, Record, records, take
from ewarn.models import AssetKind

PRODUCT_KINDS = frozenset({AssetKind.SOFTWARE, AssetKind.MEDICAL_DEVICE, AssetKind.INFRASTRUCTURE})
WORD_ORDER = "word order"
NAME_BROADER = "asset name less specific"  # the asset's words are some of the advisory's
NAME_NARROWER = "asset name more specific"  # the advisory's words are some of the asset's
LOOSER_NAMES = frozenset({NAME_BROADER, NAME_NARROWER})

_Exact = tuple[str, str, str, str | None]  # group, key, how, version hint
_Reordered = tuple[str, str, str, str | None]  # group, key, its words sorted, version hint
_Family = tuple[str, str, str | None]  # group, pattern, version hint
_Listed = tuple[str, str, str | None]  # group, a listed model's key and a space (a prefix), version hint
_Related = tuple[str, str, frozenset[str], str | None]  # group, lead word, the key's words, version hint


def lead_word(key: str) -> str | None:
    """The first word of a key with a letter in it: the product word ("24950 mycarelink monitor" → mycarelink)."""
    for word in key.split():
        if any(ch.isalpha() for ch in word):
            return word
    return None


@functools.lru_cache(maxsize=65536)
def _lookup_plan(
    vendor: str | None, product: str | None, generation: int
) -> tuple[
    tuple[_Exact, ...], tuple[_Reordered, ...], tuple[_Listed, ...], tuple[_Family, ...], tuple[_Related, ...]
]:
    """The keys an advisory's vendor/product stand for, split by how they are looked up."""
    pairs = products.name_keys(vendor, product)
    exact = tuple((g, k.key, k.how, k.version_hint) for g, k in pairs if k.pattern is None)
    reordered = tuple(
        (g, k.key, names.bag(k.key), k.version_hint) for g, k in pairs if k.pattern is None and " " in k.key
    )
    listed = tuple(
        (g, f"{k.key} ", k.version_hint)
        for g, k in pairs
        if k.how == names.MODEL_IN_LIST and k.pattern is None and " " in k.key
    )
    families = tuple((g, k.pattern, k.version_hint) for g, k in pairs if k.pattern is not None)
    related = tuple(
        (g, lead, frozenset(k.key.split()), k.version_hint)
        for g, k in pairs
        if k.pattern is None and " " in k.key and (lead := lead_word(k.key)) is not None
    )
    return exact, reordered, listed, families, related


@dataclass(frozen=True, slots=True)
class ProductHit:
    """An index entry an advisory's vendor/product names, and how the names met."""

    entry: Entry
    field: str  # "vendor+product"
    how: str  # names.EXACT, VERSION_IN_NAME, MODEL_IN_LIST, FAMILY_PATTERN, QUALIFIED or WORD_ORDER
    version_hint: str | None  # the version or family the advisory's product name carried


def _asset_name_keys(
    vendor: str | None, product: str | None, cpe: products.Cpe | None, purl: str | None
) -> dict[tuple[str, str], None]:
    """Every (vendor group, product key) an asset is filed under, in a stable order, without patterns."""
    pairs = products.name_keys(vendor, product) if vendor and product else ()
    if cpe is not None:
        pairs += products.name_keys(cpe.vendor.replace("_", " "), cpe.product.replace("_", " "))
    if not pairs and purl:
        implied = products.purl_names(purl)
        if implied is not None:
            pairs = products.name_keys(*implied)
    return {(group, key.key): None for group, key in pairs if key.pattern is None}


class ProductIndex:
    """Product records by vendor group and product key, by CPE and by PURL, under one alias-table generation."""

    def __init__(self) -> None:
        self._products: dict[str, dict[str, Entry]] = {}  # vendor group → product key → records
        self._bags: dict[str, dict[str, list[str]]] = {}  # vendor group → sorted words → product keys
        self._leads: dict[str, dict[str, dict[str, frozenset[str]]]] = {}  # group → lead word → key → words
        self._sorted_keys: dict[str, list[str]] = {}  # vendor group → its product keys sorted (lazily)
        self._by_cpe: dict[str, Entry] = {}
        self._by_purl: dict[str, Entry] = {}
        self.generation = names.generation()

    def stale(self) -> bool:
        """Whether the alias table changed since the keys were derived."""
        return self.generation != names.generation()

    def reset(self) -> None:
        """Empty every table, to re-file under the current alias table."""
        self._products, self._bags, self._sorted_keys, self._leads = {}, {}, {}, {}
        self._by_cpe, self._by_purl = {}, {}
        self.generation = names.generation()

    def file(
        self,
        vendor: str | None,
        product: str | None,
        cpe: str | None,
        purl: str | None,
        record: Record,
        act: Callable[[dict[Any, Entry], object, Record], None],
    ) -> None:
        """Put ``record`` under (``act`` = put) or take it from (``act`` = take) every key it is looked up by."""
        parsed_cpe = products.parse_cpe(cpe) if cpe else None
        if parsed_cpe is not None:
            act(self._by_cpe, products.cpe_key(parsed_cpe), record)
        parsed_purl = products.parse_purl(purl) if purl else None
        if parsed_purl is not None:
            act(self._by_purl, parsed_purl.key, record)
        for group, key in _asset_name_keys(vendor, product, parsed_cpe, purl):
            table = self._products.get(group)
            if table is None:
                if act is take:
                    continue
                table = self._products[group] = {}
            known = key in table
            act(table, key, record)
            if known != (key in table):
                self._file_bag(group, key, added=not known)
                self._sorted_keys.pop(group, None)

    def _file_bag(self, group: str, key: str, *, added: bool) -> None:
        if " " not in key:
            return  # one word has one order, and is too broad to stand for a longer name
        self._file_lead(group, key, added=added)
        bags = self._bags.setdefault(group, {})
        words = names.bag(key)
        keys = bags.get(words)
        if added:
            if keys is None:
                bags[words] = [key]
            elif key not in keys:
                keys.append(key)
        elif keys is not None and key in keys:
            keys.remove(key)
            if not keys:
                del bags[words]

    def _file_lead(self, group: str, key: str, *, added: bool) -> None:
        lead = lead_word(key)
        if lead is None:
            return
        if added:
            self._leads.setdefault(group, {}).setdefault(lead, {})[key] = frozenset(key.split())
            return
        keys = self._leads.get(group, {}).get(lead)
        if keys is not None:
            keys.pop(key, None)
            if not keys:
                del self._leads[group][lead]

    def _group_keys(self, group: str) -> list[str]:
        keys = self._sorted_keys.get(group)
        if keys is None:
            keys = self._sorted_keys[group] = sorted(self._products.get(group, ()))
        return keys

    def by_name(self, key: str) -> Entry | None:
        """The records filed under ``group|product key``."""
        group, _, product = key.partition("|")
        table = self._products.get(group)
        return None if table is None else table.get(product)

    def by_cpe(self, key: str) -> Entry | None:
        return self._by_cpe.get(key)

    def by_purl(self, key: str) -> Entry | None:
        return self._by_purl.get(key)

    def lookup(
        self, vendor: str | None, product: str | None, ref: Callable[[Record], AssetRef]
    ) -> list[ProductHit]:
        """Every entry the advisory's vendor and product name (``ref`` decodes a record for its version)."""
        found = self._found(vendor, product)
        return _hits(found, ref) if found else []

    def may_hit(self, vendor: str | None, product: str | None) -> bool:
        """False only when ``lookup`` finds nothing for this vendor and product (no record is decoded)."""
        return bool(self._found(vendor, product))

    def _found(self, vendor: str | None, product: str | None) -> list[tuple[Entry, str, str | None]]:
        """(entry, how, version hint) for every key the names stand for, before the version-line filter."""
        exact, reordered, listed, families, related = _lookup_plan(vendor, product, self.generation)
        tables = self._products
        found: list[tuple[Entry, str, str | None]] = []
        for group, key, how, hint in exact:
            table = tables.get(group)
            if table is not None and (entry := table.get(key)) is not None:
                found.append((entry, how, hint))
        for group, key, words, hint in reordered:
            bags = self._bags.get(group)
            for other in bags.get(words, ()) if bags is not None else ():
                if other != key:
                    found.append((tables[group][other], WORD_ORDER, hint))
        for group, prefix, hint in listed:
            # a model an advisory lists ("All Metasys ADS/ADX/OAS") covers the asset named after it
            # ("Metasys ADX Server"): keys that start with its words
            keys = self._group_keys(group)
            start = bisect.bisect_left(keys, prefix)
            while start < len(keys) and keys[start].startswith(prefix):
                found.append((tables[group][keys[start]], names.MODEL_IN_LIST, hint))
                start += 1
        for group, pattern, hint in families:
            for asset_key, entry in tables.get(group, {}).items():
                if names.matches_pattern(pattern, asset_key):
                    found.append((entry, names.FAMILY_PATTERN, hint))
        for group, lead, named, hint in related:
            # "Sigma Spectrum" and "Sigma Spectrum LVP": the same product word first, every word of the shorter
            # name in the longer one; the assets of the lead word only, so a miss costs one probe
            leads = self._leads.get(group)
            for other, other_words in (leads.get(lead, {}) if leads is not None else {}).items():
                if other_words < named:
                    found.append((tables[group][other], NAME_BROADER, hint))
                elif named < other_words:
                    found.append((tables[group][other], NAME_NARROWER, hint))
        return found


def _hits(found: list[tuple[Entry, str, str | None]], ref: Callable[[Record], AssetRef]) -> list[ProductHit]:
    """One hit per entry (the first way found); a version line in the name keeps the assets in that line."""
    hits: list[ProductHit] = []
    seen: set[int] = set()
    for entry, how, hint in found:
        if id(entry) in seen:
            continue
        seen.add(id(entry))
        families = names.hint_families(hint)
        if families:  # "Niagara 4.6" covers the 4.6 line of an asset named "Niagara 4", not its 4.4
            kept = [r for r in records(entry) if names.in_families(ref(r).effective_version, families)]
            if not kept:
                continue
            entry = kept[0] if len(kept) == 1 else kept
        hits.append(ProductHit(entry, "vendor+product", how, hint))
    return hits
