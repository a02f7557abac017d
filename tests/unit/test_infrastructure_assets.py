"""Infrastructure equipment as an asset kind: validation, CSV and CycloneDX hardware BOMs, routing by category."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.support.receivers import sample_alert

from ewarn.correlate.index import PRODUCT_KINDS, AssetIndex
from ewarn.dispatch.email import alert_email
from ewarn.dispatch.router import route
from ewarn.inventory.importers import AssetRecord
from ewarn.inventory.importers.csvfile import parse_csv
from ewarn.inventory.importers.cyclonedx import parse_sbom
from ewarn.inventory.models import AssetIn, RowError
from ewarn.inventory.validate import AssetInvalid, asset_from_mapping, normalise_asset
from ewarn.models.alert import MatchDetail
from ewarn.models.asset import AssetKind, CareDependency, EquipmentCategory, NetworkExposure
from ewarn.models.common import TLP
from ewarn.models.subscription import Channel, Subscription, SubscriptionFilters

UPS = {
    "kind": "infrastructure",
    "name": "UPS ICU-1",
    "vendor": "Schneider Electric",
    "product": "APC Smart-UPS SMT1500",
    "version": "UPS 09.8",
    "category": "power",
    "care_dependency": "life_sustaining",
    "supports": "UPS feeding ICU",
    "serial": "AS1234567890",
    "location": "Building C, level -1",
    "network_exposure": "internal",
}


def problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(AssetInvalid) as caught:
        asset_from_mapping(data, provider_id="p")
    return {p.field: p.message for p in caught.value.problems}


# --- validation ----------------------------------------------------------------------------------------------


def test_equipment_keeps_every_field() -> None:
    asset = asset_from_mapping(UPS, provider_id="p")
    assert asset.kind is AssetKind.INFRASTRUCTURE
    assert (asset.category, asset.care_dependency) == (
        EquipmentCategory.POWER,
        CareDependency.LIFE_SUSTAINING,
    )
    assert (asset.supports, asset.serial, asset.version) == ("UPS feeding ICU", "AS1234567890", "UPS 09.8")
    assert (asset.location, asset.network_exposure) == ("Building C, level -1", NetworkExposure.INTERNAL)
    assert asset.kind in PRODUCT_KINDS


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param({"vendor": None}, {"vendor": "infrastructure equipment needs its maker"}, id="no-maker"),
        pytest.param(
            {"product": "  "}, {"product": "infrastructure equipment needs its model"}, id="blank-model"
        ),
        pytest.param(
            {"category": None}, {"category": "needs its category: building_automation"}, id="no-cat"
        ),
        pytest.param(
            {"category": "toaster"}, {"category": "Input should be 'building_automation'"}, id="bad-cat"
        ),
        pytest.param(
            {"care_dependency": None},
            {"care_dependency": "'supports' names care that relies on this equipment; say how much"},
            id="supports-without-dependency",
        ),
        pytest.param(
            {"care_dependency": "vital"},
            {"care_dependency": "Input should be 'life_sustaining'"},
            id="bad-care",
        ),
        pytest.param({"serial": "A\tB"}, {"serial": "control character"}, id="control-char-serial"),
        pytest.param({"serial": "S" * 65}, {"serial": "1-64 printable characters"}, id="long-serial"),
        pytest.param(
            {"value": "10.0.0.1"}, {"value": "not used for kind infrastructure"}, id="value-refused"
        ),
        pytest.param(
            {"clinical_criticality": "life_sustaining"},
            {"clinical_criticality": "not used for kind infrastructure"},
            id="clinical-role-is-for-devices",
        ),
        pytest.param(
            {"udi_di": "00643169007222"}, {"udi_di": "not used for kind infrastructure"}, id="udi-refused"
        ),
    ],
)
def test_equipment_problems_name_the_field(changes: dict[str, Any], expected: dict[str, str]) -> None:
    data = {k: v for k, v in {**UPS, **changes}.items() if v is not None}
    found = problems(data)
    assert set(found) == set(expected)
    for field, message in expected.items():
        assert message in found[field]


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        pytest.param("medical_device", "category", "power", id="device-no-category"),
        pytest.param("medical_device", "care_dependency", "treatment", id="device-no-care-dependency"),
        pytest.param("software", "serial", "X1", id="software-no-serial"),
        pytest.param("software", "supports", "ICU", id="software-no-supports"),
    ],
)
def test_equipment_fields_refused_for_other_kinds(kind: str, field: str, value: str) -> None:
    data = {"kind": kind, "vendor": "GE", "product": "CARESCAPE", field: value}
    assert problems(data) == {field: f"not used for kind {kind}"}


@pytest.mark.parametrize(
    ("written", "category"),
    [
        pytest.param("HVAC", EquipmentCategory.BUILDING_AUTOMATION, id="hvac"),
        pytest.param("UPS", EquipmentCategory.POWER, id="ups"),
        pytest.param("cctv", EquipmentCategory.VIDEO, id="cctv"),
        pytest.param("Intercom", EquipmentCategory.COMMUNICATION, id="intercom"),
        pytest.param("serial-gateway", EquipmentCategory.NETWORK_GATEWAY, id="serial-gateway"),
        pytest.param("pharmacy automation", EquipmentCategory.LAB_AUTOMATION, id="pharmacy"),
        pytest.param("fire_safety", EquipmentCategory.FIRE_SAFETY, id="canonical"),
    ],
)
def test_category_accepts_the_words_operators_use(written: str, category: EquipmentCategory) -> None:
    assert asset_from_mapping({**UPS, "category": written}, provider_id="p").category is category


def test_units_of_one_model_are_distinct_assets_and_a_firmware_upgrade_updates_one() -> None:
    first = asset_from_mapping(UPS, provider_id="p")
    upgraded = asset_from_mapping({**UPS, "version": "UPS 10.1"}, provider_id="p")
    second = asset_from_mapping({**UPS, "serial": "AS0000000002"}, provider_id="p")
    no_serial = {k: v for k, v in UPS.items() if k != "serial"}
    by_name = asset_from_mapping(no_serial, provider_id="p")
    other_name = asset_from_mapping({**no_serial, "name": "UPS ICU-2"}, provider_id="p")
    assert first.id == upgraded.id
    assert len({first.id, second.id, by_name.id, other_name.id}) == 4


def test_api_model_accepts_equipment() -> None:
    raw = AssetIn.model_validate({**UPS, "category": "UPS"})
    asset = normalise_asset(raw, provider_id="p")
    assert asset.category is EquipmentCategory.POWER
    assert asset.model_dump(mode="json")["care_dependency"] == "life_sustaining"


# --- CSV -----------------------------------------------------------------------------------------------------


def test_csv_equipment_rows() -> None:
    text = (
        "kind,name,vendor,product,version,category,care_dependency,supports,serial,location,network_exposure\n"
        "infrastructure,UPS ICU-1,Schneider Electric,Smart-UPS,UPS 09.8,UPS,Life-sustaining,"
        "UPS feeding ICU,AS123,Building C,Internal\n"
        "infrastructure,Lobby camera,Dahua,IPC-HDBW2431E,2.800.0000000.1.R,Video,none,,,Lobby,internal\n"
        "infrastructure,Bad,Siemens,,,fire alarm,,,,,\n"
    )
    parsed = parse_csv(text.encode())
    assert all(isinstance(p, AssetRecord) for p in parsed)
    ups_row, camera_row, bad = (p for p in parsed if isinstance(p, AssetRecord))
    ups = asset_from_mapping(ups_row.data, provider_id="p")
    camera = asset_from_mapping(camera_row.data, provider_id="p")
    assert (ups.category, ups.care_dependency, ups.serial) == (
        EquipmentCategory.POWER,
        CareDependency.LIFE_SUSTAINING,
        "AS123",
    )
    assert (camera.category, camera.care_dependency) == (EquipmentCategory.VIDEO, CareDependency.NONE)
    assert problems(bad.data) == {"product": "infrastructure equipment needs its model"}


# --- CycloneDX hardware BOM ----------------------------------------------------------------------------------


def hbom(*components: dict[str, Any]) -> bytes:
    return json.dumps(
        {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": list(components)}
    ).encode()


def props(**values: str) -> list[dict[str, str]]:
    return [{"name": f"ewarn:{k}", "value": v} for k, v in values.items()]


def test_hardware_bom_components_become_equipment() -> None:
    data = hbom(
        {
            "type": "device",
            "bom-ref": "ups-icu-1",
            "name": "Smart-UPS SMT1500",
            "manufacturer": {"name": "Schneider Electric"},
            "supplier": {"name": "Local Distributor GmbH"},
            "properties": [
                *props(category="UPS", care_dependency="Life-sustaining", supports="UPS feeding ICU"),
                {"name": "serialNumber", "value": "AS1234567890"},
            ],
            "components": [
                {"type": "firmware", "name": "NMC2 firmware", "version": "6.9.6"},
                {
                    "type": "library",
                    "name": "openssl",
                    "version": "1.0.2k",
                    "purl": "pkg:generic/openssl@1.0.2k",
                },
            ],
        },
        {"type": "hardware", "name": "IPC-HDBW2431E", "supplier": {"name": "Dahua"}, "version": "2.800"},
        {"type": "library", "name": "zlib", "version": "1.2.11"},
    )
    parsed = parse_sbom(data)
    assert not [p for p in parsed if isinstance(p, RowError)]
    by_row = {p.row: p.data for p in parsed if isinstance(p, AssetRecord)}
    assert set(by_row) == {"ups-icu-1", "components[0].components[1]", "components[1]", "components[2]"}
    assert by_row["ups-icu-1"] == {
        "kind": "infrastructure",
        "name": "Smart-UPS SMT1500 (AS1234567890)",
        "vendor": "Schneider Electric",
        "product": "Smart-UPS SMT1500",
        "version": "6.9.6",
        "bom_ref": "ups-icu-1",
        "serial": "AS1234567890",
        "category": "ups",
        "care_dependency": "life_sustaining",
        "supports": "UPS feeding ICU",
    }
    assert by_row["components[1]"]["category"] == "other"
    assert by_row["components[1]"]["vendor"] == "Dahua"
    assert by_row["components[2]"]["kind"] == "software"
    ups = asset_from_mapping(by_row["ups-icu-1"], provider_id="p")
    assert (ups.kind, ups.category, ups.version) == (
        AssetKind.INFRASTRUCTURE,
        EquipmentCategory.POWER,
        "6.9.6",
    )


def test_hardware_bom_bad_category_is_a_row_error_with_the_reason() -> None:
    data = hbom(
        {
            "type": "device",
            "name": "X",
            "manufacturer": {"name": "Y"},
            "properties": props(category="toaster"),
        }
    )
    [record] = parse_sbom(data)
    assert isinstance(record, AssetRecord)
    assert "category" in problems(record.data)


# --- index, alerts and routing -------------------------------------------------------------------------------


def test_index_keeps_the_category_and_care_of_equipment() -> None:
    asset = asset_from_mapping(UPS, provider_id="p")
    [ref] = AssetIndex.build([asset]).provider_assets("p")
    assert (ref.kind, ref.category, ref.care_dependency, ref.supports) == (
        AssetKind.INFRASTRUCTURE,
        EquipmentCategory.POWER,
        CareDependency.LIFE_SUSTAINING,
        "UPS feeding ICU",
    )


def subscription(categories: list[str]) -> Subscription:
    return Subscription(
        id="sub",
        provider_id="st-elsewhere",
        channel=Channel.WEBHOOK,
        target="https://soc.example/hook",
        filters=SubscriptionFilters.model_validate({"asset_categories": categories}),
    )


def equipment_alert(category: str | None) -> Any:
    return sample_alert(
        match=MatchDetail(
            asset_id="ast_ups",
            asset_name="UPS ICU-1",
            asset_kind="infrastructure" if category else "network",
            field="vendor+product",
            asset_value="Schneider Electric Smart-UPS",
            indicator_value="APC Smart-UPS",
            asset_category=category,
        )
    )


@pytest.mark.parametrize(
    ("categories", "category", "delivered", "reason"),
    [
        pytest.param([], "power", True, None, id="no-filter"),
        pytest.param(["power", "fire_safety"], "power", True, None, id="in-filter"),
        pytest.param(["UPS"], "power", True, None, id="filter-alias"),
        pytest.param(["video"], "power", False, "asset category power not in ['video']", id="other-category"),
        pytest.param(["video"], None, False, "asset category none not in ['video']", id="not-equipment"),
    ],
)
def test_subscription_filters_on_category(
    categories: list[str], category: str | None, delivered: bool, reason: str | None
) -> None:
    [decision] = route(equipment_alert(category), [subscription(categories)])
    assert (decision.deliver, decision.reason) == (delivered, reason)


def test_subscription_filter_refuses_unknown_category() -> None:
    with pytest.raises(ValueError, match="asset_categories"):
        subscription(["toaster"])


@pytest.mark.parametrize(
    ("category", "asset_line"),
    [
        pytest.param("power", "UPS ICU-1 (Schneider Electric Smart-UPS), power", id="equipment"),
        pytest.param(
            "network_gateway", "UPS ICU-1 (Schneider Electric Smart-UPS), network gateway", id="words"
        ),
        pytest.param(None, "UPS ICU-1 (Schneider Electric Smart-UPS)\n", id="no-category"),
    ],
)
def test_alert_email_names_the_category(category: str | None, asset_line: str) -> None:
    alert = equipment_alert(category).model_copy(update={"tlp": TLP.GREEN})
    msg = alert_email(
        alert=alert.model_dump(mode="json"),
        to="soc@h.example",
        sender="ewarn@csirt.example",
        language="en",
        message_id="msg_1",
    )
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert asset_line in text
