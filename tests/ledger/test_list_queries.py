"""``GET /usage`` (JSON and CSV) and ``GET /ledger/transactions`` cost the same number
of queries for 2 rows as for 20 (STYLE.md 6: list endpoints assert their query counts)."""

from __future__ import annotations

import pytest

from ledger import services as ledger
from tests.factories import make_contract


def make_uses(cast, count: int) -> None:
    """``count`` metered uses of one contract; every other one posted (a royalty transaction)."""
    contract = make_contract(cast.brand, cast.performer)
    for i in range(count):
        hold = ledger.hold_create(contract=contract, reference=f"gen_{i}", idempotency_key=f"hold:{i}",
                                  meta={"platform": "tiktok", "script_chars": 40})
        if i % 2 == 0:
            ledger.hold_post(hold=hold, duration_s=3.0, idempotency_key=f"post:{i}")


def warm(client, url):
    client.get(url)  # the key's last_used_at is written at most once a minute: not part of the count


@pytest.mark.parametrize("rows", [2, 20])
@pytest.mark.parametrize("who", ["brand", "performer", "union"])
def test_the_usage_report_costs_the_same_for_any_length(cast, who, rows, django_assert_num_queries):
    make_uses(cast, rows)
    client = cast.client(who)
    warm(client, "/api/v1/usage")
    # One query authenticates the key, one reads the page (contract and transaction joined).
    with django_assert_num_queries(2):
        body = client.get("/api/v1/usage", {"limit": 50}).json()
    assert len(body["results"]) == rows
    with django_assert_num_queries(2):
        response = client.get("/api/v1/usage", {"format": "csv"})
        lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == rows + 1


@pytest.mark.parametrize("rows", [2, 20])
@pytest.mark.parametrize("who", ["brand", "performer", "union"])
def test_the_transaction_list_costs_the_same_for_any_length(cast, who, rows, django_assert_num_queries):
    make_uses(cast, rows)
    client = cast.client(who)
    warm(client, "/api/v1/ledger/transactions")
    # One query authenticates the key, one reads the page with each leaf, one every posting of it.
    with django_assert_num_queries(3):
        body = client.get("/api/v1/ledger/transactions", {"limit": 50}).json()
    assert len(body["results"]) == (rows + 1) // 2
    assert all(len(t["postings"]) == 4 for t in body["results"])
