"""The whole pipeline on the embedded default: API → real STIX bundle → alert → signed webhook.

Expected alerts are computed here from the bundle's own patterns with the standard library, independently of
ewarn's parser and matcher.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from tests.support.pipeline import Harness, Tenant, harness
from tests.support.receivers import WebhookReceiver

URL_VALUE = re.compile(r"url:value\s*=\s*'([^']+)'")
IPV4_VALUE = re.compile(r"ipv4-addr:value\s*=\s*'([^']+)'")


def _bundle(shared_data: Path, name: str) -> bytes:
    return (shared_data / "stix" / "feeds2stix-dogesec" / name).read_bytes()


def _patterns(raw: bytes) -> list[str]:
    return [o["pattern"] for o in json.loads(raw)["objects"] if o["type"] == "indicator"]


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    rec = WebhookReceiver()
    await rec.start()
    yield rec
    await rec.down()


@pytest.fixture
async def pipe(database_url: str) -> AsyncIterator[Harness]:
    """The embedded default's in-process bus, on SQLite and on PostgreSQL."""
    async with harness(database_url) as h:
        yield h


async def _hospital(pipe: Harness, receiver: WebhookReceiver, assets: list[dict[str, Any]]) -> Tenant:
    await pipe.add_csirt("cert-eu-health")
    tenant = await pipe.add_tenant("hosp-a", csirt_id="cert-eu-health")
    await pipe.add_assets(tenant, assets)
    sub = await pipe.subscribe_webhook(tenant, receiver.url())
    receiver.secrets = [sub["secret"]]
    return tenant


async def test_real_bundle_reaches_the_hospital_webhook_signed(
    pipe: Harness, receiver: WebhookReceiver, shared_data: Path
) -> None:
    vx = _bundle(shared_data, "vxvault_bundle.json")
    cins = _bundle(shared_data, "cinsscore_bundle.json")
    urls = [URL_VALUE.search(p).group(1) for p in _patterns(vx)]  # type: ignore[union-attr]
    hosts = [urlsplit(u).hostname or "" for u in urls]
    ip_host = next(h for h in hosts if re.fullmatch(r"[\d.]+", h))
    name_host = next(h for h in hosts if not re.fullmatch(r"[\d.]+", h))
    lab_net = ipaddress.ip_network(f"{ip_host}/24", strict=False)
    domain = ".".join(name_host.split(".")[-2:])
    cins_ip = IPV4_VALUE.search(_patterns(cins)[0]).group(1)  # type: ignore[union-attr]
    cins_net = ipaddress.ip_network(f"{cins_ip}/28", strict=False)
    assets = [
        {"kind": "network", "name": "Lab servers", "value": str(lab_net), "criticality": "high"},
        {"kind": "network", "name": "Radiology VPN", "value": str(cins_net), "criticality": "critical"},
        {"kind": "domain", "name": "Partner portal", "value": domain},
        {"kind": "network", "name": "Unrelated range", "value": "192.0.2.0/24"},
    ]
    tenant = await _hospital(pipe, receiver, assets)

    def url_matches(host: str) -> bool:
        if re.fullmatch(r"[\d.]+", host):
            return ipaddress.ip_address(host) in lab_net
        return host == domain or host.endswith("." + domain)

    expected_urls = {u for u, h in zip(urls, hosts, strict=True) if url_matches(h)}
    expected_ips = {
        m.group(1)
        for p in _patterns(cins)
        if (m := IPV4_VALUE.search(p)) and ipaddress.ip_address(m.group(1)) in cins_net
    }
    assert expected_urls and expected_ips  # the chosen assets do match something in the real files

    report_vx = await pipe.ingest(vx, feed_id="vxvault")
    report_cins = await pipe.ingest(cins, feed_id="cinsscore")
    assert report_vx.rejected == 0 and report_cins.rejected == 0
    await pipe.drained()

    alerts = await pipe.alerts(tenant.auth)
    by_asset: dict[str, set[str]] = {}
    for alert in alerts:
        by_asset.setdefault(alert["match"]["asset_name"], set()).add(alert["match"]["indicator_value"])
    matched_ips = by_asset.get("Radiology VPN", set())
    assert matched_ips == expected_ips
    url_alerts = [a for a in alerts if a["indicator_type"] == "url"]
    assert len(url_alerts) == len(expected_urls)
    assert "Unrelated range" not in by_asset
    for alert in alerts:
        assert alert["match"]["asset_name"] in alert["reason"]
        assert alert["provider_id"] == tenant.provider_id
    ip_alert = next(a for a in alerts if a["match"]["asset_name"] == "Radiology VPN")
    assert ip_alert["reason"].startswith(
        f"{ip_alert['match']['indicator_value']} is inside your range {cins_net}"
    )

    # Every alert reached the webhook once, signed (the receiver verifies with the standardwebhooks library).
    accepted = receiver.accepted
    assert all(r.verified for r in receiver.requests)
    received_alert_ids = [r.json()["data"]["id"] for r in accepted]
    assert sorted(received_alert_ids) == sorted(a["id"] for a in alerts)
    assert len({r.webhook_id for r in accepted}) == len(accepted)


