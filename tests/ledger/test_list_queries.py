"""``GET /usage`` (JSON and CSV) and ``GET /ledger/transactions`` cost the same number
of queries for 2 rows as for 20 (STYLE.md 6: list endpoints assert their query counts)."""

from __future__ import annotations

import pytest

from ledger import services as ledger
from tests.factories import make_contract

ROWS = [2, 20]
WHO = ["brand", "performer", "union"]


@pytest.fixture
def client_with_uses(cast):
    """``make(who, count)``: ``who``'s client, after ``count`` metered uses of one
    contract (every other one posted: a royalty transaction)."""

    def make(who: str, count: int):
        contract = make_contract(cast.brand, cast.performer)
        for i in range(count):
            hold = ledger.hold_create(contract=contract, reference=f"gen_{i}", idempotency_key=f"hold:{i}",
                                      meta={"platform": "tiktok", "script_chars": 40})
            if i % 2 == 0:
                ledger.hold_post(hold=hold, duration_s=3.0, idempotency_key=f"post:{i}")
        client = cast.client(who)
        client.get("/api/v1/parties/me")  # the key's last_used_at is written at most once a minute
        return client

    return make


@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("who", WHO)
def test_the_usage_report_costs_the_same_for_any_length(client_with_uses, who, rows, django_assert_num_queries):
    client = client_with_uses(who, rows)
    # One query authenticates the key, one reads the page (contract and transaction joined).
    with django_assert_num_queries(2):
        body = client.get("/api/v1/usage", {"limit": 50}).json()
    assert len(body["results"]) == rows
    with django_assert_num_queries(2):
        lines = b"".join(client.get("/api/v1/usage", {"format": "csv"}).streaming_content).decode().splitlines()
    assert len(lines) == rows + 1


@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("who", WHO)
def test_the_transaction_list_costs_the_same_for_any_length(client_with_uses, who, rows, django_assert_num_queries):
    client = client_with_uses(who, rows)
    # One query authenticates the key, one reads the page with each leaf, one every posting of it.
    with django_assert_num_queries(3):
        body = client.get("/api/v1/ledger/transactions", {"limit": 50}).json()
    assert len(body["results"]) == (rows + 1) // 2
    assert all(len(t["postings"]) == 4 for t in body["results"])
