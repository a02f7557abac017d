"""In-memory asset index: every provider's assets keyed for the lookups indicators need.

Layout, chosen for memory (223 traced bytes per asset at a million assets, see bench/README.md):
- each asset is one compact record (``marshal`` of a tuple of plain values) — no pydantic object is kept;
- lookup tables map a key to the record itself, or to a list of records when several assets share the key;
- IP networks sit in one dict per prefix length (network int → records), which is faster and far smaller than
  a radix tree in Python (py-radix measured 515 traced bytes per prefix against ~100 here);
- each provider owns the list of its records, so replacing one provider's inventory touches only its keys;
- products are filed per vendor group (``group → product key → records``) under every key ``ewarn.names``
  derives from vendor/product, the CPE's vendor/product and, for an asset known only by its PURL, the PURL's
  namespace/name; ``lookup_product`` tries exact keys first (the models a name lists and the product line it
  carries among them), then word order, then keys that start with a listed model, then wildcard family
  patterns scanned only within the advisory vendor's group; a version line in the advisory's name keeps only
  the assets in that line. When the alias table changes (``names.generation()``), the product keys are
  re-derived for every record before the next change or lookup, so a record is always taken out under the
  very keys it was put under;
- an asset whose value the index cannot key (say ``AS²``: ``str.isdigit`` but not ``int``) is filed under no
  key and listed in ``unindexable``; it never stops the rest of its provider's inventory from being filed.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import marshal
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ewarn import names
from ewarn.correlate import products
from ewarn.correlate.addresses import V4, V6, WIDTH, Network, normalise_host, parse_asn, parse_network
from ewarn.logging import get_logger
from ewarn.models import Asset, AssetKind, ClinicalCriticality, Criticality, NetworkExposure
from ewarn.models.asset import CareDependency, EquipmentCategory

log = get_logger(__name__)

Record = bytes
Entry = Record | list[Record]
T = TypeVar("T")

_KINDS = tuple(AssetKind)
_KIND_CODE = {kind: i for i, kind in enumerate(_KINDS)}
_CRITICALITIES = tuple(Criticality)
_CRITICALITY_CODE = {c: i for i, c in enumerate(_CRITICALITIES)}
_CLINICAL = tuple(ClinicalCriticality)
_CLINICAL_CODE: dict[ClinicalCriticality | None, int | None] = {c: i for i, c in enumerate(_CLINICAL)}
_CLINICAL_CODE[None] = None
_EXPOSURES = tuple(NetworkExposure)
_EXPOSURE_CODE: dict[NetworkExposure | None, int | None] = {e: i for i, e in enumerate(_EXPOSURES)}
_EXPOSURE_CODE[None] = None
_CATEGORIES = tuple(EquipmentCategory)
_CATEGORY_CODE: dict[EquipmentCategory | None, int | None] = {c: i for i, c in enumerate(_CATEGORIES)}
_CATEGORY_CODE[None] = None
_CARE = tuple(CareDependency)
_CARE_CODE: dict[CareDependency | None, int | None] = {c: i for i, c in enumerate(_CARE)}
_CARE_CODE[None] = None
# How much each clinical class / exposure outranks another, to inherit the worse one from a parent device.
_CLINICAL_WEIGHT = {
    ClinicalCriticality.SUPPORT: 1,
    ClinicalCriticality.DIAGNOSTIC: 2,
    ClinicalCriticality.TREATMENT: 3,
    ClinicalCriticality.LIFE_SUSTAINING: 4,
}
_CARE_WEIGHT = {
    CareDependency.NONE: 0,
    CareDependency.SUPPORT: 1,
    CareDependency.DIAGNOSTIC: 2,
    CareDependency.TREATMENT: 3,
    CareDependency.LIFE_SUSTAINING: 4,
}
_EXPOSURE_WEIGHT = {NetworkExposure.ISOLATED: 1, NetworkExposure.INTERNAL: 2, NetworkExposure.INTERNET: 3}
_CRITICALITY_WEIGHT = {
    Criticality.LOW: 1,
    Criticality.MEDIUM: 2,
    Criticality.HIGH: 3,
    Criticality.CRITICAL: 4,
}
PRODUCT_KINDS = frozenset({AssetKind.SOFTWARE, AssetKind.MEDICAL_DEVICE, AssetKind.INFRASTRUCTURE})


@dataclass(frozen=True, slots=True)
class AssetRef:
    """What correlation needs to know about one asset, decoded from its record when it matches."""

    id: str
    provider_id: str
    kind: AssetKind
    name: str
    value: str | None
    vendor: str | None
    product: str | None
    version: str | None
    cpe: str | None
    purl: str | None
    criticality: Criticality
    clinical_criticality: ClinicalCriticality | None
    network_exposure: NetworkExposure | None
    not_affected: frozenset[str]
    location: str | None
    parent_name: str | None  # the device or application an SBOM component belongs to
    category: EquipmentCategory | None = None  # infrastructure equipment (inherited by its components)
    care_dependency: CareDependency | None = None  # how much care depends on the equipment
    supports: str | None = None  # which care, in the operator's words: 'UPS feeding ICU'
    owner: str | None = None  # who owns it (the inventory's owner field), for the alert's contact

    @property
    def version_scheme(self) -> str:
        """The version ordering to compare this asset's version in (its package ecosystem, or generic)."""
        if self.purl:
            parsed = products.parse_purl(self.purl)
            if parsed is not None:
                return parsed.type
        return "generic"

    @property
    def effective_version(self) -> str | None:
        """The recorded version, else the one in its PURL or CPE."""
        if self.version:
            return self.version
        if self.purl:
            parsed = products.parse_purl(self.purl)
            if parsed is not None and parsed.version:
                return parsed.version
        if self.cpe:
            cpe = products.parse_cpe(self.cpe)
            if cpe is not None and cpe.version:
                return cpe.version
        return None


