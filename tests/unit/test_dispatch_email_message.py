"""E-mail messages: a subject SOC mail rules can match, text and HTML parts, TLP label, languages."""

from __future__ import annotations

import pytest
from tests.support.receivers import sample_alert

from ewarn.dispatch.email import TlpRefused, alert_email, alert_subject, digest_email, disabled_notice
from ewarn.dispatch.payload import AlertData
from ewarn.dispatch.templates import gettext_for, language_code
from ewarn.models.common import TLP

AMBER_RULE = "TLP:AMBER — share only within your organisation and its clients, need-to-know."


def test_subject_is_filterable() -> None:
    alert = sample_alert()
    subject = alert_subject(AlertData.from_alert(alert))
    assert (
        subject
        == f"[ewarn][HIGH][st-elsewhere] Known C2 server inside your range (alert {alert.id}) [TLP:AMBER]"
    )


def test_alert_message_headers_and_parts() -> None:
    alert = sample_alert(cves=["CVE-2024-3400"], title="<script>x</script>")
    msg = alert_email(
        alert=alert.model_dump(mode="json"),
        to="soc@h.example",
        sender="ewarn@csirt.example",
        language="en",
        message_id="msg_1",
    )
    assert msg["To"] == "soc@h.example" and msg["From"] == "ewarn@csirt.example"
    assert msg["Message-ID"] == "<msg_1@ewarn>"
    assert msg["X-Ewarn-Alert-Id"] == alert.id and msg["X-Ewarn-TLP"] == "TLP:AMBER"
    assert msg["X-Ewarn-Severity"] == "high" and msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert text.startswith("TLP:AMBER\n")
    assert alert.reason in text and "CVE-2024-3400" in text and AMBER_RULE in text
    assert "<script>" not in html and "&lt;script&gt;" in html, "HTML part escapes alert text"
    assert "TLP:AMBER" in html


@pytest.mark.parametrize("tlp", [TLP.RED], ids=["red"])
def test_red_is_refused_even_if_it_reaches_the_channel(tlp: TLP) -> None:
    with pytest.raises(TlpRefused):
        alert_email(
            alert=sample_alert(tlp=tlp).model_dump(mode="json"),
            to="a@b",
            sender="c@d",
            language="en",
            message_id="m",
        )
    with pytest.raises(TlpRefused):
        digest_email(
            alerts=[
                sample_alert(tlp="green").model_dump(mode="json"),
                sample_alert(tlp=tlp, asset_id="x").model_dump(mode="json"),
            ],
            to="a@b",
            sender="c@d",
            language="en",
            provider_id="p",
            window="hourly:2024-05-01T13",
            message_id="m",
        )


@pytest.mark.parametrize(
    ("language", "code"),
    [
        pytest.param("en", "en", id="en"),
        pytest.param("de", "de", id="de"),
        pytest.param("de-AT", "de", id="de-region"),
        pytest.param("fr_CH", "fr", id="fr-underscore-region"),
        pytest.param("it", "it", id="it"),
        pytest.param("pt", "en", id="unknown-falls-back-to-english"),
        pytest.param(None, "en", id="none"),
    ],
)
def test_language_choice(language: str | None, code: str) -> None:
    assert language_code(language) == code


def test_german_body() -> None:
    msg = alert_email(
        alert=sample_alert().model_dump(mode="json"), to="a@b", sender="c@d", language="de", message_id="m"
    )
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Schweregrad" in text and gettext_for("de", AMBER_RULE) in text
    assert gettext_for("de", AMBER_RULE) != AMBER_RULE
    assert msg["Subject"].startswith("[ewarn][HIGH][st-elsewhere]"), (
        "the subject stays machine-filterable in every language"
    )


def test_digest_carries_the_most_restricted_tlp() -> None:
    alerts = [
        sample_alert(tlp="green", severity="low", asset_id=f"a{i}").model_dump(mode="json") for i in range(2)
    ]
    alerts.append(sample_alert(tlp="amber+strict", severity="low", asset_id="a9").model_dump(mode="json"))
    msg = digest_email(
        alerts=alerts,
        to="a@b",
        sender="c@d",
        language="en",
        provider_id="st-elsewhere",
        window="hourly:2024-05-01T13",
        message_id="dig_1",
    )
    assert (
        msg["Subject"]
        == "[ewarn][DIGEST][st-elsewhere] 3 low-severity alerts (hourly digest) [TLP:AMBER+STRICT]"
    )
    assert msg.get_body(("plain",)).get_content().count("Alert:") == 3  # type: ignore[union-attr]


def test_disabled_notice() -> None:
    msg = disabled_notice(
        to=["ciso@h.example", "soc@h.example"],
        sender="c@d",
        language="en",
        provider_id="p",
        subscription_id="sub_1",
        target="https://x/h",
        reason="endpoint answered 410 Gone",
    )
    assert msg["To"] == "ciso@h.example, soc@h.example"
    assert "sub_1" in msg["Subject"] and "410 Gone" in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
