"""File parsers of the inventory importers: CSV, CycloneDX SBOM, CycloneDX VEX, CSAF VEX (no database)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ewarn.inventory.importers import AssetRecord, ImportRejected
from ewarn.inventory.importers.csaf_vex import iter_products, parse_csaf_vex
from ewarn.inventory.importers.csvfile import parse_csv
from ewarn.inventory.importers.cyclonedx import parse_sbom
from ewarn.inventory.importers.cyclonedx_vex import parse_cyclonedx_vex
from ewarn.inventory.models import RowError
from ewarn.inventory.vex import ComponentTarget, ProductTarget, VexStatement

HEADER = (
    "kind,name,value,vendor,product,version,cpe,purl,udi_di,"
    "clinical_criticality,network_exposure,location,owner,criticality,tags"
)


def records(parsed: list[Any]) -> list[AssetRecord]:
    return [p for p in parsed if isinstance(p, AssetRecord)]


def errors(parsed: list[Any]) -> list[RowError]:
    return [p for p in parsed if isinstance(p, RowError)]


def all_components(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        out.append(item)
        out.extend(all_components(item.get("components", [])))
    return out


# --- CSV -----------------------------------------------------------------------------------------------


def test_csv_all_documented_columns() -> None:
    text = (
        HEADER
        + "\nmedical_device,ICU pump 12,,BD,Alaris 8015,12.1,,,,"
        + "Life-sustaining,Internal,ICU 2,Biomed,CRITICAL,icu;pumps|ward-2\n"
    )
    [record] = records(parse_csv(text.encode()))
    assert record.row == 2
    assert record.data == {
        "kind": "medical_device",
        "name": "ICU pump 12",
        "vendor": "BD",
        "product": "Alaris 8015",
        "version": "12.1",
        "clinical_criticality": "life_sustaining",
        "network_exposure": "internal",
        "location": "ICU 2",
        "owner": "Biomed",
        "criticality": "critical",
        "tags": ["icu", "pumps", "ward-2"],
    }


def test_csv_rows_are_numbered_as_lines_skipping_blanks_and_comments() -> None:
    text = '\ufeffKind,Value\n# a comment\nnetwork,10.0.0.0/8\n\n"domain","klinikum.example"\n'
    parsed = records(parse_csv(text.encode()))
    assert [(r.row, r.data["value"]) for r in parsed] == [(3, "10.0.0.0/8"), (5, "klinikum.example")]


def test_csv_semicolon_export() -> None:
    text = 'kind;value;tags\nnetwork;10.0.0.0/8;"a;b"\n'
    [record] = records(parse_csv(text.encode()))
    assert record.data == {"kind": "network", "value": "10.0.0.0/8", "tags": ["a", "b"]}


def test_csv_row_with_too_many_cells_is_a_row_error() -> None:
    parsed = parse_csv(b"kind,value\nnetwork,10.0.0.0/8,extra\nnetwork,10.1.0.0/16\n")
    assert errors(parsed) == [RowError(row=2, reason="3 cells but 2 columns")]
    assert [r.row for r in records(parsed)] == [3]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"kind,valeu\n", "unknown CSV column", id="unknown-column"),
        pytest.param(b"name,value\n", "no 'kind' column", id="no-kind"),
        pytest.param(b"kind,value,value\n", "repeated", id="repeated-column"),
        pytest.param("kind,value\nnetwork,Zürich\n".encode("latin-1"), "not UTF-8", id="latin-1"),
    ],
)
def test_csv_refused_as_a_whole(data: bytes, message: str) -> None:
    with pytest.raises(ImportRejected, match=message):
        parse_csv(data)


# --- CycloneDX SBOM -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["SBOM__dropwizard-1.3.15__bom.json", "SBOM__laravel-7.12.0__bom.1.4.json", "VEX__bom.json"]
)
def test_sbom_one_record_per_component(shared_data: Path, name: str) -> None:
    path = shared_data / "cyclonedx" / name
    components = all_components(json.loads(path.read_text())["components"])
    parsed = parse_sbom(path.read_bytes())
    assert errors(parsed) == []
    got = {r.data.get("purl"): r.data for r in records(parsed)}
    assert len(records(parsed)) == len(components)
    for component in components:
        data = got[component["purl"]]
        assert data["kind"] == "software"
        assert data["product"] == component["name"]
        assert data["version"] == component["version"]
        assert data["bom_ref"] == component["bom-ref"]


def test_sbom_jackson_databind_vendor_and_version(shared_data: Path) -> None:
    path = shared_data / "cyclonedx" / "SBOM__dropwizard-1.3.15__bom.json"
    [component] = [c for c in json.loads(path.read_text())["components"] if c["name"] == "jackson-databind"]
    [record] = [r for r in records(parse_sbom(path.read_bytes())) if r.data["product"] == "jackson-databind"]
    assert record.data["purl"] == component["purl"]
    assert record.data["version"] == component["version"]
    assert record.data["vendor"] == component["publisher"]
    assert record.row == component["bom-ref"]


def test_sbom_nested_components_supplier_and_nameless() -> None:
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "components": [
            {
                "type": "firmware",
                "bom-ref": "fw",
                "name": "pump-firmware",
                "version": "3.1",
                "supplier": {"name": "Example Medical"},
                "components": [
                    {
                        "type": "library",
                        "name": "openssl",
                        "version": "1.0.2k",
                        "cpe": "cpe:2.3:a:openssl:openssl:1.0.2k:*:*:*:*:*:*:*",
                    }
                ],
            },
            {"type": "library", "bom-ref": "nameless"},
        ],
    }
    parsed = parse_sbom(json.dumps(bom).encode())
    assert [(r.row, r.data.get("vendor"), r.data.get("cpe")) for r in records(parsed)] == [
        ("fw", "Example Medical", None),
        ("components[0].components[0]", None, "cpe:2.3:a:openssl:openssl:1.0.2k:*:*:*:*:*:*:*"),
    ]
    assert errors(parsed) == [RowError(row="nameless", reason="component has no name")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"{not json", "not a JSON", id="not-json"),
        pytest.param(b"[]", "not a JSON object", id="array"),
        pytest.param(b'{"bomFormat": "SPDX"}', "not a CycloneDX", id="not-cyclonedx"),
        pytest.param(b'{"bomFormat": "CycloneDX", "components": []}', "lists no components", id="empty"),
        pytest.param(
            b'{"bomFormat": "CycloneDX", "vulnerabilities": [{"id": "CVE-2021-44228"}]}',
            "use the cyclonedx-vex format",
            id="vex-given-as-sbom",
        ),
    ],
)
def test_sbom_refused_as_a_whole(data: bytes, message: str) -> None:
    with pytest.raises(ImportRejected, match=message):
        parse_sbom(data)


# --- CycloneDX VEX --------------------------------------------------------------------------------------


def test_cyclonedx_vex_real_file(shared_data: Path) -> None:
    path = shared_data / "cyclonedx" / "VEX__vex.json"
    doc = json.loads(path.read_text())
    expected = [
        (v["id"], a["ref"])
        for v in doc["vulnerabilities"]
        if v["analysis"]["state"] == "not_affected"
        for a in v["affects"]
    ]
    parsed = parse_cyclonedx_vex(path.read_bytes())
    statements = [p for p in parsed if isinstance(p, VexStatement)]
    assert [(s.cve, s.target.ref) for s in statements if isinstance(s.target, ComponentTarget)] == expected
    assert all(s.not_affected for s in statements)
    bom_ref = expected[0][1].split("#", 1)[1]
    assert bom_ref in statements[0].target.bom_refs  # type: ignore[attr-defined]


def _vex(*vulns: dict[str, Any], components: list[dict[str, Any]] | None = None) -> bytes:
    doc: dict[str, Any] = {"bomFormat": "CycloneDX", "specVersion": "1.5", "vulnerabilities": list(vulns)}
    if components is not None:
        doc["components"] = components
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("state", "not_affected"),
    [
        pytest.param("not_affected", True, id="not-affected"),
        pytest.param("false_positive", True, id="false-positive"),
        pytest.param("exploitable", False, id="exploitable-unmarks"),
        pytest.param("in_triage", False, id="in-triage-unmarks"),
        pytest.param("resolved", None, id="resolved-ignored"),
    ],
)
def test_cyclonedx_vex_states(state: str, not_affected: bool | None) -> None:
    vuln = {"id": "CVE-2021-44228", "analysis": {"state": state}, "affects": [{"ref": "lib"}]}
    parsed = parse_cyclonedx_vex(_vex(vuln))
    assert [p.not_affected for p in parsed if isinstance(p, VexStatement)] == (
        [] if not_affected is None else [not_affected]
    )


def test_cyclonedx_vex_cve_from_references_and_embedded_component() -> None:
    vuln = {
        "id": "GHSA-jfh8-c2jp-5v3q",
        "references": [{"id": "CVE-2021-44228"}, {"id": "CVE-2021-45046"}],
        "analysis": {"state": "not_affected"},
        "affects": [{"ref": "log4j"}],
    }
    component = {
        "bom-ref": "log4j",
        "name": "log4j-core",
        "purl": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1?type=jar",
    }
    parsed = parse_cyclonedx_vex(_vex(vuln, components=[component]))
    statements = [p for p in parsed if isinstance(p, VexStatement)]
    assert [s.cve for s in statements] == ["CVE-2021-44228", "CVE-2021-45046"]
    assert statements[0].target.purls == {"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("vuln", "reason"),
    [
        pytest.param(
            {"id": "GHSA-x", "analysis": {"state": "not_affected"}, "affects": [{"ref": "a"}]},
            "no CVE",
            id="no-cve",
        ),
        pytest.param({"id": "CVE-2021-44228", "affects": [{"ref": "a"}]}, "no analysis.state", id="no-state"),
        pytest.param(
            {"id": "CVE-2021-44228", "analysis": {"state": "not_affected"}}, "no affects", id="no-affects"
        ),
    ],
)
def test_cyclonedx_vex_row_errors(vuln: dict[str, Any], reason: str) -> None:
    [error] = parse_cyclonedx_vex(_vex(vuln))
    assert isinstance(error, RowError)
    assert reason in error.reason


# --- CSAF VEX -------------------------------------------------------------------------------------------

CSAF_VEX = "csaf/oasis-spec-examples/2022-evd-uc-07-001.json"


def test_csaf_product_tree_matches_product_names(shared_data: Path) -> None:
    """Every branch product's vendor, name and version (or range) spell its full product name."""
    doc = json.loads((shared_data / CSAF_VEX).read_text())
    names = {}

    def walk(branches: list[dict[str, Any]]) -> None:
        for b in branches:
            if "product" in b:
                names[b["product"]["product_id"]] = b["product"]["name"]
            walk(b.get("branches", []))

    walk(doc["product_tree"]["branches"])
    products = dict(iter_products(doc["product_tree"]))
    assert set(products) == set(names)
    for product_id, target in products.items():
        version = target.version or (target.version_range or "").removeprefix("vers:generic/")
        assert f"{target.vendor} {target.product} {version}" == names[product_id]


