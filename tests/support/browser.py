"""Headless Debian Chromium under Playwright, kept on 127.0.0.1.

``scripts/services.py prepare`` installs ``/usr/bin/chromium`` (Playwright's own browser downloads are not
used). Chromium is started with a fresh profile and without its background services, every proxied request
goes to a closed loopback port, host names other than loopback do not resolve, and every request a page makes
is checked: anything not for 127.0.0.1 is aborted and recorded in ``LoopbackBrowser.foreign``.

Chromium 156 still starts Google services despite ``--disable-background-networking`` (the Optimization Guide
manifest from update.googleapis.com, ListAccounts on accounts.google.com); without the resolver rule and the
dead proxy below it sends DNS queries for them. So Chromium also keeps a NetLog, read when it exits:
``LoopbackBrowser.outbound`` lists every name it tried to resolve and every address it tried to connect to
that is not loopback.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Route, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
LOOPBACK = "127.0.0.1"
DEAD_PORT = 9  # discard: nothing listens there (checked before each launch)

LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-pings",
    "--metrics-recording-only",
    # Belt and braces: a name that is not loopback never resolves, and anything proxied hits a closed port
    # (Chromium never proxies loopback itself).
    f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {LOOPBACK}",
    f"--proxy-server=http://{LOOPBACK}:{DEAD_PORT}",
]


@dataclass
class LoopbackBrowser:
    context: BrowserContext
    foreign: list[str] = field(default_factory=list)  # requests for anything but 127.0.0.1, all aborted
    requested: list[str] = field(default_factory=list)  # every URL a page asked for
    outbound: list[str] = field(default_factory=list)  # from the NetLog, once Chromium has exited


def _is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "about", "blob") or parts.hostname == LOOPBACK


# Chromium's IPv6 reachability probe: a UDP connect() to Google Public DNS, which only asks the kernel for a
# route and sends nothing. The resolver runs it on every lookup, even of 127.0.0.1.
IPV6_PROBE = "[2001:4860:4860::8888]:443"
UNRESOLVABLE = ("~notfound", LOOPBACK)  # what the resolver rule leaves a name as; the one literal we use


def _loopback_endpoint(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def outbound_in_netlog(path: Path) -> list[str]:
    """Every name lookup and connection attempt in a Chromium NetLog that is not for loopback."""
    raw = path.read_text(encoding="utf-8").rstrip()
    if not raw.endswith("}"):  # cut short: close the event list ourselves
        raw = raw.rstrip(",") + "]}"
    log = json.loads(raw)
    names = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    found: list[str] = []
    for event in log["events"]:
        kind, params = names.get(event["type"], ""), event.get("params") or {}
        if kind == "HOST_RESOLVER_MANAGER_REQUEST" and "host" in params:
            host = urlsplit(params["host"]).hostname or params["host"]
            if host not in UNRESOLVABLE:
                found.append(f"resolve {params['host']}")
        elif kind in ("TCP_CONNECT_ATTEMPT", "UDP_CONNECT") and "address" in params:
            address = params["address"]
            if not _loopback_endpoint(address) and not (kind == "UDP_CONNECT" and address == IPV6_PROBE):
                found.append(f"{kind} {address}")
    return found


@asynccontextmanager
async def chromium(*, timeout_ms: float = 5000) -> AsyncIterator[LoopbackBrowser]:
    """A Chromium context on a fresh profile that can only talk to 127.0.0.1."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run `python scripts/services.py prepare`")
    try:
        socket.create_connection((LOOPBACK, DEAD_PORT), timeout=1).close()
    except ConnectionRefusedError:
        pass
    else:
        raise RuntimeError(f"something listens on {LOOPBACK}:{DEAD_PORT}, the dead proxy Chromium is given")
    async with async_playwright() as pw:
        with tempfile.TemporaryDirectory(prefix="ewarn-chromium-") as profile:
            netlog = Path(profile) / "netlog.json"
            context = await pw.chromium.launch_persistent_context(
                Path(profile) / "profile",
                executable_path=str(CHROMIUM),
                headless=True,
                args=[*LAUNCH_ARGS, f"--log-net-log={netlog}"],
                viewport={"width": 1280, "height": 900},
                service_workers="block",
            )
            browser = LoopbackBrowser(context)

            async def guard(route: Route) -> None:
                url = route.request.url
                browser.requested.append(url)
                if _is_loopback(url):
                    await route.continue_()
                else:
                    browser.foreign.append(url)
                    await route.abort("addressunreachable")

            context.set_default_timeout(timeout_ms)
            await context.route("**/*", guard)
            try:
                yield browser
            finally:
                await context.close()
                browser.outbound = outbound_in_netlog(netlog)
