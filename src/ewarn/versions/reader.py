"""Product/version expressions as advisories write them → ``VersionRange`` values of a ``RangeKind``.

Reads CSAF ``product_version``/``product_version_range`` names, CISA free text and ``vers:`` strings. Every
range keeps the whole source text in ``raw``; text that cannot be read is an ``unreadable`` range, never an
``exact`` version made of words. How the classes of text are read:

- all versions: ``All versions``, ``all``, ``*``, ``vers:all/*``, ``All versions with OIS Extension Module``
  (a condition on the configuration, not the version); ``All versions < V12.2a`` is the bound alone.
- alternatives: ``|``, ``;``, ``,``, `` / `` and ``and`` separate parts; as in vers, a lower bound followed by
  an upper bound is one interval (``>= 2.5 | <= 3.11``, ``>= V2.3 and < V6.30.016``, ``>=V2.8<V3.1.1``); other
  parts stand alone (``24950 | 24952``, ``<= 1.12.0.27 | 1.12.13.2``). ``>= 1.0 | >= 2.4`` is two open
  intervals (their union, ``>= 1.0``, is what matters); ``!=`` in vers is not representable and is skipped.
- wildcard families: ``5.x.x``, ``14.1.x``, ``2.X``, ``R16x``; a wildcard bound (``<= 11.x``, ``>=R16x``)
  stands for its whole family.
- dates (``distributed < april 1, 2018``, ``shipped between 26-June-2017 through 07-August 2018``): see
  ``dates``.
- notes set aside: parenthesised text (``(formerly Power Manager)``, ``(Windows 11, …)``), except ``(14.x
  series)`` after an upper bound (the family is the lower bound) and ``(Build 683.003)`` after a bound (part
  of the version); a platform after a bound (``<=11.2 on Windows 8.1``); a product named before a bound
  (``Wonderware Intelligence <= 2014R3``); a label (``Version``, ``Firmware``, ``Part #: …``).
- model codes and product names in the version field (``HEN643484``, ``MMT-554 / MMT-754 MiniMed Veo``) are
  unreadable as versions; ``looks_like_version`` tells the CSAF reader to treat them as model text.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from ewarn.models.indicator import RangeKind, VersionRange
from ewarn.versions.dates import read_date_expression
from ewarn.versions.order import compare, wildcard_family
from ewarn.versions.text import is_model_code, is_version_text, names_a_model, strip_notes, without_label

Atom = dict[str, Any]  # VersionRange fields of one part, before lower and upper bounds pair up

_ALL_WORDS = frozenset({"*", "all", "any", "all versions", "any version", "n/a", "unspecified", "-"})
_ALL_PREFIX = re.compile(
    r"^(?:(?:all|any)(?:\s+[a-z]+){0,2}?\s+(?:versions?|releases?)\b|\*)\s*(?P<rest>.*)$", re.IGNORECASE
)
_ALL_OF_FAMILY = re.compile(r"^all\s+(?P<family>\S*\d\S*)(?:\s+(?:versions?|releases?))?$", re.IGNORECASE)
_ONLY_WILDCARDS = re.compile(r"^[xX*](?:[._-][xX*])*$")
_CONDITION = re.compile(r"^(?:with|running|on|of|including|for|in|except|using)\b", re.IGNORECASE)
_OPERATOR = re.compile(r"^(?P<op><=|=<|≤|>=|=>|≥|<|>|==?)\s*(?P<v>.+)$")
_OP_FIELD = {"<=": "lte", "=<": "lte", "≤": "lte", ">=": "gte", "=>": "gte", "≥": "gte", "<": "lt", ">": "gt"}
_LOWER, _UPPER = frozenset({"gte", "gt"}), frozenset({"lte", "lt"})
_EARLIER = r"(?:prior|earlier|older|below|lower|before|previous|lesser)"
_LATER = r"(?:later|newer|after|above|higher|subsequent|greater|more\s+recent|any\s+later)"
_ONWARD = rf"(?:(?:all\s+)?(?:{_EARLIER}|{_LATER}))"
# "6.1 (and earlier)": the words after a version set aside in brackets
_NOTE_BOUND = re.compile(
    rf"^(?:and|or)\s+(?:all\s+)?(?:(?P<lte>{_EARLIER})|(?P<gte>{_LATER}))(?:\s+versions?)?$", re.I
)
_SEPARATORS = re.compile(
    r"\s*[|;,]\s*|\s+/\s+|(?<=\d)/(?=[vV]?\d)|(?<!\bup to)\s+(?:and|&|or)\s+(?!"
    + _ONWARD
    + r"\b|including\b|up\b|beyond\b)|^(?:and|or)\s+|\s+(?:and|or)$",
    re.IGNORECASE,
)
_GLUED_OPERATOR = re.compile(r"(?<=[^\s<>=≤≥])(?=(?:<=|>=|<|>)\s*\S)")
# ">=2.0 <3.0": a lower then an upper bound with only a space between them
_SPACED_BOUNDS = re.compile(r"^(?P<lower>(?:>=|=>|≥|>)\s*[^\s<>=]+)\s+(?P<upper>(?:<=|=<|≤|<)\s*[^\s<>=]+)$")
_SPAN = re.compile(r"^(?P<lo>[^\s<>=]+)\s*(?P<op><=|<)\s*(?P<hi>[^\s<>=]+)$")
_PROSE = tuple(
    (re.compile(pattern, re.IGNORECASE), field)
    for pattern, field in (
        (
            rf"^(?:versions?\s+)?(?P<v>.+?)\s+(?:and|&|or)\s+(?:all\s+)?{_EARLIER}(?:\s+(?:versions?|releases?))?$",
            "lte",
        ),
        (
            rf"^(?:versions?\s+)?(?P<v>.+?)\s+(?:and|&|or)\s+(?:all\s+)?{_LATER}(?:\s+(?:versions?|releases?))?$",
            "gte",
        ),
        (r"^(?:greater|newer|later|higher)\s+than\s+(?:versions?\s+)?(?P<v>.+)$", "gt"),
        (r"^(?P<v>[^+]+?)\s*\+$", "gte"),  # "2.0+"
        (
            r"^(?:prior\s+to|before|earlier\s+than|older\s+than|below|lower\s+than|less\s+than)\s+"
            r"(?:versions?\s+)?(?P<v>.+)$",
            "lt",
        ),
        (r"^(?:up\s+to\s+and\s+including|through|up\s+to)\s+(?:versions?\s+)?(?P<v>.+)$", "lte"),
        (
            r"^(?:from|since|starting\s+(?:from|with|at)|beginning\s+(?:with|at))\s+(?:versions?\s+)?(?P<v>.+)$",
            "gte",
        ),
        (
            r"^(?:versions?\s+)?(?P<v>.+?)\s+(?:onwards?|and\s+up|upwards?|and\s+beyond)$",
            "gte",
        ),  # "6.1 onwards"
    )
)
_BETWEEN = re.compile(
    r"^(?:versions?\s+)?(?:from\s+)?(?P<lo>\S+(?:\s+\S+){0,2}?)\s+(?:to|through|thru|-|\u2013|\u2014)\s+"
    r"(?P<hi>\S+(?:\s+\S+){0,2})$",
    re.IGNORECASE,
)
# "1.2.3-1.2.9": two dotted versions joined by a hyphen are a span, not one version ("1-02-08" is one)
_DOTTED_SPAN = re.compile(r"^(?P<lo>[vV]?\d+(?:\.\d+)+)\s*[-\u2013\u2014]\s*(?P<hi>[vV]?\d+(?:\.\d+)+)$")
# "10.4.x before 10.4.5", "from 2.0 up to 2.4": a start and an end in words
_START_END = re.compile(
    r"^(?:from\s+)?(?P<lo>\S+)\s+(?P<word>up\s+to(?:\s+and\s+including)?|until|before|prior\s+to)\s+"
    r"(?:versions?\s+)?(?P<hi>\S+)$",
    re.IGNORECASE,
)
_LETTER_SPAN = re.compile(r"^(?:rev(?:ision)?\.?\s+)?(?P<lo>[A-WYZ])\s*-\s*(?P<hi>[A-WYZ])$", re.IGNORECASE)
_WORDS_BEFORE_BOUND = re.compile(r"^(?P<words>[^\d<>=|]+?)\s*(?P<bound>(?:<=|>=|<|>)\s*\S.*)$")
_PLATFORM_AFTER = re.compile(r"\s+(?:on|with|running|under|for|in)\s+\D.*$", re.IGNORECASE)
_DOTTED = re.compile(r"^v?\d+(?:\.\d+)+[a-z]?$", re.IGNORECASE)
_WORD = re.compile(r"^[A-Za-z][A-Za-z-]*$")
_MODEL_SUFFIX = re.compile(r"\s+models?\s+.*$", re.IGNORECASE)
_SPACED_LIST = re.compile(r"^(?:v?\d+(?:\.\w+)+)(?:\s+v?\d+(?:\.\w+)+)+$")
_SERIES = re.compile(r"^(?P<family>\S+?[._]?[xX*])\s+series$", re.IGNORECASE)
_BUILD = re.compile(r"^(?:gold\s+)?(?P<build>build\s+[\w.]+)$", re.IGNORECASE)
_CONJUNCTION = re.compile(r"^(?:and|or|&)\s+", re.IGNORECASE)
_NOTE_PART = re.compile(r"^(?:part\s*(?:#|no\b|number\b)|replaced\s+by)", re.IGNORECASE)


def _unreadable(raw: str) -> VersionRange:
    return VersionRange(kind=RangeKind.UNREADABLE, raw=raw)


def read_expression(text: str, *, scheme: str = "generic") -> list[VersionRange]:
    """Structured ranges for an advisory's version text, or one ``unreadable`` range keeping it.

    In a list, the parts that read become ranges and the parts that do not add one ``unreadable`` range
    (``7100 | 7900 | 100 | Protiva Carestation View``), so a comparison can still say "possibly affected".
    """
    return [vr.model_copy() for vr in _read(text, scheme)]  # the cache's own instances stay untouched


@functools.lru_cache(maxsize=16384)
def _read(raw: str, scheme: str) -> tuple[VersionRange, ...]:
    text = " ".join(raw.split()).rstrip(",").strip()
    text = re.sub(r"(?:,?\s+(?:and|or))+$", "", text, flags=re.IGNORECASE).strip()
    if not text:
        return (_unreadable(raw),)
    if text.lower().startswith("vers:"):
        return _read_vers(text, raw)
    dated = read_date_expression(text, raw=raw)
    if dated is not None:
        return tuple(dated)
    body, notes = strip_notes(text)
    atoms = _atoms(body, notes)
    if atoms is None:
        return (_unreadable(raw),)
    return _ranges(atoms, raw, scheme)


def _ranges(atoms: list[Atom], raw: str, scheme: str) -> tuple[VersionRange, ...]:
    out: list[VersionRange] = []
    unreadable = False
    i = 0
    while i < len(atoms):
        atom = atoms[i]
        if atom.get("kind") is RangeKind.UNREADABLE:
            unreadable = True
            i += 1
            continue
        following = atoms[i + 1] if i + 1 < len(atoms) else {}
        if _pairs(atom, following, scheme):
            atom = {**atom, **following}
            i += 1
        out.append(VersionRange(scheme=scheme, raw=raw, **atom))
        i += 1
    if unreadable:
        out.append(_unreadable(raw))
    return tuple(out) or (_unreadable(raw),)


def _pairs(atom: Atom, following: Atom, scheme: str) -> bool:
    """Do two adjacent bounds make one interval? A lower then an upper bound (as in vers) unless that interval
    would be empty; an upper then a lower bound (``< 2.3.8 and >= 2.0``) when the lower one is below the upper
    one. Otherwise they are two rays (``< 2.0 | >= 3.0``): never an empty range, which would miss silently."""
    if not atom or not following or len(atom) != 1 or len(following) != 1:
        return False
    first, second = next(iter(atom.values())), next(iter(following.values()))
    if set(atom) <= _LOWER and set(following) <= _UPPER:
        return compare(first, second, scheme) != 1  # ">= 3.0 | <= 2.0" would be empty: two rays instead
    if set(atom) <= _UPPER and set(following) <= _LOWER:
        return compare(second, first, scheme) == -1
    return False


def _atoms(body: str, notes: list[str]) -> list[Atom] | None:
    """The parts of an expression; None when the whole text is unreadable."""
    found = _ALL_OF_FAMILY.match(body)  # "All 8.x versions"
    if found and (wildcard_family(found.group("family")) or is_version_text(found.group("family"))):
        return [_one_version(found.group("family"))]
    everything = _ALL_PREFIX.match(body)
    if everything:
        rest = everything.group("rest").strip()
        if not rest or _CONDITION.match(rest) or rest.startswith((",", ";")):
            return [{"kind": RangeKind.ALL}]
        if rest.startswith("|"):
            tail = _atoms(rest.lstrip("|").strip(), notes) or []
            return [{"kind": RangeKind.ALL}, *tail]
        body = rest
    if body.lower() in _ALL_WORDS:
        return [{"kind": RangeKind.ALL}]
    parts = [p.strip() for p in _SEPARATORS.split(body) if p and p.strip()]
    parts = [q.strip() for p in parts for q in _GLUED_OPERATOR.split(p) if q.strip()]
    parts = [q for p in parts for q in _spaced_bounds(p)]
    if not parts:
        return None
    atoms: list[Atom] = []
    after_prose = False  # "9.0 Advanced Reports | Dashboards Module": the second part continues the note
    for part in parts:
        part = _CONJUNCTION.sub("", part)
        if not part or _NOTE_PART.match(part):
            continue
        if spaced := _SPACED_LIST.match(without_label(part)):  # "Release 1.3.2 1.4.0 1.4.1"
            atoms.extend(_one_version(v) for v in spaced.group(0).split())
            after_prose = False
            continue
        if part.lower().startswith("all ") and len(parts) > 1:  # "all microsoft windows operating systems"
            continue
        atom, prose = _atom(part)
        if atom.get("kind") is RangeKind.UNREADABLE and after_prose and not any(c.isdigit() for c in part):
            continue
        after_prose = prose
        atoms.append(atom)
    _apply_notes(atoms, notes)
    if atoms and all(a.get("kind") is RangeKind.UNREADABLE for a in atoms):
        return None
    return atoms


def _spaced_bounds(part: str) -> list[str]:
    """``>=2.0 <3.0`` → its two bounds; any other part as it is."""
    found = _SPACED_BOUNDS.match(part)
    return [found.group("lower"), found.group("upper")] if found else [part]


def _apply_notes(atoms: list[Atom], notes: list[str]) -> None:
    """``< 14.4u1 (14.x series)`` starts at the 14 family; ``<= 2.0 (Build 683.003)`` is that build;
    ``6.1 (and earlier)`` is ``<= 6.1``."""
    if len(atoms) == 1 and set(atoms[0]) == {"exact"}:
        for note in notes:
            if found := _NOTE_BOUND.match(note):
                atoms[0] = {("lte" if found.group("lte") else "gte"): atoms[0]["exact"]}
                return
    if len(atoms) != 1 or not (set(atoms[0]) & _UPPER):
        return
    for note in notes:
        if (series := _SERIES.match(note)) and "gte" not in atoms[0] and "gt" not in atoms[0]:
            atoms[0]["gte"] = series.group("family")
        elif (build := _BUILD.match(note)) and set(atoms[0]) <= _UPPER and len(atoms[0]) == 1:
            field = next(iter(atoms[0]))
            atoms[0][field] = f"{atoms[0][field]} {build.group('build')}"


def _atom(part: str) -> tuple[Atom, bool]:
    """One part: (its fields, whether prose after a version was set aside)."""
    part = without_label(part)
    if part.lower() in _ALL_WORDS or _ONLY_WILDCARDS.match(part):  # "x", "x.x.x": every version
        return {"kind": RangeKind.ALL}, False
    if found := _SPAN.match(part):
        lo, hi = _bound(found.group("lo")), _bound(found.group("hi"))
        if lo is not None and hi is not None:
            return {"gte": lo, _OP_FIELD[found.group("op")]: hi}, False
    if found := _WORDS_BEFORE_BOUND.match(part):  # "Wonderware Intelligence <= 2014R3", "distributed < 3.0"
        part = found.group("bound")
    if found := _OPERATOR.match(part):
        value = _bound(found.group("v"))
        field = _OP_FIELD.get(found.group("op"), "exact")
        if value is None:
            return {"kind": RangeKind.UNREADABLE}, False
        return (_one_version(value) if field == "exact" else {field: value}), False
    for pattern, field in _PROSE:
        if (found := pattern.match(part)) and (value := _bound(found.group("v"))) is not None:
            return {field: value}, False
    if found := _BETWEEN.match(part):
        lo, hi = _bound(found.group("lo")), _bound(found.group("hi"))
        if lo is not None and hi is not None:
            return {"gte": lo, "lte": hi}, False
    if found := _START_END.match(part):
        lo, hi = _bound(found.group("lo")), _bound(found.group("hi"))
        inclusive = found.group("word").lower().startswith("up")
        if lo is not None and hi is not None:
            return {"gte": lo, ("lte" if inclusive else "lt"): hi}, False
    if (found := _DOTTED_SPAN.match(part)) and compare(found.group("lo"), found.group("hi")) == -1:
        return {"gte": found.group("lo"), "lte": found.group("hi")}, False
    if found := _LETTER_SPAN.match(part):
        return {"gte": found.group("lo").upper(), "lte": found.group("hi").upper()}, False
    return _version_atom(part)


def _version_atom(part: str) -> tuple[Atom, bool]:
    """A part that names versions without an operator: one version, a family, or a spaced list."""
    text = without_label(_MODEL_SUFFIX.sub("", part)).rstrip(".")
    if any(is_model_code(w) for w in text.split()):
        return {"kind": RangeKind.UNREADABLE}, False
    wildcard = wildcard_family(text)
    if wildcard is not None:
        return {"family": wildcard[0]}, False
    if is_version_text(text):
        return {"exact": text}, False
    words = text.split()
    for cut in range(len(words) - 1, 0, -1):  # "9.0 Advanced Reports", "10.0 SP1 Enterprise": a note follows
        head, tail = " ".join(words[:cut]), words[cut:]
        if _DOTTED.match(words[0]) and is_version_text(head) and all(_WORD.match(w) for w in tail):
            return {"exact": head}, True
    return {"kind": RangeKind.UNREADABLE}, False


def _one_version(value: str) -> Atom:
    """``= 5.x`` is the family, ``= 2.4`` the version."""
    family = wildcard_family(value)
    return {"family": family[0]} if family is not None else {"exact": value}


def _bound(value: str) -> str | None:
    """A bound's version text, cleaned of labels and platform notes; None when it is not a version."""
    text = without_label(_PLATFORM_AFTER.sub("", value.strip())).rstrip(".,").strip()
    if wildcard_family(text) is not None or is_version_text(text):
        return text
    return None


