"""Inputs that once answered 500 (issue 10 item 15), each with its neighbours: extreme
dates and months, and forged pagination cursors on every paginated list."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer

from tests.factories import make_contract


def _cursor(raw: str) -> str:
    return quote(base64.b64encode(raw.encode()).decode())


@pytest.fixture
def world(cast):
    make_contract(cast.brand, cast.performer)
    return cast


@pytest.mark.parametrize("query", [
    "to=9999-12-31", "to=9999-12-31T23:59:59Z", "from=9999-12-31", "from=0001-01-01", "to=0001-01-01",
    "from=1969-12-31", "to=9999-12-31T23:59:59-05:00", "from=0001-01-01T00:00:00+14:00",
])
def test_usage_dates_outside_the_calendar_are_a_400(world, query):
    resp = world.client("brand").get(f"/api/v1/usage?{query}")
    assert resp.status_code == 400, resp.content
    field = query.split("=")[0]
    message = resp.json()["error"]["fields"][field][0]
    assert "Dates run from 1970-01-01 to 9998-12-31" in message or "ISO 8601" in message


@pytest.mark.parametrize("query", ["from=1970-01-01", "to=9998-12-31", "from=2026-01-01T00:00:00Z&to=9998-12-31"])
def test_usage_dates_at_the_calendar_edges_are_served(world, query):
    assert world.client("brand").get(f"/api/v1/usage?{query}").status_code == 200


@pytest.mark.parametrize("month,status", [("9999-12", 400), ("0001-01", 400), ("1969-12", 400),
                                          ("1970-01", 200), ("9998-12", 200), ("2026-13", 400)])
def test_statement_months_outside_the_calendar_are_a_400(world, month, status):
    assert world.client("performer").get(f"/api/v1/ledger/statements?month={month}").status_code == status


def _paginated_lists() -> list[str]:
    """Every GET whose 200 body is a cursor page, from the schema itself (a new list is covered)."""
    document = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
    out = []
    for path, item in document["paths"].items():
        get = item.get("get")
        if not get or "{" in path:
            continue
        body = get["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
        if "$ref" in body:
            body = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
        if "next" in body.get("properties", {}):
            out.append(path)
    return sorted(out)


PAGINATED = _paginated_lists()


def test_the_schema_lists_the_paginated_endpoints():
    assert {"/api/v1/contracts", "/api/v1/generations", "/api/v1/usage", "/api/v1/ledger/transactions"} <= set(PAGINATED)


@pytest.mark.parametrize("path", PAGINATED)
@pytest.mark.parametrize("raw", ["p=notadate", "p=9999-99-99", "p=", "o=1&p=\u0000", "r=1&p=2026-13-01", "garbage"])
def test_a_forged_cursor_is_a_400_on_every_list(world, path, raw):
    who = "performer" if path.endswith("statements") else "brand"
    resp = world.client(who).get(f"{path}?cursor={_cursor(raw)}")
    assert resp.status_code in (400, 403), resp.content  # 403: a list this role may not read at all
    if resp.status_code == 400:
        assert resp.json()["error"]["fields"] == {"cursor": ["Invalid cursor."]}


@pytest.mark.parametrize("path", PAGINATED)
def test_a_real_cursor_still_pages(world, path):
    who = "performer" if path.endswith("statements") else "brand"
    first = world.client(who).get(f"{path}?limit=1")
    if first.status_code == 403:
        return
    assert first.status_code == 200
    nxt = first.json()["next"]
    if nxt:
        assert world.client(who).get(nxt).status_code == 200
