"""Vendor and product names as the real advisories write them: the shipped alias table and the product keys.

Every vendor string of the three CSAF folders, the CVE 5 records and KEV must resolve through the table; the
table-driven cases are real corpus strings, one per class of spelling.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ewarn import names
from ewarn.names import AliasEntry, canonical_vendor, product_keys

CSAF_FOLDERS = ("cisa-icsma-corpus", "cisa-icsa-hospital-infrastructure", "cisa-icsma")


def _branches(branches: list[dict[str, Any]], category: str) -> Iterator[str]:
    for branch in branches:
        if branch.get("category") == category:
            yield branch["name"]
        yield from _branches(branch.get("branches", []), category)


def _csaf_names(shared_data: Path, category: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for folder in CSAF_FOLDERS:
        for path in sorted((shared_data / "csaf" / folder).rglob("*.json")):
            tree = json.loads(path.read_text(encoding="utf-8")).get("product_tree", {})
            for name in _branches(tree.get("branches", []), category):
                found.setdefault(name, set()).add(path.name)
    return found


def test_every_csaf_vendor_string_resolves_through_the_table(shared_data: Path) -> None:
    vendors = _csaf_names(shared_data, "vendor")
    assert len(vendors) >= 90  # the three folders hold about 91 distinct vendor strings
    unresolved = {v: sorted(files)[:2] for v, files in vendors.items() if not canonical_vendor(v).known}
    assert unresolved == {}


def test_cve_and_kev_vendors_resolve_through_the_table(shared_data: Path) -> None:
    cve_vendors = {
        affected["vendor"]
        for path in (shared_data / "cve").glob("CVE-*.json")
        for affected in json.loads(path.read_text())["containers"]["cna"].get("affected", [])
        if affected.get("vendor") not in (None, "n/a")
    }
    kev = json.loads(next((shared_data / "kev").glob("known_exploited_vulnerabilities_2*.json")).read_text())
    kev_vendors = {v["vendorProject"] for v in kev["vulnerabilities"]}
    assert cve_vendors and len(kev_vendors) > 200
    assert sorted(v for v in cve_vendors | kev_vendors if not canonical_vendor(v).known) == []


def test_every_csaf_product_name_gives_a_key(shared_data: Path) -> None:
    products = _csaf_names(shared_data, "product_name")
    assert len(products) > 1000
    assert sorted(p for p in products if not product_keys(p, None)) == []


@pytest.mark.parametrize(
    ("vendor", "brand", "group"),
    [
        pytest.param("Becton, Dickinson and Company (BD)", "bd", "bd", id="parenthesised-short-form"),
        pytest.param(
            "General Electric (GE)", "ge healthcare", "ge healthcare", id="general-electric-short-form"
        ),
        pytest.param("Natus Medical, Inc. (Natus)", "natus", "natus", id="suffix-and-short-form"),
        pytest.param(
            "Hillrom and ELI, Baxter International Inc.", "hillrom", "baxter", id="brands-and-owner"
        ),
        pytest.param("Welch Allyn", "welch allyn", "baxter", id="welch-allyn-hillrom-baxter"),
        pytest.param("CareFusion", "carefusion", "bd", id="carefusion-bd"),
        pytest.param("Smiths Medical", "smiths medical", "icu medical", id="smiths-icu-medical"),
        pytest.param("St. Jude Medical", "st jude medical", "abbott", id="st-jude-abbott"),
        pytest.param("Covidien", "covidien", "medtronic", id="covidien-medtronic"),
        pytest.param("Respironics", "respironics", "philips", id="respironics-philips"),
        pytest.param("Varian Medical Systems", "varian", "siemens", id="varian-healthineers"),
        pytest.param("Phillips", "philips", "philips", id="misspelling"),
        pytest.param(
            "Sensormatic Electronics, LLC, a subsidiary of Johnson Controls Inc.",
            "sensormatic",
            "johnson controls",
            id="subsidiary-of",
        ),
        pytest.param(
            "Sensormatic Electronics, LLC, an affiliate of Johnson Controls Inc.",
            "sensormatic",
            "johnson controls",
            id="affiliate-of",
        ),
        pytest.param(
            "Exacq Technologies, Johnson Controls Inc.", "exacq", "johnson controls", id="brand-comma-owner"
        ),
        pytest.param("Kantech, Johnson Controls Inc.", "kantech", "johnson controls", id="kantech"),
        pytest.param(
            "Interlogix, Carrier Global Corporation", "interlogix", "carrier", id="interlogix-carrier"
        ),
        pytest.param("Matrikon, Honeywell", "matrikon", "honeywell", id="matrikon-honeywell"),
        pytest.param("Tridium", "tridium", "honeywell", id="tridium-honeywell"),
        pytest.param("APC by Schneider Electric", "apc", "schneider electric", id="apc-by-schneider"),
        pytest.param(
            "Schneider Electric Software, LLC", "schneider electric", "schneider electric", id="llc"
        ),
        pytest.param("Automated Logic Corporation (ALC)", "automated logic", "carrier", id="alc-carrier"),
        pytest.param("Dahua Technology Co, Ltd", "dahua", "dahua", id="co-ltd"),
        pytest.param("GeutebrÃ¼ck GmbH", "geutebruck", "geutebruck", id="mojibake-gmbh"),
        pytest.param("Innokas YhtymÃ¤ Oy", "innokas yhtyma", "innokas yhtyma", id="mojibake-oy"),
        pytest.param("Honeywell ", "honeywell", "honeywell", id="trailing-space"),
        pytest.param(" Schneider Electric", "schneider electric", "schneider electric", id="leading-space"),
        pytest.param("Drägerwerk AG & Co. KGaA", "drager", "drager", id="kgaa-umlaut"),
        pytest.param("B. Braun Melsungen AG", "b braun", "b braun", id="ag"),
        pytest.param("Hewlett Packard (HP)", "hp", "hp", id="kev-short-form"),
        pytest.param("VMware Tanzu", "vmware", "broadcom", id="vmware-broadcom"),
    ],
)
def test_canonical_vendor(vendor: str, brand: str, group: str) -> None:
    found = canonical_vendor(vendor)
    assert (found.brand, found.group, found.known) == (brand, group, True)


def test_joint_publication_names_both_groups() -> None:
    found = canonical_vendor("Silex Technology and GE Healthcare")
    assert (found.group, found.others) == ("silex technology", ("ge healthcare",))


def test_unknown_owner_suffix_keeps_its_folded_name() -> None:
    assert canonical_vendor("Acme Medical Inc.") == ("acme medical", "acme medical", False, ())
    assert canonical_vendor("NewBrand, Johnson Controls Inc.")[:3] == ("newbrand", "johnson controls", True)


@pytest.mark.parametrize(
    ("vendor", "product", "expected"),
    [
        pytest.param(
            "GE Healthcare",
            "Image Vault 3.x medical imaging software",
            ("image vault", "3.x", None),
            id="family-in-name",
        ),
        pytest.param(
            "GE Healthcare",
            "eNTEGRA 2.0/2.5 Processing and Review Workstation",
            ("entegra", "2.0 | 2.5", None),
            id="version-list-in-name",
        ),
        pytest.param("GE Healthcare", "Xeleris 1.0", ("xeleris", "1.0", None), id="version-at-end"),
        pytest.param(
            "Siemens", "Siveillance Identity V1.5", ("siveillance identity", "1.5", None), id="v-prefix"
        ),
        pytest.param("Tridium", "Niagara 4.4u2", ("niagara", "4.4u2", None), id="update-suffix"),
        pytest.param(
            "Siemens",
            "SINAMICS G130 V4.7 SP1 Control Unit",
            ("sinamic g130 control unit", "4.7 sp1", None),
            id="service-pack",
        ),
        pytest.param(
            "Siemens",
            "Siveillance VMS 2016 R1 and prior",
            ("siveillance vms", "<= 2016 r1", None),
            id="and-prior",
        ),
        pytest.param(
            "Johnson Controls Inc",
            "Metasys ADS/ADX/OAS Servers",
            ("metasys adx server", None, None),
            id="slash",
        ),
        pytest.param(
            "Siemens",
            "Cerberus PRO UL Compact Panel FC922/924",
            ("fc924", None, None),
            id="slash-shared-letters",
        ),
        pytest.param(
            "Johnson Controls Inc",
            "Network Integration Engine (NIE55/NIE59)",
            ("nie59", None, None),
            id="brackets",
        ),
        pytest.param("Johnson Controls Inc", "NAE85 and NIE85", ("nie85", None, None), id="and-list"),
        pytest.param("Siemens", "APOGEE PXC Series (BACnet)", ("apogee pxc", None, None), id="series-word"),
        pytest.param(
            "Medtronic",
            "MiniMed Paradigm 512/712 pumps",
            ("minimed paradigm 712 pump", None, None),
            id="plural",
        ),
        pytest.param("Honeywell", "CK75 running Android OS", ("ck75", None, None), id="qualifier"),
        pytest.param(
            "GE Healthcare", "Voluson, not including ImageVault", ("voluson", None, None), id="excluding"
        ),
        pytest.param(
            "Hillrom", "Welch Allyn Connex Spot Monitor (CSM)", ("csm", None, None), id="abbreviation"
        ),
        pytest.param(
            "Trane",
            "Trane Technologies XL824 Thermostat",
            ("xl824 thermostat", None, None),
            id="brand-prefix",
        ),
        pytest.param(
            "Becton Dickinson & Co",
            "BD Alarisâ„¢ Systems Manager",
            ("alaris manager", None, None),
            id="mojibake",
        ),
        pytest.param(
            "Dahua Technology Co, Ltd",
            "Dahua IPC-HDBW2XXX",
            ("ipc hdbw2xxx", None, r"(?:^| )ipc ?hdbw2[0-9]{3}(?:[a-z][a-z0-9]*)?(?= |$)"),
            id="wildcard-family",
        ),
    ],
)
def test_product_keys(vendor: str, product: str, expected: tuple[str, str | None, str | None]) -> None:
    keys = {(k.key, k.version_hint, k.pattern) for k in product_keys(product, vendor)}
    assert expected in keys


@pytest.mark.parametrize(
    ("pattern_of", "asset", "inside"),
    [
        pytest.param("EFD-22xx", "G-Cam EFD-2250", True, id="efd-inside"),
        pytest.param("EFD-22xx", "EFD-2350", False, id="efd-other-family"),
        pytest.param("AP7xxx with NMC3", "AP7900B", True, id="ap7-four-digits"),
        pytest.param("AP7xxxx with NMC2", "AP7900B", False, id="ap7-five-digits-wanted"),
        pytest.param("Dahua IPC-HDBW2XXX", "IPC-HDBW2431E-S", True, id="dahua-suffix-letters"),
        pytest.param("Dahua IPC-HDBW2XXX", "IPC-HDBW24310", False, id="dahua-one-digit-too-many"),
    ],
)
def test_family_patterns(pattern_of: str, asset: str, inside: bool) -> None:
    patterns = [k.pattern for k in product_keys(pattern_of, "Dahua") if k.pattern]
    asset_keys = [k.key for k in product_keys(asset, "Dahua")]
    assert patterns and asset_keys
    assert any(names.matches_pattern(p, a) for p in patterns for a in asset_keys) is inside


def test_same_normalisation_on_both_sides() -> None:
    advisory = {
        k.key for k in product_keys("Welch Allyn Spot Vital Signs 4400 Device (Spot 4400)", "Hillrom")
    }
    inventory = {k.key for k in product_keys("Spot Vital Signs 4400", "Welch Allyn")}
    assert inventory <= advisory


def test_operator_aliases_on_top_of_the_default_table() -> None:
    before = names.generation()
    try:
        assert names.set_operator_aliases(
            [AliasEntry(brand="Acme Infusion", group="Welch Allyn", aliases=("ACME",))]
        )
        assert names.generation() == before + 1
        assert canonical_vendor("ACME Inc.")[:3] == ("acme infusion", "baxter", True)
        assert not names.set_operator_aliases(names.operator_entries())  # unchanged: no new generation
        assert names.generation() == before + 1
    finally:
        names.set_operator_aliases([])
    assert canonical_vendor("ACME Inc.").known is False


@pytest.mark.parametrize(
    ("inventory", "advisory"),
    [
        pytest.param(
            ("Sensormatic", "KT1"),
            ("Sensormatic Electronics, LLC, Johnson Controls Inc.", "KT-1"),
            id="hyphen",
        ),
        pytest.param(("Medtronic", "MMT-754"), ("Medtronic", "MMT-554 / MMT-754"), id="spaced-slash"),
        pytest.param(
            ("Johnson Controls", "C-CURE 9000"),
            ("Johnson Controls Inc.", "Software House C●CURE 9000"),
            id="bullet",
        ),
        pytest.param(
            ("Welch Allyn", "Spot Vital Signs 4400"),
            ("Hillrom", "Welch Allyn Spot Vital Signs 4400 Device"),
            id="generic-word",
        ),
    ],
)
def test_inventory_and_advisory_names_meet(inventory: tuple[str, str], advisory: tuple[str, str]) -> None:
    mine = {k.key for k in product_keys(inventory[1], inventory[0])}
    theirs = {k.key for k in product_keys(advisory[1], advisory[0])}
    assert mine & theirs


@pytest.mark.parametrize(
    ("vendor", "group", "known"),
    [
        pytest.param("Philips Medical Systems Nederland B.V.", "philips", True, id="division-and-country"),
        pytest.param("Johnson & Johnson Diabetes Care", "johnson and johnson", True, id="division"),
        pytest.param("Honeywell Building Technologies", "honeywell", True, id="business-unit"),
        pytest.param("Schneider Electric Systems USA, Inc.", "schneider electric", True, id="region-suffix"),
        pytest.param("Abbott Diabetes Care", "abbott", True, id="abbott-division"),
        pytest.param("GE Healthcare Japan", "ge healthcare", True, id="short-name-then-region"),
        pytest.param("GE Digital", "ge digital", False, id="short-name-another-company"),
        pytest.param("GE Vernova", "ge vernova", False, id="short-name-spin-off"),
        pytest.param("Acme Medical Inc.", "acme medical", False, id="unknown-stays-whole"),
    ],
)
def test_vendor_written_with_a_division_or_region_after_its_name(
    vendor: str, group: str, known: bool
) -> None:
    """A known vendor followed by a division, a business unit or a region resolves to that vendor, so an asset
    registered under the plain name meets it; a two- or three-letter name (GE, BD, HP) only before
    descriptor words, since "GE Digital" and "GE Vernova" are other companies than GE HealthCare."""
    found = canonical_vendor(vendor)
    assert (found.group, found.known) == (group, known)
    if known:
        assert canonical_vendor(found.brand).group == group  # the plain name meets it
