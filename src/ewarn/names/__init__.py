"""Names of vendors and products made comparable: canonical vendors through an alias table, product keys.

A low-level package (it imports nothing of ewarn but itself) used by ingest, correlate, the API and the store:
- ``canonical_vendor(name) -> VendorName(brand, group, known)``: the shipped alias table plus the operator's;
- ``product_keys(product, vendor) -> list[ProductKey(key, version_hint, pattern)]``;
- ``set_operator_aliases`` / ``generation`` to change the operator layer and notice changes.
"""

from ewarn.names.productkeys import (
    EXACT,
    FAMILY_PATTERN,
    MODEL_IN_LIST,
    QUALIFIED,
    VERSION_IN_NAME,
    ProductKey,
    bag,
    hint_families,
    in_families,
    matches_pattern,
    product_keys,
)
from ewarn.names.text import fold, repair_text
from ewarn.names.vendors import (
    AliasEntry,
    VendorName,
    active_table,
    brand_group,
    canonical_vendor,
    default_entries,
    generation,
    group_names,
    operator_entries,
    set_operator_aliases,
    vendor_key,
)

__all__ = [
    "EXACT",
    "FAMILY_PATTERN",
    "MODEL_IN_LIST",
    "QUALIFIED",
    "VERSION_IN_NAME",
    "AliasEntry",
    "ProductKey",
    "VendorName",
    "active_table",
    "bag",
    "brand_group",
    "canonical_vendor",
    "default_entries",
    "fold",
    "generation",
    "group_names",
    "hint_families",
    "in_families",
    "matches_pattern",
    "operator_entries",
    "product_keys",
    "repair_text",
    "set_operator_aliases",
    "vendor_key",
]
