"""Product keys: the comparable forms of one product name, with the version or family it carries as a hint.

Advisories name products as people write them: a version or family inside the name ("Image Vault 3.x medical
imaging software", "Siveillance Identity V1.5", "Niagara 4.4u2"), several models in one name ("Metasys
ADS/ADX/OAS Servers", "Cerberus PRO UL Compact Panel FC922/924", "NAE85 and NIE85", models in brackets
"(NIE55/NIE59)"), model families with wildcards ("IPC-HDBW2XXX", "EFD-22xx", "AP7xxxx"), series words,
plurals, qualifiers ("CK75 running Android OS", "..., not including LOGIQ 100 Pro") and the brand repeated in
front ("Welch Allyn Connex Spot Monitor"). ``product_keys`` returns every key such a name stands for; the SAME
function runs on inventory names, so both sides meet on equal keys. Keys never contain the vendor: the index
files them per vendor group.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

from ewarn.names.text import fold, repair_text, to_ascii
from ewarn.names.vendors import canonical_vendor, generation, group_names, vendor_key

EXACT = "exact key"
VERSION_IN_NAME = "version in the name"
MODEL_IN_LIST = "model in a list"
FAMILY_PATTERN = "family pattern"
QUALIFIED = "name before a qualifier"


class ProductKey(NamedTuple):
    """One key a product name stands for."""

    key: str  # folded words, vendor stripped: "image vault"
    version_hint: str | None = None  # the version or family the name carried: "3.x"
    pattern: str | None = None  # a regular expression over asset keys, for model families with wildcards
    how: str = EXACT  # exact key / version in the name / model in a list / family pattern / ...


_UNKNOWN = frozenset({"", "n/a", "na", "unknown", "-", "*", "none"})
# Words that say what kind of thing it is, never which one.
_GENERIC = frozenset(
    {
        "software", "firmware", "series", "family", "families", "product", "products", "system", "systems",
        "model", "models", "version", "versions", "all", "the", "device", "devices", "application", "line",
    }
)  # fmt: skip
_KEEP_S = ("ss", "us", "is", "ys", "os", "as")
_BRACKET = re.compile(r"\(([^()]*)\)|\[([^\[\]]*)\]")
_EXCLUDING = re.compile(r",?\s+(?:not including|excluding|except)\b.*$")
_QUALIFIER = re.compile(r"\s(?:with|running|using|for|including|incl|on|based on)\s")
_NON_NAME = re.compile(r"[^a-z0-9 /.+\-]+")
_ABBREVIATION = re.compile(r"[A-Z]{2,6}")
_VERSION = re.compile(
    r"(?<![\w.\-])"
    r"(?:"
    r"(?:v|version\s*|release\s*)?\d+(?:\.(?:\d+|x))+(?:u\d+)?(?:/\d+(?:\.\d+)+)*"  # 3.x, 4.4u2, V1.5, 2.0/2.5
    r"|(?:v|version\s+)\d+(?:\s+r\d+)?"  # V2022 R2, version 14, v1
    r"|(?:19|20)\d\d\s+r\d+"  # 2016 R1
    r")"
    r"(?:\s+sp\d+)?"
    r"(?:\s+(?:and|or)\s+(?:prior|earlier|below|older|lower|later|newer|above|higher))?"
    r"(?![\w.])"
)
_WILDCARD = re.compile(r"x{2,}")
_JOIN = re.compile(r"(?<=[a-z])-(?=\d)")  # KT-1 and KT1, EFD-2250 and EFD2250 are the same model
_MODELISH = re.compile(r"\d")


def product_keys(product: str | None, vendor: str | None = None) -> list[ProductKey]:
    """Every key ``product`` stands for (exact first), the vendor's names stripped from its front."""
    if product is None or product.strip().lower() in _UNKNOWN:
        return []
    group = canonical_vendor(vendor).group if vendor else ""
    own = vendor_key(vendor) if vendor else ""
    return list(_keys(product, group, own, generation()))


@functools.lru_cache(maxsize=65536)
def _keys(product: str, group: str, own: str, generation: int) -> tuple[ProductKey, ...]:
    out: dict[str, ProductKey] = {}
    raw = to_ascii(repair_text(product))
    brackets = [m.group(1) or m.group(2) or "" for m in _BRACKET.finditer(raw)]
    main = _light(_BRACKET.sub(" ", raw))
    main = _EXCLUDING.sub("", main)
    strip = _brand_stripper(group, own)
    for part in re.split(r"\s+/\s+", main):
        _name_keys(strip(part.strip(" ,;:-")), out)
    for inner in brackets:
        for model in _listed(inner):
            words = strip(_light(model)).split()
            if not words or len(words) > 4 or words[0] in ("incl", "including", "only", "with", "and"):
                continue
            if _MODELISH.search(model) or (len(words) == 1 and _ABBREVIATION.fullmatch(model)):
                _add(out, " ".join(words), None, MODEL_IN_LIST)
    if not out:  # the name was only the brand, or only generic words: keep it whole
        whole = fold(raw)
        if whole:
            out[whole] = ProductKey(whole)
    return tuple(out.values())


