"""Vendor and product names, CPE 2.3 and package URLs turned into comparable keys.

Advisories and inventories name the same product differently: ``Phillips`` for Philips, ``Becton, Dickinson
and Company`` for BD, mojibake such as ``Alarisâ„¢``, the vendor repeated inside the product name
(``Welch Allyn Connex Spot Monitor``), abbreviations in brackets (``Connex Spot Monitor (CSM)``). Names are
read by ``ewarn.names`` (the alias table and the product keys); this module keeps the key formats the index and
the engine use, CPE/PURL parsing, and the vendor/product a CPE or PURL implies.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple
from urllib.parse import unquote

from packageurl import PackageURL

from ewarn import names
from ewarn.names import repair_text

__all__ = [
    "Cpe",
    "Purl",
    "cpe_key",
    "cpe_name_key",
    "name_key",
    "name_keys",
    "normalise_product",
    "normalise_vendor",
    "parse_cpe",
    "parse_purl",
    "purl_names",
    "repair_text",
]


def normalise_vendor(name: str) -> str:
    """The matching group of a vendor: ``Becton, Dickinson and Company`` → ``bd``; ``Welch Allyn`` → ``baxter``."""
    return names.canonical_vendor(name).group


def normalise_product(product: str, vendor: str = "") -> str:
    """The first (exact) product key: ``BD Alaris™ Systems Manager`` (vendor BD) → ``alaris manager``."""
    keys = names.product_keys(product, vendor or None)
    return keys[0].key if keys else ""


def _is_unknown(value: str | None) -> bool:
    return value is None or value.strip().lower() in {"", "n/a", "na", "unknown", "-", "*"}


def name_key(vendor: str | None, product: str | None) -> str | None:
    """The vendor+product key ``group|product``, or None when either is missing (a product alone is ambiguous)."""
    return _name_key(vendor, product, names.generation())


@functools.lru_cache(maxsize=65536)
def _name_key(vendor: str | None, product: str | None, generation: int) -> str | None:
    if vendor is None or product is None or _is_unknown(vendor) or _is_unknown(product):
        return None
    group = names.canonical_vendor(vendor).group
    keys = names.product_keys(product, vendor)
    if not group or not keys:
        return None
    return f"{group}|{keys[0].key}"


def name_keys(vendor: str | None, product: str | None) -> tuple[tuple[str, names.ProductKey], ...]:
    """Every (group, product key) the pair stands for, patterns included; empty when either is missing."""
    return _name_keys(vendor, product, names.generation())


@functools.lru_cache(maxsize=65536)
def _name_keys(
    vendor: str | None, product: str | None, generation: int
) -> tuple[tuple[str, names.ProductKey], ...]:
    if vendor is None or product is None or _is_unknown(vendor) or _is_unknown(product):
        return ()
    vendor_name = names.canonical_vendor(vendor)
    if not vendor_name.group:
        return ()
    keys = names.product_keys(product, vendor)
    pairs = [(group, key) for group in (vendor_name.group, *vendor_name.others) for key in keys]
    led = _brand_led(product, (vendor_name.group, *vendor_name.others))
    if led is not None:  # "Pelco VideoXpert" published by another owner: also under the brand's own group
        group, brand = led
        pairs += [(group, key) for key in names.product_keys(product, brand)]
    return tuple(pairs)


def _brand_led(product: str, groups: tuple[str, ...]) -> tuple[str, str] | None:
    """(group, brand) of a brand of ANOTHER group leading the product name (``Liebert SiteScan Web``
    published by Automated Logic: Vertiv), when that brand is stripped from product names; None otherwise."""
    words = names.fold(product).split()
    for size in (3, 2, 1):
        if len(words) > size:
            prefix = " ".join(words[:size])
            group = names.brand_group(prefix)
            if group is not None and group not in groups and prefix in names.group_names(group):
                return group, prefix
    return None


class Cpe(NamedTuple):
    part: str
    vendor: str
    product: str
    version: str | None  # None for ANY (``*``) and NA (``-``)


_CPE_SPLIT = re.compile(r"(?<!\\):")


def _cpe_unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def parse_cpe(cpe: str) -> Cpe | None:
    """Parse a CPE 2.3 formatted string (or a 2.2 URI); None when it is not one."""
    text = cpe.strip()
    if text.lower().startswith("cpe:2.3:"):
        # versions make nearly every CPE unique, so no cache: a plain split when nothing is escaped
        fields = (_CPE_SPLIT.split(text) if "\\" in text else text.split(":"))[2:]
    elif text.lower().startswith("cpe:/"):
        fields = text[5:].split(":")
    else:
        return None
    if len(fields) < 3 or fields[1] in {"", "*", "-"} or fields[2] in {"", "*", "-"}:
        return None
    version = fields[3] if len(fields) > 3 and fields[3] not in {"", "*", "-"} else None
    return Cpe(
        part=fields[0].lower(),
        vendor=_cpe_unescape(fields[1]).lower(),
        product=_cpe_unescape(fields[2]).lower(),
        version=_cpe_unescape(version) if version else None,
    )


def cpe_key(cpe: Cpe) -> str:
    return f"{cpe.vendor}:{cpe.product}"


def cpe_name_key(cpe: Cpe) -> str | None:
    """The vendor+product key a CPE implies (``progress:moveit_transfer`` → ``progress|moveit transfer``)."""
    return name_key(cpe.vendor.replace("_", " "), cpe.product.replace("_", " "))


class Purl(NamedTuple):
    key: str  # type/namespace/name
    type: str
    version: str | None


# purl types whose names are case-insensitive per the purl specification
_CASE_INSENSITIVE_PURL = frozenset(
    {"bitbucket", "github", "pypi", "composer", "deb", "apk", "hex", "npm", "golang"}
)


def parse_purl(purl: str) -> Purl | None:
    """Parse a package URL into its versionless key; None when it is not one."""
    head = purl.strip().split("#", 1)[0].split("?", 1)[0]
    at = head.find("@", head.rfind("/"))
    if at < 0:
        return _parse_versionless_purl(head)
    parsed = _parse_versionless_purl(head[:at])
    return None if parsed is None else parsed._replace(version=unquote(head[at + 1 :]) or None)


@functools.lru_cache(maxsize=65536)
def _parse_versionless_purl(purl: str) -> Purl | None:
    # packageurl costs ~10 µs a parse; versions differ per asset, so the cache is keyed without them
    try:
        parsed = PackageURL.from_string(purl)
    except ValueError:
        return None
    namespace = parsed.namespace or ""
    name = parsed.name
    if parsed.type in _CASE_INSENSITIVE_PURL:
        namespace, name = namespace.lower(), name.lower()
    if parsed.type == "pypi":
        name = re.sub(r"[-_.]+", "-", name)
    return Purl(key=f"{parsed.type}/{namespace}/{name}", type=parsed.type, version=None)


# the first label of a reversed domain that is a top-level domain, not a vendor (org.apache → apache)
_TLDS = frozenset(
    {"org", "com", "net", "io", "de", "edu", "gov", "uk", "fr", "nl", "ch", "eu", "me", "dev", "co"}
)
# purl types whose namespace is a distribution or a repository host, not a vendor
_DISTRIBUTIONS = frozenset({"deb", "rpm", "apk", "alpm", "conda", "docker", "oci", "generic"})


@functools.lru_cache(maxsize=65536)
def purl_names(purl: str) -> tuple[str, str] | None:
    """The vendor and product a package URL implies (``pkg:maven/org.apache.logging.log4j/log4j-core`` →
    ``apache``, ``log4j core``), so an asset known only by its PURL meets advisories naming vendor and product."""
    head = purl.strip().split("#", 1)[0].split("?", 1)[0]
    at = head.find("@", head.rfind("/"))
    try:
        parsed = PackageURL.from_string(head if at < 0 else head[:at])
    except ValueError:
        return None
    namespace, name = (parsed.namespace or "").strip("/"), parsed.name
    vendor = name
    if namespace and parsed.type not in _DISTRIBUTIONS:
        if parsed.type == "maven" or (parsed.type not in ("npm", "golang") and "." in namespace):
            labels = [label for label in namespace.split(".") if label]
            if len(labels) > 1 and labels[0].lower() in _TLDS:
                labels = labels[1:]
            vendor = labels[0] if labels else name
        elif parsed.type == "golang":
            parts = namespace.split("/")
            vendor = parts[1] if len(parts) > 1 else parts[0]
        else:
            vendor = namespace.lstrip("@")
    product = re.sub(r"[-_.]+", " ", name).strip()
    vendor = re.sub(r"[-_]+", " ", vendor).strip()
    return (vendor, product) if vendor and product else None
