"""Ingest honesty on the real shared feeds: every record is read (indicators or a rejection) or skipped with
its reason, and the numbers add up to the records in the file."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from ewarn.ingest.records import FeedContext
from ewarn.ingest.sources.base import FeedSpec
from ewarn.ingest.sources.ioc_list import SKIPPED_EMPTY, parse_ioc_list
from ewarn.ingest.sources.misp import SKIPPED_CONTEXT, SKIPPED_DELETED, parse_misp

MISP_EVENTS = [
    "eset-malware-ioc-events/backdoordiplomacy_misp.event_2021-06-10_backdoordiplomacy.json",
    "eset-malware-ioc-events/glupteba_glupteba.misp-event.json",
    "eset-malware-ioc-events/sednit_2018-11-20_Zebrocy.json",
    "redblue232-crowdsec-misp-feed/6a10e5d8-f1cd-42b0-8240-a4650efd83d6.json",
    "redblue232-crowdsec-misp-feed/8f09de10-6867-45c6-814d-3d91a33d3af7.json",
    "redblue232-crowdsec-misp-feed/d177856e-6e46-44ee-8eb5-83ef1c7452c7.json",
]
BAZAAR = "abusech-via-feeds2stix/abuse_ch_malwarebazaar_dump_20260226.csv"


def _attributes(path: Path) -> list[dict[str, Any]]:
    """Every attribute of the export (event and object attributes), straight from the JSON."""
    document = json.loads(path.read_bytes())
    found: list[dict[str, Any]] = []
    for item in document.get("response", [document]):
        event = item["Event"]
        found += event.get("Attribute", [])
        found += [a for o in event.get("Object", []) for a in o.get("Attribute", [])]
    return found


@pytest.mark.parametrize("name", [pytest.param(n, id=Path(n).stem[:40]) for n in MISP_EVENTS])
def test_misp_every_attribute_is_read_or_skipped_with_its_reason(shared_data: Path, name: str) -> None:
    path = shared_data / "misp" / name
    attributes = _attributes(path)
    context = sum(1 for a in attributes if not a.get("to_ids") and not a.get("deleted"))
    deleted = sum(1 for a in attributes if a.get("deleted"))
    result = parse_misp(path.read_bytes(), FeedContext(feed_id="misp", feed_kind="misp"))
    assert result.read + result.skipped == len(attributes)
    assert result.counts[SKIPPED_CONTEXT] == context and result.counts[SKIPPED_DELETED] == deleted
    assert result.skipped == context + deleted
    # each attribute read gave indicators or one rejection naming it
    records = {i.source.record for i in result.indicators if i.source is not None}
    records |= {r.record for r in result.rejections}
    assert len(records) == result.read
    for rejection in result.rejections:
        assert rejection.record in rejection.reason and "event" in rejection.reason


def test_misp_event_of_context_attributes_only_is_not_a_silent_zero(shared_data: Path) -> None:
    path = shared_data / "misp/eset-malware-ioc-events/sednit_2018-11-20_Zebrocy.json"
    attributes = _attributes(path)
    assert attributes and not any(a.get("to_ids") for a in attributes)  # the file as published
    result = parse_misp(path.read_bytes(), FeedContext(feed_id="misp", feed_kind="misp"))
    assert (result.read, len(result.rejections), result.skipped) == (0, 0, len(attributes))
    assert dict(result.counts) == {SKIPPED_CONTEXT: len(attributes)}
    everything = parse_misp(
        path.read_bytes(), FeedContext(feed_id="misp", feed_kind="misp"), to_ids_only=False
    )
    assert everything.skipped == 0 and everything.read == len(attributes) and everything.indicators


def _data_rows(path: Path, *, header_row: bool) -> int:
    rows = [
        line for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    return len(rows) - (1 if header_row else 0)


@pytest.mark.parametrize(
    ("name", "config", "header_row"),
    [
        pytest.param(
            BAZAAR,
            {"columns": {"sha256_hash": "sha256", "md5_hash": "md5", "sha1_hash": "sha1"}},
            False,
            id="bazaar-typed",
        ),
        pytest.param(BAZAAR, {}, False, id="bazaar-default-config"),
        pytest.param(
            BAZAAR, {"columns": ["sha256_hash", "reporter", "signature"]}, False, id="bazaar-mixed-columns"
        ),
        pytest.param(
            "abusech-via-feeds2stix/abuse_ch_sslblacklist_sslblacklist_1.csv",
            {"columns": {"SHA1": "sha1"}},
            False,
            id="sslbl",
        ),
        pytest.param(
            "abusech-feodo/feodotracker_ipblocklist_2024-04-04.csv",
            {"columns": {"dst_ip": "auto"}},
            True,
            id="feodo",
        ),
        pytest.param("abusech-via-feeds2stix/ipsum_ipsum_level_8_sample.txt", {}, False, id="ipsum"),
        pytest.param("eset-hashlists/oceanlotus_samples.sha256", {}, False, id="eset-sha256"),
    ],
)
def test_csv_every_row_is_read_or_skipped(
    shared_data: Path, name: str, config: dict[str, Any], header_row: bool
) -> None:
    path = shared_data / "iocfeeds" / name
    feed = FeedSpec(id="list", kind="ioc_list", location=str(path), config=config)
    result = parse_ioc_list(path.read_bytes(), feed, feed.context())
    rows = _data_rows(path, header_row=header_row)
    assert rows > 0 and result.read + result.skipped == rows
    with_indicators = {i.source.record for i in result.indicators if i.source is not None}
    rejected = {" ".join(r.record.split(" ", 2)[:2]) for r in result.rejections}  # "line N"
    assert len(with_indicators | rejected) == result.read
    assert result.skipped == result.counts[SKIPPED_EMPTY]


def test_bazaar_default_config_names_the_real_problem(shared_data: Path) -> None:
    """Without a column map the first column (a timestamp) is read: every row is rejected, saying why."""
    path = shared_data / "iocfeeds" / BAZAAR
    feed = FeedSpec(id="bazaar", kind="ioc_list", location=str(path))
    result = parse_ioc_list(path.read_bytes(), feed, feed.context())
    assert result.read == _data_rows(path, header_row=False) and not result.indicators
    first = result.rejections[0]
    assert first.record == "line 10 0"  # line and column
    assert "feed bazaar" in first.reason and "is not an IP address" in first.reason
    assert "domain name:" not in first.reason  # not the last parser's complaint


def _bazaar_rows(shared_data: Path) -> list[dict[str, str]]:
    text = (shared_data / "iocfeeds" / BAZAAR).read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    header = next(line for line in reversed(lines) if line.startswith('# "first_seen_utc"'))
    data = [line for line in lines if not line.startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join([header[2:], *data])), skipinitialspace=True)
    return list(reader)


@pytest.mark.parametrize(
    ("separator", "type_"),
    [
        pytest.param(",", "auto", id="comma-auto"),
        pytest.param(";", "auto", id="semicolon-auto"),
        pytest.param(" | ", "auto", id="pipe-auto"),
    ],
)
def test_a_cell_with_several_hashes_gives_one_typed_indicator_each(
    shared_data: Path, separator: str, type_: str
) -> None:
    rows = _bazaar_rows(shared_data)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["first_seen", "hashes"])
    for row in rows:
        writer.writerow(
            [row["first_seen_utc"], separator.join([row["sha256_hash"], row["md5_hash"], row["sha1_hash"]])]
        )
    feed = FeedSpec(
        id="joined", kind="ioc_list", location="joined.csv", config={"columns": {"hashes": type_}}
    )
    result = parse_ioc_list(out.getvalue().encode(), feed, feed.context())
    assert (result.read, len(result.rejections)) == (len(rows), 0)
    keys = {i.key for i in result.indicators}
    for row in rows:
        assert {f"sha256:{row['sha256_hash']}", f"md5:{row['md5_hash']}", f"sha1:{row['sha1_hash']}"} <= keys
    assert len(result.indicators) == 3 * len(rows)


def test_a_json_list_of_hashes_is_split_and_a_bad_part_is_named(shared_data: Path) -> None:
    rows = _bazaar_rows(shared_data)[:5]
    items = [{"hashes": [r["sha256_hash"], r["md5_hash"]]} for r in rows]
    items.append({"hashes": [rows[0]["sha1_hash"], "not-a-hash!"]})
    items.append({"hashes": []})
    feed = FeedSpec(id="json", kind="ioc_list", location="x.json", config={"columns": {"hashes": "auto"}})
    result = parse_ioc_list(json.dumps(items).encode(), feed, feed.context())
    assert (result.read, result.skipped) == (6, 1) and result.counts[SKIPPED_EMPTY] == 1
    assert len(result.indicators) == 2 * 5 + 1
    (bad,) = result.rejections
    assert bad.record == "item 5 hashes value 'not-a-hash!'" and "is not an IP address" in bad.reason


def test_a_declared_type_rejects_each_wrong_value_by_name() -> None:
    feed = FeedSpec(id="typed", kind="ioc_list", location="x.csv", config={"columns": {"ips": "ipv4"}})
    payload = b'ips\n"198.51.100.7, 2001:db8::1, 203.0.113.9"\n'
    result = parse_ioc_list(payload, feed, feed.context())
    assert {i.key for i in result.indicators} == {"ipv4:198.51.100.7", "ipv4:203.0.113.9"}
    (bad,) = result.rejections
    assert "2001:db8::1" in bad.record and "not a valid ipv4" in bad.reason


def test_unknown_declared_type_says_so() -> None:
    feed = FeedSpec(id="typed", kind="ioc_list", location="x.csv", config={"columns": {"ip": "ip-address"}})
    result = parse_ioc_list(b"ip\n198.51.100.7\n", feed, feed.context())
    (bad,) = result.rejections
    assert "unknown indicator type 'ip-address'" in bad.reason


@pytest.mark.parametrize(
    ("payload", "keys"),
    [
        pytest.param(
            b'# "first_seen","ip"\n"2024-01-01","198.51.100.7"\n"2024-01-02","203.0.113.9"\n',
            {"ipv4:198.51.100.7", "ipv4:203.0.113.9"},
            id="commented-header-abuse-ch",
        ),
        pytest.param(
            b"# exported 2024-01-01, by the SOC\nip,port\n198.51.100.7,443\n",
            {"ipv4:198.51.100.7"},
            id="comment-then-real-header",
        ),
        pytest.param(b"ip,port\n198.51.100.7,443\n", {"ipv4:198.51.100.7"}, id="plain-header"),
    ],
)
def test_the_header_is_found_by_default(payload: bytes, keys: set[str]) -> None:
    feed = FeedSpec(id="csv", kind="ioc_list", location="x.csv", config={"columns": {"ip": "auto"}})
    result = parse_ioc_list(payload, feed, feed.context())
    assert {i.key for i in result.indicators} == keys and not result.rejections
