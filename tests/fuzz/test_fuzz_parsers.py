"""Property-based fuzzing: 10,000+ malformed inputs per parser; none may crash, each rejection says why.

Inputs are mutations of small valid documents (truncation, byte damage, BOM and Latin-1 re-encoding, random
JSON grafted anywhere in the tree, random STIX pattern token soup) and plain random bytes. Each hypothesis
example parses a batch of inputs, so the count is reached in bounded time.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.json_paths import graft

from ewarn.ingest import normalise
from ewarn.ingest.csaf import parse_csaf
from ewarn.ingest.records import FeedContext, ParseResult
from ewarn.ingest.sources.base import FeedSpec
from ewarn.ingest.sources.cve5 import parse_cve_records
from ewarn.ingest.sources.ioc_list import parse_ioc_list
from ewarn.ingest.sources.kev import parse_kev
from ewarn.ingest.sources.misp import parse_misp
from ewarn.ingest.stix import parse_bundle

INPUTS_PER_PARSER = 10_000  # distinct inputs
BATCH = 20  # seeded random mutations per hypothesis example, besides the drawn ones
EXAMPLES = 700

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)

STIX_SEED = {
    "type": "bundle",
    "id": "bundle--1",
    "objects": [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--00000000-0000-4000-8000-000000000001",
            "created": "2026-01-01T00:00:00Z",
            "modified": "2026-01-01T00:00:00Z",
            "pattern": "[ipv4-addr:value = '203.0.113.7' OR url:value = 'http://x.example/a']",
            "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00Z",
            "confidence": 80,
            "object_marking_refs": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"],
        },
        {
            "type": "vulnerability",
            "id": "vulnerability--00000000-0000-4000-8000-000000000002",
            "created": "2026-01-01T00:00:00Z",
            "modified": "2026-01-01T00:00:00Z",
            "name": "x",
            "external_references": [{"source_name": "cve", "external_id": "CVE-2024-1709"}],
        },
        {
            "type": "relationship",
            "id": "relationship--00000000-0000-4000-8000-000000000003",
            "relationship_type": "indicates",
            "source_ref": "indicator--00000000-0000-4000-8000-000000000001",
            "target_ref": "vulnerability--00000000-0000-4000-8000-000000000002",
        },
    ],
}
PATTERN_TOKENS = [
    *("[", "]", "(", ")", " ", " = ", " != ", " ISSUBSET ", " OR ", " AND ", " NOT ", " FOLLOWEDBY "),
    *("ipv4-addr:value", "ipv6-addr:value", "domain-name:value", "url:value", "email-addr:value"),
    *("file:hashes.'SHA-256'", "file:hashes.MD5", "autonomous-system:number", " WITHIN 5 SECONDS"),
    *("'203.0.113.7'", "'10.0.0.0/8'", "'evil.example'", "'http://x.example/'", "'" + "ab" * 32 + "'"),
    *("64500", "'", "\\'", "''", "'\u00e9\u0000'"),
]
MISP_SEED = {
    "Event": {
        "uuid": "5aa2e21b-79d8-4fd7-b15d-34670a016219",
        "info": "x",
        "distribution": "3",
        "Tag": [{"name": "tlp:green"}],
        "Attribute": [
            {
                "uuid": "a1",
                "type": "ip-dst",
                "value": "203.0.113.7",
                "to_ids": True,
                "timestamp": "1520624226",
            },
            {"uuid": "a2", "type": "domain|ip", "value": "x.example|203.0.113.8", "to_ids": True},
            {"uuid": "a3", "type": "filename|sha1", "value": "a.exe|" + "ab" * 20, "to_ids": True},
        ],
        "Object": [
            {"Attribute": [{"uuid": "a4", "type": "url", "value": "http://x.example/", "to_ids": True}]}
        ],
    }
}
KEV_SEED = {
    "count": 1,
    "vulnerabilities": [
        {
            "cveID": "CVE-2024-1709",
            "vendorProject": "ConnectWise",
            "product": "ScreenConnect",
            "vulnerabilityName": "x",
            "dateAdded": "2024-02-22",
            "knownRansomwareCampaignUse": "Known",
            "notes": "https://x.example ; https://y.example",
        }
    ],
}
CVE5_SEED = {
    "dataVersion": "5.1",
    "cveMetadata": {"cveId": "CVE-2023-30563", "state": "PUBLISHED", "dateUpdated": "2024-01-01T00:00:00"},
    "containers": {
        "cna": {
            "affected": [
                {
                    "vendor": "BD",
                    "product": "Alaris\u00e2\u201e\u00a2",
                    "cpes": ["cpe:2.3:a:bd:alaris:*:*:*:*:*:*:*:*"],
                    "versions": [{"version": "0", "lessThanOrEqual": "12.3", "status": "affected"}],
                }
            ],
            "descriptions": [{"lang": "en", "value": "x"}],
            "metrics": [{"cvssV3_1": {"baseScore": 8.2, "vectorString": "CVSS:3.1/AV:N"}}],
        }
    },
}
CSAF_SEED = {
    "document": {
        "category": "csaf_security_advisory",
        "csaf_version": "2.0",
        "title": "x",
        "distribution": {"tlp": {"label": "WHITE"}},
        "tracking": {"id": "ICSMA-00-000-00", "current_release_date": "2024-01-01T00:00:00Z"},
    },
    "product_tree": {
        "branches": [
            {
                "category": "vendor",
                "name": "OFFIS",
                "branches": [
                    {
                        "category": "product_name",
                        "name": "DCMTK",
                        "branches": [
                            {
                                "category": "product_version_range",
                                "name": "<= U61 |<= L81",
                                "product": {"product_id": "P1", "name": "DCMTK"},
                            }
                        ],
                    }
                ],
            }
        ]
    },
    "vulnerabilities": [
        {
            "cve": "CVE-2022-2119",
            "product_status": {"known_affected": ["P1"], "fixed": ["P2"]},
            "scores": [{"cvss_v3": {"baseScore": 7.5, "vectorString": "CVSS:3.0/AV:A"}, "products": ["P1"]}],
            "remediations": [{"category": "vendor_fix", "details": "update", "product_ids": ["P1"]}],
        }
    ],
}
IOC_SEED = (
    '# "first_seen_utc","dst_ip","malware"\n"2024-01-01 00:00:00","203.0.113.7","Pikabot"\n'
    '"2024-01-01 00:00:01","2001:db8::1","QakBot"\n'
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, seed: Any, extra: st.SearchStrategy[Any] | None = None) -> bytes:
    """A malformed variant of ``seed`` (a JSON document or text)."""
    text = seed if isinstance(seed, str) else json.dumps(seed)
    kind = draw(st.sampled_from(["graft", "truncate", "damage", "encoding", "random", "extra"]))
    if kind == "graft" and not isinstance(seed, str):
        paths = _paths(seed)
        path = draw(st.sampled_from(paths))
        text = json.dumps(graft(seed, path, draw(JSON)))
    elif kind == "truncate":
        text = text[: draw(st.integers(0, max(0, len(text) - 1)))]
    elif kind == "damage":
        data = bytearray(text.encode())
        for _ in range(draw(st.integers(1, 4))):
            position = draw(st.integers(0, len(data) - 1))
            data[position] = draw(st.integers(0, 255))
        return bytes(data)
    elif kind == "encoding":
        prefix = draw(st.sampled_from([b"\xef\xbb\xbf", b"", b"\xff\xfe"]))
        return prefix + text.encode(draw(st.sampled_from(["utf-8", "latin-1"])), errors="replace")
    elif kind == "random":
        return draw(st.binary(max_size=200))
    elif kind == "extra" and extra is not None:
        return draw(extra)
    return text.encode("utf-8", errors="surrogatepass")


@st.composite
def stix_pattern_soup(draw: st.DrawFn) -> bytes:
    tokens = draw(st.lists(st.sampled_from(PATTERN_TOKENS), max_size=14))
    objects = json.loads(json.dumps(STIX_SEED["objects"]))
    objects[0]["pattern"] = "".join(tokens)
    return json.dumps({"type": "bundle", "objects": objects}).encode()


def _check(result: ParseResult, feed_id: str) -> None:
    for rejection in result.rejections:
        assert rejection.reason.startswith(f"feed {feed_id}: record "), rejection.reason
        assert rejection.reason.split(": ", 2)[-1].strip(), rejection.reason
        assert rejection.record
    for indicator in result.indicators:
        assert indicator.key == f"{indicator.type.value}:{indicator.value}"


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(9 if depth < 3 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rng.random() < 0.5
    if choice == 2:
        return rng.randint(-(2**70), 2**70)
    if choice == 3:
        return rng.choice([1.5, -0.0, 1e308, float("inf")])
    if choice in (4, 5):
        alphabet = "aZ09 .:/'\"[]{}\u00e9\u2122\x00-|@"
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
    if choice in (6, 7):
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {str(_random_json(rng, 3)): _random_json(rng, depth + 1) for _ in range(rng.randrange(0, 4))}


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _damage(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data or b" ")
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def _insert(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    junk = rng.choice(
        [rng.randbytes(rng.randrange(1, 30)), b"\n" + rng.randbytes(rng.randrange(1, 30)) + b"\n"]
    )
    return data[:at] + junk + data[at:]


def _repeat(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + data[at : at + rng.randrange(1, 200)] * rng.randint(2, 60) + data[at:]


def _reencode(data: bytes, rng: random.Random) -> bytes:
    text = data.decode("utf-8", errors="replace")
    prefix = rng.choice([b"\xef\xbb\xbf", b"\xff\xfe", b""])
    return prefix + text.encode(rng.choice(["latin-1", "utf-8", "utf-16"]), errors="replace")


_BYTE_MUTATIONS = (_truncate, _damage, _insert, _repeat, _reencode)


def random_mutation(seed: Any, rng: random.Random) -> bytes:
    """A seeded mutation of ``seed``: random JSON grafted into the tree, then 1-3 byte-level mutations."""
    original = seed.encode() if isinstance(seed, str) else json.dumps(seed).encode()
    data = original
    if not isinstance(seed, str):
        document = seed
        for _ in range(rng.randint(0, 3)):
            document = graft(document, rng.choice(_paths(document)), _random_json(rng))
        data = json.dumps(document).encode()
    for _ in range(rng.randint(0 if data != original else 1, 3)):
        data = rng.choice(_BYTE_MUTATIONS)(data, rng)
    return data


def _fuzz(
    parse: Callable[[bytes], ParseResult], inputs: st.SearchStrategy[bytes], seed: Any, feed_id: str
) -> int:
    """Parse hypothesis-drawn inputs plus seeded random mutations; returns how many distinct inputs ran."""
    distinct: set[bytes] = set()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(batch=st.lists(inputs, max_size=4), rng_seed=st.integers(0, 2**64))
    def run(batch: list[bytes], rng_seed: int) -> None:
        # hypothesis repeats seeds it likes (0, bounds); mixing in the progress keeps every batch new
        rng = random.Random(f"{rng_seed}:{len(distinct)}")
        for payload in batch + [random_mutation(seed, rng) for _ in range(BATCH)]:
            try:
                result = parse(payload)
            except Exception as exc:  # name the input even if a replay under shrinking differs
                raise AssertionError(f"parser crashed on {payload[:2000]!r}") from exc
            _check(result, feed_id)
            distinct.add(payload)

    run()
    return len(distinct)


def _ctx(kind: str) -> FeedContext:
    return FeedContext(feed_id=f"fuzz-{kind}", feed_kind=kind)


def test_fuzz_stix() -> None:
    ctx = _ctx("stix_bundle")
    inputs = mutated(STIX_SEED, stix_pattern_soup())
    assert _fuzz(lambda p: parse_bundle(p, ctx), inputs, STIX_SEED, ctx.feed_id) >= INPUTS_PER_PARSER


def test_fuzz_ioc_list() -> None:
    ctx = _ctx("ioc_list")
    csv_feed = FeedSpec(
        id=ctx.feed_id,
        kind="ioc_list",
        location="x.csv",
        config={"header": "comment", "columns": {"dst_ip": "auto"}, "seen_column": "first_seen_utc"},
    )
    json_feed = FeedSpec(
        id=ctx.feed_id, kind="ioc_list", location="x.json", config={"columns": {"ip": "ipv4"}}
    )
    json_seed = json.dumps([{"ip": "203.0.113.7"}, "198.51.100.1", {"ip": ["x"]}])
    inputs = mutated(IOC_SEED, st.text(max_size=300).map(str.encode))

    def parse(payload: bytes) -> ParseResult:
        result = parse_ioc_list(payload, csv_feed, ctx)
        result.extend(parse_ioc_list(payload.replace(IOC_SEED.encode(), json_seed.encode()), json_feed, ctx))
        return result

    assert _fuzz(parse, inputs, IOC_SEED, ctx.feed_id) >= INPUTS_PER_PARSER


def test_fuzz_misp() -> None:
    ctx = _ctx("misp")
    assert (
        _fuzz(lambda p: parse_misp(p, ctx), mutated(MISP_SEED), MISP_SEED, ctx.feed_id) >= INPUTS_PER_PARSER
    )


def test_fuzz_kev() -> None:
    ctx = _ctx("kev")
    assert _fuzz(lambda p: parse_kev(p, ctx), mutated(KEV_SEED), KEV_SEED, ctx.feed_id) >= INPUTS_PER_PARSER


def test_fuzz_cve5() -> None:
    ctx = _ctx("cve5")
    assert (
        _fuzz(lambda p: parse_cve_records(p, ctx), mutated(CVE5_SEED), CVE5_SEED, ctx.feed_id)
        >= INPUTS_PER_PARSER
    )


def test_fuzz_csaf() -> None:
    ctx = _ctx("csaf")
    assert (
        _fuzz(lambda p: parse_csaf(p, ctx), mutated(CSAF_SEED), CSAF_SEED, ctx.feed_id) >= INPUTS_PER_PARSER
    )


OBSERVABLE_TOKENS = (
    "203.0.113.7",
    "2001:db8::1",
    "/24",
    "http://",
    "https://",
    "@",
    ".",
    "xn--",
    "AS",
    "64500",
)


def _observable_like(rng: random.Random) -> str:
    parts = [rng.choice(OBSERVABLE_TOKENS) for _ in range(rng.randrange(0, 5))]
    parts.insert(
        rng.randrange(len(parts) + 1), "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(8)))
    )
    return "".join(parts)


def test_fuzz_observable_guess() -> None:
    distinct: set[str] = set()

    @settings(max_examples=EXAMPLES, deadline=None, database=None)
    @given(drawn=st.lists(st.text(max_size=80), max_size=4), rng_seed=st.integers(0, 2**64))
    def run(drawn: list[str], rng_seed: int) -> None:
        rng = random.Random(f"{rng_seed}:{len(distinct)}")
        for value in drawn + [_observable_like(rng) for _ in range(BATCH)]:
            distinct.add(value)
            try:
                observed = normalise.guess(value)
            except ValueError as exc:
                assert str(exc)
                continue
            assert normalise.guess(observed.value) == observed, value  # canonical forms are fixed points

    run()
    assert len(distinct) >= INPUTS_PER_PARSER
