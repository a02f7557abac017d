"""``ewarn advisories check``: every expression with its verdict, every vendor with its canonical vendor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ewarn.advisories.check import check, totals
from ewarn.cli import app

ORIGINAL = Path("csaf") / "cisa-icsma"


@pytest.mark.parametrize(
    ("name", "product", "text", "verdict"),
    [
        pytest.param(
            "icsma-20-296-02.json", "SpaceCom", "<= U61 |<= L81", "list of range", id="product-lines"
        ),
        pytest.param("icsma-18-037-02.json", "Optima 520", "vers:all/*", "all versions", id="all-versions"),
        pytest.param(
            "icsma-18-037-02.json",
            "Image Vault 3.x medical imaging software",
            "3.x",
            "version in name: wildcard",
            id="family-in-the-product-name",
        ),
        pytest.param("icsma-19-080-01.json", "MyCareLink Monitor", "24950 | 24952", "list", id="list"),
        pytest.param("icsma-22-174-01.json", "DCMTK", "< 3.6.7", "range", id="range"),
    ],
)
def test_each_expression_has_its_verdict(
    shared_data: Path, name: str, product: str, text: str, verdict: str
) -> None:
    (report,) = check([shared_data / ORIGINAL / name])
    found = {(e.product, e.text): e.verdict for e in report.expressions}
    assert found[(product, text)] == verdict


def test_totals_over_a_folder_and_not_csaf_files(shared_data: Path, tmp_path: Path) -> None:
    (tmp_path / "not-csaf.json").write_text('{"bomFormat": "CycloneDX"}')
    reports = check([shared_data / ORIGINAL, tmp_path])
    figures = totals(reports)
    assert (figures["documents"], figures["documents_not_read"]) == (9, 1)
    assert figures["expressions"] == sum(len(r.expressions) for r in reports)
    assert (
        figures["understood"] + figures["unreadable_alerted_as_possibly_affected"] == figures["expressions"]
    )
    assert figures["free_text_stored_as_exact"] == 0
    assert sum(figures["verdicts"].values()) == figures["expressions"]
    assert figures["vendor_strings"] == figures["vendors_resolved"] + len(figures["vendors_unresolved"])
    braun = next(r for r in reports if r.tracking_id == "ICSMA-20-296-02")
    assert {v.written for v in braun.vendors} == {"B. Braun Medical"}


def test_cli_prints_text_and_json(shared_data: Path) -> None:
    path = str(shared_data / ORIGINAL / "icsma-17-215-01.json")
    text = CliRunner().invoke(app, ["advisories", "check", path])
    assert text.exit_code == 0, text.output
    assert 'Siemens PET/CT Systems Windows XP-Based: "vers:all/*" -> all versions' in text.output
    assert 'vendor "Siemens" -> ' in text.output
    assert "documents: 1 (0 not read)" in text.output
    machine = CliRunner().invoke(app, ["advisories", "check", "--json", path])
    assert machine.exit_code == 0, machine.output
    body = json.loads(machine.output)
    (document,) = body["documents"]
    assert document["tracking_id"] == "ICSMA-17-215-01"
    assert [e["verdict"] for e in document["expressions"]] == ["all versions"] * 4
    assert body["totals"]["expressions"] == 4
