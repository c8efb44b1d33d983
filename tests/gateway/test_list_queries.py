"""``GET /generations`` costs the same number of queries for 2 rows as for 20
(STYLE.md 6: list endpoints assert their query counts, so no page grows into N+1)."""

from __future__ import annotations

import pytest

from gateway.models import Generation, GenerationStatus
from ledger import services as ledger
from tests.factories import make_contract

URL = "/api/v1/generations"
# One query authenticates the key, one reads the page: the royalty transaction is
# joined, and its summary is read from the transaction's meta.
QUERIES = 2


def make_generations(cast, count: int) -> None:
    """``count`` generations of one contract, every other one delivered and paid."""
    contract = make_contract(cast.brand, cast.performer)
    for i in range(count):
        gen = Generation.objects.create(
            contract=contract, brand=cast.brand, performer=cast.performer, script="Fizzly!", platform="tiktok",
            category="soft_drinks", language="en", territory="US", profile="vertical",
            status=GenerationStatus.QUEUED)
        if i % 2:
            continue
        hold = ledger.hold_create(contract=contract, reference=gen.id, idempotency_key=f"hold:{gen.id}")
        txn = ledger.hold_post(hold=hold, duration_s=3.0, idempotency_key=f"post:{gen.id}")
        Generation.objects.filter(id=gen.id).update(status=GenerationStatus.DELIVERED, ledger_transaction=txn,
                                                    asset_sha256="a" * 64, asset_bytes=1000, duration_s=3.0)


@pytest.mark.parametrize("rows", [2, 20])
@pytest.mark.parametrize("who", ["brand", "performer", "union"])
def test_the_generation_list_costs_the_same_for_any_length(cast, who, rows, django_assert_num_queries):
    make_generations(cast, rows)
    client = cast.client(who)
    client.get(URL)  # the key's last_used_at is written at most once a minute: not part of the count
    with django_assert_num_queries(QUERIES):
        body = client.get(URL, {"limit": 50}).json()
    assert len(body["results"]) == rows
    assert sum(g["royalty"] is not None for g in body["results"]) == (rows + 1) // 2


@pytest.mark.parametrize("rows", [2, 20])
def test_a_filtered_list_too(cast, rows, django_assert_num_queries):
    make_generations(cast, rows)
    client = cast.client("union")
    client.get(URL)
    with django_assert_num_queries(QUERIES):
        body = client.get(URL, {"status": "delivered"}).json()
    assert len(body["results"]) == (rows + 1) // 2
