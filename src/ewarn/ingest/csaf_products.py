"""A CSAF product tree read into products, each with the version expression it was given and how it was read.

Every ``product_version`` / ``product_version_range`` goes through the one version reader
(``ewarn.ingest.versions.read_expression``): structured ranges or an explicit ``unreadable`` range keeping the
text — never free text stored as an exact version. Two classes of text are read beyond the expression itself:

- a model or product name written in the version field (``DH-IPC-HDW1XXX,``, ``MMT-554 / MMT-754 MiniMed
  Veo``, ``exacqVision Network Video Recorders (NVR)``) is folded into the product name as a model variant,
  all versions of that model;
- a version written inside the product name (``Image Vault 3.x medical imaging software``) becomes the range
  when the tree gives none (``ewarn.names.product_keys`` finds it).

Each reading is kept as an ``Expression`` so ``ewarn advisories check`` can print what was understood.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from ewarn.ingest import normalise
from ewarn.ingest.versions import looks_like_version, read_expression
from ewarn.models.indicator import RangeKind, VersionRange
from ewarn.names import product_keys

_MAX_DEPTH = 32
_NUMERIC = re.compile(r"^\d+(?:\.\d+)*$")
_MAJOR_AND_BELOW = re.compile(r"^<=\s*(\d+)$")  # a name's "V6 and below"
_VERSION_CATEGORIES = ("product_version", "product_version_range")
# kinds that show a text is a version expression even when it does not look like one version
_EXPRESSION_KINDS = frozenset({RangeKind.ALL, RangeKind.DATE, RangeKind.INTERVAL, RangeKind.WILDCARD})


@dataclass(frozen=True)
class Expression:
    """One product/version expression of a tree, and the verdict of the reader on it."""

    product_id: str
    vendor: str | None
    product: str | None
    text: str | None  # the version text as the advisory wrote it; None when the tree gives no version
    verdict: str  # exact, range, all versions, wildcard, date, list, unreadable, model-in-version, …
    ranges: tuple[VersionRange, ...]
    note: str | None = None


@dataclass
class Product:
    """A product of the tree: vendor and name as written, the versions read, identification helpers."""

    vendor: str | None = None
    name: str | None = None
    versions: list[VersionRange] = field(default_factory=list)
    cpe: str | None = None
    purl: str | None = None
    model: str | None = None  # a model the advisory wrote in the version field
    text: str | None = None  # the raw version text
    verdict: str = "no version given"
    note: str | None = None
    full_name: str | None = None  # the tree's full product name ("Connex Spot Monitor v1.52"), as written


def verdict_of(ranges: list[VersionRange]) -> str:
    """One word for what the reader made of an expression (the check report's verdict)."""
    if not ranges:
        return "no version given"
    kinds = [vr.kind for vr in ranges]
    if RangeKind.UNREADABLE in kinds:
        return "unreadable"
    words = list(dict.fromkeys(_KIND_WORD[k] for k in kinds))
    if len(ranges) == 1:
        return words[0]
    if words == ["exact"]:
        return "list"
    return "list of " + ", ".join(words)


_KIND_WORD = {
    RangeKind.EXACT: "exact",
    RangeKind.INTERVAL: "range",
    RangeKind.ALL: "all versions",
    RangeKind.WILDCARD: "wildcard",
    RangeKind.DATE: "date",
    RangeKind.UNREADABLE: "unreadable",
}


def _model_name(text: str) -> str:
    """``DHI-HCVR51A08HE-S3, and`` → ``DHI-HCVR51A08HE-S3``."""
    words = text.replace(",", " ").split()
    while words and words[-1].lower() in {"and", "or", "&"}:
        words.pop()
    return " ".join(words)


def read_version_node(product: Product, category: str, text: str) -> Product:
    """The product below a version node: its ranges, or the model variant the node names."""
    ranges = read_expression(text)
    kinds = {vr.kind for vr in ranges}
    if category == "product_version" and not looks_like_version(text) and not kinds & _EXPRESSION_KINDS:
        model = _model_name(text)
        name = product.name or ""
        if model.lower() in name.lower():
            folded = name
        elif name and name.lower() in model.lower():  # "exacqVision" + "exacqVision Network Video Recorders"
            folded = model
        else:
            folded = " ".join(p for p in (name, model) if p)
        return replace(
            product,
            name=folded or None,
            model=model or None,
            versions=[VersionRange(kind=RangeKind.ALL)],  # the text is the model, kept in ``text``
            text=text,
            verdict="model-in-version",
            note=f'the advisory names the model "{model}" in its version field: all versions of that model',
        )
    return replace(product, versions=ranges, text=text, verdict=verdict_of(ranges), note=None)


def _hint_from_name(product: Product) -> Product:
    """A version or family inside the product name becomes the range when the tree gives none (or only
    "all versions": ``Image Vault 3.x`` with ``vers:all/*`` is every version of the 3.x family)."""
    if not product.name or product.model is not None:  # a model named in the version field: all its versions
        return product
    if any(vr.kind is not RangeKind.ALL for vr in product.versions):
        return product
    hints = list(
        dict.fromkeys(k.version_hint for k in product_keys(product.name, product.vendor) if k.version_hint)
    )
    if not hints:
        return product
    ranges = [vr for hint in hints for vr in _hint_ranges(hint)]
    text = " | ".join(hints)
    return replace(
        product,
        versions=ranges,
        text=text,
        verdict=f"version in name: {verdict_of(ranges)}",
        note=f'version "{text}" read from the product name "{product.name}"',
    )


def _hint_ranges(hint: str) -> list[VersionRange]:
    if (found := _MAJOR_AND_BELOW.match(hint)) is not None:
        # "S7-400 PN/DP V6 and below CPU family": the V6 line is in (6.0.3), as the V7 family is 7.x
        hint = f"<= {found.group(1)}.x"
    ranges = read_expression(hint)
    if len(ranges) == 1 and ranges[0].kind is RangeKind.EXACT and _NUMERIC.match(hint):
        # "Xeleris 1.0" with all versions is the 1.0 line: 1.0 and its updates (1.0.3), not 1.1
        family = read_expression(f"{hint}.x")
        if all(vr.kind is RangeKind.WILDCARD for vr in family):
            return family
    return ranges


_PLACEHOLDER_WORDS = frozenset(
    {"version", "versions", "software", "firmware", "product", "products", "all", "system", "device", "n/a"}
)
_TITLE_NOISE = re.compile(
    r"\s*\(update\s+\w+\)|\s+(?:multiple\s+)?vulnerabilit(?:y|ies)\b.*$|\s+\(\s*\)", re.IGNORECASE
)


def _title_product(title: str | None) -> str | None:
    """``Philips Alice 6 Vulnerabilities (Update B)`` → ``Philips Alice 6`` (the vendor is stripped by the keys)."""
    text = _TITLE_NOISE.sub("", title or "").strip(" -:,")
    return text or None


def _named_from_title(product: Product, title: str | None) -> Product:
    """A product the tree names by a placeholder (``Version``) or a bare abbreviation (``AP``) is read as the
    product the document's title names (``Alice 6``, ``OnlineSuite AP``), with a note: matched by that name
    instead of a word no asset is called."""
    name = product.name or ""
    words = name.lower().split()
    placeholder = bool(words) and all(w in _PLACEHOLDER_WORDS for w in words)
    abbreviation = len(name) <= 2 and name.isalpha()
    heading = _title_product(title)
    if not (placeholder or abbreviation) or heading is None or heading.lower() == name.lower():
        return product
    fuller = heading if placeholder else f"{heading} {name}"
    note = f'the advisory names the product "{name}"; read as "{fuller}" from its title'
    return replace(
        product,
        name=fuller,
        model=product.model or (None if placeholder else heading),  # "OnlineSuite" alone is looked up too
        note="; ".join(n for n in (product.note, note) if n),
    )


def read_tree(tree: dict[str, Any], title: str | None = None) -> dict[str, Product]:
    """Every product id of the tree (branches, full product names, relationships) → its ``Product``.

    ``title`` (the document's) names the product where the tree gives only a placeholder (``Version``)."""
    found = _read_tree(tree)
    return {pid: _named_from_title(p, title) for pid, p in found.items()} if title else found


def _read_tree(tree: dict[str, Any]) -> dict[str, Product]:
    found: dict[str, Product] = {}

    def walk(branch: dict[str, Any], current: Product, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise ValueError("product tree nests deeper than 32 levels")
        category, name = branch.get("category"), branch.get("name")
        here = replace(current, versions=list(current.versions))
        if isinstance(name, str):
            if category == "vendor":
                here.vendor = normalise.product_name(name)
            elif category == "product_name" or (category == "product_family" and not here.name):
                here.name = normalise.product_name(name)
            elif category in _VERSION_CATEGORIES:
                here = read_version_node(here, category, name)
        product = branch.get("product")
        if isinstance(product, dict) and isinstance(product.get("product_id"), str):
            helper = product.get("product_identification_helper") or {}
            found[product["product_id"]] = _hint_from_name(
                replace(
                    here,
                    name=here.name or normalise.product_name(product.get("name")),
                    full_name=_text(product.get("name")),
                    cpe=helper.get("cpe") if isinstance(helper.get("cpe"), str) else None,
                    purl=helper.get("purl") if isinstance(helper.get("purl"), str) else None,
                )
            )
        for child in branch.get("branches") or []:
            if isinstance(child, dict):
                walk(child, here, depth + 1)

    walk(tree, Product(), 0)
    for full in tree.get("full_product_names") or []:
        if (
            isinstance(full, dict)
            and isinstance(full.get("product_id"), str)
            and full["product_id"] not in found
        ):
            found[full["product_id"]] = _hint_from_name(
                Product(name=normalise.product_name(full.get("name")), full_name=_text(full.get("name")))
            )
    for relation in tree.get("relationships") or []:
        full = relation.get("full_product_name") if isinstance(relation, dict) else None
        if isinstance(full, dict) and isinstance(full.get("product_id"), str):
            component = found.get(str(relation.get("product_reference")), Product())
            platform = found.get(str(relation.get("relates_to_product_reference")), Product())
            found[full["product_id"]] = replace(
                component,
                vendor=component.vendor or platform.vendor,
                name=normalise.product_name(full.get("name")) or component.name,
                versions=list(component.versions),
                full_name=_text(full.get("name")) or component.full_name,
            )
    return found


def _text(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def expressions(products: dict[str, Product]) -> list[Expression]:
    """The check report's view of the products read."""
    return [
        Expression(
            product_id=product_id,
            vendor=p.vendor,
            product=p.name,
            text=p.text,
            verdict=p.verdict,
            ranges=tuple(p.versions),
            note=p.note,
        )
        for product_id, p in products.items()
    ]
