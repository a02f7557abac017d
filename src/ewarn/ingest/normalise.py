"""Canonical forms of observables, labels and TLP, shared by every feed kind.

Every function raises ``ValueError`` with a short reason when a value cannot be normalised; callers turn that
into a ``Rejection`` naming the feed and record.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import idna

from ewarn.models.common import TLP
from ewarn.models.indicator import IndicatorType

MAX_VALUE_LENGTH = 2048

_HEX = re.compile(r"^[0-9a-fA-F]+$")
_HASH_BY_LENGTH = {
    32: IndicatorType.MD5,
    40: IndicatorType.SHA1,
    64: IndicatorType.SHA256,
    128: IndicatorType.SHA512,
}
_ASN = re.compile(r"^(?:AS)?\s*(\d{1,10})$", re.IGNORECASE)
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}
_LABEL_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# Lower-case ASCII names whose every label IDNA leaves as it is: letters, digits and inner hyphens, 1..63
# characters, no hyphens in both the 3rd and 4th place (that takes in every ``xn--`` label, which IDNA must
# decode and check). ``idna.encode`` costs ~250 µs a name; most feed names are plain ASCII.
_PLAIN_ASCII_NAME = re.compile(
    r"(?:(?![a-z0-9-]{2}--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*(?![a-z0-9-]{2}--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
)


@dataclass(frozen=True)
class Observable:
    """A normalised observable: its type, canonical value and, for URLs, the host."""

    type: IndicatorType
    value: str
    url_host: str | None = None

    @property
    def key(self) -> str:
        return f"{self.type.value}:{self.value}"


def _check_length(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("empty value")
    if len(value) > MAX_VALUE_LENGTH:
        raise ValueError(f"value longer than {MAX_VALUE_LENGTH} characters")
    return value


def ip(value: str) -> Observable:
    """An IPv4/IPv6 address or network; a network's host bits are masked off, /32 and /128 are addresses."""
    value = _check_length(value)
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise ValueError(f"not an IP address or network: {value[:80]!r}") from exc
    type_ = IndicatorType.IPV4 if network.version == 4 else IndicatorType.IPV6
    if network.num_addresses == 1:
        return Observable(type_, str(network.network_address))
    return Observable(type_, str(network))


def domain(value: str) -> str:
    """Lower-case IDNA (punycode) form without a trailing dot."""
    value = _check_length(value).rstrip(".")
    if not value:
        raise ValueError("empty domain")
    ascii_form = value.lower()
    if not (value.isascii() and len(ascii_form) <= 253 and _PLAIN_ASCII_NAME.fullmatch(ascii_form)):
        ascii_form = _idna_form(value)
    if len(ascii_form) > 253:
        raise ValueError("domain longer than 253 characters")
    if "." not in ascii_form:
        raise ValueError(f"a single label is not a domain name: {ascii_form[:80]!r}")
    _reject_ip_literal(ascii_form)
    return ascii_form


def _idna_form(value: str) -> str:
    try:
        return idna.encode(value, uts46=True).decode("ascii").lower()
    except idna.IDNAError as exc:
        raise ValueError(f"not a valid domain name: {value[:80]!r} ({exc})") from exc


def _reject_ip_literal(name: str) -> None:
    if not name.replace(
        ".", ""
    ).isdigit():  # an address is digits and dots (IDNA refuses ':'); parsing raises
        return
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return
    raise ValueError(f"an IP address is not a domain: {name!r}")


def domain_observable(value: str) -> Observable:
    return Observable(IndicatorType.DOMAIN, domain(value))


def host(value: str) -> str:
    """A URL host: a canonical IP address or a normalised domain."""
    stripped = value.strip("[]")
    try:
        return str(ipaddress.ip_address(stripped))
    except ValueError:
        return domain(value)


def url(value: str) -> Observable:
    """Scheme and host lower-cased, host IDNA-encoded, default port dropped; path and query kept as given."""
    value = _check_length(value)
    if "://" not in value:
        value = "http://" + value
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {value[:80]!r} ({exc})") from exc
    scheme = parts.scheme.lower()
    if not scheme or not parts.hostname:
        raise ValueError(f"URL without scheme or host: {value[:80]!r}")
    url_host = host(parts.hostname)
    netloc = f"[{url_host}]" if ":" in url_host else url_host
    if parts.username or parts.password:
        userinfo = parts.username or ""
        if parts.password:
            userinfo += f":{parts.password}"
        netloc = f"{userinfo}@{netloc}"
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        netloc = f"{netloc}:{port}"
    path = parts.path or "/"
    canonical = urlunsplit((scheme, netloc, path, parts.query, parts.fragment))
    return Observable(IndicatorType.URL, canonical, url_host)


