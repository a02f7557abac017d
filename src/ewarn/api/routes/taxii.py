"""A read-only TAXII 2.1 server at ``/taxii2/``: the alerts each API key may read, as STIX 2.1.

Authenticated by the API guard like ``/api/`` (``Authorization: Bearer``, ``X-API-Key``, or HTTP Basic with
the key as the password, as taxii2-client sends it). A collection holds what the key may read: a provider
its tenant, a CSIRT its constituency within TLP (``ewarn.models.tlp_access``), an operator everything.
Every error on ``/taxii2/`` is a TAXII error message (``application/taxii+json``): the routes' own, and the
guard's refusals (401, 429, 503) and invalid parameters (422), rewritten by the guard (same status and headers).
The collections: every alert, one per severity, and the sector sightings of the relay
(``ewarn.api.taxii.sightings``: what the key's firewall blocklists hold).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.api.deps import PrincipalDep, SessionDep
from ewarn.api.taxii import collections as taxii
from ewarn.api.taxii import sightings as relay
from ewarn.api.taxii.errors import error_docs, guard_docs, not_acceptable, taxii_error
from ewarn.api.taxii.pages import (
    NEXT_PATTERN,
    Entry,
    Match,
    Page,
    build_page,
    decode_next,
    object_ids_of,
    parse_timestamp,
    taxii_time,
    version_of,
)
from ewarn.models.common import ONE_LINE_PATTERN
from ewarn.models.provider import Principal
from ewarn.models.tlp_access import readable_tlps
from ewarn.stixmap import PRODUCER_ID, alert_object_dicts, provider_identity_id
from ewarn.store.repositories.alert_feed import FeedScope, alerts_added
from ewarn.store.repositories.principals import visible_provider_ids

router = APIRouter(tags=["taxii"])

MAX_LIMIT = 1000
SCAN_BATCH = 500  # alerts read per query when looking one object up by id
_ACTION_KINDS = ("course-of-action--", "relationship--")
_TAXII_OK = {
    "description": "TAXII 2.1 resource",
    "content": {taxii.TAXII_MEDIA: {"schema": {"type": "object"}}},
}
_DOCS: dict[int | str, dict[str, Any]] = {200: _TAXII_OK, **guard_docs(), **error_docs(404, 406)}
_PAGED_DOCS: dict[int | str, dict[str, Any]] = {**_DOCS, **error_docs(400)}

MatchQuery = Annotated[str | None, Query(max_length=4096, pattern=ONE_LINE_PATTERN)]


def _taxii(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, media_type=taxii.TAXII_MEDIA, headers=headers)


async def _scope(session: AsyncSession, principal: Principal, collection: taxii.CollectionDef) -> FeedScope:
    return FeedScope(
        provider_ids=await visible_provider_ids(session=session, principal=principal),
        tlps=readable_tlps(principal.role),
        severities=collection.severities,
    )


@router.get(taxii.DISCOVERY_PATH, responses=_DOCS, response_class=JSONResponse)
async def discovery(request: Request, _: PrincipalDep) -> JSONResponse:
    """TAXII discovery: ewarn's one API root."""
    return not_acceptable(request.headers.get("accept")) or _taxii(taxii.discovery(str(request.base_url)))


@router.get(taxii.API_ROOT_PATH, responses=_DOCS, response_class=JSONResponse)
async def api_root(request: Request, _: PrincipalDep) -> JSONResponse:
    """The API root: TAXII 2.1 only."""
    return not_acceptable(request.headers.get("accept")) or _taxii(taxii.api_root())


@router.get(f"{taxii.API_ROOT_PATH}collections/", responses=_DOCS, response_class=JSONResponse)
async def list_collections(request: Request, _: PrincipalDep) -> JSONResponse:
    """Every collection (their content depends on the key)."""
    return not_acceptable(request.headers.get("accept")) or _taxii(
        {"collections": [c.resource() for c in taxii.COLLECTIONS]}
    )


