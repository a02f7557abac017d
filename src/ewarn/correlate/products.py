"""Vendor and product names, CPE 2.3 and package URLs turned into comparable keys.

Advisories and inventories name the same product differently: ``Phillips`` for Philips, ``Becton, Dickinson
and Company`` for BD, mojibake such as ``Alarisâ„¢``, the vendor repeated inside the product name
(``BD Alaris™ Systems Manager``), abbreviations in brackets (``Connex Spot Monitor (CSM)``). Every name goes
through the same normalisation on both sides, so matching is a dictionary lookup.
"""

from __future__ import annotations

import contextlib
import functools
import re
import unicodedata
from typing import NamedTuple
from urllib.parse import unquote

import ftfy
from packageurl import PackageURL

# Signs of UTF-8 read as cp1252 that ftfy leaves alone (it keeps ``â„¢`` as it is, measured on ftfy 6.3).
_MOJIBAKE = re.compile("[ÂÃâ][\u0080-\u00bf\u0152-\u2122]")
_MARKS = re.compile(r"[™®©℠]|\((?:tm|r|c)\)", re.IGNORECASE)
_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_DROP = re.compile("['.`\u2019]")
_SEPARATORS = re.compile(r"[^0-9a-z]+")

_CORPORATE_SUFFIXES = frozenset(
    {
        "inc", "incorporated", "ltd", "limited", "llc", "gmbh", "ag", "co", "corp", "corporation", "company",
        "plc", "sa", "nv", "bv", "kg", "kgaa", "se", "spa", "srl", "oy", "ab", "as", "pty", "sas", "kk", "ev",
    }
)  # fmt: skip

# canonical vendor -> other names it is published under (already normalised: lower case, no punctuation).
_VENDOR_ALIASES: dict[str, tuple[str, ...]] = {
    "philips": ("phillips", "koninklijke philips", "philips healthcare", "philips medical systems"),
    "bd": ("becton dickinson", "becton dickinson and", "carefusion", "bd carefusion"),
    "ge healthcare": ("ge", "general electric", "ge medical systems", "ge healthcare technologies"),
    "siemens": ("siemens healthineers", "siemens healthcare", "siemens medical solutions"),
    "hillrom": ("hill rom", "welch allyn", "hillrom welch allyn"),
    "b braun": ("b braun medical", "b braun melsungen", "bbraun"),
    "baxter": ("baxter international", "baxter healthcare"),
    "medtronic": ("medtronic minimed",),
    "apache": ("apache software foundation", "the apache software foundation"),
    "progress": ("progress software", "ipswitch"),
    "spacelabs": ("spacelabs healthcare", "spacelabs medical"),
    "drager": ("draeger", "dragerwerk", "draegerwerk"),
    "fresenius": ("fresenius kabi", "fresenius medical care"),
    "smiths medical": ("smiths group",),
    "icu medical": ("icumedical",),
    "microsoft": ("microsoft corporation",),
    "connectwise": ("connect wise",),
}
_CANONICAL_VENDOR = {alias: canonical for canonical, aliases in _VENDOR_ALIASES.items() for alias in aliases}


def repair_text(text: str) -> str:
    """Undo mojibake (UTF-8 decoded as cp1252/latin-1) and drop trademark signs."""
    if text.isascii():  # nothing to repair; ftfy costs ~10 µs even then
        return _MARKS.sub("", text)
    fixed = ftfy.fix_text(text, uncurl_quotes=False)
    if _MOJIBAKE.search(fixed):
        # when it is not a cp1252 round trip after all, keep what ftfy made of it
        with contextlib.suppress(UnicodeError):
            fixed = fixed.encode("cp1252").decode("utf-8")
    return _MARKS.sub("", fixed)


def _fold(text: str) -> str:
    """Lower-case ASCII words: accents folded (Dräger → drager), punctuation to spaces."""
    decomposed = unicodedata.normalize("NFKD", repair_text(text))
    ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    ascii_text = ascii_text.replace("&", " and ")
    return " ".join(_SEPARATORS.sub(" ", _DROP.sub("", ascii_text)).split())


@functools.lru_cache(maxsize=65536)
def normalise_vendor(name: str) -> str:
    """``Becton, Dickinson and Company`` → ``bd``; ``Phillips`` → ``philips``."""
    words = _fold(name).split()
    while len(words) > 1 and (words[-1] in _CORPORATE_SUFFIXES or words[-1] == "and"):
        words.pop()
    folded = " ".join(words)
    return _CANONICAL_VENDOR.get(folded, folded)


@functools.lru_cache(maxsize=16384)
def _vendor_prefixes(vendor_key: str) -> tuple[str, ...]:
    names = (vendor_key, *_VENDOR_ALIASES.get(vendor_key, ()))
    return tuple(sorted({f"{n} " for n in names if n}, key=len, reverse=True))


@functools.lru_cache(maxsize=65536)
def normalise_product(product: str, vendor_key: str = "") -> str:
    """``BD Alaris™ Systems Manager`` (vendor bd) → ``alaris systems manager``; brackets and marks dropped."""
    folded = _fold(_BRACKETS.sub(" ", repair_text(product)))
    stripped = folded
    changed = True
    while changed:
        changed = False
        for prefix in _vendor_prefixes(vendor_key):
            if stripped.startswith(prefix) and len(stripped) > len(prefix):
                stripped = stripped[len(prefix) :]
                changed = True
    return stripped or folded


def _is_unknown(value: str | None) -> bool:
    return value is None or value.strip().lower() in {"", "n/a", "na", "unknown", "-", "*"}


@functools.lru_cache(maxsize=65536)
def name_key(vendor: str | None, product: str | None) -> str | None:
    """The vendor+product key, or None when either is missing (a product alone is too ambiguous)."""
    if vendor is None or product is None or _is_unknown(vendor) or _is_unknown(product):
        return None
    vendor_key = normalise_vendor(vendor)
    product_key = normalise_product(product, vendor_key)
    if not vendor_key or not product_key:
        return None
    return f"{vendor_key}|{product_key}"


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
