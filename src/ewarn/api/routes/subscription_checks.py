"""Checks of a subscription's target and format at the edge (422 with the reason), shared by provider and
CSIRT subscriptions; a target's name is resolved and checked again at every delivery."""

from __future__ import annotations

import re

import httpx
from fastapi import HTTPException, status

from ewarn.dispatch.formats.rules import format_refusal
from ewarn.dispatch.syslog import parse_target
from ewarn.hostaddress import NotAHost, host_addresses
from ewarn.models.subscription import Channel, Digest, PayloadFormat, SubscriptionFilters
from ewarn.netguard import SsrfGuard, SsrfRefused, StaticResolver

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def check_target(channel: Channel, target: str, allowed_networks: list[str]) -> None:
    """Reject what can be known wrong now; names are resolved and checked again at every delivery.

    A host that is an address in any spelling a resolver accepts (``2130706433``, ``0x7f.0.0.1``, ``127.1``,
    ``[::ffff:127.0.0.1]``, ``localhost``) is decided here, by the dispatch guard's rule and allow-list.
    """
    if channel is Channel.EMAIL:
        if not _EMAIL.match(target):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "target must be an e-mail address")
        return
    if channel is Channel.SYSLOG:
        try:
            host = parse_target(target).host
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"target: {exc}") from exc
    else:
        try:
            url = httpx.URL(target)
        except (httpx.InvalidURL, ValueError) as exc:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "target must be an http(s) URL"
            ) from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "target must be an http(s) URL")
        host = url.host
    try:
        addresses = host_addresses(host)
    except NotAHost as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"target host: {exc}") from exc
    guard = SsrfGuard(resolver=StaticResolver({}), allowed_networks=allowed_networks)
    try:
        for address in addresses or ():
            guard.check_address(address)
    except SsrfRefused as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"target not allowed: {exc}") from exc


def check_format(
    channel: Channel,
    payload_format: PayloadFormat,
    digest: Digest,
    filters: SubscriptionFilters,
    *,
    has_api_key: bool,
) -> None:
    """422 with the reason when the channel cannot carry the format or the format cannot work this way."""
    reason = format_refusal(
        channel=channel,
        payload_format=payload_format,
        digest=digest,
        tlp_ceiling=filters.tlp_ceiling,
        has_api_key=has_api_key,
    )
    if reason is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, reason)