def _read_vers(text: str, raw: str) -> tuple[VersionRange, ...]:
    """``vers:<scheme>/<c1>|<c2>…`` (package-url/vers-spec). CISA writes ``vers:all/…`` for its own text."""
    scheme, _, spec = text[len("vers:") :].partition("/")
    scheme = scheme.strip().lower() or "generic"
    if scheme == "all":
        scheme = "generic"
    if spec.strip() in {"*", ""}:
        return (VersionRange(kind=RangeKind.ALL, scheme=scheme, raw=raw),)
    atoms: list[Atom] = []
    for constraint in re.split(r"\s*\|\s*", spec.strip()):
        for piece in _GLUED_OPERATOR.split(constraint):
            piece = piece.strip()
            if not piece or piece.startswith("!="):
                continue
            found = _OPERATOR.match(piece)
            value = _bound(found.group("v") if found else piece)
            if value is None:
                atoms.append({"kind": RangeKind.UNREADABLE})
            elif found and found.group("op") in _OP_FIELD:
                atoms.append({_OP_FIELD[found.group("op")]: value})
            else:
                atoms.append(_one_version(value))
    return _ranges(atoms, raw, scheme)


def looks_like_version(text: str) -> bool:
    """Is this version-field text about versions, not a model or product name written there?

    False for model codes and names (``HEN643484``, ``DH-NVR1XXX,``, ``MMT-554 / MMT-754 MiniMed Veo``,
    ``exacqVision Network Video Recorders (NVR)``, ``8.x model 35700BAX2``), for anything the reader cannot
    read, and True for every expression it reads (``< 6.8.9 CU01``, ``All versions``, ``5.x.x``, dates).
    """
    body, _ = strip_notes(text)
    if names_a_model(body):
        return False
    return all(vr.kind is not RangeKind.UNREADABLE for vr in _read(text, "generic"))
