"""A strict RFC 5424 parser for tests: section 6's ABNF transcribed into a lark grammar.

No maintained RFC 5424 parser can be installed beside this project's dependencies: ``syslog-rfc5424-parser``
pins ``lark-parser==0.6`` (the old distribution of the ``lark`` module, which would replace lark 1.x). This is
lark (a real parser generator) over the RFC's own grammar, written from the RFC, not from ewarn's code.
Octet-counted frames (RFC 6587 section 3.4.1) are split by ``read_frames``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lark import Lark, Token, Tree

GRAMMAR = r"""
    start: header SP structured_data (SP msg)?
    header: pri version SP timestamp SP hostname SP app_name SP procid SP msgid
    pri: "<" PRIVAL ">"
    version: VERSION
    timestamp: NIL | TIMESTAMP
    hostname: NIL | PRINTUS
    app_name: NIL | PRINTUS
    procid: NIL | PRINTUS
    msgid: NIL | PRINTUS
    structured_data: NIL | sd_element+
    sd_element: "[" SD_NAME (SP sd_param)* "]"
    sd_param: SD_NAME "=" PARAM_VALUE
    msg: MSG

    PRIVAL: /[0-9]{1,3}/
    VERSION: /[1-9][0-9]{0,2}/
    TIMESTAMP: /[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])/
    NIL: "-"
    PRINTUS: /[\x21-\x7e]{1,255}/
    SD_NAME: /((?![="\]])[!-~]){1,32}/
    PARAM_VALUE: /"([^"\\\]]|\\["\\\]])*"/
    MSG: /(?s).+/
    SP: " "
"""
_PARSER = Lark(GRAMMAR, parser="earley", lexer="dynamic")
_LIMITS = {"hostname": 255, "app_name": 48, "procid": 128, "msgid": 32}


@dataclass(frozen=True)
class SyslogMessage:
    facility: int
    severity: int
    version: int
    timestamp: str | None
    hostname: str | None
    app_name: str | None
    procid: str | None
    msgid: str | None
    structured_data: dict[str, dict[str, str]]
    msg: str | None


def _text(tree: Tree[Token]) -> str:
    return "".join(str(t) for t in tree.scan_values(lambda _: True))


def _unescape(value: str) -> str:
    return re.sub(r"\\([\"\\\]])", r"\1", value[1:-1])


def parse(raw: bytes) -> SyslogMessage:
    """Parse one message; ``lark`` errors or ``ValueError`` when it is not RFC 5424."""
    tree = _PARSER.parse(raw.decode("utf-8"))
    header = next(tree.find_data("header"))
    fields: dict[str, str | None] = {}
    for name in ("timestamp", "hostname", "app_name", "procid", "msgid"):
        value = _text(next(header.find_data(name)))
        if name in _LIMITS and len(value) > _LIMITS[name]:
            raise ValueError(f"{name} longer than {_LIMITS[name]}")
        fields[name] = None if value == "-" else value
    prival = int(_text(next(header.find_data("pri"))))
    if prival > 191:
        raise ValueError("PRIVAL above 191")
    sd: dict[str, dict[str, str]] = {}
    for element in tree.find_data("sd_element"):
        params = {str(p.children[0]): _unescape(str(p.children[1])) for p in element.find_data("sd_param")}
        sd[str(element.children[0])] = params
    msgs = list(tree.find_data("msg"))
    return SyslogMessage(
        facility=prival // 8,
        severity=prival % 8,
        version=int(_text(next(header.find_data("version")))),
        structured_data=sd,
        msg=_text(msgs[0]) if msgs else None,
        **fields,  # type: ignore[arg-type]
    )


def read_frames(data: bytes) -> list[bytes]:
    """Split octet-counted frames (``<length> <message>``); ``ValueError`` on a malformed or partial frame."""
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        space = data.index(b" ", pos)
        digits = data[pos:space]
        if not digits.isdigit() or digits.startswith(b"0"):
            raise ValueError(f"bad frame length {digits[:20]!r}")
        end = space + 1 + int(digits)
        if end > len(data):
            raise ValueError("partial frame")
        out.append(data[space + 1 : end])
        pos = end
    return out
