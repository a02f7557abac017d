"""STIX bundles → indicators, rejections for what cannot be read."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ewarn.data import demo_bundle_bytes
from ewarn.ingest.records import FeedContext
from ewarn.ingest.stix import parse_bundle, pattern_comparisons
from ewarn.models.common import TLP

CTX = FeedContext(feed_id="feed-x", feed_kind="stix_bundle")
TLP1_AMBER = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
TLP2_RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"


def indicator(n: int, pattern: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--00000000-0000-4000-8000-{n:012d}",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
        **extra,
    }


def bundle(*objects: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps({"type": "bundle", "id": "bundle--1", "objects": list(objects), **extra}).encode()


@pytest.mark.parametrize(
    ("pattern", "keys"),
    [
        pytest.param("[ipv4-addr:value = '203.0.113.7']", ["ipv4:203.0.113.7"], id="ipv4"),
        pytest.param("[ipv4-addr:value = '203.0.113.9/24']", ["ipv4:203.0.113.0/24"], id="cidr-host-bits"),
        pytest.param("[ipv6-addr:value = '2001:db8:10::66']", ["ipv6:2001:db8:10::66"], id="ipv6"),
        pytest.param("[ipv4-addr:value ISSUBSET '198.51.100.0/24']", ["ipv4:198.51.100.0/24"], id="issubset"),
        pytest.param(
            "[domain-name:value = 'A.example' OR domain-name:value = 'b.example.']",
            ["domain:a.example", "domain:b.example"],
            id="or-chain",
        ),
        pytest.param(
            "[url:value = 'http://x.example/a'] OR [email-addr:value = 'x@y.example']",
            ["url:http://x.example/a", "email:x@y.example"],
            id="observation-or",
        ),
        pytest.param(
            "[file:hashes.'SHA-256' = '" + "ab" * 32 + "' OR file:hashes.MD5 = '" + "cd" * 16 + "']",
            ["sha256:" + "ab" * 32, "md5:" + "cd" * 16],
            id="quoted-and-unquoted-hash-keys",
        ),
        pytest.param("[autonomous-system:number = 64500]", ["asn:AS64500"], id="asn"),
        pytest.param(
            "[ipv4-addr:value = '198.51.100.1' AND network-traffic:dst_port = 443]",
            ["ipv4:198.51.100.1"],
            id="and-with-port",
        ),
        pytest.param(
            "[ipv4-addr:value NOT = '198.51.100.1' OR ipv4-addr:value = '198.51.100.2']",
            ["ipv4:198.51.100.2"],
            id="negation-ignored",
        ),
    ],
)
def test_pattern_observables(pattern: str, keys: list[str]) -> None:
    result = parse_bundle(bundle(indicator(1, pattern)), CTX)
    assert [i.key for i in result.indicators] == keys
    assert result.rejections == []


def test_url_indicator_carries_host() -> None:
    result = parse_bundle(bundle(indicator(1, "[url:value = 'HTTPS://Portal.Example/x']")), CTX)
    assert (result.indicators[0].value, result.indicators[0].url_host) == (
        "https://portal.example/x",
        "portal.example",
    )


def test_fields_kept() -> None:
    obj = indicator(
        1,
        "[ipv4-addr:value = '203.0.113.7']",
        confidence=85,
        revoked=True,
        valid_until="2027-01-01T00:00:00Z",
        indicator_types=["malicious-activity"],
        labels=["c2"],
        name="C2",
        object_marking_refs=[TLP1_AMBER],
    )
    got = parse_bundle(bundle(obj), CTX).indicators[0]
    assert (got.stix_id, got.confidence, got.revoked, got.tlp) == (obj["id"], 85, True, TLP.AMBER)
    assert got.valid_until is not None and got.valid_until.year == 2027
    assert got.labels == ["c2", "malware"]
    assert got.source.record == obj["id"]


@pytest.mark.parametrize(
    ("marking", "tlp"),
    [
        pytest.param({"definition_type": "tlp", "definition": {"tlp": "red"}}, TLP.RED, id="tlp1-definition"),
        pytest.param(
            {
                "name": "TLP:AMBER+STRICT",
                "extensions": {"extension-definition--x": {"tlp_2_0": "amber+strict"}},
            },
            TLP.AMBER_STRICT,
            id="tlp2-extension",
        ),
    ],
)
def test_marking_definitions_in_bundle(marking: dict[str, Any], tlp: TLP) -> None:
    mid = "marking-definition--11111111-1111-4111-8111-111111111111"
    definition = {"type": "marking-definition", "id": mid, "created": "2020-01-01T00:00:00Z", **marking}
    obj = indicator(1, "[ipv4-addr:value = '203.0.113.7']", object_marking_refs=[mid])
    assert parse_bundle(bundle(definition, obj), CTX).indicators[0].tlp is tlp


def test_standard_tlp2_id_without_definition_and_strictest_wins() -> None:
    obj = indicator(1, "[ipv4-addr:value = '203.0.113.7']", object_marking_refs=[TLP1_AMBER, TLP2_RED])
    assert parse_bundle(bundle(obj), CTX).indicators[0].tlp is TLP.RED


def test_default_tlp_when_unmarked() -> None:
    ctx = FeedContext(feed_id="f", feed_kind="stix_bundle", default_tlp=TLP.GREEN)
    assert (
        parse_bundle(bundle(indicator(1, "[ipv4-addr:value = '203.0.113.7']")), ctx).indicators[0].tlp
        is TLP.GREEN
    )


def test_vulnerability_objects_and_related_cves() -> None:
    vuln = {
        "type": "vulnerability",
        "id": "vulnerability--22222222-2222-4222-8222-222222222222",
        "created": "2020-01-01T00:00:00Z",
        "modified": "2020-01-01T00:00:00Z",
        "name": "MOVEit SQLi",
        "external_references": [{"source_name": "cve", "external_id": "cve-2023-34362"}],
    }
    obj = indicator(1, "[url:value = 'http://x.example/shell.aspx']")
    rel = {
        "type": "relationship",
        "id": "relationship--33333333-3333-4333-8333-333333333333",
        "relationship_type": "related-to",
        "source_ref": obj["id"],
        "target_ref": vuln["id"],
    }
    result = parse_bundle(bundle(vuln, obj, rel), CTX)
    by_key = {i.key: i for i in result.indicators}
    assert by_key["vulnerability:CVE-2023-34362"].vulnerability is not None
    assert by_key["url:http://x.example/shell.aspx"].cves == ["CVE-2023-34362"]


def test_stix20_bundle() -> None:
    obj = indicator(1, "[ipv4-addr:value = '203.0.113.7']", labels=["malicious-activity"])
    del obj["spec_version"], obj["pattern_type"]
    result = parse_bundle(bundle(obj, spec_version="2.0"), CTX)
    assert [i.key for i in result.indicators] == ["ipv4:203.0.113.7"]


def test_latest_version_of_an_object_wins() -> None:
    old = indicator(1, "[domain-name:value = 'old.example']")
    new = indicator(1, "[domain-name:value = 'new.example']", modified="2026-02-01T00:00:00.000Z")
    assert [i.key for i in parse_bundle(bundle(new, old), CTX).indicators] == ["domain:new.example"]


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        pytest.param(
            indicator(1, "[ipv4-addr:value = '1.2.3.4'"), "invalid STIX pattern", id="unclosed-pattern"
        ),
        pytest.param(indicator(1, "[ipv4-addr:value = 'not-an-ip']"), "not an IP", id="bad-value"),
        pytest.param(indicator(1, "[process:name = 'evil.exe']"), "no observable", id="unmatchable"),
        pytest.param(
            indicator(1, "[ipv4-addr:value = '1.2.3.4']", confidence=150), "confidence", id="confidence"
        ),
        pytest.param(
            indicator(1, "[ipv4-addr:value = '1.2.3.4']", valid_from="yesterday"), "ISO 8601", id="time"
        ),
        pytest.param(
            indicator(1, "[ipv4-addr:value = '1.2.3.4']", revoked="yes"), "revoked", id="revoked-type"
        ),
        pytest.param(indicator(1, "x", pattern_type="sigma"), "not supported", id="pattern-type"),
        pytest.param(
            indicator(1, "[url:value = '" + "a" * 300_000 + "']"), "longer than", id="giant-pattern"
        ),
        pytest.param(
            {**indicator(1, "[ipv4-addr:value = '1.2.3.4']"), "id": "indicator--x"}, "STIX 'id'", id="id"
        ),
    ],
)
def test_bad_object_is_a_named_rejection_and_the_rest_flows(obj: dict[str, Any], reason: str) -> None:
    good = indicator(2, "[ipv4-addr:value = '198.51.100.1']")
    result = parse_bundle(bundle(obj, good), CTX)
    assert [i.key for i in result.indicators] == ["ipv4:198.51.100.1"]
    assert len(result.rejections) == 1
    rejection = result.rejections[0]
    assert reason in rejection.reason
    assert rejection.reason.startswith("feed feed-x: record ")
    assert rejection.feed_id == "feed-x"


def test_truncated_json_is_one_rejection_for_the_payload() -> None:
    payload = bundle(indicator(1, "[ipv4-addr:value = '203.0.113.7']"))
    result = parse_bundle(payload[: len(payload) // 2], CTX)
    assert result.indicators == []
    assert [r.record for r in result.rejections] == ["payload"]
    assert "malformed JSON" in result.rejections[0].reason


def test_utf8_bom_and_latin1_payloads() -> None:
    good = bundle(indicator(1, "[ipv4-addr:value = '203.0.113.7']", name="Caf\u00e9"))
    assert parse_bundle(b"\xef\xbb\xbf" + good, CTX).indicators[0].key == "ipv4:203.0.113.7"
    latin1 = good.decode("utf-8").encode("latin-1")
    got = parse_bundle(latin1, CTX).indicators[0]
    assert got.name == "Caf\u00e9"


def test_non_object_entries_are_rejected() -> None:
    result = parse_bundle(json.dumps({"type": "bundle", "objects": [1, "x", None]}).encode(), CTX)
    assert [r.record for r in result.rejections] == ["objects[0]", "objects[1]", "objects[2]"]


def test_very_long_or_chain_is_read_whole() -> None:
    """3,000 OR-ed addresses: past the ANTLR runtime's recursion limit, read whole by the fast reader."""
    pattern = "[" + " OR ".join(f"ipv4-addr:value = '10.0.{i // 256}.{i % 256}'" for i in range(3000)) + "]"
    result = parse_bundle(bundle(indicator(1, pattern)), CTX)
    assert len(result.indicators) == 3000 and not result.rejections