class _PrefixTable:
    """All networks of one address family: one dict per prefix length, network int → records.

    An address would need one probe per prefix length present (eleven or more). Bucket maps at a few levels
    (IPv4: /16 and /24) record which longer lengths occur under each bucket, so an address outside every
    registered range costs one lookup per level. Removing a network leaves its bucket bit set: a stale bit
    only costs a probe, and a rebuild clears it.
    """

    def __init__(self, width: int, levels: tuple[int, ...]) -> None:
        self.width = width
        self.levels = levels
        self.by_length: dict[int, dict[int, Entry]] = {}
        # bucket (address >> (width - level)) → bit i set when a network of length level + i lies under it
        self.buckets: list[dict[int, int]] = [{} for _ in levels]
        # (shift, length, table) per length present, longest first: all of them, and those below the levels
        self.probes: list[tuple[int, int, dict[int, Entry]]] = []
        self.low_probes: list[tuple[int, int, dict[int, Entry]]] = []
        self._sorted: dict[int, list[int]] = {}  # lazily sorted keys per length, for range (overlap) queries

    def _refresh(self) -> None:
        self.probes = [(self.width - n, n, t) for n, t in sorted(self.by_length.items(), reverse=True) if t]
        self.low_probes = [p for p in self.probes if p[1] < self.levels[0]]

    def add(self, network: Network, record: Record) -> None:
        prefix = network.prefix
        table = self.by_length.get(prefix)
        if table is None:
            table = self.by_length[prefix] = {}
        _put(table, network.address >> (self.width - prefix), record)
        if prefix >= self.levels[0]:
            i = len(self.levels) - 1
            while self.levels[i] > prefix:
                i -= 1
            level = self.levels[i]
            bucket = network.address >> (self.width - level)
            buckets = self.buckets[i]
            buckets[bucket] = buckets.get(bucket, 0) | (1 << (prefix - level))
        if self._sorted:
            self._sorted.pop(prefix, None)
        if len(table) == 1:
            self._refresh()

    def remove(self, network: Network, record: Record) -> None:
        table = self.by_length.get(network.prefix)
        if table is None:
            return
        _take(table, network.address >> (self.width - network.prefix), record)
        self._sorted.pop(network.prefix, None)
        if not table:
            del self.by_length[network.prefix]
            self._refresh()

    def containing(self, address: int) -> list[tuple[int, int, Entry]]:
        """(prefix length, network int, entry) for every network that contains ``address``, longest first."""
        found: list[tuple[int, int, Entry]] = []
        width, by_length = self.width, self.by_length
        for i in range(len(self.levels) - 1, -1, -1):
            level = self.levels[i]
            mask = self.buckets[i].get(address >> (width - level))
            while mask:
                bit = mask.bit_length() - 1
                mask ^= 1 << bit
                table = by_length.get(level + bit)
                if table:
                    shift = width - level - bit
                    entry = table.get(address >> shift)
                    if entry is not None:
                        found.append((level + bit, address >> shift << shift, entry))
        for shift, length, table in self.low_probes:
            entry = table.get(address >> shift)
            if entry is not None:
                found.append((length, address >> shift << shift, entry))
        return found

    def overlapping(self, network: Network) -> Iterator[tuple[int, int, Entry]]:
        """Every network that contains ``network`` or lies inside it."""
        first, last = network.address, network.last()
        for shift, length, table in self.probes:
            if length <= network.prefix:
                key = first >> shift
                entry = table.get(key)
                if entry is not None:
                    yield length, key << shift, entry
                continue
            keys = self._sorted.get(length)
            if keys is None:
                keys = self._sorted[length] = sorted(table)
            lo, hi = first >> shift, last >> shift
            for i in range(bisect.bisect_left(keys, lo), bisect.bisect_right(keys, hi)):
                yield length, keys[i] << shift, table[keys[i]]