def _collection(collection_id: str) -> taxii.CollectionDef | JSONResponse:
    found = taxii.BY_ID.get(collection_id)
    return found if found is not None else taxii_error(404, "Not Found", "no such collection")


@router.get(
    f"{taxii.API_ROOT_PATH}collections/{{collection_id}}/", responses=_DOCS, response_class=JSONResponse
)
async def get_collection(collection_id: str, request: Request, _: PrincipalDep) -> JSONResponse:
    """One collection."""
    if (refused := not_acceptable(request.headers.get("accept"))) is not None:
        return refused
    found = _collection(collection_id)
    return found if isinstance(found, JSONResponse) else _taxii(found.resource())


async def _page(
    session: AsyncSession,
    principal: Principal,
    collection_id: str,
    *,
    added_after: str | None,
    limit: int,
    next_: str | None,
    match: Match,
) -> Page | JSONResponse:
    found = _collection(collection_id)
    if isinstance(found, JSONResponse):
        return found
    since = parse_timestamp(added_after) if added_after else None
    if added_after and since is None:
        return taxii_error(400, "Bad Request", "added_after is not an RFC 3339 timestamp")
    if found.kind == "sightings":
        relayed = await relay.collection_entries(session, principal)
        page = relay.page_of(relayed, since=since, after=next_, limit=limit, match=match)
        return page or taxii_error(400, "Bad Request", "next is not a value this server gave")
    after = decode_next(next_) if next_ else None
    if next_ and after is None:
        return taxii_error(400, "Bad Request", "next is not a value this server gave")
    items = await alerts_added(
        session=session,
        scope=await _scope(session, principal, found),
        added_after=since,
        after=after,
        limit=limit + 1,  # every alert has three objects or more: ``limit`` alerts always fill a page
    )
    return build_page(items[:limit], limit=limit, match=match, fetched_more=len(items) > limit)


_PAGING = {
    "added_after": Query(max_length=64, json_schema_extra={"format": "date-time"}),
    "limit": Query(ge=1, le=MAX_LIMIT),
    "next": Query(alias="next", max_length=256, pattern=NEXT_PATTERN),
}


@dataclass(frozen=True)
class _PageQuery:
    added_after: str | None
    limit: int
    next_: str | None
    match: Match


def _page_query(
    added_after: Annotated[str | None, _PAGING["added_after"]] = None,
    limit: Annotated[int, _PAGING["limit"]] = 100,
    next_: Annotated[str | None, _PAGING["next"]] = None,
    match_type: Annotated[MatchQuery, Query(alias="match[type]")] = None,
    match_id: Annotated[MatchQuery, Query(alias="match[id]")] = None,
    match_version: Annotated[MatchQuery, Query(alias="match[version]")] = None,
    match_spec_version: Annotated[MatchQuery, Query(alias="match[spec_version]")] = None,
) -> _PageQuery:
    """The paging and filter parameters the objects and manifest endpoints share."""
    match = Match.of(match_type, match_id, match_version, match_spec_version)
    return _PageQuery(added_after, limit, next_, match)


PageQueryDep = Annotated[_PageQuery, Depends(_page_query)]


async def _page_for(
    request: Request, session: AsyncSession, principal: Principal, collection_id: str, q: _PageQuery
) -> Page | JSONResponse:
    if (refused := not_acceptable(request.headers.get("accept"))) is not None:
        return refused
    return await _page(
        session,
        principal,
        collection_id,
        added_after=q.added_after,
        limit=q.limit,
        next_=q.next_,
        match=q.match,
    )


