"""E-mail templates (Jinja2, autoescaped HTML and plain text) and their translations (gettext catalogues).

Templates live in ``email_templates/``; every word in them goes through ``_()``. The catalogues are
``ewarn/locale/<lang>/LC_MESSAGES/ewarn.po``, read with Babel when a language is first used and compiled in
memory: no generated ``.mo`` files in the tree or a build step to forget, and a translator's edit is live on the
next start. English is the source language (the msgids); a language without a catalogue falls back to it.
"""

from __future__ import annotations

import functools
import gettext
import io
from importlib import resources
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

SOURCE_LANGUAGE = "en"
DOMAIN = "ewarn"
# Every language with a catalogue; a test keeps each complete (no msgid without a translation).
LANGUAGES = ("en", "de", "fr", "es", "it")


def language_code(language: str | None) -> str:
    """``de-AT`` → ``de``; a language without a catalogue → English."""
    code = (language or SOURCE_LANGUAGE).lower().replace("_", "-").split("-", 1)[0]
    return code if code in LANGUAGES else SOURCE_LANGUAGE


def catalogue_path(code: str) -> Any:
    """The ``.po`` file of one language (a package resource)."""
    return resources.files("ewarn").joinpath("locale", code, "LC_MESSAGES", f"{DOMAIN}.po")


@functools.cache
def translations(language: str | None) -> gettext.NullTranslations:
    """The gettext translations of a language, compiled from its catalogue once per process."""
    code = language_code(language)
    path = catalogue_path(code)
    if code == SOURCE_LANGUAGE or not path.is_file():
        return gettext.NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=code, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)  # a fuzzy entry is not a translation yet
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@functools.cache
def environment(language: str | None) -> Environment:
    """The template environment of one language: HTML autoescaped, plain text not, undefined names an error."""
    env = Environment(
        loader=PackageLoader("ewarn.dispatch", "email_templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        extensions=["jinja2.ext.i18n", "jinja2.ext.do"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=StrictUndefined,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


def render(template: str, *, language: str | None, **context: Any) -> str:
    """One template rendered in ``language`` (``alert.txt.j2``, ``alert.html.j2``, …)."""
    return environment(language_code(language)).get_template(template).render(**context)


def gettext_for(language: str | None, message: str, **values: Any) -> str:
    """One message of the catalogue in ``language``, with ``%(name)s`` values filled in (e-mail subjects)."""
    text = translations(language_code(language)).gettext(message)
    return text % values if values else text
