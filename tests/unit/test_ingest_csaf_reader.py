"""The CSAF reader on real CISA advisories: one indicator per advisory, every expression read, nothing silent.

Cases are real documents of ../shared/data/csaf (the medical corpus, the hospital-infrastructure ICS corpus
and the original eight), one per class of text the issue names.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ewarn.correlate.engine import explain, match
from ewarn.correlate.index import AssetIndex
from ewarn.correlate.versions import Decision, decide
from ewarn.ingest.csaf import UNREADABLE_COUNT, UNSTATED_COUNT, parse_csaf, read_advisory
from ewarn.ingest.records import FeedContext
from ewarn.ingest.versions import looks_like_version
from ewarn.models import Asset, AssetKind
from ewarn.models.indicator import AffectedProduct, Indicator, ProductStatus, RangeKind

CORPORA = ("cisa-icsma-corpus", "cisa-icsa-hospital-infrastructure", "cisa-icsma")
CTX = FeedContext(feed_id="cisa-csaf", feed_kind="csaf")


def read(shared_data: Path, name: str) -> Indicator:
    folder = next(c for c in CORPORA if (shared_data / "csaf" / c / name).is_file())
    result = parse_csaf((shared_data / "csaf" / folder / name).read_bytes(), CTX)
    assert result.rejections == []
    (indicator,) = result.indicators
    return indicator


def entry(indicator: Indicator, product_id: str) -> AffectedProduct:
    assert indicator.vulnerability is not None
    (found,) = [p for p in indicator.vulnerability.affected if p.product_id == product_id]
    return found


@pytest.mark.parametrize(
    ("name", "product_id", "verdict", "status", "product", "model", "note"),
    [
        pytest.param(
            "icsma-17-215-01.json",
            "CSAFPID-0004",
            "all versions",
            ProductStatus.UNSTATED,
            "Siemens PET/CT Systems Windows XP-Based",
            None,
            None,
            id="listed-in-the-tree-without-status",
        ),
        pytest.param(
            "icsma-18-037-02.json",
            "CSAFPID-0021",
            "version in name: wildcard",
            ProductStatus.AFFECTED,
            "Image Vault 3.x medical imaging software",
            None,
            'version "3.x" read from the product name',
            id="all-versions-of-a-family-named-in-the-product-name",
        ),
        pytest.param(
            "icsma-18-219-02.json",
            "CSAFPID-0008",
            "model-in-version",
            ProductStatus.AFFECTED,
            "MMT-503 Remote Controller MMT-554 / MMT-754 MiniMed Veo",
            "MMT-554 / MMT-754 MiniMed Veo",
            'the advisory names the model "MMT-554 / MMT-754 MiniMed Veo" in its version field',
            id="pump-models-in-the-version-field",
        ),
        pytest.param(
            "icsa-17-124-02.json",
            "CSAFPID-0003",
            "model-in-version",
            ProductStatus.AFFECTED,
            "Digital Video Recorders and IP Cameras DH-IPC-HDW1XXX",
            "DH-IPC-HDW1XXX",
            "all versions of that model",
            id="camera-model-family-with-trailing-comma",
        ),
        pytest.param(
            "icsa-21-119-03.json",
            "CSAFPID-0006",
            "model-in-version",
            ProductStatus.AFFECTED,
            "exacqVision Network Video Recorders (NVR)",
            "exacqVision Network Video Recorders (NVR)",
            "all versions of that model",
            id="product-line-name-in-the-version-field",
        ),
        pytest.param(
            "icsa-21-301-01.json",
            "CSAFPID-0001",
            "range",
            ProductStatus.AFFECTED,
            "victor",
            None,
            'machine value says "<= 5.7" but its text says "prior to 5.7.1"',
            id="machine-value-contradicted-by-remediation-text",
        ),
        pytest.param(
            "icsa-21-063-02.json",
            "CSAFPID-0001",
            "range",
            ProductStatus.AFFECTED,
            "WebStation",
            None,
            'but its text says "prior to 3.2"',
            id="interval-upper-bound-contradicted-by-text",
        ),
        pytest.param(
            "icsma-21-313-01.json",
            "CSAFPID-0001",
            "wildcard",
            ProductStatus.AFFECTED,
            "MRI 1.5T",
            None,
            None,
            id="wildcard-family",
        ),
        pytest.param(
            "icsma-21-175-01.json",
            "CSAFPID-0001",
            "range",
            ProductStatus.AFFECTED,
            "Interoperability Solution XDS",
            None,
            None,
            id="greater-equal-then-less-equal-is-one-interval",
        ),
        pytest.param(
            "icsma-22-151-02.json",
            "CSAFPID-0001",
            "list",
            ProductStatus.AFFECTED,
            "BD Synapsys",
            None,
            None,
            id="list-of-versions",
        ),
        pytest.param(
            "icsma-18-107-01.json",
            "CSAFPID-0001",
            "date",
            ProductStatus.AFFECTED,
            "Fortify Assura",
            None,
            None,
            id="distribution-date",
        ),
    ],
)
def test_expression_classes(
    shared_data: Path,
    name: str,
    product_id: str,
    verdict: str,
    status: ProductStatus,
    product: str,
    model: str | None,
    note: str | None,
) -> None:
    found = entry(read(shared_data, name), product_id)
    (expression,) = [
        e
        for e in read_advisory(json.loads(_path(shared_data, name).read_bytes())).expressions
        if e.product_id == product_id
    ]
    assert expression.verdict == verdict
    assert (found.status, found.product, found.model) == (status, product, model)
    if note is None:
        assert found.note is None
    else:
        assert found.note is not None and note in found.note


def _path(shared_data: Path, name: str) -> Path:
    return next(
        shared_data / "csaf" / c / name for c in CORPORA if (shared_data / "csaf" / c / name).is_file()
    )


def test_contradicted_bound_keeps_both_readings_and_the_lower_bound(shared_data: Path) -> None:
    webstation = entry(read(shared_data, "icsa-21-063-02.json"), "CSAFPID-0001")
    assert [(v.gte, v.lte, v.lt) for v in webstation.versions] == [("2.0", "3.1", None), ("2.0", None, "3.2")]


def test_one_indicator_per_advisory_with_every_cve_and_its_own_score(shared_data: Path) -> None:
    dcmtk = read(shared_data, "icsma-22-174-01.json")
    assert (dcmtk.key, dcmtk.value, dcmtk.source.record) == (
        "vulnerability:ICSMA-22-174-01",
        "ICSMA-22-174-01",
        "ICSMA-22-174-01",
    )
    assert dcmtk.cves == ["CVE-2022-2119", "CVE-2022-2120", "CVE-2022-2121"]
    vuln = dcmtk.vulnerability
    assert vuln is not None
    scores = [(d.id, d.cvss_score) for d in vuln.cve_details]
    assert [s for _, s in scores] == sorted((s or 0 for _, s in scores), reverse=True)
    assert vuln.cvss_score == scores[0][1] == 7.5
    assert {c for p in vuln.affected for c in p.cves} == set(dcmtk.cves)
    braun = read(shared_data, "icsma-20-296-02.json").vulnerability
    assert braun is not None
    per_product = {p.product: p.cves for p in braun.affected}
    assert len(per_product["SpaceCom"]) > 1 and len(braun.affected) < len(braun.cves) * len(per_product)


def corpus_files(shared_data: Path) -> list[Path]:
    return [p for c in CORPORA for p in sorted((shared_data / "csaf" / c).glob("*.json"))]


def test_every_corpus_document_is_one_indicator_with_no_free_text_exact_and_no_silent_product(
    shared_data: Path,
) -> None:
    files = corpus_files(shared_data)
    assert len(files) >= 124 + 263 + 8
    for path in files:
        result = parse_csaf(path.read_bytes(), CTX)
        assert result.rejections == [], path.name
        (indicator,) = result.indicators
        assert indicator.vulnerability is not None
        products = {p.product_id for p in indicator.vulnerability.affected}
        tree_ids = {e.product_id for e in read_advisory(json.loads(path.read_bytes())).expressions}
        assert tree_ids <= products, (
            path.name
        )  # every product of the tree is listed, with a status or unstated
        for product in indicator.vulnerability.affected:
            for vr in product.versions:
                assert vr.kind is not RangeKind.EXACT or looks_like_version(vr.exact or ""), (path.name, vr)
        unreadable = sum(
            1
            for e in read_advisory(json.loads(path.read_bytes())).expressions
            if e.verdict.endswith("unreadable")
        )
        assert result.counts.get(UNREADABLE_COUNT, 0) == unreadable, path.name


def test_feed_health_counts_products_listed_without_status(shared_data: Path) -> None:
    result = parse_csaf(_path(shared_data, "icsma-17-215-01.json").read_bytes(), CTX)
    assert result.counts[UNSTATED_COUNT] == 3  # SPECT/CT, SPECT systems, PET/CT: listed, in no product status
    assert result.counts[UNREADABLE_COUNT] == 0


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        pytest.param(
            "5.7.0.5",
            "Sensormatic victor version 5.7.0.5 on your software 'Access control' is within the affected range "
            '< 5.7.1 of ICSA-21-301-01 (CVE-2019-19492). Note: the advisory\'s machine value says "<= 5.7" but '
            'its text says "prior to 5.7.1": both readings are kept, so neither can miss. A fix is available.',
            id="between-the-machine-bound-and-the-text-bound-alerts-and-says-why",
        ),
        pytest.param("5.7.1", None, id="the-version-the-text-names-as-fixed-stays-silent"),
    ],
)
def test_the_wider_reading_alerts_and_the_explanation_says_so(
    shared_data: Path, version: str, reason: str | None
) -> None:
    victor = Asset(
        id="victor",
        provider_id="h",
        kind=AssetKind.SOFTWARE,
        name="Access control",
        vendor="Sensormatic",
        product="victor",
        version=version,
    )
    found = match(read(shared_data, "icsa-21-301-01.json"), AssetIndex.build([victor]))
    assert [explain(read(shared_data, "icsa-21-301-01.json"), m) for m in found] == (
        [reason] if reason else []
    )


@pytest.mark.parametrize(
    ("document", "product_id", "tree_name", "vendor", "asset_product", "version", "matched"),
    [
        # the tree names the product "Version"; the title names Alice 6
        pytest.param(
            "icsma-18-086-01.json",
            "CSAFPID-0001",
            "Version",
            "Philips",
            "Alice 6",
            "R8.0.2",
            True,
            id="alice",
        ),
        pytest.param(
            "icsma-18-086-01.json",
            "CSAFPID-0001",
            "Version",
            "Philips",
            "Alice 6",
            "R8.0.4",
            False,
            id="fixed",
        ),
        # the tree names the product "AP" (OnlineSuite's application package); the title names OnlineSuite
        pytest.param(
            "icsma-20-296-01.json", "CSAFPID-0001", "AP", "B. Braun", "OnlineSuite", "3.0", True, id="suite"
        ),
        pytest.param(
            "icsma-20-296-01.json", "CSAFPID-0001", "AP", "B. Braun", "OnlineSuite AP", "2.1", True, id="ap"
        ),
    ],
)
def test_placeholder_product_names_are_read_from_the_title(
    shared_data: Path,
    document: str,
    product_id: str,
    tree_name: str,
    vendor: str,
    asset_product: str,
    version: str,
    matched: bool,
) -> None:
    """A product the tree names only by a placeholder word or a bare abbreviation is matched under the name
    the document's title gives, and the note says so: no asset is called "Version"."""
    indicator = read(shared_data, document)
    found = entry(indicator, product_id)
    assert found.note is not None and f'names the product "{tree_name}"' in found.note
    device = Asset(
        id="d", provider_id="p", kind=AssetKind.MEDICAL_DEVICE, name="bedside", vendor=vendor,
        product=asset_product, version=version,
    )  # fmt: skip
    hits = match(indicator, AssetIndex.build([device]))
    assert [m.asset.id for m in hits] == (["d"] if matched else [])


