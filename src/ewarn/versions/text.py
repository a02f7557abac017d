"""What a piece of version text is: a version, a model code, a note to set aside.

A version may carry qualifier words (``1.1.3 Build 10``, ``< 3.03 BN 830``, ``<= 8.0 SP2 Patch 1``,
``2nd Edition``); any other word makes it prose (``882160 Gemini Dual``, ``Protiva Carestation View``), and a
model code written in a version field (``HEN643484``, ``DH-NVR1XXX``, ``MMT-1710``, ``H2W2PC1M``) is not a
version even though it holds digits.
"""

from __future__ import annotations

import re

from ewarn.versions.order import wildcard_family

# words that qualify a version rather than describe a product
QUALIFIERS = frozenset(
    {
        "build",
        "bn",
        "sp",
        "service",
        "pack",
        "patch",
        "hf",
        "hotfix",
        "update",
        "upd",
        "cu",
        "mr",
        "release",
        "rel",
        "rev",
        "revision",
        "edition",
        "ga",
        "sr",
        "gold",
        "alpha",
        "beta",
        "rc",
        "final",
        "plus",
        "lts",
        "esr",
    }
)
_VERSION_WORD = re.compile(r"^[0-9a-z](?:[\w.+~:-]*[0-9a-z])?$", re.IGNORECASE)
_X_PART = re.compile(r"(?:^|[._-])[xX*](?:$|[._-])|\*|\d[xX]+$")  # an x component anywhere: "5.x-2.4", "x-1"
_FORBIDDEN = re.compile(r"[<>=|()\[\]{};]")
_HYPHEN_CODE = re.compile(r"^[a-z]{2,}-", re.IGNORECASE)  # DH-…, MMT-…, DHI-…
_GROUPS = re.compile(r"[a-z]+|\d+", re.IGNORECASE)
_LETTERS_THEN_DIGITS = re.compile(r"^[a-z]{3,}\d{4,}", re.IGNORECASE)  # HEN04103, HEN643484
_MODEL_WORD = re.compile(r"\bmodels?\b|\bndc\b|\budi\b", re.IGNORECASE)
_LABEL = re.compile(
    r"^(?:versions?|firmware|software|release|rel|fw|sw)(?:\s+versions?)?\s*[:.]?\s+(?=\S)", re.IGNORECASE
)
_LEADING_WORD = re.compile(r"^[A-Z]{2,5}\s+(?=v?\d+[._]\d)")  # "NVR 5.6 Build 595", "LPI 3.5.12.P30"


def is_model_code(token: str) -> bool:
    """A model or part number (``HEN643484``, ``DH-NVR1XXX``, ``MMT-1710``, ``H2W2PC1M``), not a version."""
    word = token.strip().rstrip(",")
    if "." in word or "_" in word or not any(ch.isdigit() for ch in word):
        return False
    if _HYPHEN_CODE.match(word) or _LETTERS_THEN_DIGITS.match(word):
        return True
    return word[:1].isalpha() and len(_GROUPS.findall(word)) >= 4


def names_a_model(text: str) -> bool:
    """Does the text name a model (a model word or a model code) rather than only versions?"""
    return bool(_MODEL_WORD.search(text)) or any(is_model_code(w) for w in re.split(r"[\s|,/]+", text) if w)


def is_version_text(text: str) -> bool:
    """One version, qualifiers allowed: every word holds a digit, is a qualifier, or is a single letter."""
    words = text.split()
    if not words or _FORBIDDEN.search(text):
        return False
    if not any(ch.isdigit() for ch in text) and not (len(words) == 1 and len(words[0]) == 1):
        return False
    if not all(_VERSION_WORD.match(w) for w in words):
        return False  # punctuation a version does not hold, or at its ends ("-R16x", "8/30/2024through5.x")
    if any(wildcard_family(w) is not None or _X_PART.search(w) for w in words):
        return False  # a family is not one version
    return all(
        any(ch.isdigit() for ch in w) or w.lower().strip(".-") in QUALIFIERS or len(w.strip(".-")) == 1
        for w in words
    )


def without_label(text: str) -> str:
    """``Version v1.0`` → ``v1.0``; ``Firmware A.03.09`` → ``A.03.09``; ``NVR 5.6 Build 595`` → ``5.6 Build 595``."""
    return _LEADING_WORD.sub("", _LABEL.sub("", text.strip()))


def strip_notes(text: str) -> tuple[str, list[str]]:
    """Set parenthesised notes aside: ``1.3 (formerly Power Manager)`` → (``1.3``, [``formerly Power Manager``]).

    Nested groups go from the inside out; an unclosed ``(`` sets aside the rest of the text. A text that is
    one parenthesised group (``(Release 1.3.2 1.4.0)``) is unwrapped instead.
    """
    stripped = text.strip()
    if stripped.startswith("(") and stripped.endswith(")") and stripped.count("(") == 1:
        return stripped[1:-1].strip(), []
    notes: list[str] = []
    inner = re.compile(r"\(([^()]*)\)")
    while True:
        found = inner.search(stripped)
        if not found:
            break
        notes.append(found.group(1).strip())
        stripped = stripped[: found.start()] + " " + stripped[found.end() :]
    if "(" in stripped:
        head, _, tail = stripped.partition("(")
        notes.append(tail.strip())
        stripped = head
    return " ".join(stripped.split()), notes