def _listed(inner: str) -> list[str]:
    """The models listed inside brackets: ``NIE55/NIE59``, ``M8001A/2A/3A``, ``Q5``."""
    out: list[str] = []
    for chunk in (c.strip() for c in re.split(r"[,;]", inner)):
        if "/" in chunk and " " not in chunk:
            out += _alternatives(chunk.lower())
        else:
            out += [p.strip() for p in chunk.split("/")]
    return [m for m in out if m]


def _light(text: str) -> str:
    """Lower-case ASCII keeping the punctuation that carries meaning here: / . - +."""
    lowered = text.lower().replace("&", " and ").replace("\u25cf", "-")
    return " ".join(_NON_NAME.sub(" ", lowered).split())


@functools.lru_cache(maxsize=4096)
def _stripper_pattern(group: str, own: str, generation: int) -> re.Pattern[str] | None:
    names = set(group_names(group)) if group else set()
    if own:
        names.add(own)
    words = [n.split() for n in sorted(names, key=len, reverse=True) if n]
    if not words:
        return None
    alternatives = "|".join(r"[\s.\-]*".join(re.escape(w) for w in name) for name in words)
    return re.compile(rf"^(?:{alternatives})(?:\s+|-(?=\S))")


def _brand_stripper(group: str, own: str) -> _Stripper:
    return _Stripper(_stripper_pattern(group, own, generation()))


class _Stripper:
    def __init__(self, pattern: re.Pattern[str] | None) -> None:
        self.pattern = pattern

    def __call__(self, text: str) -> str:
        if self.pattern is None:
            return text
        while (m := self.pattern.match(text)) and m.end() < len(text):
            text = text[m.end() :]
        return text


def _hint(found: list[str]) -> str | None:
    hints: list[str] = []
    for text in found:
        text = re.sub(r"^(?:v|version\s*|release\s*)(?=\d)", "", text.strip())
        bound = re.search(r"\s+(?:and|or)\s+(\w+)$", text)
        if bound:
            text = text[: bound.start()]
            word = bound.group(1)
            text = f"<= {text}" if word in ("prior", "earlier", "below", "older", "lower") else f">= {text}"
        hints.append(" | ".join(text.split("/")))
    return " | ".join(hints) if hints else None


def _name_keys(text: str, out: dict[str, ProductKey]) -> None:
    versions = list(_VERSION.finditer(text))
    hint = _hint([m.group(0) for m in versions])
    without = " ".join(_VERSION.sub(" ", text).split())
    _variants(without, hint, EXACT if hint is None else VERSION_IN_NAME, out)
    if versions and versions[0].start() > 0:
        head = text[: versions[0].start()].strip()
        if head and head != without:
            _variants(head, hint, VERSION_IN_NAME, out)
        major = re.match(r"(?:v|version\s*|release\s*)?(\d+)", versions[0].group(0))
        if major and head:  # "Niagara 4.4u2" also names the product line an inventory writes: "Niagara 4"
            _add(out, f"{head} {major.group(1)}", hint, VERSION_IN_NAME)
    qualified = _QUALIFIER.split(f" {without} ", maxsplit=1)
    if len(qualified) == 2 and qualified[0].strip():
        _variants(qualified[0].strip(), hint, QUALIFIED, out)


def _variants(text: str, hint: str | None, how: str, out: dict[str, ProductKey]) -> None:
    """The name itself, its models listed with / or 'and', and a wildcard family pattern for each."""
    names = [(text, how)]
    words = text.split()
    for i, word in enumerate(words):
        if "/" in word.strip("/"):
            for alt in _alternatives(word):
                names.append((" ".join([*words[:i], alt, *words[i + 1 :]]), MODEL_IN_LIST))
                names.append((alt, MODEL_IN_LIST))
            break
    if " and " in f" {text} ":
        left, _, right = text.partition(" and ")
        head = left.split()[:-1]
        names += [(alt, MODEL_IN_LIST) for alt in (left, right, " ".join([*head, right]))]
    for name, kind in names:
        _add(out, name, hint, kind, models_only=kind == MODEL_IN_LIST)
        if " and " not in f" {name} " and any(_is_family(w) for w in name.split()):
            pattern = _family_pattern(name)
            key = _finish(name)
            if pattern is not None and key:
                out.setdefault(f"{key}\x00pattern", ProductKey(key, hint, pattern, FAMILY_PATTERN))


