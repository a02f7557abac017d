"""CSAF 2.0 VEX (and any CSAF document's product status): mark products ``known_not_affected``.

The product tree's branches give each product id its vendor, product name and version (or ``vers:`` range),
and ``product_identification_helper`` its CPE/PURL. ``known_not_affected`` marks the CVE on every matching
software asset and medical device; ``known_affected``, ``first_affected``, ``last_affected`` and
``under_investigation`` take a mark back. Products that only exist through ``relationships`` (X installed on
Y) are not matched: a statement about X-on-Y says nothing about X elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ewarn.inventory import fields
from ewarn.inventory.importers import ImportRejected, load_json_object, text_or_none
from ewarn.inventory.models import RowError
from ewarn.inventory.vex import ProductTarget, VexStatement

SUPPRESS = frozenset({"known_not_affected"})
UNSUPPRESS = frozenset({"known_affected", "first_affected", "last_affected", "under_investigation"})


def parse_csaf_vex(data: bytes) -> list[VexStatement | RowError]:
    doc = load_json_object(data, what="CSAF document")
    document = doc.get("document")
    if not isinstance(document, dict) or not text_or_none(document.get("csaf_version")):
        raise ImportRejected("not a CSAF document (document.csaf_version is missing)")
    tree = doc.get("product_tree")
    products = dict(iter_products(tree)) if isinstance(tree, dict) else {}
    installed_on = relationship_product_ids(tree) if isinstance(tree, dict) else set()
    out: list[VexStatement | RowError] = []
    for i, vuln in enumerate(doc.get("vulnerabilities") or []):
        if not isinstance(vuln, dict):
            continue
        status = vuln.get("product_status")
        if not isinstance(status, dict):
            continue
        raw_cve = text_or_none(vuln.get("cve"))
        try:
            cve = fields.cve(raw_cve or "")
        except ValueError:
            out.append(RowError(row=raw_cve or f"vulnerabilities[{i}]", reason="names no valid CVE id (cve)"))
            continue
        # CSAF forbids one product under contradicting statuses; a fixed order keeps the outcome stable.
        for category in (*sorted(UNSUPPRESS), *sorted(SUPPRESS)):
            for product_id in status.get(category) or []:
                target = products.get(product_id)
                if target is None and product_id in installed_on:
                    continue
                if target is None:
                    out.append(RowError(row=f"{cve} {product_id}", reason="product id not in product_tree"))
                    continue
                out.append(
                    VexStatement(
                        row=f"{cve} {product_id}",
                        cve=cve,
                        not_affected=category in SUPPRESS,
                        target=target,
                        must_match=False,
                    )
                )
    return out


def iter_products(tree: dict[str, Any]) -> Iterator[tuple[str, ProductTarget]]:
    """(product id, target) for every product in ``branches`` and ``full_product_names``."""

    def walk(branches: Any, context: dict[str, str]) -> Iterator[tuple[str, ProductTarget]]:
        for branch in branches if isinstance(branches, list) else []:
            if not isinstance(branch, dict):
                continue
            here = dict(context)
            category, name = text_or_none(branch.get("category")), text_or_none(branch.get("name"))
            if category and name:
                here[category] = name
            product = branch.get("product")
            if isinstance(product, dict) and (found := _product(product, here)) is not None:
                yield found
            yield from walk(branch.get("branches"), here)

    yield from walk(tree.get("branches"), {})
    for product in tree.get("full_product_names") or []:
        if isinstance(product, dict) and (found := _product(product, {})) is not None:
            yield found


def relationship_product_ids(tree: dict[str, Any]) -> set[str]:
    ids = set()
    for rel in tree.get("relationships") or []:
        name = rel.get("full_product_name") if isinstance(rel, dict) else None
        if isinstance(name, dict) and (product_id := text_or_none(name.get("product_id"))):
            ids.add(product_id)
    return ids


def _product(product: dict[str, Any], context: dict[str, str]) -> tuple[str, ProductTarget] | None:
    product_id = text_or_none(product.get("product_id"))
    if product_id is None:
        return None
    helper = product.get("product_identification_helper")
    helper = helper if isinstance(helper, dict) else {}
    cpe = text_or_none(helper.get("cpe"))
    return product_id, ProductTarget(
        cpe=cpe.lower() if cpe else None,
        purl=text_or_none(helper.get("purl")),
        vendor=context.get("vendor"),
        product=context.get("product_name"),
        version=context.get("product_version"),
        version_range=context.get("product_version_range"),
    )
