"""CSAF documents signed with OpenPGP: a trusted provider on loopback publishes its key in
``provider-metadata.json``; documents whose ``.asc`` does not verify with it are rejected with the reason.

Key pairs are made at test time (pysequoia), nothing is committed. The documents are the real CISA medical
advisories in ../shared/data/csaf/cisa-icsma/.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from pysequoia import SignatureMode, Tsk, sign

from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.ingest import rejections as rejection_store
from ewarn.ingest import repository
from ewarn.ingest.csaf import parse_csaf
from ewarn.ingest.models import FeedIn, IngestReport
from ewarn.ingest.records import FeedContext
from ewarn.ingest.service import IngestService
from ewarn.settings import IngestSettings, Settings
from ewarn.store.db import SessionFactory

TOPICS = Topics(prefix="csafsig")


@dataclass
class Provider:
    """A CSAF trusted provider on 127.0.0.1: metadata, a directory with changes.csv, documents, sidecars."""

    files: dict[str, bytes] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits.append(self.path)
                body = owner.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json" if body is not None else "text/plain")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *_: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()


@dataclass(frozen=True)
class Key:
    secret: Tsk

    @property
    def public(self) -> bytes:
        return str(self.secret.extract_certificate()).encode()

    @property
    def fingerprint(self) -> str:
        return self.secret.extract_certificate().fingerprint.upper()

    def sign(self, content: bytes) -> bytes:
        return sign(self.secret.signer(), content, mode=SignatureMode.DETACHED)


@pytest.fixture(scope="module")
def provider_key() -> Key:
    return Key(Tsk.generate("CSAF provider <csaf@provider.test>"))


@pytest.fixture(scope="module")
def other_key() -> Key:
    return Key(Tsk.generate("Someone else <x@elsewhere.test>"))


@pytest.fixture
def provider() -> Iterator[Provider]:
    server = Provider()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def documents(shared: Path) -> list[Path]:
    return sorted((shared / "csaf/cisa-icsma").glob("*.json"))


def publish(
    provider: Provider,
    shared: Path,
    key: Key,
    *,
    keys: list[dict[str, str]] | None,
    alter: dict[str, str] | None = None,
    other: Key | None = None,
) -> dict[str, bytes]:
    """Serve every document with its .sha512 and .asc (signed by ``key``); ``alter`` names documents to
    change after signing: ``tampered`` (content changed, hash recomputed as a mirror could), ``no-asc``,
    ``other-key`` (signed by someone else), ``garbage-asc``. Returns the content served per URL."""
    alter = alter or {}
    rows, served = [], {}
    for index, doc in enumerate(documents(shared)):
        content = doc.read_bytes()
        signature = key.sign(content)
        change = alter.get(doc.name)
        if change == "tampered":
            content = content.replace(b"Successful exploitation", b"Harmless exploitation", 1)
        elif change == "other-key" and other is not None:
            signature = other.sign(content)
        elif change == "garbage-asc":
            signature = b"-----BEGIN PGP SIGNATURE-----\n\nnot really\n-----END PGP SIGNATURE-----\n"
        path = f"/.well-known/csaf/white/{doc.name}"
        provider.files[path] = content
        provider.files[path + ".sha512"] = f"{hashlib.sha512(content).hexdigest()}  {doc.name}".encode()
        if change != "no-asc":
            provider.files[path + ".asc"] = signature
        rows.append(f'"{doc.name}","2024-10-{index + 1:02d}T00:00:00Z"')
        served[provider.base + path] = content
    provider.files["/.well-known/csaf/white/changes.csv"] = "\n".join(rows).encode()
    metadata: dict[str, Any] = {
        "canonical_url": f"{provider.base}/.well-known/csaf/provider-metadata.json",
        "distributions": [{"directory_url": f"{provider.base}/.well-known/csaf/white/"}],
        "metadata_version": "2.0",
        "role": "csaf_trusted_provider",
        "last_updated": "2024-10-08T00:00:00Z",
        "list_on_CSAF_aggregators": True,
        "mirror_on_CSAF_aggregators": True,
        "publisher": {"category": "vendor", "name": "Test", "namespace": "https://provider.test"},
    }
    if keys is not None:
        metadata["public_openpgp_keys"] = keys
    provider.files["/.well-known/csaf/provider-metadata.json"] = json.dumps(metadata).encode()
    return served


async def poll(
    sessions: SessionFactory, bus: MemoryBus, http: httpx.AsyncClient, location: str
) -> IngestReport:
    settings = Settings(ingest=IngestSettings(allowed_networks=["127.0.0.1/32"], request_timeout_seconds=5))
    service = IngestService(sessions=sessions, bus=bus, topics=TOPICS, settings=settings, http=http)
    async with sessions() as session, session.begin():
        await repository.create_feed(session=session, feed=FeedIn(id="csaf", kind="csaf", location=location))
    return await service.poll_feed("csaf")


def indicators_of(contents: list[bytes]) -> int:
    ctx = FeedContext(feed_id="csaf", feed_kind="csaf")
    return sum(len(parse_csaf(content, ctx).indicators) for content in contents)


def key_entry(provider: Provider, key: Key, *, fingerprint: str | None = None) -> dict[str, str]:
    path = f"/.well-known/csaf/openpgp/{key.fingerprint}.asc"
    provider.files[path] = key.public
    return {"fingerprint": fingerprint or key.fingerprint, "url": f"{provider.base}{path}"}


TAMPERED = "icsma-19-080-01.json"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param("tampered", "does not verify with the provider's keys", id="tampered-document"),
        pytest.param(
            "no-asc", "no OpenPGP signature could be read from icsma-19-080-01.json.asc", id="missing-asc"
        ),
        pytest.param("other-key", "does not verify with the provider's keys", id="signed-by-another-key"),
        pytest.param("garbage-asc", "not an OpenPGP signature", id="garbage-asc"),
    ],
)
async def test_a_document_whose_signature_fails_is_rejected_with_the_reason(
    shared_data: Path,
    provider: Provider,
    provider_key: Key,
    other_key: Key,
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    http: httpx.AsyncClient,
    change: str,
    reason: str,
) -> None:
    keys = [key_entry(provider, provider_key)]
    served = publish(
        provider, shared_data, provider_key, keys=keys, alter={TAMPERED: change}, other=other_key
    )
    report = await poll(
        sqlite_sessions, memory_bus, http, f"{provider.base}/.well-known/csaf/provider-metadata.json"
    )
    (rejection,) = report.rejections
    bad_url = f"{provider.base}/.well-known/csaf/white/{TAMPERED}"
    assert rejection.record == bad_url and reason in rejection.reason
    if change == "other-key":
        # the reason names the signing (sub)key and the provider key it was checked against
        assert "OpenPGP signature by " in rejection.reason and provider_key.fingerprint in rejection.reason
    good = [content for url, content in served.items() if url != bad_url]
    assert report.accepted == indicators_of(good) > 0
    async with sqlite_sessions() as session:
        stored = await rejection_store.list_rejections(session=session, feed_id="csaf")
    assert [r.record for r in stored] == [bad_url]


async def test_every_signed_document_is_accepted(
    shared_data: Path,
    provider: Provider,
    provider_key: Key,
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    http: httpx.AsyncClient,
) -> None:
    served = publish(provider, shared_data, provider_key, keys=[key_entry(provider, provider_key)])
    report = await poll(
        sqlite_sessions, memory_bus, http, f"{provider.base}/.well-known/csaf/provider-metadata.json"
    )
    assert (report.rejected, report.error) == (0, None)
    assert report.accepted == indicators_of(list(served.values())) > 0
    assert sum(1 for hit in provider.hits if hit.endswith(".asc") and "/white/" in hit) == len(served)


async def test_the_key_must_have_the_fingerprint_the_metadata_names(
    shared_data: Path,
    provider: Provider,
    provider_key: Key,
    other_key: Key,
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    http: httpx.AsyncClient,
) -> None:
    # the metadata names the provider's fingerprint, but the URL serves another key (signed documents with it)
    entry = key_entry(provider, other_key, fingerprint=provider_key.fingerprint)
    served = publish(provider, shared_data, other_key, keys=[entry])
    report = await poll(
        sqlite_sessions, memory_bus, http, f"{provider.base}/.well-known/csaf/provider-metadata.json"
    )
    assert report.accepted == 0 and report.rejected == len(served)
    for rejection in report.rejections:
        assert "none could be used" in rejection.reason
        assert f"not {provider_key.fingerprint} as the provider metadata says" in rejection.reason


async def test_one_usable_key_among_broken_ones_is_enough(
    shared_data: Path,
    provider: Provider,
    provider_key: Key,
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    http: httpx.AsyncClient,
) -> None:
    keys = [
        {"fingerprint": "A" * 40, "url": f"{provider.base}/.well-known/csaf/openpgp/missing.asc"},
        key_entry(provider, provider_key),
    ]
    served = publish(provider, shared_data, provider_key, keys=keys)
    report = await poll(
        sqlite_sessions, memory_bus, http, f"{provider.base}/.well-known/csaf/provider-metadata.json"
    )
    assert report.rejected == 0 and report.accepted == indicators_of(list(served.values()))


async def test_a_provider_without_keys_is_checked_by_hash_only(
    shared_data: Path,
    provider: Provider,
    provider_key: Key,
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    http: httpx.AsyncClient,
) -> None:
    served = publish(provider, shared_data, provider_key, keys=None, alter={TAMPERED: "no-asc"})
    report = await poll(
        sqlite_sessions, memory_bus, http, f"{provider.base}/.well-known/csaf/provider-metadata.json"
    )
    assert (report.rejected, report.accepted) == (0, indicators_of(list(served.values())))
    assert not any(hit.endswith(".asc") for hit in provider.hits)  # no signature is looked for
