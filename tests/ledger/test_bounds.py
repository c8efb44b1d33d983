"""Bounds of money (issue 10 item 1; docs/ledger.md "Bounds").

The failing input: a brand with a 100 % revenue-share contract posted ~2,050 valid
sales, each gross below 2^53; its receivable's running total passed 2^63, the
64-bit checkpoint column overflowed, the sequencer failed on every run and every
other party's proof was a 500. The kind: any sum of amounts — a checkpoint total,
a balance, a statement — past what a database integer or a JSON number holds.

The bounds: each posting and each transaction's total ≤ 2^53 − 1 (else 422
``amount_limit_exceeded``, nothing written); running totals are exact (< 2^116 by
the id space, stored in 38 digits); SQL sums cannot overflow on either database;
sums are JSON numbers up to 2^53 − 1 and null beyond, with exact ``_exact`` strings.
"""

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from common.api.exceptions import status_of
from ledger import selectors, services
from ledger.log import checkpoint as cp
from ledger.log import merkle
from ledger.log.sequencer import checkpoint_write
from ledger.models import (
    MAX_AMOUNT,
    TOTAL_LIMIT,
    AccountPurpose,
    BalanceCheckpoint,
    LogPending,
    Posting,
    SaleReport,
    Transaction,
)
from ledger.services import Leg
from ledger.services.idempotency import fingerprint
from ledger.services.money import bps_of
from ledger.services.posting import fixed_sql, transaction_statements
from tests.ledger.factories import make_contract, make_party

BAL = "/api/v1/ledger/balances"
INC = "/api/v1/ledger/proofs/inclusion"
HEAD = "/api/v1/ledger/tree-head"
SALES = "/api/v1/sales"
STMT = "/api/v1/ledger/statements"

# More postings of the largest amount than a 64-bit integer can sum: 1,025 × (2^53 − 1) > 2^63.
PAST_2_63 = 1030


def book_max(n, *, debit, credit, tag="bulk"):
    """Bulk-book ``n`` transactions of MAX_AMOUNT (debit → credit) through the posting
    path's own statements (validated legs, the same SQL, the database's triggers),
    in one database transaction: the near-bound state, without n API calls."""
    accounts = {debit.id: debit, credit.id: credit}
    with transaction.atomic():
        for start in range(0, n, 200):
            statements = []
            for i in range(start, min(n, start + 200)):
                _, sql = transaction_statements(
                    kind="adjustment", legs=[Leg(debit, "debit", MAX_AMOUNT, debit.currency),
                                             Leg(credit, "credit", MAX_AMOUNT, credit.currency)],
                    accounts=accounts, idempotency_key=f"{tag}-{i}", request_hash=fingerprint(tag, i=i))
                statements += sql
            fixed_sql(statements)


def python_scan(account_id):
    """(debits, credits) summed in Python: exact at any size, independent of the SQL under test."""
    totals = {"debit": 0, "credit": 0}
    for side, amount in Posting.objects.filter(account_id=account_id).values_list("side", "amount").iterator():
        totals[side] += amount
    return totals["debit"], totals["credit"]


def accounts_of(world):
    return (services.account_get_or_create(party=world.brand, purpose=AccountPurpose.RECEIVABLE, currency="USD"),
            services.account_get_or_create(party=world.performer, purpose=AccountPurpose.PAYABLE, currency="USD"))


