"""OpenPGP detached signatures of CSAF documents, verified with the keys a provider publishes (pysequoia).

A provider's ``provider-metadata.json`` lists ``public_openpgp_keys`` (a URL and, usually, a fingerprint).
A key is used only when its primary fingerprint is the one the metadata names; a document is accepted only
when its ``.asc`` signature verifies with one of those keys under Sequoia's standard policy (which also
refuses revoked or expired keys and weak algorithms).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pysequoia import Cert, Sig, verify

_HEX = re.compile(r"[^0-9a-f]")


class SignatureError(ValueError):
    """A signature or key that cannot be trusted; the message is the rejection reason."""


def _first_line(exc: BaseException) -> str:
    # Sequoia's errors carry a long backtrace after the first line; the reason is the first line.
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def normalise_fingerprint(value: str) -> str:
    """Lower-case hex without spaces or colons, as fingerprints are compared."""
    return _HEX.sub("", value.lower())


@dataclass(frozen=True)
class Keyring:
    """The provider's usable signing keys, and why any listed key could not be used."""

    certs: tuple[Cert, ...] = ()
    problems: tuple[str, ...] = field(default=())

    @property
    def fingerprints(self) -> list[str]:
        return [cert.fingerprint for cert in self.certs]


def keys_from(data: bytes, *, expected_fingerprint: str | None, source: str) -> list[Cert]:
    """The certificates in ``data`` whose fingerprint is the expected one (all of them when none is given);
    ``SignatureError`` when there is none."""
    try:
        certs = Cert.split_bytes(data)
    except RuntimeError as exc:
        raise SignatureError(f"{source} is not an OpenPGP key: {_first_line(exc)}") from exc
    if not certs:
        raise SignatureError(f"{source} holds no OpenPGP key")
    if not expected_fingerprint:
        return certs
    wanted = normalise_fingerprint(expected_fingerprint)
    matching = [cert for cert in certs if normalise_fingerprint(cert.fingerprint) == wanted]
    if not matching:
        found = ", ".join(cert.fingerprint.upper() for cert in certs)
        raise SignatureError(
            f"{source} holds key {found}, not {wanted.upper()} as the provider metadata says"
        )
    return matching


def verify_detached(document: bytes, signature: bytes, keyring: Keyring) -> str:
    """The fingerprint of the provider key whose signature over ``document`` verifies; else
    ``SignatureError`` saying why."""
    if not keyring.certs:
        why = "; ".join(keyring.problems) or "none listed"
        raise SignatureError(f"the provider publishes OpenPGP keys but none could be used ({why})")
    try:
        parsed = Sig.from_bytes(signature)
    except RuntimeError as exc:
        raise SignatureError(f"the .asc is not an OpenPGP signature ({_first_line(exc)})") from exc
    certs = list(keyring.certs)
    try:
        result = verify(bytes=document, store=lambda _key_ids: certs, signature=parsed)
    except RuntimeError as exc:
        issuer = parsed.issuer_fingerprint or parsed.issuer_key_id or "an unknown key"
        raise SignatureError(
            f"OpenPGP signature by {str(issuer).upper()} does not verify with the provider's keys "
            f"({', '.join(f.upper() for f in keyring.fingerprints)}): {_first_line(exc)}"
        ) from exc
    valid = result.valid_sigs
    if not valid:
        raise SignatureError("OpenPGP signature does not verify with the provider's keys")
    return str(getattr(valid[0], "certificate", keyring.certs[0].fingerprint))


def usable(certs: Sequence[Cert]) -> tuple[Cert, ...]:
    """Keys that may sign now: not revoked (expiry is checked per signature by the policy)."""
    return tuple(cert for cert in certs if not cert.is_revoked)
