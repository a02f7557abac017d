"""Text repair and folding shared by vendor and product names: both sides of a match go through the same steps.

Advisories are written by people and converted by tools: mojibake (``GeutebrÃ¼ck``, ``Alarisâ„¢``), trademark
signs, accents (``Dräger``), trailing spaces and punctuation. ``fold`` turns a name into lower-case ASCII words
separated by single spaces, which is what every key is built from.
"""

from __future__ import annotations

import contextlib
import functools
import re
import unicodedata

import ftfy

# Signs of UTF-8 read as cp1252 that ftfy leaves alone (it keeps ``â„¢`` as it is, measured on ftfy 6.3).
_MOJIBAKE = re.compile("[ÂÃâ][\u0080-\u00bf\u0152-\u2122]")
_MARKS = re.compile(r"[™®©℠]|\((?:tm|r|c)\)", re.IGNORECASE)
_DROP = re.compile("['.`\u2019]")
_SEPARATORS = re.compile(r"[^0-9a-z]+")

# Words that say what kind of company it is, never which one (dropped from the end of a vendor name).
LEGAL_SUFFIXES = frozenset(
    {
        "inc", "incorporated", "ltd", "limited", "llc", "gmbh", "ag", "co", "corp", "corporation", "company",
        "plc", "sa", "nv", "bv", "kg", "kgaa", "se", "spa", "srl", "oy", "oyj", "ab", "as", "asa", "pty", "sas",
        "kk", "ev", "lp", "llp", "ulc", "pte", "bhd", "sarl", "gmbh co", "mbh", "ltda", "sro", "zoo",
    }
)  # fmt: skip


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


def to_ascii(text: str) -> str:
    """Repaired, accents folded (Dräger → Drager), case kept."""
    decomposed = unicodedata.normalize("NFKD", repair_text(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@functools.lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Lower-case ASCII words: accents folded, ``&`` read as ``and``, other punctuation to spaces."""
    ascii_text = to_ascii(text).lower().replace("&", " and ")
    return " ".join(_SEPARATORS.sub(" ", _DROP.sub("", ascii_text)).split())


def strip_legal_suffixes(words: list[str]) -> list[str]:
    """``dahua technology co ltd`` → ``dahua technology``; a name made only of suffixes is kept."""
    out = list(words)
    while len(out) > 1 and (out[-1] in LEGAL_SUFFIXES or out[-1] == "and"):
        out.pop()
    return out