def sale(client, contract, gross, day, key):
    return client.post(SALES, {"contract": contract.id, "gross": gross, "currency": "USD", "period_start": day,
                               "period_end": day}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def row(body, purpose):
    [found] = [r for r in body["balances"] if r["purpose"] == purpose]
    return found


def test_totals_past_2_63_stop_nobody_the_issue_scenario_scaled(world, post):
    """A brand's receivable and a performer's payable past 2^63, on both databases:
    the sales that take them there are booked, the sequencer appends and signs,
    balances and statements are exact, and another party's proof still verifies."""
    world.contract.__class__.objects.filter(pk=world.contract.pk).update(revenue_share_bps=10_000)
    receivable, payable = accounts_of(world)
    book_max(PAST_2_63, debit=receivable, credit=payable)
    expected = PAST_2_63 * MAX_AMOUNT
    assert expected > 2**63

    # Still queued: the balance sums 1,030 pending postings (a plain SQLite SUM overflows).
    body = world.client("brand").get(BAL).json()
    assert row(body, "receivable")["debits"] is None and row(body, "receivable")["debits_exact"] == str(expected)

    assert services.log_sequence() == PAST_2_63
    assert BalanceCheckpoint.objects.get(account=receivable).debits == expected  # past the old 64-bit column

    today = timezone.now().date().isoformat()
    response = sale(world.client("brand"), world.contract, 10**15, today, "sale-past-2-63")
    assert response.status_code == 201, response.content
    sale_total = response.json()["royalty"]["total"]
    theirs = post(world.other_contract)  # another party's royalty
    assert services.log_sequence() == 2

    head = world.client("other_brand").get(HEAD).json()
    assert head["size"] == PAST_2_63 + 2
    proof = world.client("other_brand").get(INC, {"transaction": theirs.id})
    assert proof.status_code == 200, proof.content
    merkle.verify_inclusion(bytes.fromhex(proof.json()["leaf_hash"]), proof.json()["leaf_index"], head["size"],
                            [bytes.fromhex(h) for h in proof.json()["audit_path"]],
                            cp.open_checkpoint(head["checkpoint"], cp.parse_verifier_key(head["verifier_key"])).root)

    brand = world.client("brand").get(BAL)
    assert brand.status_code == 200
    receivable_row = row(brand.json(), "receivable")
    assert receivable_row["debits_exact"] == str(expected + sale_total) == str(python_scan(receivable.id)[0])
    assert receivable_row["debits"] is None and receivable_row["balance"] is None
    checkpoint = BalanceCheckpoint.objects.get(account=receivable)
    assert (checkpoint.debits, checkpoint.stale_since) == (expected + sale_total, None)

    # The performer's statement: next month's opening sums every posting in SQL.
    next_month = (timezone.now().replace(day=1) + timedelta(days=32)).strftime("%Y-%m")
    statement = world.client("performer").get(STMT, {"month": next_month})
    assert statement.status_code == 200, statement.content
    [usd] = statement.json()["currencies"]
    performer_total = expected + response.json()["royalty"]["performer_amount"]
    assert usd["opening_balance"] is None and usd["opening_balance_exact"] == str(performer_total)
    assert usd["closing_balance_exact"] == str(performer_total)


def largest_bookable_gross(ph_bps, fee_bps):
    """The largest gross a 100 % revenue share can book: share + P&H + fee ≤ 2^53 − 1."""
    def total(gross):
        return gross + bps_of(gross, ph_bps) + bps_of(gross, fee_bps)
    low, high = 1, MAX_AMOUNT
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if total(mid) <= MAX_AMOUNT else (low, mid - 1)
    return low


def test_a_sale_past_the_amount_bound_is_refused_and_writes_nothing(world):
    world.contract.__class__.objects.filter(pk=world.contract.pk).update(revenue_share_bps=10_000)
    client = world.client("brand")
    today, yesterday = timezone.now().date(), timezone.now().date() - timedelta(days=1)
    limit = largest_bookable_gross(ph_bps=850, fee_bps=1000)

    refused = sale(client, world.contract, limit + 1, today.isoformat(), "over")
    assert refused.status_code == 422, refused.content
    error = refused.json()["error"]
    assert error["code"] == "amount_limit_exceeded" and error["limit"] == MAX_AMOUNT and "amount" in error["fields"]
    refused = sale(client, world.contract, MAX_AMOUNT, today.isoformat(), "max")
    assert refused.status_code == 422
    assert not Transaction.objects.exists() and not SaleReport.objects.exists() and not LogPending.objects.exists()

    booked = sale(client, world.contract, limit, yesterday.isoformat(), "at-the-bound")
    assert booked.status_code == 201, booked.content
    assert booked.json()["royalty"]["total"] <= MAX_AMOUNT < booked.json()["royalty"]["total"] + 3


def test_a_royalty_past_the_amount_bound_is_422(world, key):
    huge = make_contract(performer=make_party("performer"), brand=world.brand, per_render=2**52, per_second=2**40)
    hold = services.hold_create(contract=huge, reference=key(), idempotency_key=key())
    with pytest.raises(services.AmountLimitExceeded) as refused:
        services.hold_post(hold=hold, duration_s=3600, idempotency_key=key())
    assert (status_of(refused.value), refused.value.code) == (422, "amount_limit_exceeded")
    assert not Transaction.objects.exists()


@pytest.mark.parametrize("legs", [
    lambda r, p: [Leg(r, "debit", MAX_AMOUNT + 1, "USD"), Leg(p, "credit", MAX_AMOUNT + 1, "USD")],
    lambda r, p: [Leg(r, "debit", MAX_AMOUNT, "USD"), Leg(r, "debit", 1, "USD"),
                  Leg(p, "credit", MAX_AMOUNT, "USD"), Leg(p, "credit", 1, "USD")],  # total past the bound
])
def test_transaction_record_past_the_amount_bound_is_refused(world, key, legs):
    receivable, payable = accounts_of(world)
    with pytest.raises(services.AmountLimitExceeded):
        services.transaction_record(kind="adjustment", legs=legs(receivable, payable), idempotency_key=key())
    assert not Posting.objects.exists()


def test_a_transaction_at_the_bound_books_and_reverses(world, key):
    receivable, payable = accounts_of(world)
    txn = services.transaction_record(kind="adjustment", idempotency_key=key(),
                                      legs=[Leg(receivable, "debit", MAX_AMOUNT, "USD"),
                                            Leg(payable, "credit", MAX_AMOUNT, "USD")])
    reversal = services.transaction_reverse(transaction=txn, reason="typo", idempotency_key=key())
    assert {p.amount for p in reversal.postings.all()} == {MAX_AMOUNT}
    services.log_sequence()
    assert selectors.account_totals(account_ids=[receivable.id])[receivable.id] == (MAX_AMOUNT, MAX_AMOUNT)


def test_balances_are_json_numbers_up_to_2_53_minus_1_and_exact_strings_beyond(world, key):
    """JavaScript reads 2^53 + 1 as 2^53: past 2^53 − 1 a sum is null, its ``_exact`` twin exact."""
    receivable, payable = accounts_of(world)

    def book(amount):
        services.transaction_record(kind="adjustment", idempotency_key=key(),
                                    legs=[Leg(receivable, "debit", amount, "USD"), Leg(payable, "credit", amount, "USD")])

    book(MAX_AMOUNT)
    for sequenced in (False, True):
        if sequenced:
            services.log_sequence()
        response = world.client("brand").get(BAL)
        assert row(response.json(), "receivable")["debits"] == MAX_AMOUNT == 2**53 - 1
        assert row(response.json(), "receivable")["balance_exact"] == str(MAX_AMOUNT)
    book(2)
    for sequenced in (False, True):
        if sequenced:
            services.log_sequence()
        response = world.client("brand").get(BAL)
        found = row(response.json(), "receivable")
        assert (found["debits"], found["credits"], found["balance"]) == (None, 0, None)
        assert (found["debits_exact"], found["balance_exact"]) == (str(2**53 + 1), str(2**53 + 1))
        assert str(2**53) not in response.content.decode() and "9007199254740993," not in response.content.decode()
        assert json.loads(response.content)["balances"][0]["debits_exact"] == "9007199254740993"


def test_a_checkpoint_holds_the_lifetime_bound_exactly_on_both_databases(world):
    """(2^63 − 1) postings × (2^53 − 1) is the most an account can ever total; it fits 38 digits."""
    receivable, _ = accounts_of(world)
    lifetime = (2**63 - 1) * MAX_AMOUNT
    assert lifetime < 2**116 < TOTAL_LIMIT
    now = timezone.now()
    checkpoint_write({receivable.id: (lifetime, TOTAL_LIMIT - 1)}, log_size=1, now=now)
    stored = BalanceCheckpoint.objects.get(account=receivable)
    assert (stored.debits, stored.credits) == (lifetime, TOTAL_LIMIT - 1)
    assert selectors.account_totals(account_ids=[receivable.id])[receivable.id] == (lifetime, TOTAL_LIMIT - 1)
    with pytest.raises(OverflowError):
        checkpoint_write({receivable.id: (TOTAL_LIMIT, 0)}, log_size=1, now=now)