def test_csaf_statements_follow_product_status(shared_data: Path) -> None:
    doc = json.loads((shared_data / CSAF_VEX).read_text())
    [vuln] = doc["vulnerabilities"]
    status = vuln["product_status"]
    parsed = parse_csaf_vex((shared_data / CSAF_VEX).read_bytes())
    statements = [p for p in parsed if isinstance(p, VexStatement)]
    assert errors(parsed) == []
    assert {s.row.split()[1] for s in statements if s.not_affected} == set(status["known_not_affected"])
    assert {s.row.split()[1] for s in statements if not s.not_affected} == set(status["known_affected"])
    assert not set(status["fixed"]) & {s.row.split()[1] for s in statements}
    assert {s.cve for s in statements} == {vuln["cve"]}
    assert not any(s.must_match for s in statements)


def test_csaf_helper_ids_and_relationship_products() -> None:
    doc = {
        "document": {"csaf_version": "2.0", "category": "csaf_vex"},
        "product_tree": {
            "full_product_names": [
                {
                    "product_id": "P1",
                    "name": "x",
                    "product_identification_helper": {
                        "purl": "pkg:npm/x@1",
                        "cpe": "CPE:2.3:a:x:x:1:*:*:*:*:*:*:*",
                    },
                }
            ],
            "relationships": [
                {
                    "category": "installed_on",
                    "product_reference": "P1",
                    "relates_to_product_reference": "P9",
                    "full_product_name": {"product_id": "P1-on-P9", "name": "x on y"},
                }
            ],
        },
        "vulnerabilities": [
            {"cve": "CVE-2024-0001", "product_status": {"known_not_affected": ["P1", "P1-on-P9", "P404"]}},
            {"product_status": {"known_not_affected": ["P1"]}},
        ],
    }
    parsed = parse_csaf_vex(json.dumps(doc).encode())
    [statement] = [p for p in parsed if isinstance(p, VexStatement)]
    assert statement.target == ProductTarget(cpe="cpe:2.3:a:x:x:1:*:*:*:*:*:*:*", purl="pkg:npm/x@1")
    assert [(e.row, e.reason) for e in errors(parsed)] == [
        ("CVE-2024-0001 P404", "product id not in product_tree"),
        ("vulnerabilities[1]", "names no valid CVE id (cve)"),
    ]


def test_csaf_refuses_other_json() -> None:
    with pytest.raises(ImportRejected, match="not a CSAF document"):
        parse_csaf_vex(b'{"bomFormat": "CycloneDX"}')
