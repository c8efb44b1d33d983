"""``GET /contracts`` (and the performer directory) cost the same number of queries
for 2 rows as for 20 (STYLE.md 6: list endpoints assert their query counts)."""

from __future__ import annotations

import pytest

from rights.models import Party, PartyKind
from tests.factories import make_contract

# One query authenticates the key, one reads the page (with both parties joined).
QUERIES = 2


@pytest.mark.parametrize("rows", [2, 20])
@pytest.mark.parametrize("who", ["brand", "performer", "union"])
def test_the_contract_list_costs_the_same_for_any_length(cast, who, rows, django_assert_num_queries):
    for _ in range(rows):
        make_contract(cast.brand, cast.performer)
    client = cast.client(who)
    client.get("/api/v1/contracts")  # the key's last_used_at is written at most once a minute
    with django_assert_num_queries(QUERIES):
        body = client.get("/api/v1/contracts", {"limit": 50}).json()
    assert len(body["results"]) == rows
    assert {c["performer_name"] for c in body["results"]} == {cast.performer.name}


@pytest.mark.parametrize("rows", [2, 20])
def test_the_performer_directory_costs_the_same_for_any_length(cast, rows, django_assert_num_queries):
    for i in range(rows):
        Party.objects.create(kind=PartyKind.PERFORMER, name=f"Member {i}", union=cast.union)
    client = cast.client("union")
    client.get("/api/v1/performers")
    with django_assert_num_queries(QUERIES):
        body = client.get("/api/v1/performers", {"limit": 50}).json()
    assert len(body["results"]) == rows + 1  # and the cast's own member