def email(value: str) -> Observable:
    """Local part kept as given (it may be case-sensitive), domain normalised."""
    value = _check_length(value)
    local, sep, dom = value.rpartition("@")
    if not sep or not local or not dom or any(c.isspace() for c in local):
        raise ValueError(f"not an e-mail address: {value[:80]!r}")
    return Observable(IndicatorType.EMAIL, f"{local}@{domain(dom)}")


def file_hash(value: str, declared: str | None = None) -> Observable:
    """Hash type from length and charset; a declared algorithm (``SHA-256``, ``md5``) must agree."""
    value = _check_length(value)
    if not _HEX.match(value):
        raise ValueError(f"hash is not hexadecimal: {value[:80]!r}")
    type_ = _HASH_BY_LENGTH.get(len(value))
    if type_ is None:
        raise ValueError(f"no known hash has {len(value)} hex digits")
    if declared is not None:
        expected = hash_type_for_name(declared)
        if expected is None:
            raise ValueError(f"unsupported hash algorithm {declared!r}")
        if expected is not type_:
            raise ValueError(f"{declared} hash has {len(value)} hex digits")
    return Observable(type_, value.lower())


def hash_type_for_name(name: str) -> IndicatorType | None:
    """``SHA-256``, ``sha256``, ``SHA256`` → SHA256; None for algorithms ewarn does not match on."""
    key = name.lower().replace("-", "").replace("_", "").strip("'\" ")
    return {
        "md5": IndicatorType.MD5,
        "sha1": IndicatorType.SHA1,
        "sha256": IndicatorType.SHA256,
        "sha512": IndicatorType.SHA512,
    }.get(key)


def asn(value: str | int) -> Observable:
    """``AS64500``; accepts ``64500``, ``as64500``, ``AS 64500``."""
    text = _check_length(str(value))
    match = _ASN.match(text)
    if match is None:
        raise ValueError(f"not an AS number: {text[:80]!r}")
    number = int(match.group(1))
    if not 0 < number < 2**32:
        raise ValueError(f"AS number out of range: {number}")
    return Observable(IndicatorType.ASN, f"AS{number}")


def cve(value: str) -> str:
    """Upper-case CVE id; ``ValueError`` when the value is not one."""
    text = value.strip().upper()
    if not _CVE.match(text):
        raise ValueError(f"not a CVE id: {value[:80]!r}")
    return text


def vulnerability(value: str) -> Observable:
    """A CVE id, or an advisory tracking id when the advisory names no CVE."""
    text = _check_length(value)
    try:
        return Observable(IndicatorType.VULNERABILITY, cve(text))
    except ValueError:
        return Observable(IndicatorType.VULNERABILITY, text)


def guess(value: str) -> Observable:
    """Detect the observable type of a bare value (IOC list lines): IP, URL, e-mail, hash, ASN or domain."""
    text = _check_length(value)
    for parse in (ip, _url_if_scheme, email, file_hash, _asn_if_prefixed):
        try:
            return parse(text)
        except ValueError:
            continue
    return domain_observable(text)


def _url_if_scheme(value: str) -> Observable:
    if "://" not in value:
        raise ValueError("no scheme")
    return url(value)


def _asn_if_prefixed(value: str) -> Observable:
    if not value.upper().startswith("AS"):
        raise ValueError("no AS prefix")
    return asn(value)


def of_type(type_: IndicatorType | str, value: str) -> Observable:
    """Normalise ``value`` as a declared type (IOC list columns, MISP attribute types)."""
    kind = IndicatorType(type_)
    if kind in (IndicatorType.IPV4, IndicatorType.IPV6):
        observed = ip(value)
        if observed.type is not kind:
            raise ValueError(f"{value[:80]!r} is not {kind.value}")
        return observed
    if kind is IndicatorType.DOMAIN:
        return domain_observable(value)
    if kind is IndicatorType.URL:
        return url(value)
    if kind is IndicatorType.EMAIL:
        return email(value)
    if kind is IndicatorType.ASN:
        return asn(value)
    if kind is IndicatorType.VULNERABILITY:
        return vulnerability(value)
    return file_hash(value, kind.value)


# --- labels ------------------------------------------------------------------------------------------------

LABELS = ("ransomware", "c2", "phishing", "malware", "botnet", "scanner", "exploit", "spam", "tor", "proxy")

