"""The TAXII reads of the feed source: media types, and 2.0 range paging, against a canned transport."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from ewarn.ingest.sources.taxii_protocol import (
    OBJECTS_MEDIA,
    TAXII_MEDIA,
    TaxiiClient,
    TaxiiCollection,
    TaxiiProtocolError,
    media_type_matches,
)

ROOT = "http://taxii.test/root/"


@pytest.mark.parametrize(
    ("content_type", "accept", "matches"),
    [
        pytest.param("application/taxii+json;version=2.1", TAXII_MEDIA["2.1"], True, id="exact-2.1"),
        pytest.param(
            "application/taxii+json; version=2.1; charset=utf-8", TAXII_MEDIA["2.1"], True, id="extra-param"
        ),
        pytest.param("application/taxii+json;version=2.0", TAXII_MEDIA["2.1"], False, id="other-version"),
        pytest.param("application/json", TAXII_MEDIA["2.1"], False, id="plain-json"),
        pytest.param(None, TAXII_MEDIA["2.1"], False, id="none"),
        pytest.param("text/html", OBJECTS_MEDIA["2.0"], False, id="html"),
        pytest.param(
            "application/vnd.oasis.stix+json; version=2.0", OBJECTS_MEDIA["2.0"], True, id="stix-2.0"
        ),
    ],
)
def test_media_type_matches(content_type: str | None, accept: str, matches: bool) -> None:
    assert media_type_matches(content_type, accept) is matches


class RangeServer(BaseAdapter):
    """A 2.0 objects endpoint over ``total`` objects that honours ``Range`` (at most ``cap`` per response)."""

    def __init__(self, total: int, cap: int, announce_total: bool = True) -> None:
        super().__init__()
        self.total, self.cap, self.announce_total = total, cap, announce_total
        self.ranges: list[str] = []

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:
        asked = str(request.headers.get("Range"))
        self.ranges.append(asked)
        match = re.match(r"items (\d+)-(\d+)", asked)
        assert match, asked
        first = int(match.group(1))
        last = min(int(match.group(2)), first + self.cap - 1, self.total - 1)
        objects = [{"type": "indicator", "id": f"indicator--{n}"} for n in range(first, last + 1)]
        response = requests.Response()
        response.status_code = 206
        response.headers["Content-Type"] = OBJECTS_MEDIA["2.0"]
        response.headers["Content-Range"] = (
            f"items {first}-{last}/{self.total if self.announce_total else '*'}"
        )
        response._content = json.dumps({"type": "bundle", "objects": objects}).encode()
        response.url = str(request.url)
        response.request = request
        return response

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("total", "cap", "announce_total", "expected_ranges"),
    [
        pytest.param(5, 10, True, ["items 0-1", "items 2-3", "items 4-5"], id="pages-of-two"),
        pytest.param(5, 1, True, [f"items {n}-{n + 1}" for n in range(5)], id="server-caps-at-one"),
        pytest.param(4, 10, False, ["items 0-1", "items 2-3", "items 4-5"], id="unknown-total"),
    ],
)
def test_range_paging_reads_every_object_once(
    total: int, cap: int, announce_total: bool, expected_ranges: list[str]
) -> None:
    server = RangeServer(total, cap, announce_total)
    session = requests.Session()
    session.mount("http://", server)
    client = TaxiiClient(session, "2.0")
    collection = TaxiiCollection(id="c1", url=f"{ROOT}collections/c1/", can_read=True)
    pages = list(client.object_pages(collection, added_after=None, page_size=2))
    ids = [o["id"] for page in pages for o in page["objects"]]
    assert ids == [f"indicator--{n}" for n in range(total)]
    assert server.ranges == expected_ranges


def test_wrong_media_type_is_a_protocol_error() -> None:
    class Html(BaseAdapter):
        def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:
            response = requests.Response()
            response.status_code = 200
            response.headers["Content-Type"] = "text/html"
            response._content = b"<html></html>"
            response.request = request
            return response

        def close(self) -> None:
            pass

    session = requests.Session()
    session.mount("http://", Html())
    with pytest.raises(TaxiiProtocolError, match="text/html"):
        TaxiiClient(session, "2.1").api_roots("http://taxii.test/taxii2/")
