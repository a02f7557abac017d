"""The SSRF rules, address by address, and the guard with an injected resolver (no DNS, no sockets)."""

from __future__ import annotations

import ipaddress

import pytest

from ewarn.dispatch.ssrf import ResolutionFailed, SsrfGuard, SsrfRefused, StaticResolver, forbidden_reason

ADDRESSES = [
    pytest.param("127.0.0.1", "loopback", id="v4-loopback"),
    pytest.param("127.8.9.10", "loopback", id="v4-loopback-range"),
    pytest.param("::1", "loopback", id="v6-loopback"),
    pytest.param("0.0.0.0", "unspecified", id="v4-unspecified"),
    pytest.param("10.1.2.3", "private", id="rfc1918-10"),
    pytest.param("172.16.5.4", "private", id="rfc1918-172"),
    pytest.param("192.168.1.1", "private", id="rfc1918-192"),
    pytest.param("169.254.169.254", "cloud metadata address", id="metadata-v4"),
    pytest.param("fd00:ec2::254", "cloud metadata address", id="metadata-v6"),
    pytest.param("169.254.1.1", "link-local", id="link-local-v4"),
    pytest.param("fe80::1", "link-local", id="link-local-v6"),
    pytest.param("100.64.0.1", "not globally routable", id="cgnat"),
    pytest.param("224.0.0.1", "multicast", id="multicast-v4"),
    pytest.param("ff02::1", "multicast", id="multicast-v6"),
    pytest.param("240.0.0.1", "private", id="reserved-class-e"),
    pytest.param("fc00::1", "private", id="unique-local"),
    pytest.param("::ffff:127.0.0.1", "embeds 127.0.0.1 (loopback)", id="v4-mapped-loopback"),
    pytest.param("::ffff:10.0.0.1", "embeds 10.0.0.1 (private)", id="v4-mapped-private"),
    pytest.param("64:ff9b::a00:1", "embeds 10.0.0.1", id="nat64-private"),
    pytest.param("2002:7f00:1::1", "embeds 127.0.0.1", id="6to4-loopback"),
    pytest.param("198.51.100.7", "private", id="documentation-range"),
    pytest.param("93.184.216.34", None, id="public-v4"),
    pytest.param("2606:4700:4700::1111", None, id="public-v6"),
    pytest.param("64:ff9b::808:808", None, id="nat64-public"),
]


@pytest.mark.parametrize(("address", "why"), ADDRESSES)
def test_forbidden_reason(address: str, why: str | None) -> None:
    got = forbidden_reason(ipaddress.ip_address(address))
    if why is None:
        assert got is None
    else:
        assert got is not None and got.startswith(why)


RESOLVER = StaticResolver(
    {
        "hooks.example.org": ["93.184.216.34"],
        "intranet.example.org": ["10.0.0.8"],
        "rebind.example.org": ["93.184.216.34", "127.0.0.1"],
        "loopback.test": ["127.0.0.1"],
    }
)


async def test_public_name_is_pinned_to_the_checked_address() -> None:
    target = await SsrfGuard(resolver=RESOLVER).check("https://hooks.example.org/ewarn?x=1")
    assert str(target.address) == "93.184.216.34"
    assert str(target.request_url) == "https://93.184.216.34/ewarn?x=1"
    assert target.host_header == "hooks.example.org"


async def test_non_default_port_kept_in_host_header() -> None:
    target = await SsrfGuard(resolver=RESOLVER).check("http://hooks.example.org:8080/h")
    assert target.host_header == "hooks.example.org:8080"
    assert target.request_url.port == 8080


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://127.0.0.1:8080/hook", id="loopback-literal"),
        pytest.param("http://169.254.169.254/latest/meta-data/", id="metadata"),
        pytest.param("http://[fd00:ec2::254]/", id="metadata-v6"),
        pytest.param("https://intranet.example.org/hook", id="name-into-10-8"),
        pytest.param("https://rebind.example.org/hook", id="one-private-answer-among-public"),
        pytest.param("ftp://hooks.example.org/", id="scheme"),
        pytest.param("http://0.0.0.0:80/", id="unspecified"),
        pytest.param("http://2130706433/", id="loopback-as-one-number"),
        pytest.param("http://0x7f.0.0.1/", id="loopback-hex-part"),
        pytest.param("http://127.1/", id="loopback-two-parts"),
        pytest.param("http://0xa9.254.169.254/", id="metadata-hex-part"),
    ],
)
async def test_refused(url: str) -> None:
    with pytest.raises(SsrfRefused):
        await SsrfGuard(resolver=RESOLVER).check(url)


async def test_allow_list_lets_loopback_through_and_nothing_else() -> None:
    guard = SsrfGuard(resolver=RESOLVER, allowed_networks=["127.0.0.0/8"])
    assert str((await guard.check("http://loopback.test:9/h")).address) == "127.0.0.1"
    with pytest.raises(SsrfRefused):
        await guard.check("http://10.0.0.8/h")
    with pytest.raises(SsrfRefused):
        await guard.check("http://169.254.169.254/")


async def test_unresolvable_is_retryable_not_refused() -> None:
    with pytest.raises(ResolutionFailed):
        await SsrfGuard(resolver=RESOLVER).check("https://nowhere.example.org/")
