"""Correlation benchmark: the in-memory index against a naive scan and against PostgreSQL, on one core.

Synthetic inventory (10,000 providers, 1,000,000 assets of every kind) and a stream of mixed indicators of
which about 1 in 1,000 matches. Measures matched indicators per second, index memory per asset (tracemalloc),
and the time to rebuild the index; then the same stream through a naive scan (on a sample, extrapolated) and
through the SQL a DB-centric tool would run (PostgreSQL ``inet`` containment on a GiST ``inet_ops`` index,
B-tree name lookups). Writes ``bench/results/correlate.json``.

    python bench/correlate_bench.py            # full run (starts a throwaway PostgreSQL)
    python bench/correlate_bench.py --quick    # scaled down, for the smoke test
    python bench/correlate_bench.py --pg-url postgresql://user@host:5432/db
    python bench/correlate_bench.py --assets 200000 --indicators 100000 --no-pg   # a smaller run to iterate
    python bench/correlate_bench.py --src /tmp/index-old/src   # the same bench on another tree (before/after)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import socket
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


from src_tree import use_src_from_argv  # noqa: E402

use_src_from_argv()

from ewarn.correlate import products, versions  # noqa: E402
from ewarn.correlate.addresses import parse_network  # noqa: E402
from ewarn.correlate.engine import build_alert, match  # noqa: E402
from ewarn.correlate.index import AssetIndex  # noqa: E402
from ewarn.correlate.matches import Match  # noqa: E402
from ewarn.correlate.versions import contains  # noqa: E402
from ewarn.models import (  # noqa: E402
    TLP,
    AffectedProduct,
    Asset,
    AssetKind,
    ClinicalCriticality,
    Criticality,
    Indicator,
    IndicatorType,
    NetworkExposure,
    ProductStatus,
    SourceRef,
    VersionRange,
    VulnerabilityInfo,
)
from ewarn.models.common import utcnow  # noqa: E402

try:
    from ewarn.correlate.batch_match import match_many
except ImportError:  # an older tree (--src): no batch matching, one indicator at a time
    match_many = None

RESULTS = ROOT / "bench" / "results" / "correlate.json"
BATCH = 1_000  # indicators per match_many call: the correlate stage's batch, a tenth of the big SQL batch
TARGETS = {"indicators_per_second": 200_000, "bytes_per_asset": 300, "rebuild_seconds": 10.0}

# Share of each asset kind in the inventory, and of each indicator type in the stream.
ASSET_MIX = {
    AssetKind.NETWORK: 0.25,
    AssetKind.DOMAIN: 0.12,
    AssetKind.HOSTNAME: 0.12,
    AssetKind.EMAIL_DOMAIN: 0.05,
    AssetKind.ASN: 0.02,
    AssetKind.SOFTWARE: 0.29,
    AssetKind.MEDICAL_DEVICE: 0.15,
}
INDICATOR_MIX = {
    IndicatorType.IPV4: 0.38,
    IndicatorType.IPV6: 0.04,
    IndicatorType.DOMAIN: 0.18,
    IndicatorType.URL: 0.15,
    IndicatorType.EMAIL: 0.05,
    IndicatorType.ASN: 0.02,
    IndicatorType.SHA256: 0.08,
    IndicatorType.MD5: 0.03,
    IndicatorType.VULNERABILITY: 0.07,
}
HIT_RATE = 0.001
REPEATS = 3
PROFILE = False  # --profile: a cProfile of one lookup pass
SOURCE = SourceRef(feed_id="bench", feed_kind="bench", record="synthetic")


@dataclass
class Scale:
    providers: int
    assets: int
    indicators: int
    naive_sample: int
    sql_sample: int


FULL = Scale(providers=10_000, assets=1_000_000, indicators=500_000, naive_sample=60, sql_sample=20_000)
QUICK = Scale(providers=200, assets=20_000, indicators=20_000, naive_sample=20, sql_sample=1_000)


# --- synthetic inventory -----------------------------------------------------------------------------------


def _ip4(value: int) -> str:
    return socket.inet_ntop(socket.AF_INET, value.to_bytes(4, "big"))


def _ip6(value: int) -> str:
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))


class Inventory:
    """Assets of every kind; networks in the lower half of IPv4 and under 2001::/16, names under .example."""

    def __init__(self, scale: Scale, rng: random.Random) -> None:
        self.rng = rng
        self.software = [(f"Vendor {i % 400}", f"Product {i}") for i in range(3000)]
        self.devices = [(f"Medical Maker {i % 60}", f"Model {i}") for i in range(600)]
        self.assets: list[Asset] = []
        self._v4_cursor = 1 << 24  # allocate forwards from 1.0.0.0, never reaching 128.0.0.0
        self._v6_cursor = 0x2001 << 112
        self._asn = 64512
        per_provider = scale.assets // scale.providers
        kinds = list(ASSET_MIX)
        weights = list(ASSET_MIX.values())
        for p in range(scale.providers):
            provider = f"prov-{p:05d}"
            for i, kind in enumerate(rng.choices(kinds, weights, k=per_provider)):
                self.assets.append(self._asset(provider, p, i, kind))

    def _network(self) -> str:
        rng = self.rng
        if rng.random() < 0.1:
            prefix = rng.choice((48, 56, 64))
            size = 1 << (128 - prefix)
            start = (self._v6_cursor + size - 1) // size * size
            self._v6_cursor = start + size
            return f"{_ip6(start)}/{prefix}"
        prefix = rng.choices(
            (16, 20, 22, 23, 24, 25, 26, 27, 28, 29, 32), (1, 2, 6, 8, 40, 10, 10, 8, 7, 5, 3)
        )[0]
        size = 1 << (32 - prefix)
        start = (self._v4_cursor + size - 1) // size * size
        self._v4_cursor = start + size
        assert self._v4_cursor < 1 << 31, "inventory too large for the lower half of IPv4"
        return f"{_ip4(start)}/{prefix}"

    def _asset(self, provider: str, p: int, i: int, kind: AssetKind) -> Asset:
        rng = self.rng
        fields: dict[str, Any] = {
            "id": f"ast_{p:05d}_{i:04d}",
            "provider_id": provider,
            "kind": kind,
            "name": f"{kind.value} {i} of {provider}",
            "criticality": rng.choice(tuple(Criticality)),
            "tags": [],
            "not_affected": [],
        }
        if kind is AssetKind.NETWORK:
            fields["value"] = self._network()
            fields["network_exposure"] = rng.choice(tuple(NetworkExposure))
        elif kind is AssetKind.DOMAIN:
            fields["value"] = f"p{p}d{i}.example"
        elif kind is AssetKind.HOSTNAME:
            fields["value"] = f"host{i}.p{p}h.example"
        elif kind is AssetKind.EMAIL_DOMAIN:
            fields["value"] = f"mail{i}.p{p}.example"
        elif kind is AssetKind.ASN:
            self._asn += 1
            fields["value"] = f"AS{self._asn}"
        elif kind is AssetKind.SOFTWARE:
            vendor, product = rng.choice(self.software)
            version = f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 30)}"
            fields.update(vendor=vendor, product=product, version=version)
            style = rng.random()
            if style < 0.3:
                v, n = vendor.lower().replace(" ", "_"), product.lower().replace(" ", "_")
                fields["cpe"] = f"cpe:2.3:a:{v}:{n}:{version}:*:*:*:*:*:*:*"
            elif style < 0.6:
                group, name = vendor.lower().replace(" ", ""), product.lower().replace(" ", "-")
                fields["purl"] = f"pkg:maven/org.{group}/{name}@{version}"
        else:
            vendor, product = rng.choice(self.devices)
            fields.update(
                vendor=vendor,
                product=product,
                version=f"{rng.randint(1, 12)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}",
                clinical_criticality=rng.choice(tuple(ClinicalCriticality)),
                network_exposure=rng.choice(tuple(NetworkExposure)),
                location=f"Ward {i % 40}",
            )
        # generated valid: skip validation so a million assets build in seconds, as the DB load does not count
        return Asset.model_construct(**fields)


# --- synthetic indicator stream ----------------------------------------------------------------------------


def _indicator(type_: IndicatorType, value: str, **fields: Any) -> Indicator:
    return Indicator.model_construct(
        schema_version=1,
        key=f"{type_.value}:{value}",
        type=type_,
        value=value,
        source=SOURCE,
        labels=fields.pop("labels", ["c2"]),
        confidence=fields.pop("confidence", 80),
        url_host=fields.pop("url_host", None),
        cves=fields.pop("cves", []),
        vulnerability=fields.pop("vulnerability", None),
        revoked=False,
        valid_until=None,
        tlp=TLP.CLEAR,
        sources=[],
        **fields,
    )


def _vuln(affected: list[AffectedProduct]) -> VulnerabilityInfo:
    return VulnerabilityInfo.model_construct(
        cves=["CVE-2025-0001"],
        title=None,
        cvss_score=8.1,
        cvss_vector=None,
        known_exploited=False,
        known_ransomware_use=False,
        kev_date_added=None,
        affected=affected,
        remediations=[],
        references=[],
    )


def _product(vendor: str, product: str, raw: str) -> AffectedProduct:
    return AffectedProduct.model_construct(
        vendor=vendor,
        product=product,
        cpe=None,
        purl=None,
        product_id=None,
        status=ProductStatus.AFFECTED,
        versions=[
            VersionRange.model_construct(
                exact=None, gte=None, gt=None, lte=None, lt=None, scheme="generic", raw=raw
            )
        ],
    )


class Stream:
    """Indicators of every type; about 1 in 1,000 is drawn from the inventory so that it matches."""

    def __init__(self, inventory: Inventory, rng: random.Random) -> None:
        self.rng = rng
        self.by_kind: dict[AssetKind, list[Asset]] = {}
        for a in inventory.assets:
            self.by_kind.setdefault(a.kind, []).append(a)
        hash_share = INDICATOR_MIX[IndicatorType.SHA256] + INDICATOR_MIX[IndicatorType.MD5]
        self.hit_chance = HIT_RATE / (1 - hash_share)  # hashes never match: the others make up for them
        # advisories keep naming the same vendors and products: misses come from a vocabulary of 20,000
        self.unlisted = [(f"Unlisted Vendor {i % 2000}", f"Tool {i}") for i in range(20_000)]

    def make(self, count: int) -> list[Indicator]:
        types = list(INDICATOR_MIX)
        weights = list(INDICATOR_MIX.values())
        out = []
        for type_ in self.rng.choices(types, weights, k=count):
            hashes = (IndicatorType.SHA256, IndicatorType.MD5)
            hit = type_ not in hashes and self.rng.random() < self.hit_chance
            out.append(self._hit(type_) if hit else self._miss(type_))
        return out

    def _pick(self, *kinds: AssetKind) -> Asset:
        return self.rng.choice(self.by_kind[self.rng.choice(kinds)])

    def _hit(self, type_: IndicatorType) -> Indicator:
        rng = self.rng
        if type_ in (IndicatorType.IPV4, IndicatorType.IPV6):
            while True:
                network = parse_network(self._pick(AssetKind.NETWORK).value or "")
                assert network is not None
                if (network.family == 4) == (type_ is IndicatorType.IPV4):
                    break
            address = rng.randint(network.address, network.last())
            return _indicator(type_, _ip4(address) if network.family == 4 else _ip6(address))
        if type_ is IndicatorType.DOMAIN:
            return _indicator(type_, f"www.{self._pick(AssetKind.DOMAIN).value}")
        if type_ is IndicatorType.URL:
            host = f"login.{self._pick(AssetKind.DOMAIN).value}"
            return _indicator(type_, f"https://{host}/reset", url_host=host)
        if type_ is IndicatorType.EMAIL:
            return _indicator(type_, f"billing@{self._pick(AssetKind.EMAIL_DOMAIN).value}")
        if type_ is IndicatorType.ASN:
            return _indicator(type_, self._pick(AssetKind.ASN).value or "")
        target = self._pick(AssetKind.SOFTWARE, AssetKind.MEDICAL_DEVICE)
        vuln = _vuln([_product(target.vendor or "", target.product or "", f"<= {target.version}")])
        return _indicator(type_, f"CVE-2025-{rng.randint(1000, 99999)}", vulnerability=vuln)

    def _miss(self, type_: IndicatorType) -> Indicator:
        rng = self.rng
        if type_ is IndicatorType.IPV4:
            return _indicator(type_, _ip4(rng.randint(1 << 31, (1 << 32) - 1)))
        if type_ is IndicatorType.IPV6:
            return _indicator(type_, _ip6((0x2A00 << 112) | rng.getrandbits(112)))
        if type_ is IndicatorType.DOMAIN:
            return _indicator(type_, f"x{rng.getrandbits(40):x}.evil.test")
        if type_ is IndicatorType.URL:
            host = f"cdn{rng.getrandbits(32):x}.badsite.test"
            return _indicator(type_, f"http://{host}/payload.exe", url_host=host)
        if type_ is IndicatorType.EMAIL:
            return _indicator(type_, f"invoice@x{rng.getrandbits(32):x}.test")
        if type_ is IndicatorType.ASN:
            return _indicator(type_, f"AS{rng.randint(1, 60000)}")
        if type_ is IndicatorType.SHA256:
            return _indicator(type_, f"{rng.getrandbits(256):064x}", labels=["malware"])
        if type_ is IndicatorType.MD5:
            return _indicator(type_, f"{rng.getrandbits(128):032x}", labels=["malware"])
        affected = [_product(*rng.choice(self.unlisted), "< 9.9") for _ in range(rng.randint(1, 3))]
        return _indicator(type_, f"CVE-2025-{rng.randint(1000, 99999)}", vulnerability=_vuln(affected))


# --- the index ---------------------------------------------------------------------------------------------


def clear_caches() -> None:
    """Forget every cached normalisation, so a build pays for them as a freshly started correlator does."""
    for module in (products, versions):
        for value in vars(module).values():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()


def measure_index(assets: list[Asset], stream: list[Indicator]) -> tuple[AssetIndex, dict[str, Any]]:
    clear_caches()
    gc.collect()
    start, start_cpu = time.perf_counter(), time.process_time()
    index = AssetIndex.build(assets)
    rebuild, rebuild_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    warm_builds = []
    for _ in range(2):
        del index
        gc.collect()
        start = time.perf_counter()
        index = AssetIndex.build(assets)
        warm_builds.append(time.perf_counter() - start)
    del index
    clear_caches()
    gc.collect()
    tracemalloc.start()  # the caches it fills count as the index's memory too
    index = AssetIndex.build(assets)
    built = tracemalloc.get_traced_memory()[0]
    # the sorted keys a network-indicator (overlap) query keeps per prefix length
    for everything in ("0.0.0.0/0", "::/0"):
        network = parse_network(everything)
        assert network is not None
        for _ in index.networks_overlapping(network):
            pass
    warmed = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    gc.collect()
    gc.freeze()  # the index is long-lived: keep the collector from rescanning it on every young collection
    match_all(index, stream[: len(stream) // 10])  # warm the name caches, as a running correlator has them
    if PROFILE:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(lookup_all, index, stream)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    lookup = _timed(lambda: lookup_all(index, stream))
    one_by_one = _timed(lambda: lookup_all(index, stream, one_by_one=True))
    full = _timed(lambda: match_all(index, stream))
    hits = full.result
    n = len(stream)
    return index, {
        "assets": len(assets),
        "providers": index.provider_count,
        "rebuild_seconds": round(rebuild, 3),
        "rebuild_cpu_seconds": round(rebuild_cpu, 3),
        "rebuild_seconds_warm_caches_best": round(min(warm_builds), 3),
        "bytes_per_asset": round(built / len(assets), 1),
        "bytes_per_asset_with_overlap_keys": round(warmed / len(assets), 1),
        "index_bytes": built,
        "indicators": n,
        "matched_indicators": hits[0],
        "matches": hits[1],
        "match_fraction": round(hits[0] / n, 6),
        "match_repeats": REPEATS,
        # lookup alone: indicators -> candidate asset matches (engine.match), what the SQL join returns
        "lookup_seconds_best": round(lookup.best, 3),
        "lookup_indicators_per_second": round(n / lookup.best),
        "lookup_indicators_per_second_median": round(n / lookup.median),
        "lookup_indicators_per_cpu_second": round(n / lookup.cpu),
        "lookup_batch": BATCH if match_many is not None else 1,
        "lookup_one_by_one_indicators_per_cpu_second": round(n / one_by_one.cpu),
        # lookup and build_alert (scored, explained alert) for every hit, as the worker does before its write
        "match_seconds_best": round(full.best, 3),
        "match_seconds_median": round(full.median, 3),
        "indicators_per_second": round(n / full.best),
        "indicators_per_second_median": round(n / full.median),
        # CPU seconds of this process: one core's work, whatever else the machine runs meanwhile
        "indicators_per_cpu_second": round(n / full.cpu),
        "indicators_per_cpu_second_by_type": by_type(index, stream),
    }


@dataclass
class Timed:
    best: float  # wall seconds, best pass
    median: float  # wall seconds, median pass
    cpu: float  # CPU seconds of this process, best pass
    result: Any


def _timed(work: Callable[[], Any]) -> Timed:
    """Other work on the machine disturbs single runs: the best of ``REPEATS`` passes, and the median."""
    walls, cpus = [], []
    result = None
    for _ in range(REPEATS):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = work()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return Timed(min(walls), sorted(walls)[len(walls) // 2], min(cpus), result)


def by_type(index: AssetIndex, stream: list[Indicator]) -> dict[str, int]:
    """Indicators per CPU second for each indicator type."""
    groups: dict[str, list[Indicator]] = {}
    for indicator in stream:
        groups.setdefault(indicator.type.value, []).append(indicator)
    rates = {}
    for name, group in sorted(groups.items()):
        start = time.process_time()
        match_all(index, group)
        rates[name] = round(len(group) / max(time.process_time() - start, 1e-9))
    return rates


def _batched(index: AssetIndex, stream: list[Indicator]) -> Iterator[tuple[Indicator, list[Match]]]:
    """Each indicator with its matches: ``match_many`` per batch of ``BATCH``, or ``match`` one at a time."""
    if match_many is None:
        for indicator in stream:
            yield indicator, match(indicator, index)
        return
    for start in range(0, len(stream), BATCH):
        chunk = stream[start : start + BATCH]
        yield from zip(chunk, match_many(chunk, index), strict=True)


def lookup_all(index: AssetIndex, stream: list[Indicator], *, one_by_one: bool = False) -> tuple[int, int]:
    """Match every indicator: the candidate assets with how they met, no alert (the SQL join's share).

    ``one_by_one``: ``match`` on each indicator alone, without the batch pre-check."""
    matched = total = 0
    pairs = ((i, match(i, index)) for i in stream) if one_by_one else _batched(index, stream)
    for _, found in pairs:
        if found:
            matched += 1
            total += len(found)
    return matched, total


def match_all(index: AssetIndex, stream: list[Indicator]) -> tuple[int, int]:
    """Match every indicator and build the alert for each hit, as the worker does before its DB write."""
    matched = total = 0
    now = utcnow()
    for indicator, found in _batched(index, stream):
        if found:
            matched += 1
            total += len(found)
            for m in found:
                build_alert(indicator, m, now=now)
    return matched, total


# --- naive scan --------------------------------------------------------------------------------------------


def naive_table(assets: list[Asset]) -> list[tuple[Any, ...]]:
    """Each asset parsed once into a tuple; the scan then compares every indicator with every tuple."""
    rows: list[tuple[Any, ...]] = []
    for a in assets:
        if a.kind is AssetKind.NETWORK:
            n = parse_network(a.value or "")
            if n is not None:
                rows.append((0, n.family, n.address, n.last()))
        elif a.kind in (AssetKind.DOMAIN, AssetKind.HOSTNAME, AssetKind.EMAIL_DOMAIN):
            rows.append((1, a.kind, a.value))
        elif a.kind is AssetKind.ASN:
            rows.append((2, a.value))
        else:
            rows.append((3, products.name_key(a.vendor, a.product), a.version))
    return rows


def naive_match(indicator: Indicator, rows: list[tuple[Any, ...]]) -> int:
    hits = 0
    t = indicator.type
    if t in (IndicatorType.IPV4, IndicatorType.IPV6):
        n = parse_network(indicator.value)
        assert n is not None
        for row in rows:
            if row[0] == 0 and row[1] == n.family and row[2] <= n.address <= row[3]:
                hits += 1
    elif t in (IndicatorType.DOMAIN, IndicatorType.URL, IndicatorType.EMAIL):
        host = (indicator.url_host if t is IndicatorType.URL else indicator.value.rpartition("@")[2]) or ""
        for row in rows:
            if row[0] == 1:
                value = row[2]
                if host == value or (row[1] is AssetKind.DOMAIN and host.endswith("." + value)):
                    hits += 1
    elif t is IndicatorType.ASN:
        for row in rows:
            if row[0] == 2 and row[1] == indicator.value:
                hits += 1
    elif t is IndicatorType.VULNERABILITY and indicator.vulnerability is not None:
        keys = {products.name_key(p.vendor, p.product): p for p in indicator.vulnerability.affected}
        for row in rows:
            matched = row[0] == 3 and row[1] in keys and row[2] is not None
            if matched and any(contains(vr, row[2]) for vr in keys[row[1]].versions):
                hits += 1
    return hits


def measure_naive(assets: list[Asset], stream: list[Indicator], sample: int) -> dict[str, Any]:
    rows = naive_table(assets)
    chosen = [i for i in stream if i.type not in (IndicatorType.SHA256, IndicatorType.MD5)][:sample]
    start = time.perf_counter()
    for indicator in chosen:
        naive_match(indicator, rows)
    elapsed = time.perf_counter() - start
    per_second = len(chosen) / elapsed
    return {
        "method": "every indicator compared with every pre-parsed asset tuple in Python",
        "sample_indicators": len(chosen),
        "hashes_excluded_from_sample": True,
        "extrapolated": True,
        "seconds_for_sample": round(elapsed, 3),
        "indicators_per_second": round(per_second, 2),
        "seconds_for_full_stream_extrapolated": round(len(stream) / per_second, 1),
    }


# --- PostgreSQL --------------------------------------------------------------------------------------------

SQL_SCHEMA = """
DROP TABLE IF EXISTS bench_networks, bench_names, bench_products;
CREATE UNLOGGED TABLE bench_networks (asset_id text, provider_id text, net inet);
CREATE UNLOGGED TABLE bench_names (kind smallint, name text, asset_id text, provider_id text);
CREATE UNLOGGED TABLE bench_products (key text, version text, asset_id text, provider_id text);
"""
SQL_INDEXES = """
CREATE INDEX bench_networks_net ON bench_networks USING gist (net inet_ops);
CREATE INDEX bench_names_kind_name ON bench_names (kind, name);
CREATE INDEX bench_products_key ON bench_products (key);
ANALYZE bench_networks; ANALYZE bench_names; ANALYZE bench_products;
"""
_NAME_KIND = {AssetKind.DOMAIN: 1, AssetKind.HOSTNAME: 2, AssetKind.EMAIL_DOMAIN: 3, AssetKind.ASN: 4}


def _suffixes(host: str) -> list[str]:
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


# each join returns its candidate rows (indicator, asset): what the index's lookup returns as matches
_IP_BATCH = """
SELECT q.ord, n.asset_id, n.provider_id FROM unnest($1::inet[], $2::int[]) AS q(addr, ord)
JOIN bench_networks n ON n.net >>= q.addr
"""
_NAME_BATCH = """
SELECT q.ord, b.asset_id, b.provider_id FROM unnest($1::smallint[], $2::text[], $3::int[]) AS q(kind, name, ord)
JOIN bench_names b ON b.kind = q.kind AND b.name = q.name
"""
_PRODUCT_BATCH = """
SELECT q.ord, p.asset_id, p.provider_id, p.version FROM unnest($1::text[], $2::int[]) AS q(key, ord)
JOIN bench_products p ON p.key = q.key WHERE p.version IS NOT NULL
"""


def _process_cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process on this machine (the PostgreSQL backend), or None when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _batch_arrays(batch: list[Indicator]) -> tuple[list[Any], list[Any], list[Any]]:
    """The batch as arrays for one ``unnest`` join per table: (addresses), (names by kind), (product keys)."""
    ips: tuple[list[str], list[int]] = ([], [])
    names: tuple[list[int], list[str], list[int]] = ([], [], [])
    keys: tuple[list[str], list[int]] = ([], [])

    def name(kind: int, value: str, ord_: int) -> None:
        names[0].append(kind)
        names[1].append(value)
        names[2].append(ord_)

    for n, indicator in enumerate(batch):
        t = indicator.type
        if t in (IndicatorType.IPV4, IndicatorType.IPV6):
            ips[0].append(indicator.value)
            ips[1].append(n)
        elif t in (IndicatorType.DOMAIN, IndicatorType.URL):
            host = indicator.value if t is IndicatorType.DOMAIN else indicator.url_host or ""
            for suffix in _suffixes(host):
                name(1, suffix, n)
            name(2, host, n)
        elif t is IndicatorType.EMAIL:
            name(3, indicator.value.rpartition("@")[2], n)
        elif t is IndicatorType.ASN:
            name(4, indicator.value, n)
        elif t is IndicatorType.VULNERABILITY and indicator.vulnerability is not None:
            for p in indicator.vulnerability.affected:
                key = products.name_key(p.vendor, p.product)
                if key:
                    keys[0].append(key)
                    keys[1].append(n)
    return list(ips), list(names), list(keys)


async def measure_sql_batched(conn: Any, stream: list[Indicator], size: int, batches: int) -> dict[str, Any]:
    """What a database-centred tool that batches would do: each batch of ``size`` indicators in one
    ``unnest(...)`` join per table (addresses on the GiST ``inet_ops`` index, names and product keys on the
    B-tree indexes), all three in one round trip each, over one connection."""
    chosen = stream[: size * batches]
    prepared = [_batch_arrays(chosen[i : i + size]) for i in range(0, len(chosen), size)]
    plan = await conn.fetch("EXPLAIN " + _IP_BATCH, *prepared[0][0])
    for ips, names, keys in prepared[:1]:  # untimed warm-up batch: index pages cached, as in a running tool
        await conn.fetch(_IP_BATCH, *ips)
        await conn.fetch(_NAME_BATCH, *names)
        await conn.fetch(_PRODUCT_BATCH, *keys)
    backend = await conn.fetchval("SELECT pg_backend_pid()")
    hits = rows = 0
    server_cpu = _process_cpu_seconds(backend)
    start, start_cpu = time.perf_counter(), time.process_time()
    for ips, names, keys in prepared:
        found = await conn.fetch(_IP_BATCH, *ips)
        found += await conn.fetch(_NAME_BATCH, *names)
        found += await conn.fetch(_PRODUCT_BATCH, *keys)
        rows += len(found)
        hits += len({r[0] for r in found})
    elapsed, client_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    server_after = _process_cpu_seconds(backend)
    figures: dict[str, Any] = {
        "batch_size": size,
        "batches": len(prepared),
        "indicators": len(chosen),
        "matched_indicators": hits,
        "candidate_rows": rows,
        "seconds": round(elapsed, 3),
        "indicators_per_second": round(len(chosen) / elapsed),
        "client_cpu_seconds": round(client_cpu, 3),
        "address_join_plan": [r[0] for r in plan],
    }
    if server_cpu is not None and server_after is not None:
        # the backend's CPU (clock ticks, 10 ms) plus this client's: the join's CPU seconds, both sides
        cpu = server_after - server_cpu + client_cpu
        figures["backend_cpu_seconds"] = round(server_after - server_cpu, 3)
        figures["indicators_per_cpu_second"] = round(len(chosen) / cpu) if cpu > 0 else None
    return figures


async def measure_sql(url: str, assets: list[Asset], stream: list[Indicator], sample: int) -> dict[str, Any]:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(SQL_SCHEMA)
        start = time.perf_counter()
        networks = [(a.id, a.provider_id, a.value) for a in assets if a.kind is AssetKind.NETWORK]
        names = [(_NAME_KIND[a.kind], a.value, a.id, a.provider_id) for a in assets if a.kind in _NAME_KIND]
        product_rows = [
            (products.name_key(a.vendor, a.product), a.version, a.id, a.provider_id)
            for a in assets
            if a.kind in (AssetKind.SOFTWARE, AssetKind.MEDICAL_DEVICE)
        ]
        await conn.copy_records_to_table("bench_networks", records=networks)
        await conn.copy_records_to_table("bench_names", records=names)
        await conn.copy_records_to_table("bench_products", records=product_rows)
        await conn.execute(SQL_INDEXES)
        load = time.perf_counter() - start
        contains_ip = await conn.prepare("SELECT asset_id FROM bench_networks WHERE net >>= $1::inet")
        by_name = await conn.prepare(
            "SELECT asset_id FROM bench_names WHERE kind = $1 AND name = ANY($2::text[])"
        )
        by_product = await conn.prepare(
            "SELECT asset_id, version FROM bench_products WHERE key = ANY($1::text[])"
        )
        chosen = stream[:sample]
        hits = 0
        start = time.perf_counter()
        for indicator in chosen:
            t = indicator.type
            if t in (IndicatorType.IPV4, IndicatorType.IPV6):
                rows = await contains_ip.fetch(indicator.value)
            elif t is IndicatorType.DOMAIN:
                rows = await by_name.fetch(1, _suffixes(indicator.value))
                rows += await by_name.fetch(2, [indicator.value])
            elif t is IndicatorType.URL:
                host = indicator.url_host or ""
                rows = await by_name.fetch(1, _suffixes(host))
                rows += await by_name.fetch(2, [host])
            elif t is IndicatorType.EMAIL:
                rows = await by_name.fetch(3, [indicator.value.rpartition("@")[2]])
            elif t is IndicatorType.ASN:
                rows = await by_name.fetch(4, [indicator.value])
            elif t is IndicatorType.VULNERABILITY and indicator.vulnerability is not None:
                affected = indicator.vulnerability.affected
                keys = [k for k in (products.name_key(p.vendor, p.product) for p in affected) if k]
                rows = [r for r in await by_product.fetch(keys) if r["version"] is not None]
            else:
                rows = []  # file hashes: no asset holds them, and a DB-centric tool would not query either
            hits += bool(rows)
        elapsed = time.perf_counter() - start
        server = await conn.fetchval("SHOW server_version")
        batched = [
            await measure_sql_batched(conn, stream, size, max(1, min(5, len(stream) // size)))
            for size in (1_000, 10_000)
            if size <= len(stream)
        ]
    finally:
        await conn.execute("DROP TABLE IF EXISTS bench_networks, bench_names, bench_products")
        await conn.close()
    return {
        "method": "one prepared query per indicator over one connection: inet >>= on a GiST inet_ops index; "
        "domain suffixes, host names, e-mail domains, ASNs and product keys by B-tree equality",
        "server_version": server,
        "load_and_index_seconds": round(load, 2),
        "sample_indicators": len(chosen),
        "matched_indicators_in_sample": hits,
        "seconds_for_sample": round(elapsed, 3),
        "indicators_per_second": round(len(chosen) / elapsed),
        "batched": batched,
    }


def _start_postgres(workdir: Path) -> tuple[Any, str]:
    from tests.support.postgres_server import PostgresServer

    server = PostgresServer(workdir)
    server.start()
    return server, server.url


# --- main --------------------------------------------------------------------------------------------------


def run(
    scale: Scale, *, pg_url: str | None, use_pg: bool, seed: int, out: Path, src: str = str(ROOT / "src")
) -> dict[str, Any]:
    load_at_start = os.getloadavg() if hasattr(os, "getloadavg") else None
    rng = random.Random(seed)
    started = time.perf_counter()
    inventory = Inventory(scale, rng)
    stream = Stream(inventory, rng).make(scale.indicators)
    generated = time.perf_counter() - started
    print(f"generated {len(inventory.assets):,} assets and {len(stream):,} indicators in {generated:.1f}s")
    _, index_figures = measure_index(inventory.assets, stream)
    print(json.dumps(index_figures, indent=2))
    naive = measure_naive(inventory.assets, stream, scale.naive_sample)
    print(json.dumps(naive, indent=2))
    sql: dict[str, Any] | None = None
    if use_pg:
        server = None
        url = pg_url
        if url is None:
            server, url = _start_postgres(Path(tempfile.mkdtemp(prefix="ewarn-bench-pg-")))
        try:
            sql = asyncio.run(measure_sql(url, inventory.assets, stream, scale.sql_sample))
        finally:
            if server is not None:
                server.stop()
        print(json.dumps(sql, indent=2))
    rate = index_figures["indicators_per_second"]
    lookup_rate = index_figures["lookup_indicators_per_second"]
    batched = sql["batched"] if sql else []
    result = {
        "benchmark": "correlate",
        "quick": scale is QUICK,
        "src": src,
        "seed": seed,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "cores_used": 1,
        "load_average_at_start": load_at_start[0] if load_at_start else None,
        "load_averages_at_start_and_end": [load_at_start, os.getloadavg()] if load_at_start else None,
        "scale": {"providers": scale.providers, "assets": scale.assets, "indicators": scale.indicators},
        "targets": TARGETS,
        "index": index_figures,
        "naive_scan": naive,
        "postgresql": sql,
        "ratios": {
            "index_vs_naive_scan": round(rate / naive["indicators_per_second"], 1),
            "index_vs_postgresql": round(rate / sql["indicators_per_second"], 1) if sql else None,
            **{
                f"index_vs_postgresql_batched_{b['batch_size']}": round(rate / b["indicators_per_second"], 1)
                for b in batched
            },
            # like for like: the index's lookup alone (candidate matches, no alert) against the join's rows
            **{
                f"index_lookup_vs_postgresql_batched_{b['batch_size']}": round(
                    lookup_rate / b["indicators_per_second"], 1
                )
                for b in batched
            },
            **{
                f"index_lookup_vs_postgresql_batched_{b['batch_size']}_per_cpu_second": round(
                    index_figures["lookup_indicators_per_cpu_second"] / b["indicators_per_cpu_second"], 1
                )
                for b in batched
                if b.get("indicators_per_cpu_second")
            },
            **{
                f"index_vs_postgresql_batched_{b['batch_size']}_per_cpu_second": round(
                    index_figures["indicators_per_cpu_second"] / b["indicators_per_cpu_second"], 1
                )
                for b in batched
                if b.get("indicators_per_cpu_second")
            },
        },
        "meets_targets": {
            "lookup_indicators_per_second": lookup_rate >= TARGETS["indicators_per_second"],
            "indicators_per_second": rate >= TARGETS["indicators_per_second"],
            "indicators_per_cpu_second": index_figures["indicators_per_cpu_second"]
            >= TARGETS["indicators_per_second"],
            "bytes_per_asset": index_figures["bytes_per_asset"] < TARGETS["bytes_per_asset"],
            "rebuild_seconds": index_figures["rebuild_seconds"] < TARGETS["rebuild_seconds"],
            "rebuild_cpu_seconds": index_figures["rebuild_cpu_seconds"] < TARGETS["rebuild_seconds"],
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="scaled-down run (smoke test)")
    parser.add_argument("--pg-url", help="use this PostgreSQL instead of starting a throwaway one")
    parser.add_argument("--no-pg", action="store_true", help="skip the PostgreSQL baseline")
    parser.add_argument("--assets", type=int, help="inventory size (100 per provider) instead of the scale's")
    parser.add_argument("--indicators", type=int, help="stream length instead of the scale's")
    parser.add_argument("--src", default=str(ROOT / "src"), help="the ewarn source tree to measure")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one lookup pass")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    if args.assets or args.indicators:
        assets = args.assets or scale.assets
        scale = replace(
            scale,
            providers=max(1, assets // 100),
            assets=assets,
            indicators=args.indicators or scale.indicators,
        )
    global PROFILE
    PROFILE = args.profile
    run(scale, pg_url=args.pg_url, use_pg=not args.no_pg, seed=args.seed, out=args.out, src=args.src)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
