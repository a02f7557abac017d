"""Canonical forms of the matchable fields of an asset; each function raises ``ValueError`` saying why."""

from __future__ import annotations

import ipaddress
import re

import idna
from packageurl import PackageURL

MAX_DOMAIN_LENGTH = 253

_ASN = re.compile(r"^(?:AS)?\s*(\d{1,10})(?:\.(\d{1,5}))?$", re.IGNORECASE)
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
_GS1_LENGTHS = (8, 12, 13, 14)
_UDI_DI = re.compile(r"^[\x21-\x7e]{1,64}$")
_SERIAL = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")

# The CPE 2.3 formatted-string binding, as given in NIST IR 7695 and the cpe-naming_2.3 XML schema.
_CPE_VALUE = r"(((\?*|\*?)([a-zA-Z0-9\-._]|(\\[\\*?!\"#$%&'()+,/:;<=>@\[\]^`{|}~]))+(\?*|\*?))|[*\-])"
_CPE_LANG = r"(([a-zA-Z]{2,3}(-([a-zA-Z]{2}|[0-9]{3}))?)|[*\-])"
_CPE23 = re.compile(rf"^cpe:2\.3:[aho*\-](:{_CPE_VALUE}){{5}}(:{_CPE_LANG})(:{_CPE_VALUE}){{4}}$")


def network(value: str) -> str:
    """Canonical CIDR: host bits masked off, a bare address becomes /32 or /128, IPv6 compressed."""
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError as exc:
        raise ValueError(f"not an IPv4/IPv6 address or network: {value!r}") from exc


def dns_name(value: str, *, min_labels: int = 1) -> str:
    """Lower-case IDNA A-label form without a trailing dot (the form ingest gives indicators)."""
    name = value.strip().rstrip(".")
    if not name:
        raise ValueError("empty name")
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        pass
    else:
        raise ValueError(f"{name!r} is an IP address; register it as kind 'network'")
    try:
        ascii_form = idna.encode(name, uts46=True).decode("ascii").lower()
    except idna.IDNAError as exc:
        raise ValueError(f"not a valid DNS name: {name!r} ({exc})") from exc
    if len(ascii_form) > MAX_DOMAIN_LENGTH:
        raise ValueError(f"longer than {MAX_DOMAIN_LENGTH} characters")
    if ascii_form.count(".") + 1 < min_labels:
        raise ValueError(f"{ascii_form!r} has fewer than {min_labels} labels (a top-level domain alone?)")
    return ascii_form


def domain(value: str) -> str:
    """A registered domain; its subdomains match too, so a leading ``*.`` adds nothing and is dropped."""
    text = value.strip()
    return dns_name(text.removeprefix("*."), min_labels=2)


def hostname(value: str) -> str:
    if "*" in value:
        raise ValueError("a hostname is one exact name; use kind 'domain' to cover subdomains")
    return dns_name(value)


def email_domain(value: str) -> str:
    """The domain after '@'; a full address or '@example.org' is accepted and reduced to it."""
    return dns_name(value.strip().rpartition("@")[2], min_labels=2)


def asn(value: str) -> str:
    """``AS64500``; accepts ``64500``, ``as64500``, ``AS 64500`` and asdot ``AS1.10``."""
    match = _ASN.match(value.strip())
    if match is None:
        raise ValueError(f"not an AS number: {value!r} (expected AS64500)")
    high, low = match.group(1), match.group(2)
    number = int(high) * 65536 + int(low) if low is not None else int(high)
    if low is not None and (int(high) > 65535 or int(low) > 65535):
        raise ValueError(f"asdot AS number out of range: {value!r}")
    if not 0 < number < 2**32:
        raise ValueError(f"AS number out of range: {number}")
    return f"AS{number}"


def cpe(value: str) -> str:
    """A CPE 2.3 formatted string, lower-cased (CPE name comparison is case-insensitive)."""
    text = value.strip()
    if text.lower().startswith("cpe:/"):
        raise ValueError(
            "CPE 2.2 URI binding given; use the CPE 2.3 formatted string (cpe:2.3:part:vendor:…)"
        )
    lowered = text.lower()
    if not _CPE23.match(lowered):
        raise ValueError(f"not a CPE 2.3 formatted string (cpe:2.3: and 11 components): {text!r}")
    return lowered


def purl(value: str) -> str:
    """The canonical string of a Package URL (type lower-cased, qualifiers sorted, per-type rules)."""
    try:
        return PackageURL.from_string(value.strip()).to_string()
    except ValueError as exc:
        raise ValueError(f"not a Package URL: {exc}") from exc


def purl_core(value: str) -> str | None:
    """A PURL without qualifiers and subpath, for matching statements that omit packaging details."""
    try:
        parsed = PackageURL.from_string(value.strip())
        # inside the try: a lone surrogate in a name fails only when it is encoded (UnicodeEncodeError)
        return PackageURL(
            type=parsed.type, namespace=parsed.namespace, name=parsed.name, version=parsed.version
        ).to_string()
    except ValueError:
        return None


def udi_di(value: str) -> str:
    """A UDI device identifier; numeric ones are GS1 GTINs and must carry a valid check digit."""
    text = value.strip()
    if not _UDI_DI.match(text):
        raise ValueError("a UDI-DI is 1-64 printable characters without spaces")
    if text.isdigit():
        if len(text) not in _GS1_LENGTHS:
            raise ValueError("a numeric UDI-DI is a GS1 GTIN of 8, 12, 13 or 14 digits")
        if gs1_check_digit(text[:-1]) != int(text[-1]):
            raise ValueError(f"GS1 check digit of {text!r} is wrong (expected {gs1_check_digit(text[:-1])})")
    return text


def serial(value: str) -> str:
    """A unit's serial number: 1-64 printable characters (spaces inside are kept, as makers print them)."""
    text = value.strip()
    if not _SERIAL.match(text):
        raise ValueError("a serial number is 1-64 printable characters")
    return text


def gs1_check_digit(digits: str) -> int:
    """GS1 mod-10: weights 3 and 1 alternate from the right."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def cve(value: str) -> str:
    text = value.strip().upper()
    if not _CVE.match(text):
        raise ValueError(f"not a CVE id: {value!r}")
    return text