def test_deep_nesting_is_rejected_not_crashed() -> None:
    pattern = "(" * 2000 + "[ipv4-addr:value = '10.0.0.1']" + ")" * 2000
    result = parse_bundle(bundle(indicator(1, pattern)), CTX)
    assert not result.indicators
    assert "nests too deeply" in result.rejections[0].reason


def test_pattern_comparisons_unescape_quotes() -> None:
    assert pattern_comparisons(r"[url:value = 'http://x.example/it\'s']") == [
        ("url", ["value"], "http://x.example/it's")
    ]


def test_demo_bundle() -> None:
    result = parse_bundle(demo_bundle_bytes(), FeedContext(feed_id="demo", feed_kind="stix_bundle"))
    keys = {i.key: i for i in result.indicators}
    for expected in (
        "ipv4:203.0.113.7",
        "url:https://portal.st-elsewhere-hospital.example/uploads/img/shell.aspx",
        "ipv6:2001:db8:10::66",
        "domain:cdn-lockmed.example",
        "ipv4:198.51.100.128/25",
    ):
        assert expected in keys
    assert keys["ipv4:203.0.113.99"].revoked
    assert "c2" in keys["ipv4:203.0.113.7"].labels
    assert keys["ipv4:203.0.113.7"].tlp is TLP.AMBER
    assert len(result.rejections) == 1 and "invalid STIX pattern" in result.rejections[0].reason


@pytest.mark.parametrize(
    "pattern",
    [
        "[ipv4-addr:value = '203.0.113.7']",
        "[ipv4-addr:value='1.0.164.165']",
        "[ url:value = 'http://x.example/a?b=c' ]",
        "[file:hashes.'SHA-256' = '" + "ab" * 32 + "']",
        "[file:hashes.MD5 = '" + "cd" * 16 + "']",
        "[x509-certificate:hashes.'SHA-1' = '" + "ef" * 20 + "']",
        "[domain-name:value = '']",
    ],
)
def test_simple_pattern_fast_path_agrees_with_the_grammar(pattern: str) -> None:
    from ewarn.ingest.stix_patterns import grammar_comparisons

    assert pattern_comparisons(pattern) == grammar_comparisons(pattern)