async def test_replaying_a_bundle_adds_no_alert_and_no_delivery(
    pipe: Harness, receiver: WebhookReceiver, shared_data: Path
) -> None:
    cins = _bundle(shared_data, "cinsscore_bundle.json")
    ip = IPV4_VALUE.search(_patterns(cins)[0]).group(1)  # type: ignore[union-attr]
    tenant = await _hospital(pipe, receiver, [{"kind": "network", "name": "Edge", "value": f"{ip}/32"}])
    await pipe.ingest(cins, feed_id="cinsscore")
    await pipe.drained()
    first = await pipe.alerts(tenant.auth)
    delivered = len(receiver.accepted)
    assert len(first) == 1 and delivered == 1

    for _ in range(2):
        await pipe.ingest(cins, feed_id="cinsscore")
    await pipe.drained()
    again = await pipe.alerts(tenant.auth)
    assert [a["id"] for a in again] == [a["id"] for a in first]
    assert [a["revision"] for a in again] == [a["revision"] for a in first]
    assert len(receiver.requests) == delivered


async def test_malformed_patterns_are_rejected_by_name_and_the_rest_flows(
    pipe: Harness, receiver: WebhookReceiver
) -> None:
    tenant = await _hospital(
        pipe, receiver, [{"kind": "network", "name": "PACS DMZ", "value": "203.0.113.0/24"}]
    )
    good = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--0b7c4a3e-8f7e-4d7e-9d55-2b0a5a1f0001",
        "created": "2026-11-01T00:00:00Z",
        "modified": "2026-11-01T00:00:00Z",
        "pattern": "[ipv4-addr:value = '203.0.113.7']",
        "pattern_type": "stix",
        "valid_from": "2026-11-01T00:00:00Z",
    }
    bad = {
        **good,
        "id": "indicator--0b7c4a3e-8f7e-4d7e-9d55-2b0a5a1f0002",
        "pattern": "[ipv4-addr:value = '203.0.113.8'",
    }
    after = {
        **good,
        "id": "indicator--0b7c4a3e-8f7e-4d7e-9d55-2b0a5a1f0003",
        "pattern": "[ipv4-addr:value = '203.0.113.9']",
    }
    bundle = {
        "type": "bundle",
        "id": "bundle--9a2d3c3e-1111-4d7e-9d55-2b0a5a1f0000",
        "objects": [good, bad, after],
    }
    report = await pipe.ingest(json.dumps(bundle).encode(), feed_id="partner-push")
    assert report.rejected == 1
    (rejection,) = report.rejections
    assert rejection.feed_id == "partner-push"
    assert rejection.record == bad["id"]
    assert rejection.reason
    await pipe.drained()
    values = sorted(a["match"]["indicator_value"] for a in await pipe.alerts(tenant.auth))
    assert values == ["203.0.113.7", "203.0.113.9"]
    assert len(receiver.accepted) == 2
