"""Applying VEX statements to assets: which assets are marked not affected, which are unmarked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ewarn.inventory.importers.csaf_vex import parse_csaf_vex
from ewarn.inventory.importers.cyclonedx_vex import component_target
from ewarn.inventory.validate import asset_from_mapping
from ewarn.inventory.vex import ProductTarget, VexStatement, apply_vex
from ewarn.models.asset import Asset

CVE = "CVE-2021-44228"


def software(**data: Any) -> Asset:
    return asset_from_mapping({"kind": "software", **data}, provider_id="p")


def device(**data: Any) -> Asset:
    return asset_from_mapping({"kind": "medical_device", "name": "unit 1", **data}, provider_id="p")


def statement(target: Any, *, not_affected: bool = True, must_match: bool = False) -> VexStatement:
    return VexStatement(row="r", cve=CVE, not_affected=not_affected, target=target, must_match=must_match)


ABC = {"vendor": "Example Company", "product": "ABC"}


@pytest.mark.parametrize(
    ("target", "asset", "marked"),
    [
        pytest.param(
            ProductTarget(**ABC, version="4.2"), software(**ABC, version="4.2"), True, id="exact-version"
        ),
        pytest.param(
            ProductTarget(**ABC, version="4.2"), software(**ABC, version="4.3"), False, id="other-version"
        ),
        pytest.param(ProductTarget(**ABC, version="4.2"), software(**ABC), False, id="asset-without-version"),
        pytest.param(
            ProductTarget(vendor="example  COMPANY", product="abc", version="4.2"),
            software(**ABC, version="4.2"),
            True,
            id="names-case-and-space",
        ),
        pytest.param(ProductTarget(**ABC), software(**ABC, version="9"), True, id="no-version-covers-all"),
        pytest.param(
            ProductTarget(**ABC, version_range="vers:generic/>=1.0|<=2.3"),
            software(**ABC, version="2.3"),
            True,
            id="range-upper-bound",
        ),
        pytest.param(
            ProductTarget(**ABC, version_range="vers:generic/>=1.0|<=2.3"),
            software(**ABC, version="2.4"),
            False,
            id="range-just-outside",
        ),
        pytest.param(
            ProductTarget(**ABC, version_range="<=2.3"),
            software(**ABC, version="2.0"),
            False,
            id="range-not-vers",
        ),
        pytest.param(
            ProductTarget(**ABC, version_range="vers:generic/>=1.0|<=2.3"),
            software(**ABC, version="not-a-version"),
            False,
            id="range-unparseable-version",
        ),
        pytest.param(
            ProductTarget(vendor="Other", product="ABC"), software(**ABC, version="1"), False, id="vendor"
        ),
        pytest.param(
            ProductTarget(cpe="cpe:2.3:a:x:y:1:*:*:*:*:*:*:*"),
            software(cpe="cpe:2.3:a:x:y:1:*:*:*:*:*:*:*"),
            True,
            id="cpe",
        ),
        pytest.param(
            ProductTarget(purl="pkg:npm/x@1?arch=x64"), software(purl="pkg:npm/x@1"), True, id="purl-core"
        ),
        pytest.param(
            ProductTarget(purl="pkg:npm/x@1"), software(purl="pkg:npm/x@2"), False, id="purl-version"
        ),
        pytest.param(
            ProductTarget(vendor="BD", product="Alaris 8015", version="12.1"),
            device(vendor="BD", product="Alaris 8015", version="12.1"),
            True,
            id="medical-device",
        ),
    ],
)
def test_product_target(target: ProductTarget, asset: Asset, marked: bool) -> None:
    result = apply_vex([asset], [statement(target)])
    assert [a.not_affected for a in result.changed] == ([[CVE]] if marked else [])


@pytest.mark.parametrize(
    ("ref", "asset"),
    [
        pytest.param(
            "asm89/stack-cors-1.3.0.0",
            software(purl="pkg:composer/asm89/stack-cors@1.3.0", bom_ref="asm89/stack-cors-1.3.0.0"),
            id="bom-ref",
        ),
        pytest.param(
            "urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#pkg:maven/a/b@1?type=jar",
            software(purl="pkg:maven/a/b@1"),
            id="bom-link-purl-core",
        ),
        pytest.param(
            "urn:cdx:f08a6ccd-4dce-4759-bd84-c626675d60a7/1#comp%231",
            software(purl="pkg:npm/x@1", bom_ref="comp#1"),
            id="bom-link-encoded",
        ),
    ],
)
def test_component_target(ref: str, asset: Asset) -> None:
    result = apply_vex([asset], [statement(component_target(ref, {}), must_match=True)])
    assert result.errors == []
    assert [a.id for a in result.changed] == [asset.id]


def test_unmatched_component_ref_is_an_error_but_product_line_is_not() -> None:
    asset = software(purl="pkg:npm/x@1")
    result = apply_vex(
        [asset],
        [
            statement(component_target("pkg:npm/y@1", {}), must_match=True),
            statement(ProductTarget(vendor="V", product="P")),
        ],
    )
    assert [(e.row, e.reason) for e in result.errors] == [("r", "no registered asset matches this ref")]
    assert result.changed == [] and result.unchanged == []


def test_unmark_and_unchanged_and_later_statement_wins() -> None:
    marked = software(purl="pkg:npm/x@1", not_affected=[CVE])
    plain = software(purl="pkg:npm/y@1")
    target_x, target_y = ProductTarget(purl="pkg:npm/x@1"), ProductTarget(purl="pkg:npm/y@1")
    result = apply_vex(
        [marked, plain],
        [
            statement(target_x, not_affected=False),  # exploitable after all
            statement(target_y),
            statement(target_y, not_affected=False),
            statement(target_y),  # the last word: not affected
        ],
    )
    assert {a.id: a.not_affected for a in result.changed} == {marked.id: [], plain.id: [CVE]}
    again = apply_vex(result.changed, [statement(target_y)])
    assert [a.id for a in again.unchanged] == [plain.id] and again.changed == []


def test_csaf_spec_example_marks_exactly_the_not_affected_versions(shared_data: Path) -> None:
    """2022-EVD-UC-07-001: ABC 4.2, 2.5, 1.0-2.3, 2.7-2.8 and JKL 1.0-4.4 are not affected; others are."""
    statements = [
        s
        for s in parse_csaf_vex(
            (shared_data / "csaf/oasis-spec-examples/2022-evd-uc-07-001.json").read_bytes()
        )
        if isinstance(s, VexStatement)
    ]
    versions = {
        ("ABC", "4.2"): True,
        ("ABC", "2.5"): True,
        ("ABC", "2.0"): True,
        ("ABC", "2.8"): True,
        ("ABC", "2.4"): False,  # known_affected
        ("ABC", "2.6"): False,
        ("ABC", "3.0"): False,  # inside the affected range 2.9-4.1
        ("JKL", "3.0"): True,
        ("JKL", "4.5"): False,
        ("JKL", "5.1"): False,  # fixed: not a VEX "not affected" statement
        ("XYZ", "1.0"): False,  # not in the document
    }
    assets = {key: software(vendor="Example Company", product=key[0], version=key[1]) for key in versions}
    result = apply_vex(list(assets.values()), statements)
    marked = {a.id for a in result.changed if CVE in a.not_affected}
    assert {key: assets[key].id in marked for key in versions} == versions
    assert result.errors == []
