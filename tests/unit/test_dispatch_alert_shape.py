"""The alert shape of an advisory reaches every channel: possibly affected, the advisory, its CVEs worst first."""

from __future__ import annotations

import json

import pytest
from tests.support.receivers import sample_alert

from ewarn.dispatch.email import alert_email
from ewarn.dispatch.payload import parse_webhook_payload, render_body
from ewarn.models.alert import Alert, AlertCve

CVES = [
    AlertCve(id="CVE-2022-2121", cvss_score=7.5, title="NULL pointer dereference"),
    AlertCve(id="CVE-2022-2119", cvss_score=7.5, title="Path traversal"),
    AlertCve(id="CVE-2022-2120", cvss_score=6.5),
]


def advisory_alert(possibly: bool) -> Alert:
    return sample_alert(
        indicator_key="vulnerability:ICSMA-22-174-01",
        advisory="ICSMA-22-174-01",
        cves=[c.id for c in CVES],
        cve_details=CVES,
        possibly_affected=possibly,
    )


@pytest.mark.parametrize("possibly", [pytest.param(True, id="possibly"), pytest.param(False, id="certain")])
def test_webhook_body_carries_the_shape(possibly: bool) -> None:
    alert = advisory_alert(possibly)
    for stored in (alert, alert.model_dump(mode="json")):  # the model path and the stored-row fast path
        body, _ = render_body(stored, payload_format="json")
        data = parse_webhook_payload(body).data  # type: ignore[union-attr]
        assert (data.possibly_affected, data.advisory) == (possibly, "ICSMA-22-174-01")
        assert [c.id for c in data.cve_details] == ["CVE-2022-2121", "CVE-2022-2119", "CVE-2022-2120"]
        assert json.loads(body)["data"]["cve_details"][0]["cvss_score"] == 7.5


@pytest.mark.parametrize(
    ("language", "possibly", "line"),
    [
        pytest.param("en", True, "Possibly affected — review", id="en-possibly"),
        pytest.param("de", True, "Möglicherweise betroffen", id="de-possibly"),
        pytest.param("en", False, None, id="en-certain"),
    ],
)
def test_email_shows_review_advisory_and_scored_cves(language: str, possibly: bool, line: str | None) -> None:
    msg = alert_email(
        alert=advisory_alert(possibly).model_dump(mode="json"),
        to="soc@h.example",
        sender="ewarn@csirt.example",
        language=language,
        message_id="m1",
    )
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "ICSMA-22-174-01" in text
    assert "CVE-2022-2121 (CVSS 7.5), CVE-2022-2119 (CVSS 7.5), CVE-2022-2120 (CVSS 6.5)" in text
    if line is None:
        assert "Possibly affected" not in text
    else:
        assert line in text