@router.get(
    f"{taxii.API_ROOT_PATH}collections/{{collection_id}}/objects/",
    responses=_PAGED_DOCS,
    response_class=JSONResponse,
)
async def get_objects(
    collection_id: str, request: Request, session: SessionDep, principal: PrincipalDep, q: PageQueryDep
) -> JSONResponse:
    """An envelope of STIX objects, oldest added first; ``next`` continues, ``added_after`` resumes."""
    page = await _page_for(request, session, principal, collection_id, q)
    return page if isinstance(page, JSONResponse) else _taxii(page.envelope(), page.headers())


@router.get(
    f"{taxii.API_ROOT_PATH}collections/{{collection_id}}/manifest/",
    responses=_PAGED_DOCS,
    response_class=JSONResponse,
)
async def get_manifest(
    collection_id: str, request: Request, session: SessionDep, principal: PrincipalDep, q: PageQueryDep
) -> JSONResponse:
    """The manifest: id, date added, version and media type of each object, paged like the objects."""
    page = await _page_for(request, session, principal, collection_id, q)
    return page if isinstance(page, JSONResponse) else _taxii(page.manifest(), page.headers())


async def _find_object(
    session: AsyncSession, principal: Principal, collection: taxii.CollectionDef, object_id: str
) -> Entry | None:
    """The object with this id among the collection's alerts the key may read (the first alert naming it)."""
    if collection.kind == "sightings":
        return relay.find(await relay.collection_entries(session, principal), object_id)
    scope = await _scope(session, principal, collection)
    after = None
    while True:
        items = await alerts_added(session=session, scope=scope, after=after, limit=SCAN_BATCH)
        for item in items:
            alert = item.alert
            ids = {*object_ids_of(alert.id, alert.revision).values(), PRODUCER_ID}
            ids.add(provider_identity_id(alert.provider_id))
            if object_id.startswith(_ACTION_KINDS) and (
                alert.remediations or alert.next_steps or alert.playbook
            ):
                ids.update(o["id"] for o in alert_object_dicts(alert))  # courses of action, relationships
            if object_id in ids:
                obj = next(o for o in alert_object_dicts(alert) if o["id"] == object_id)
                return Entry(obj, item.added)
        if len(items) < SCAN_BATCH:
            return None
        after = (items[-1].added, items[-1].alert.id)


async def _lookup_object(
    request: Request, session: AsyncSession, principal: Principal, collection_id: str, object_id: str
) -> Entry | JSONResponse:
    """The object the key may read, or the TAXII answer that says why not (406, 404)."""
    if (refused := not_acceptable(request.headers.get("accept"))) is not None:
        return refused
    found = _collection(collection_id)
    if isinstance(found, JSONResponse):
        return found
    entry = await _find_object(session, principal, found, object_id)
    if entry is None:
        return taxii_error(404, "Not Found", "no such object in this collection")
    return entry


@router.get(
    f"{taxii.API_ROOT_PATH}collections/{{collection_id}}/objects/{{object_id}}/",
    responses=_DOCS,
    response_class=JSONResponse,
)
async def get_object(
    collection_id: str,
    object_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
) -> JSONResponse:
    """One object (its one version) in an envelope."""
    entry = await _lookup_object(request, session, principal, collection_id, object_id)
    if isinstance(entry, JSONResponse):
        return entry
    page = Page(entries=[entry])
    return _taxii(page.envelope(), page.headers())


@router.get(
    f"{taxii.API_ROOT_PATH}collections/{{collection_id}}/objects/{{object_id}}/versions/",
    responses=_DOCS,
    response_class=JSONResponse,
)
async def get_object_versions(
    collection_id: str,
    object_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
) -> JSONResponse:
    """The versions of one object: one each (a new alert revision is a new object)."""
    entry = await _lookup_object(request, session, principal, collection_id, object_id)
    if isinstance(entry, JSONResponse):
        return entry
    headers = {
        "X-TAXII-Date-Added-First": taxii_time(entry.added),
        "X-TAXII-Date-Added-Last": taxii_time(entry.added),
    }
    return _taxii({"more": False, "versions": [version_of(entry.obj)]}, headers)