_LABEL_SYNONYMS = {
    "ransomware": "ransomware",
    "c2": "c2",
    "cnc": "c2",
    "c&c": "c2",
    "command-and-control": "c2",
    "command and control": "c2",
    "botnet_cc": "c2",
    "botnet-cc": "c2",
    "phishing": "phishing",
    "phish": "phishing",
    "malware": "malware",
    "malicious-activity": "malware",
    "malware_download": "malware",
    "malware-distribution": "malware",
    "payload_delivery": "malware",
    "payload delivery": "malware",
    "payload installation": "malware",
    "trojan": "malware",
    "remote-access-trojan": "malware",
    "backdoor": "malware",
    "dropper": "malware",
    "botnet": "botnet",
    "bot": "botnet",
    "scanner": "scanner",
    "scanning": "scanner",
    "bruteforce": "scanner",
    "brute-force": "scanner",
    "exploit": "exploit",
    "exploitation": "exploit",
    "exploit-kit": "exploit",
    "spam": "spam",
    "tor": "tor",
    "proxy": "proxy",
    "anonymization": "proxy",
}


def label(raw: str) -> str | None:
    """Map a producer's label (STIX indicator_types, MISP tags, CSV columns) to the small vocabulary."""
    text = raw.strip().lower()
    if not text:
        return None
    if ":" in text:  # MISP-style namespaced tags: "malware_classification:malware-category=\"Ransomware\""
        text = text.rsplit("=", 1)[-1].strip('"') if "=" in text else text.rsplit(":", 1)[-1]
    if text in _LABEL_SYNONYMS:
        return _LABEL_SYNONYMS[text]
    for word, mapped in (("ransom", "ransomware"), ("phish", "phishing"), ("c&c", "c2"), ("c2", "c2")):
        if word in text:
            return mapped
    return None


def labels(raw: Iterable[str]) -> list[str]:
    """Normalised labels, de-duplicated, in vocabulary order."""
    found = {mapped for item in raw if isinstance(item, str) and (mapped := label(item))}
    return [name for name in LABELS if name in found]


# --- TLP ---------------------------------------------------------------------------------------------------

STIX_TLP_MARKINGS: dict[str, TLP] = {
    # TLP 1.0, predefined by STIX 2.0/2.1
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": TLP.CLEAR,
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": TLP.GREEN,
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": TLP.AMBER,
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": TLP.RED,
    # TLP 2.0, published by OASIS with the TLP 2.0 extension definition
    "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": TLP.CLEAR,
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": TLP.GREEN,
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": TLP.AMBER,
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": TLP.AMBER_STRICT,
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": TLP.RED,
}


def tlp_from_name(raw: str) -> TLP | None:
    """``TLP:AMBER+STRICT``, ``tlp:white``, ``green``, ``Amber`` → TLP; None when it is not a TLP name."""
    text = raw.strip().lower()
    if text.startswith(("tlp:", "tlp ")):
        text = text[4:]
    text = text.strip().replace(" ", "")
    if text == "white":
        return TLP.CLEAR
    try:
        return TLP(text)
    except ValueError:
        return None


def strongest_tlp(levels: Iterable[TLP | None], default: TLP) -> TLP:
    """The most restrictive of the given levels, or ``default`` when none is given."""
    found = [level for level in levels if level is not None]
    return max(found, key=lambda level: level.rank) if found else default


def tlp_from_tags(tags: Iterable[str], default: TLP) -> TLP:
    """MISP-style tags (``tlp:amber``), the strictest wins."""
    return strongest_tlp((tlp_from_name(tag) for tag in tags if tag.lower().startswith("tlp")), default)


# --- product names -----------------------------------------------------------------------------------------

_MOJIBAKE_MARKERS = ("Ã", "â", "Â")
_TRADEMARKS = re.compile(r"[\u2122\u00ae\u00a9]")


def fix_mojibake(text: str) -> str:
    """Undo UTF-8 read as Windows-1252 (``Alarisâ„¢`` → ``Alaris™``) when that is what happened."""
    if not any(marker in text for marker in _MOJIBAKE_MARKERS):
        return text
    try:
        return text.encode("cp1252").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def product_name(text: str | None) -> str | None:
    """A vendor or product name: mojibake undone, trademark signs dropped, whitespace collapsed."""
    if text is None:
        return None
    cleaned = " ".join(_TRADEMARKS.sub("", fix_mojibake(text)).split())
    return cleaned or None