def _is_family(word: str) -> bool:
    return _WILDCARD.search(word) is not None and (_MODELISH.search(word) is not None or len(word) >= 5)


def _alternatives(word: str) -> list[str]:
    """``fc922/924`` → fc922, fc924; ``ads/adx/oas`` → ads, adx, oas; ``512/712`` → 512, 712."""
    parts = [p for p in word.split("/") if p]
    first = parts[0]
    out = [first]
    for part in parts[1:]:
        if len(part) < len(first) and part[0].isdigit() and first[-len(part)].isdigit():
            out.append(first[: -len(part)] + part)  # FC922/924, M8001A/2A: the shared start is written once
        else:
            out.append(part)
    return out


def _family_pattern(text: str) -> str | None:
    """A regular expression over asset keys for a name holding a wildcard family: efd-22xx → efd ?22[0-9]{2}.

    It starts at the word holding the wildcard: the words before it name a line or the brand ("G-Code
    EFD-22xx", "Dahua IPC-HDBW2XXX") that inventories leave out; the words after it stay ("ATV6xx DTM")."""
    words = text.replace("/", " ").split()
    first = next((i for i, w in enumerate(words) if _is_family(w)), 0)
    tokens = fold(_JOIN.sub("", " ".join(words[first:]))).split()
    tokens = [t for t in tokens if t not in _GENERIC]
    if not tokens:
        return None
    parts: list[str] = []
    for token in tokens:
        run = _WILDCARD.search(token)
        if run is None:
            parts.append(re.escape(_singular(token)))
            continue
        before, after = token[: run.start()], token[run.end() :]
        any_char = "[0-9]" if before[-1:].isdigit() else "[0-9a-z]"
        parts.append(
            f"{re.escape(before)}{any_char}{{{run.end() - run.start()}}}{re.escape(after)}(?:[a-z][a-z0-9]*)?"
        )
    return r"(?:^| )" + " ?".join(parts) + r"(?= |$)"


def _singular(word: str) -> str:
    if len(word) >= 4 and word.isalpha() and word.endswith("s") and not word.endswith(_KEEP_S):
        return word[:-1]
    return word


def _finish(text: str) -> str:
    words = [_singular(w) for w in fold(_JOIN.sub("", text)).split() if w not in _GENERIC]
    return " ".join(words)


def _add(
    out: dict[str, ProductKey], text: str, hint: str | None, how: str, *, models_only: bool = False
) -> None:
    key = _finish(text)
    if not key or key in out:
        return
    if models_only and (key.isdigit() or not (_MODELISH.search(key) or len(key.split()) >= 2)):
        return  # a lone word or number split off a list ("controllers", "icd", "712") is too vague alone
    if len(key) < 2 or (key.isdigit() and len(key) < 3):
        return
    out[key] = ProductKey(key, hint, None, how)


def matches_pattern(pattern: str, asset_key: str) -> bool:
    """Whether an asset's product key lies in the family ``pattern`` describes."""
    return _compiled(pattern).search(asset_key) is not None


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_FAMILY = re.compile(r"^(\d+(?:\.\d+)*)(\.x)?(?![\d.])")


@functools.lru_cache(maxsize=4096)
def hint_families(hint: str | None) -> tuple[str, ...]:
    """The version lines a product name's hint pins (``4.4u2`` → 4.4, ``3.x`` → 3, ``2.0 | 2.5`` → 2.0, 2.5);
    empty when it pins none (a bound, a year release, a bare major number)."""
    if not hint:
        return ()
    out: list[str] = []
    for part in hint.split("|"):
        match = _FAMILY.match(part.strip())
        if match is None or (match.group(2) is None and "." not in match.group(1)):
            return ()  # one part that pins no line: the name does not restrict the versions
        out.append(match.group(1))
    return tuple(out)


def in_families(version: str | None, families: tuple[str, ...]) -> bool:
    """Whether ``version`` lies in one of the lines (an unknown version might: the verdict decides)."""
    if not families or not version:
        return True
    text = version.strip().lower().removeprefix("v")
    return any(text == f or (text.startswith(f) and not text[len(f)].isdigit()) for f in families)


def bag(key: str) -> str:
    """The key's words in sorted order: ``monitor patient intellivue`` meets ``intellivue patient monitor``."""
    return " ".join(sorted(key.split()))
