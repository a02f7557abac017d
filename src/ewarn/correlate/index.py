"""In-memory asset index: every provider's assets keyed for the lookups indicators need.

Layout, chosen for memory (223 traced bytes per asset at a million assets, see bench/README.md):
- each asset is one compact record (``asset_records``: ``marshal`` of a tuple of plain values) — no pydantic
  object is kept;
- lookup tables map a key to the record itself, or to a list of records when several assets share the key
  (``entries``);
- IP networks sit in one dict per prefix length (``prefix_table``), faster and far smaller than a radix tree;
- each provider owns the list of its records, so replacing one provider's inventory touches only its keys;
- products are filed per vendor group under the keys ``ewarn.names`` derives (``product_index``), re-derived
  for every record when the alias table changes;
- an asset whose value the index cannot key (say ``AS²``: ``str.isdigit`` but not ``int``) is filed under no
  key and listed in ``unindexable``; it never stops the rest of its provider's inventory from being filed.

This module is the facade (build, update, lookup); every name callers import from here stays importable.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence

from ewarn.correlate import asset_records
from ewarn.correlate.addresses import (
    V4,
    V6,
    WIDTH,
    Network,
    normalise_host,
    parse_address,
    parse_asn,
    parse_network,
)
from ewarn.correlate.asset_records import AssetRef
from ewarn.correlate.entries import Entry, Record, put, records, take
from ewarn.correlate.prefix_table import PrefixTable
from ewarn.correlate.product_index import PRODUCT_KINDS, WORD_ORDER, ProductHit, ProductIndex
from ewarn.logging import get_logger
from ewarn.models import Asset, AssetKind, Indicator, IndicatorType

__all__ = [
    "PRODUCT_KINDS",
    "WORD_ORDER",
    "AssetIndex",
    "AssetRef",
    "Entry",
    "ProductHit",
    "Record",
    "records",
]

log = get_logger(__name__)


class AssetIndex:
    """Every provider's assets, filed under the keys indicators are looked up by."""

    def __init__(self) -> None:
        self._provider_ids: list[str] = []
        self._provider_slot: dict[str, int] = {}
        self._records: list[list[Record]] = []  # per provider slot
        self._v4 = PrefixTable(WIDTH[V4], levels=(16, 24))
        self._v6 = PrefixTable(WIDTH[V6], levels=(32, 48))
        self._domains: dict[str, Entry] = {}
        self._hostnames: dict[str, Entry] = {}
        self._email_domains: dict[str, Entry] = {}
        self._asns: dict[int, Entry] = {}
        self._products = ProductIndex()
        self.unindexable: set[str] = set()  # ids of assets filed under no key: a value the index cannot read
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
            # a record that could not be filed fails the same way here, after what did go in is out
            self.unindexable.discard(self._unfile(record))
        chosen = [a for a in assets if a.provider_id == provider_id]
        parent_ids = {a.parent_id for a in chosen if a.parent_id}
        parents = {a.id: a for a in chosen if a.id in parent_ids} if parent_ids else {}
        fresh: list[Record] = []
        file, encode = self._file, asset_records.encode
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

    def _unfile(self, record: Record) -> str:
        """Take ``record`` out from under every key it went in under; its asset id."""
        f = asset_records.filing(record)
        with contextlib.suppress(
            Exception
        ):  # an error filing it comes again, after the keys that did go in are out
            self._file(f.kind, f.value, f.vendor, f.product, f.cpe, f.purl, record, remove=True)
        return f.asset_id

    def _unfileable(self, asset_id: str, record: Record, exc: Exception) -> None:
        """Take out what was filed of a record before its error, and say which asset is not indexed."""
        self._unfile(record)
        self.unindexable.add(asset_id)
        log.warning("asset_not_indexed", asset_id=asset_id, error=f"{type(exc).__name__}: {exc}"[:300])

    def remove_provider(self, provider_id: str) -> None:
        self.replace_provider(provider_id, ())

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
        act = take if remove else put
        if kind in PRODUCT_KINDS:
            self._products.file(vendor, product, cpe, purl, record, act)
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

    def _sync_names(self) -> None:
        """Re-derive every product key after the alias table changed (keys are a function of the table)."""
        if not self._products.stale():
            return
        self._products.reset()
        for provider_records in self._records:
            for record in provider_records:
                f = asset_records.filing(record)
                if f.kind in PRODUCT_KINDS and f.asset_id not in self.unindexable:
                    try:
                        self._products.file(f.vendor, f.product, f.cpe, f.purl, record, put)
                    except Exception as exc:
                        self._unfileable(f.asset_id, record, exc)

    # --- reading -------------------------------------------------------------------------------------------

    def ref(self, record: Record) -> AssetRef:
        """Decode one record."""
        return asset_records.decode(record, self._provider_ids)

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
        return self._products.by_name(key)

    def lookup_product(self, vendor: str | None, product: str | None) -> list[ProductHit]:
        """Every entry the advisory's vendor and product name: exact keys (and the models a name lists) first,
        then the same words in another order, then wildcard families scanned within the vendor's group only."""
        self._sync_names()
        return self._products.lookup(vendor, product, self.ref)

    def by_cpe(self, key: str) -> Entry | None:
        return self._products.by_cpe(key)

    def by_purl(self, key: str) -> Entry | None:
        return self._products.by_purl(key)

    # --- batch pre-check -----------------------------------------------------------------------------------

    def candidates(self, indicators: Sequence[Indicator]) -> list[int]:
        """Positions of the indicators that may hit an asset; every other one hits none (``match`` finds []).

        Almost every indicator misses (a feed's addresses and names are rarely a hospital's): this answers the
        miss with the table probes alone, without the matchers' per-indicator calls and objects. It is a
        superset: whatever it cannot decide cheaply (a CIDR, an address-like URL host, a CPE or PURL, a type it
        has no check for) counts as a candidate and goes through ``match``.
        """
        self._sync_names()
        # keyed by the member's id: an enum member's hash is a Python-level call, an id is not
        checks = {id(t): check for t, check in self._checks().items()}
        return [
            i
            for i, indicator in enumerate(indicators)
            if (check := checks.get(id(indicator.type))) is None or check(indicator)
        ]

    def _checks(self) -> dict[IndicatorType, Callable[[Indicator], bool]]:
        return {
            IndicatorType.IPV4: self._address_may_hit,
            IndicatorType.IPV6: self._address_may_hit,
            IndicatorType.DOMAIN: self._domain_may_hit,
            IndicatorType.URL: self._url_may_hit,
            IndicatorType.EMAIL: self._email_may_hit,
            IndicatorType.ASN: self._asn_may_hit,
            IndicatorType.VULNERABILITY: self._advisory_may_hit,
        }

    def _address_may_hit(self, indicator: Indicator) -> bool:
        text = indicator.value
        parsed = parse_address(text) if "/" not in text else None
        if parsed is None:
            return True  # a network, or text the matcher reads its own way
        return bool((self._v4 if parsed[0] == V4 else self._v6).containing(parsed[1]))

    def _host_may_hit(self, host: str) -> bool:
        if host in self._hostnames or host in self._email_domains:
            return True
        domains = self._domains
        suffix = host
        while True:
            if suffix in domains:
                return True
            dot = suffix.find(".")
            if dot < 0:
                return False
            suffix = suffix[dot + 1 :]

    def _domain_may_hit(self, indicator: Indicator) -> bool:
        host = normalise_host(indicator.value)
        return host is not None and self._host_may_hit(host)

    def _url_may_hit(self, indicator: Indicator) -> bool:
        raw = indicator.url_host
        if not raw or raw[0].isdigit() or ":" in raw:
            return True  # no parsed host (the matcher splits the URL), or a host that may be an address
        host = normalise_host(raw)
        return host is not None and self._host_may_hit(host)

    def _email_may_hit(self, indicator: Indicator) -> bool:
        domain = normalise_host(indicator.value.rpartition("@")[2])
        return domain is not None and domain in self._email_domains

    def _asn_may_hit(self, indicator: Indicator) -> bool:
        number = parse_asn(indicator.value)
        return number is not None and number in self._asns

    def _advisory_may_hit(self, indicator: Indicator) -> bool:
        vuln = indicator.vulnerability
        if vuln is None:
            return False
        may_hit = self._products.may_hit
        for product in vuln.affected:
            if product.cpe or product.purl:
                return True
            if product.vendor and product.product:
                if may_hit(product.vendor, product.product):
                    return True
                if (
                    product.model
                    and product.model != product.product
                    and may_hit(product.vendor, product.model)
                ):
                    return True
        return False