def _put(table: dict[Any, Entry], key: object, record: Record) -> None:
    current = table.get(key)
    if current is None:
        table[key] = record
    elif isinstance(current, bytes):
        table[key] = [current, record]
    else:
        current.append(record)


def _take(table: dict[Any, Entry], key: object, record: Record) -> None:
    current = table.get(key)
    if current is None:
        return
    if isinstance(current, bytes):
        if current is record:
            del table[key]
        return
    remaining = [r for r in current if r is not record]
    if not remaining:
        del table[key]
    else:
        table[key] = remaining[0] if len(remaining) == 1 else remaining


_Exact = tuple[str, str, str, str | None]  # group, key, how, version hint
_Reordered = tuple[str, str, str, str | None]  # group, key, its words sorted, version hint
_Family = tuple[str, str, str | None]  # group, pattern, version hint
_Listed = tuple[str, str, str | None]  # group, a listed model's key and a space (a prefix), version hint


@functools.lru_cache(maxsize=65536)
def _lookup_plan(
    vendor: str | None, product: str | None, generation: int
) -> tuple[tuple[_Exact, ...], tuple[_Reordered, ...], tuple[_Listed, ...], tuple[_Family, ...]]:
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
    return exact, reordered, listed, families


@dataclass(frozen=True, slots=True)
class ProductHit:
    """An index entry an advisory's vendor/product names, and how the names met."""

    entry: Entry
    field: str  # "vendor+product"
    how: str  # names.EXACT, VERSION_IN_NAME, MODEL_IN_LIST, FAMILY_PATTERN, QUALIFIED or WORD_ORDER
    version_hint: str | None  # the version or family the advisory's product name carried


WORD_ORDER = "word order"


def records(entry: Entry) -> list[Record]:
    """The records behind a table entry."""
    return [entry] if isinstance(entry, bytes) else entry


def _worse(a: T | None, b: T | None, weight: Mapping[T, int]) -> T | None:
    if a is None or b is None:
        return b if a is None else a
    return a if weight[a] >= weight[b] else b


