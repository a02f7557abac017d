"""E-mail in every language: complete catalogues, and a rendered message with no English left in it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from tests.support.receivers import sample_alert

from ewarn.dispatch.email import alert_email, digest_email, disabled_notice
from ewarn.dispatch.templates import LANGUAGES, render, translations
from ewarn.locale import TRANSLATED, extract, read_catalogue
from ewarn.models.alert import (
    Alert,
    AssetContact,
    ExploitationFlags,
    NextStep,
    NextStepKind,
    PlaybookLink,
)
from ewarn.models.indicator import Reference, Remediation, RemediationCategory

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
LANGUAGE_PARAMS = [pytest.param(code, id=code) for code in TRANSLATED]
SEEN = datetime(2026, 11, 20, tzinfo=UTC)


def source_messages() -> list[str]:
    return [m.id for m in extract() if m.id]


def test_every_language_of_the_e_mail_has_a_catalogue() -> None:
    assert set(LANGUAGES) == {"en", *TRANSLATED}


@pytest.mark.parametrize("language", LANGUAGE_PARAMS)
def test_every_message_is_translated_in_the_catalogue(language: str) -> None:
    catalogue = read_catalogue(language)
    wanted = source_messages()
    entries = {m.id: m for m in catalogue if m.id}
    assert sorted(set(wanted) - set(entries)) == [], "messages missing: run python -m ewarn.locale update"
    assert sorted(set(entries) - set(wanted)) == [], "messages no template uses any more"
    untranslated = [m for m in wanted if not str(entries[m].string or "").strip()]
    fuzzy = [m for m in wanted if entries[m].fuzzy]
    assert untranslated == [] and fuzzy == []
    for message in wanted:  # every %(name)s of the source survives translation, no other appears
        translated = str(entries[message].string)
        assert sorted(PLACEHOLDER.findall(translated)) == sorted(PLACEHOLDER.findall(message)), message


def everything_alert() -> Alert:
    """An alert showing every part of the e-mail: each action category, each next step, contact, flags."""
    actions = [
        Remediation(category=c, text=f"SOURCE-TEXT-{c.value}", url=f"https://vendor.example/{c.value}")
        for c in RemediationCategory
    ]
    actions[1] = actions[1].model_copy(update={"fixed_versions": ["4.10"], "fixed_products": ["PM 4.10"]})
    actions[0] = actions[0].model_copy(update={"due_date": "2021-12-24"})
    steps = [
        NextStep(kind=kind, text="EWARN-ENGLISH-STEP", lookback_days=30, since=SEEN) for kind in NextStepKind
    ]
    return sample_alert(
        possibly_affected=True,
        known_exploited=True,
        cves=["CVE-2021-44228"],
        advisory="ICSA-22-034-01",
        advisory_url="https://www.cisa.gov/news-events/ics-advisories/icsa-22-034-01",
        remediations=sorted(actions, key=lambda r: r.category.value),
        next_steps=steps,
        references=[Reference(url="https://www.cve.org/CVERecord?id=CVE-2021-44228", kind="cve")],
        asset_contact=AssetContact(
            name="PACS DMZ", kind="network", location="L1", owner="O1", part_of="P1", supports="S1"
        ),
        exploitation=ExploitationFlags(
            known_exploited=True, known_ransomware_use=True, kev_date_added="2021-12-10"
        ),
        indicator_first_seen=SEEN,
        indicator_last_seen=SEEN,
        playbook=PlaybookLink(url="https://playbooks.example/c2", title="C2"),
    )


def _english_leftovers(language: str, body: str) -> list[str]:
    """Source phrases (between placeholders, 5+ letters) the body still has though no translation uses them
    ("Update" is left alone in German: "Hersteller-Update" is German)."""
    own = translations(language)
    every_translation = "\n".join(own.gettext(m) for m in source_messages())
    leftovers = []
    for message in source_messages():
        for part in PLACEHOLDER.split(message)[::2]:
            part = part.strip(" .:;,()—")
            if len(part) >= 5 and part not in every_translation and part in body:
                leftovers.append(part)
    return leftovers


@pytest.mark.parametrize("language", LANGUAGE_PARAMS)
def test_a_translated_alert_e_mail_has_no_english_left(language: str) -> None:
    msg = alert_email(
        alert=everything_alert().model_dump(mode="json"),
        to="a@b",
        sender="c@d",
        language=language,
        message_id="m",
    )
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for body in (text, html):
        assert _english_leftovers(language, body) == []
        assert "EWARN-ENGLISH-STEP" not in body, "next steps are worded in the reader's language"
        for category in RemediationCategory:  # the source's own text stays verbatim
            assert f"SOURCE-TEXT-{category.value}" in body
    own = translations(language)
    for label in ("Vendor fix", "Workaround", "Owner", "Used in ransomware campaigns", "What to do"):
        assert own.gettext(label) != label and own.gettext(label) in text, label


@pytest.mark.parametrize("language", LANGUAGE_PARAMS)
def test_digest_and_notice_are_translated_too(language: str) -> None:
    digest = digest_email(
        alerts=[everything_alert().model_dump(mode="json")],
        to="a@b",
        sender="c@d",
        language=language,
        provider_id="st-elsewhere",
        window="daily:2026-11-20",
        message_id="d",
    )
    notice = disabled_notice(
        to=["a@b"],
        sender="c@d",
        language=language,
        provider_id="p",
        subscription_id="sub_1",
        target="https://x/h",
        reason="endpoint answered 410 Gone",
    )
    for msg in (digest, notice):
        for part in ("plain", "html"):
            body = msg.get_body((part,)).get_content()  # type: ignore[union-attr]
            assert _english_leftovers(language, body) == []
        assert _english_leftovers(language, str(msg["Subject"])) == []


def test_html_is_autoescaped_and_text_is_not() -> None:
    alert = sample_alert(
        remediations=[Remediation(category=RemediationCategory.WORKAROUND, text="<b>x</b> & y")],
        asset_contact=AssetContact(name="n", kind="network", owner="<script>o</script>"),
    )
    html = render("alert.html.j2", language="en", alert=alert)
    text = render("alert.txt.j2", language="en", alert=alert)
    assert "<script>" not in html and "&lt;script&gt;o&lt;/script&gt;" in html
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in html
    assert "<b>x</b> & y" in text and "<script>o</script>" in text


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        pytest.param("https://vendor.example/fix", True, id="https"),
        pytest.param("javascript:alert(1)", False, id="javascript-not-a-link"),
    ],
)
def test_only_web_urls_become_links(url: str, linked: bool) -> None:
    alert = sample_alert(
        remediations=[Remediation(category=RemediationCategory.VENDOR_FIX, text="Update", url=url)]
    )
    html = render("alert.html.j2", language="en", alert=alert)
    assert (f'href="{url}"' in html) is linked