def test_product_names_that_are_real_names_are_kept(shared_data: Path) -> None:
    """Two-character model names with a digit (IntelliVue X2) and ordinary names are never replaced."""
    for name in ("icsma-21-152-01.json", "icsma-20-296-02.json", "icsma-19-255-01.json"):
        indicator = read(shared_data, name)
        assert indicator.vulnerability is not None
        assert not any(p.note and "from its title" in p.note for p in indicator.vulnerability.affected), name


@pytest.mark.parametrize(
    ("product_id", "version", "decision"),
    [
        pytest.param("CSAFPID-00037", "6.0.3", Decision.AFFECTED, id="v6-line"),
        pytest.param("CSAFPID-00037", "5.1", Decision.AFFECTED, id="below-v6"),
        pytest.param("CSAFPID-00037", "7.0.1", Decision.NOT_AFFECTED, id="v7-not-in-v6-and-below"),
        pytest.param("CSAFPID-00038", "7.0.1", Decision.AFFECTED, id="v7-family"),
        pytest.param("CSAFPID-00038", "6.0.3", Decision.NOT_AFFECTED, id="v6-not-in-v7-family"),
    ],
)
def test_major_and_below_in_a_product_name_covers_that_major_line(
    shared_data: Path, product_id: str, version: str, decision: Decision
) -> None:
    """ICSA-19-099-06 names "SIMATIC S7-400 PN/DP V6 and below CPU family" with all versions: firmware 6.0.3
    of a V6 CPU is in, as the "V7 CPU family" next to it is every 7.x (read as "<= 6" it was outside)."""
    found = entry(read(shared_data, "icsa-19-099-06.json"), product_id)
    assert decide(found.versions, version)[0] is decision
