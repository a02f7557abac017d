"""Merging reports of one key from several feeds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ewarn.ingest.merge import is_news, merge, merge_batch
from ewarn.ingest.normalise import Observable
from ewarn.ingest.records import FeedContext
from ewarn.models.common import TLP
from ewarn.models.indicator import Indicator, IndicatorType, VulnerabilityInfo

T0 = datetime(2026, 1, 1, tzinfo=UTC)
IP = Observable(IndicatorType.IPV4, "203.0.113.7")
CVE = Observable(IndicatorType.VULNERABILITY, "CVE-2024-1709")


def report(feed: str, observable: Observable = IP, **fields: object) -> Indicator:
    return FeedContext(feed_id=feed, feed_kind="stix_bundle").indicator(observable, record="r", **fields)


def test_first_report_sets_provenance() -> None:
    merged = merge(None, report("a"), now=T0)
    assert (merged.sources, merged.first_seen, merged.last_seen) == (["a"], T0, T0)


def test_second_feed_adds_provenance_and_keeps_strongest_fields() -> None:
    first = merge(None, report("a", tlp=TLP.GREEN, confidence=90, labels=["c2"]), now=T0)
    later = T0 + timedelta(hours=1)
    merged = merge(first, report("b", tlp=TLP.AMBER, confidence=40, labels=["botnet"]), now=later)
    assert merged.sources == ["a", "b"]
    assert (merged.first_seen, merged.last_seen) == (T0, later)
    assert (merged.tlp, merged.confidence, merged.labels) == (TLP.AMBER, 90, ["c2", "botnet"])


def test_revocation_needs_every_reporting_feed() -> None:
    both = merge(merge(None, report("a"), now=T0), report("b"), now=T0)
    assert merge(both, report("a", revoked=True), now=T0).revoked is False
    only_a = merge(None, report("a"), now=T0)
    assert merge(only_a, report("a", revoked=True), now=T0).revoked is True


def test_expiry_open_ended_wins_across_feeds_but_own_feed_may_shorten() -> None:
    until = T0 + timedelta(days=30)
    a = merge(None, report("a", valid_until=until), now=T0)
    assert merge(a, report("b"), now=T0).valid_until is None
    assert merge(a, report("a", valid_until=T0 + timedelta(days=1)), now=T0).valid_until == T0 + timedelta(
        days=1
    )


def test_kev_flag_merges_into_an_existing_cve_record() -> None:
    advisory = report("csaf", CVE, vulnerability=VulnerabilityInfo(cves=["CVE-2024-1709"], cvss_score=10.0))
    kev = report("kev", CVE, vulnerability=VulnerabilityInfo(cves=["CVE-2024-1709"], known_exploited=True))
    merged = merge(merge(None, advisory, now=T0), kev, now=T0)
    assert merged.vulnerability is not None
    assert (merged.vulnerability.known_exploited, merged.vulnerability.cvss_score) == (True, 10.0)


def test_replay_is_not_news() -> None:
    stored = merge(None, report("a"), now=T0)
    again = merge(stored, report("a"), now=T0 + timedelta(minutes=5))
    assert not is_news(stored, again)
    assert is_news(stored, merge(stored, report("a", revoked=True), now=T0))


def test_batch_merges_duplicates_within_a_page() -> None:
    merged, news = merge_batch({}, [report("a", labels=["c2"]), report("a", labels=["botnet"])], now=T0)
    assert merged[IP.key].labels == ["c2", "botnet"]
    assert [n.key for n in news] == [IP.key]


def test_news_is_a_change_outside_the_volatile_fields() -> None:
    """is_news compares field by field; it must say what comparing the dumps without volatile fields says."""
    stored = merge(
        None,
        report(
            "a", CVE, vulnerability=VulnerabilityInfo(cves=["CVE-2024-1709"], cvss_score=9.0), labels=["c2"]
        ),
        now=T0,
    )
    later = T0 + timedelta(hours=1)
    changes: list[dict[str, object]] = [
        {"last_seen": later, "ingested_at": later, "name": "renamed", "description": "other words"},
        {"stix_id": "indicator--00000000-0000-4000-8000-000000000000"},
        {"source": report("b", CVE).source},
        {"revoked": True},
        {"tlp": TLP.RED},
        {"confidence": 10},
        {"labels": ["c2", "botnet"]},
        {"sources": ["a", "b"]},
        {"valid_until": later},
        {"first_seen": later},
        {"vulnerability": VulnerabilityInfo(cves=["CVE-2024-1709"], cvss_score=9.8)},
        {"vulnerability": VulnerabilityInfo(cves=["CVE-2024-1709"], cvss_score=9.0)},
    ]
    volatile = {"last_seen", "ingested_at", "source", "name", "description", "stix_id"}
    for update in changes:
        changed = stored.model_copy(update=update)
        expected = stored.model_dump(exclude=volatile) != changed.model_dump(exclude=volatile)
        assert is_news(stored, changed) is expected, update
        # only the volatile fields, or an equal copy of the vulnerability (the last case), are not news
        assert expected is not (all(name in volatile for name in update) or update is changes[-1]), update
