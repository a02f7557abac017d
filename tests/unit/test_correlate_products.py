"""Vendor/product normalisation, CPE and PURL keys: the spellings advisories and inventories really use."""

from __future__ import annotations

import pytest

from ewarn.correlate.products import (
    cpe_key,
    cpe_name_key,
    name_key,
    normalise_vendor,
    parse_cpe,
    parse_purl,
    purl_names,
    repair_text,
)


@pytest.mark.parametrize(
    ("raw", "fixed"),
    [
        pytest.param(
            "BD Alaris\u00e2\u201e\u00a2 Systems Manager", "BD Alaris Systems Manager", id="cp1252-trademark"
        ),
        pytest.param("Dr\u00c3\u00a4ger Infinity", "Dräger Infinity", id="latin1-umlaut"),
        pytest.param("Alaris™ PC Unit®", "Alaris PC Unit", id="trademark-signs"),
        pytest.param("Dräger", "Dräger", id="clean-text-untouched"),
    ],
)
def test_repair_text(raw: str, fixed: str) -> None:
    assert repair_text(raw) == fixed


@pytest.mark.parametrize(
    ("vendor", "canonical"),
    [
        pytest.param("Phillips", "philips", id="misspelling"),
        pytest.param("Koninklijke Philips N.V.", "philips", id="legal-name"),
        pytest.param("Becton, Dickinson and Company", "bd", id="bd-long-name"),
        pytest.param("Becton Dickinson & Co", "bd", id="bd-ampersand"),
        pytest.param("B. Braun Melsungen AG", "b braun", id="braun-ag"),
        pytest.param("Medtronic plc", "medtronic", id="plc"),
        pytest.param("Drägerwerk AG & Co. KGaA", "drager", id="kgaa-and-umlaut"),
        pytest.param("Welch Allyn", "baxter", id="brand-of-hillrom-of-baxter"),
        pytest.param("Siemens Healthineers", "siemens", id="healthineers"),
        pytest.param("Acme Medical Inc.", "acme medical", id="unknown-vendor-suffix-only"),
        pytest.param("OFFIS e.V.", "offis", id="german-association"),
    ],
)
def test_normalise_vendor(vendor: str, canonical: str) -> None:
    assert normalise_vendor(vendor) == canonical


@pytest.mark.parametrize(
    ("vendor", "product", "key"),
    [
        pytest.param(
            "Becton Dickinson & Co",
            "BD Alaris\u00e2\u201e\u00a2 Systems Manager",
            "bd|alaris manager",
            id="vendor-in-product-and-mojibake",
        ),
        pytest.param(
            "Hillrom",
            "Welch Allyn Connex Spot Monitor (CSM)",
            "baxter|connex spot monitor",
            id="brand-prefix-and-abbreviation",
        ),
        pytest.param(
            "Siemens",
            "Siemens SPECT Workplaces/Symbia.net Windows XP-Based",
            "siemens|spect workplace symbianet window xp based",
            id="punctuation",
        ),
        pytest.param("MicroDicom", "MicroDicom DICOM Viewer", "microdicom|dicom viewer", id="vendor-prefix"),
        pytest.param("Microsoft", "Microsoft", "microsoft|microsoft", id="product-equal-to-vendor-kept"),
        pytest.param("n/a", "n/a", None, id="unknown-names"),
        pytest.param(None, "SpaceCom", None, id="product-without-vendor-too-ambiguous"),
    ],
)
def test_name_key(vendor: str | None, product: str | None, key: str | None) -> None:
    assert name_key(vendor, product) == key


def test_cpe_parsing_and_keys() -> None:
    cpe = parse_cpe("cpe:2.3:a:progress:moveit_transfer:2021.0:*:*:*:*:*:*:*")
    assert cpe is not None
    assert (cpe.part, cpe.vendor, cpe.product, cpe.version) == ("a", "progress", "moveit_transfer", "2021.0")
    assert cpe_key(cpe) == "progress:moveit_transfer"
    assert cpe_name_key(cpe) == name_key("Progress Software Corporation", "MOVEit Transfer")
    escaped = parse_cpe(r"cpe:2.3:a:acme:web\:server:-:*:*:*:*:*:*:*")
    assert escaped is not None and (escaped.product, escaped.version) == ("web:server", None)
    assert parse_cpe("cpe:/a:apache:log4j:2.14.1") is not None
    assert parse_cpe("cpe:2.3:a:*:*:*:*:*:*:*:*:*:*") is None
    assert parse_cpe("not a cpe") is None


@pytest.mark.parametrize(
    ("purl", "key", "version"),
    [
        pytest.param(
            "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.9.10",
            "maven/com.fasterxml.jackson.core/jackson-databind",
            "2.9.10",
            id="maven",
        ),
        pytest.param("pkg:pypi/Django_Rest@1.0", "pypi//django-rest", "1.0", id="pypi-name-normalised"),
        pytest.param("pkg:npm/%40angular/core", "npm/@angular/core", None, id="npm-scope-no-version"),
    ],
)
def test_parse_purl(purl: str, key: str, version: str | None) -> None:
    parsed = parse_purl(purl)
    assert parsed is not None and (parsed.key, parsed.version) == (key, version)


def test_parse_purl_rejects_garbage() -> None:
    assert parse_purl("jackson-databind 2.9.10") is None


@pytest.mark.parametrize(
    ("purl", "names"),
    [
        pytest.param(
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
            ("apache", "log4j core"),
            id="maven-reversed-domain",
        ),
        pytest.param("pkg:npm/%40angular/core@17.0.0", ("angular", "core"), id="npm-scope"),
        pytest.param("pkg:npm/lodash@4.17.20", ("lodash", "lodash"), id="npm-no-scope"),
        pytest.param("pkg:github/moxa/nport-firmware", ("moxa", "nport firmware"), id="github-owner"),
        pytest.param(
            "pkg:golang/github.com/gin-gonic/gin@1.9.0", ("gin gonic", "gin"), id="golang-host-owner"
        ),
        pytest.param(
            "pkg:deb/debian/openssl@1.1.1", ("openssl", "openssl"), id="distribution-is-not-a-vendor"
        ),
        pytest.param("not a purl", None, id="garbage"),
    ],
)
def test_purl_names(purl: str, names: tuple[str, str] | None) -> None:
    assert purl_names(purl) == names