class AssetIndex:
    """Every provider's assets, filed under the keys indicators are looked up by."""

    def __init__(self) -> None:
        self._provider_ids: list[str] = []
        self._provider_slot: dict[str, int] = {}
        self._records: list[list[Record]] = []  # per provider slot
        self._v4 = _PrefixTable(WIDTH[V4], levels=(16, 24))
        self._v6 = _PrefixTable(WIDTH[V6], levels=(32, 48))
        self._domains: dict[str, Entry] = {}
        self._hostnames: dict[str, Entry] = {}
        self._email_domains: dict[str, Entry] = {}
        self._asns: dict[int, Entry] = {}
        self._products: dict[str, dict[str, Entry]] = {}  # vendor group → product key → records
        self._bags: dict[str, dict[str, list[str]]] = {}  # vendor group → sorted words → product keys
        self._sorted_keys: dict[str, list[str]] = {}  # vendor group → its product keys sorted (lazily)
        self._names_generation = names.generation()
        self.unindexable: set[str] = set()  # ids of assets filed under no key: a value the index cannot read
        self._by_cpe: dict[str, Entry] = {}
        self._by_purl: dict[str, Entry] = {}
        self._name_tables: dict[AssetKind, dict[str, Entry]] = {
            AssetKind.DOMAIN: self._domains,
            AssetKind.HOSTNAME: self._hostnames,
            AssetKind.EMAIL_DOMAIN: self._email_domains,
        }

    # --- building ------------------------------------------------------------------------------------------

    @classmethod
    def build(cls, assets: Iterable[Asset]) -> AssetIndex:
        """A fresh index of ``assets`` (all providers)."""
        index = cls()
        by_provider: dict[str, list[Asset]] = {}
        for asset in assets:
            by_provider.setdefault(asset.provider_id, []).append(asset)
        for provider_id, provider_assets in by_provider.items():
            index.replace_provider(provider_id, provider_assets)
        return index

    def rebuild(self, assets: Iterable[Asset]) -> None:
        """Replace everything with ``assets``."""
        fresh = AssetIndex.build(assets)
        self.__dict__.update(fresh.__dict__)

    def replace_provider(self, provider_id: str, assets: Iterable[Asset]) -> None:
        """Replace one provider's whole inventory (the assets given are all it has now)."""
        self._sync_names()
        slot = self._provider_slot.get(provider_id)
        if slot is None:
            slot = self._provider_slot[provider_id] = len(self._provider_ids)
            self._provider_ids.append(provider_id)
            self._records.append([])
        for record in self._records[slot]:
            f = marshal.loads(record)  # noqa: S302 - our own records, never external input
            # a record that could not be filed fails the same way here, after what did go in is out
            with contextlib.suppress(Exception):
                self._file(_KINDS[f[2]], f[4], f[5], f[6], f[8], f[9], record, remove=True)
            self.unindexable.discard(f[1])
        chosen = [a for a in assets if a.provider_id == provider_id]
        parent_ids = {a.parent_id for a in chosen if a.parent_id}
        parents = {a.id: a for a in chosen if a.id in parent_ids} if parent_ids else {}
        fresh: list[Record] = []
        file, encode = self._file, self._encode
        for asset in chosen:
            record = encode(slot, asset, parents.get(asset.parent_id) if asset.parent_id else None)
            fresh.append(record)
            try:
                file(
                    asset.kind,
                    asset.value,
                    asset.vendor,
                    asset.product,
                    asset.cpe,
                    asset.purl,
                    record,
                    remove=False,
                )
            except Exception as exc:  # one value the index cannot key never drops the rest of the inventory
                self._unfileable(asset.id, record, exc)
        self._records[slot] = fresh

    def _unfileable(self, asset_id: str, record: Record, exc: Exception) -> None:
        """Take out what was filed of a record before its error, and say which asset is not indexed."""
        f = marshal.loads(record)  # noqa: S302 - our own records, never external input
        with contextlib.suppress(Exception):  # the same error again, after the keys that did go in are out
            self._file(_KINDS[f[2]], f[4], f[5], f[6], f[8], f[9], record, remove=True)
        self.unindexable.add(asset_id)
        log.warning("asset_not_indexed", asset_id=asset_id, error=f"{type(exc).__name__}: {exc}"[:300])

    def remove_provider(self, provider_id: str) -> None:
        self.replace_provider(provider_id, ())

    @staticmethod
    def _encode(slot: int, asset: Asset, parent: Asset | None) -> Record:
        clinical = asset.clinical_criticality
        exposure = asset.network_exposure
        criticality = asset.criticality
        category, care, supports = asset.category, asset.care_dependency, asset.supports
        if parent is not None:  # an SBOM component is as critical and as exposed as the device it runs in
            clinical = _worse(clinical, parent.clinical_criticality, _CLINICAL_WEIGHT)
            exposure = _worse(exposure, parent.network_exposure, _EXPOSURE_WEIGHT)
            criticality = _worse(criticality, parent.criticality, _CRITICALITY_WEIGHT) or criticality
            category = category or parent.category
            if (inherited := _worse(care, parent.care_dependency, _CARE_WEIGHT)) is not care:
                care, supports = inherited, parent.supports
        return marshal.dumps(
            (
                slot,
                asset.id,
                _KIND_CODE[asset.kind],
                asset.name,
                asset.value,
                asset.vendor,
                asset.product,
                asset.version,
                asset.cpe,
                asset.purl,
                _CRITICALITY_CODE[criticality],
                _CLINICAL_CODE[clinical],
                _EXPOSURE_CODE[exposure],
                tuple(sorted({c.upper() for c in not_affected}))
                if (not_affected := asset.not_affected)
                else None,
                asset.location,
                parent.name if parent is not None else None,
                _CATEGORY_CODE[category],
                _CARE_CODE[care],
                supports,
                asset.owner or (parent.owner if parent is not None else None),
            )
        )

    def _file(
        self,
        kind: AssetKind,
        value: str | None,
        vendor: str | None,
        product: str | None,
        cpe: str | None,
        purl: str | None,
        record: Record,
        *,
        remove: bool,
    ) -> None:
        """Put ``record`` under (or take it from) every key the asset is looked up by."""
        act = _take if remove else _put
        if kind in PRODUCT_KINDS:
            self._file_product(vendor, product, cpe, purl, record, act)
            return
        if not value:
            return
        if kind is AssetKind.NETWORK:
            network = parse_network(value)
            if network is not None:
                table = self._v4 if network.family == V4 else self._v6
                (table.remove if remove else table.add)(network, record)
            return
        if kind is AssetKind.ASN:
            number = parse_asn(value)
            if number is not None:
                act(self._asns, number, record)
            return
        host = normalise_host(value.lstrip("@") if kind is AssetKind.EMAIL_DOMAIN else value)
        if host is not None:
            act(self._name_tables[kind], host, record)

    def _file_product(
        self,
        vendor: str | None,
        product: str | None,
        cpe: str | None,
        purl: str | None,
        record: Record,
        act: Callable[[dict[Any, Entry], object, Record], None],
    ) -> None:
        parsed_cpe = products.parse_cpe(cpe) if cpe else None
        if parsed_cpe is not None:
            act(self._by_cpe, products.cpe_key(parsed_cpe), record)
        parsed_purl = products.parse_purl(purl) if purl else None
        if parsed_purl is not None:
            act(self._by_purl, parsed_purl.key, record)
        for group, key in self._asset_name_keys(vendor, product, parsed_cpe, purl):
            table = self._products.get(group)
            if table is None:
                if act is _take:
                    continue
                table = self._products[group] = {}
            known = key in table
            act(table, key, record)
            if known != (key in table):
                self._file_bag(group, key, added=not known)
                self._sorted_keys.pop(group, None)

    @staticmethod
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

    def _file_bag(self, group: str, key: str, *, added: bool) -> None:
        if " " not in key:
            return  # one word has one order
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

    def _group_keys(self, group: str) -> list[str]:
        keys = self._sorted_keys.get(group)
        if keys is None:
            keys = self._sorted_keys[group] = sorted(self._products.get(group, ()))
        return keys

    def _sync_names(self) -> None:
        """Re-derive every product key after the alias table changed (keys are a function of the table)."""
        current = names.generation()
        if current == self._names_generation:
            return
        self._products, self._bags, self._sorted_keys = {}, {}, {}
        self._by_cpe, self._by_purl = {}, {}
        self._names_generation = current
        for provider_records in self._records:
            for record in provider_records:
                f = marshal.loads(record)  # noqa: S302 - our own records, never external input
                if _KINDS[f[2]] in PRODUCT_KINDS and f[1] not in self.unindexable:
                    try:
                        self._file_product(f[5], f[6], f[8], f[9], record, _put)
                    except Exception as exc:
                        self._unfileable(f[1], record, exc)

    # --- reading -------------------------------------------------------------------------------------------

    def ref(self, record: Record) -> AssetRef:
        """Decode one record."""
        f = marshal.loads(record)  # noqa: S302 - our own records, never external input
        return AssetRef(
            id=f[1],
            provider_id=self._provider_ids[f[0]],
            kind=_KINDS[f[2]],
            name=f[3],
            value=f[4],
            vendor=f[5],
            product=f[6],
            version=f[7],
            cpe=f[8],
            purl=f[9],
            criticality=_CRITICALITIES[f[10]],
            clinical_criticality=None if f[11] is None else _CLINICAL[f[11]],
            network_exposure=None if f[12] is None else _EXPOSURES[f[12]],
            not_affected=frozenset(f[13] or ()),
            location=f[14],
            parent_name=f[15],
            category=None if f[16] is None else _CATEGORIES[f[16]],
            care_dependency=None if f[17] is None else _CARE[f[17]],
            supports=f[18],
            owner=f[19],
        )

    def __len__(self) -> int:
        return sum(len(r) for r in self._records)

    @property
    def provider_count(self) -> int:
        return sum(1 for r in self._records if r)

    def provider_assets(self, provider_id: str) -> list[AssetRef]:
        slot = self._provider_slot.get(provider_id)
        return [] if slot is None else [self.ref(r) for r in self._records[slot]]

    def networks_containing(self, family: int, address: int) -> list[tuple[int, int, Entry]]:
        return (self._v4 if family == V4 else self._v6).containing(address)

    def networks_overlapping(self, network: Network) -> Iterator[tuple[int, int, Entry]]:
        return (self._v4 if network.family == V4 else self._v6).overlapping(network)

    def domains_covering(self, host: str) -> list[tuple[str, Entry]]:
        """(registered domain, entry) for ``host`` and each parent domain registered, most specific first."""
        domains = self._domains
        found: list[tuple[str, Entry]] = []
        suffix = host
        while True:
            entry = domains.get(suffix)
            if entry is not None:
                found.append((suffix, entry))
            dot = suffix.find(".")
            if dot < 0:
                return found
            suffix = suffix[dot + 1 :]

    def hostname(self, host: str) -> Entry | None:
        return self._hostnames.get(host)

    def email_domain(self, domain: str) -> Entry | None:
        return self._email_domains.get(domain)

    def asn(self, number: int) -> Entry | None:
        return self._asns.get(number)

    def by_name(self, key: str) -> Entry | None:
        """The records filed under ``group|product key`` (kept for callers of ``products.name_key``)."""
        self._sync_names()
        group, _, product = key.partition("|")
        table = self._products.get(group)
        return None if table is None else table.get(product)

    def lookup_product(self, vendor: str | None, product: str | None) -> list[ProductHit]:
        """Every entry the advisory's vendor and product name: exact keys (and the models a name lists) first,
        then the same words in another order, then wildcard families scanned within the vendor's group only."""
        if self._names_generation != names.generation():
            self._sync_names()
        exact, reordered, listed, families = _lookup_plan(vendor, product, self._names_generation)
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
        return self._hits(found) if found else []

    def _hits(self, found: list[tuple[Entry, str, str | None]]) -> list[ProductHit]:
        """One hit per entry (the first way found); a version line in the name keeps the assets in that line."""
        hits: list[ProductHit] = []
        seen: set[int] = set()
        for entry, how, hint in found:
            if id(entry) in seen:
                continue
            seen.add(id(entry))
            families = names.hint_families(hint)
            if families:  # "Niagara 4.6" covers the 4.6 line of an asset named "Niagara 4", not its 4.4
                kept = [
                    r for r in records(entry) if names.in_families(self.ref(r).effective_version, families)
                ]
                if not kept:
                    continue
                entry = kept[0] if len(kept) == 1 else kept
            hits.append(ProductHit(entry, "vendor+product", how, hint))
        return hits

    def by_cpe(self, key: str) -> Entry | None:
        return self._by_cpe.get(key)

    def by_purl(self, key: str) -> Entry | None:
        return self._by_purl.get(key)
