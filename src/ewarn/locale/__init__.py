"""Translations of ewarn's e-mail: gettext catalogues ``<lang>/LC_MESSAGES/ewarn.po`` and their template.

``python -m ewarn.locale extract`` writes ``ewarn.pot`` from the e-mail templates and ``dispatch/email.py``;
``python -m ewarn.locale update`` merges it into every language's ``.po`` (new messages arrive untranslated, and
a test fails until a translator fills them in). The ``.po`` files are read at run time
(``ewarn.dispatch.templates``); no ``.mo`` is generated or committed.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir, extract_from_file
from babel.messages.pofile import read_po, write_po

LOCALE_DIR = Path(__file__).resolve().parent
DISPATCH_DIR = LOCALE_DIR.parent / "dispatch"
TEMPLATE_FILE = LOCALE_DIR / "ewarn.pot"
TRANSLATED = ("de", "fr", "es", "it")  # English is the source language
_JINJA_OPTIONS = {"extensions": "jinja2.ext.do,jinja2.ext.i18n"}
_KEYWORDS = {**DEFAULT_KEYWORDS, "gettext_for": (2,)}  # gettext_for(language, message, **values)


def extract() -> Catalog:
    """Every message the e-mail templates and ``dispatch/email.py`` translate."""
    catalog = Catalog(project="ewarn", domain="ewarn", charset="utf-8")
    found = extract_from_dir(
        str(DISPATCH_DIR / "email_templates"),
        method_map=[("**.j2", "jinja2")],
        options_map={"**.j2": _JINJA_OPTIONS},
    )
    for filename, lineno, message, _comments, context in found:
        catalog.add(message, locations=[(f"email_templates/{filename}", lineno)], context=context)
    for lineno, message, _comments, context in extract_from_file(
        "python", str(DISPATCH_DIR / "email.py"), keywords=_KEYWORDS
    ):
        catalog.add(message, locations=[("email.py", lineno)], context=context)
    return catalog


def catalogue_file(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / "ewarn.po"


def read_catalogue(language: str) -> Catalog:
    with catalogue_file(language).open("rb") as po:
        return read_po(po, locale=language, domain="ewarn")


def write_template() -> None:
    with TEMPLATE_FILE.open("wb") as pot:
        write_po(pot, extract(), omit_header=False, sort_output=False, width=110)


def update() -> None:
    """Merge the template into every language's catalogue (obsolete messages are dropped)."""
    template = extract()
    for language in TRANSLATED:
        catalog = read_catalogue(language)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        with catalogue_file(language).open("wb") as po:
            write_po(po, catalog, width=110)
