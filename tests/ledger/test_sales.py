"""Sale reports (issue 10 item 2; docs/ledger.md "Sales").

The failing input: the same contract, period and gross sent twice under two
Idempotency-Keys was booked twice, and a sale on a terminated contract was
accepted. The kind: a sale report is unique per contract and day — any report
overlapping a standing one is refused (409 ``sale_already_reported``), race-safe —
and reports follow the contract's state.
"""

from datetime import UTC, datetime, time, timedelta

import pytest
import yaml
from django.test import Client
from django.utils import timezone

from ledger import services
from ledger.models import LogPending, SaleReport, Transaction
from rights import services as rights_services
from rights.models import Contract, ContractStatus
from tests.ledger.factories import make_world
from tests.ledger.test_concurrency import race

SALES = "/api/v1/sales"


def day(offset):
    return (timezone.now().astimezone(UTC).date() + timedelta(days=offset)).isoformat()


def midnight(offset):
    return datetime.combine(timezone.now().astimezone(UTC).date() + timedelta(days=offset), time.min, tzinfo=UTC)


def report(world, start, end, key, *, gross=250_000, contract=None):
    body = {"contract": (contract or world.contract).id, "gross": gross, "currency": "USD",
            "period_start": day(start), "period_end": day(end)}
    return world.client("brand").post(SALES, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code, response.content
    return response.json()["error"]


def test_the_same_sale_under_two_keys_is_booked_once(world):
    first = report(world, -3, -1, "sale-a")
    assert first.status_code == 201, first.content
    again = report(world, -3, -1, "sale-b")
    error = assert_error(again, 409, "sale_already_reported")
    assert (error["transaction"], error["period_start"], error["period_end"]) == (first.json()["id"], day(-3), day(-1))
    assert report(world, -3, -1, "sale-a").json()["id"] == first.json()["id"]  # the first key still replays
    assert Transaction.objects.filter(kind="revenue_share").count() == SaleReport.objects.count() == 1


@pytest.mark.parametrize(("start", "end", "status"), [
    (-10, -5, 409),  # the same days
    (-8, -7, 409),  # inside
    (-12, -10, 409),  # straddles the first day
    (-5, -3, 409),  # straddles the last day
    (-15, -1, 409),  # contains it
    (-10, -10, 409), (-5, -5, 409),  # one day at each edge
    (-11, -11, 201), (-4, -2, 201),  # adjacent before and after
])
def test_a_report_overlapping_a_standing_one_is_refused(world, start, end, status):
    standing = report(world, -10, -5, "standing")
    assert standing.status_code == 201
    response = report(world, start, end, "other", gross=99)
    assert response.status_code == status, response.content
    if status == 409:
        assert response.json()["error"]["transaction"] == standing.json()["id"]
        assert not Transaction.objects.filter(meta__gross=99).exists() and LogPending.objects.count() == 1


def test_a_reversed_report_frees_its_days_for_the_correction(world):
    wrong = report(world, -10, -5, "wrong", gross=1_000_000)
    assert_error(report(world, -10, -5, "corrected", gross=100_000), 409, "sale_already_reported")
    services.transaction_reverse(transaction=wrong.json()["id"], reason="brand misreported", idempotency_key="fix")
    corrected = report(world, -10, -5, "corrected", gross=100_000)
    assert corrected.status_code == 201, corrected.content
    assert_error(report(world, -6, -6, "third"), 409, "sale_already_reported")
    assert SaleReport.objects.count() == 2


def test_reports_are_per_contract(world):
    other = world.contract.__class__.objects.get(pk=world.contract.pk)
    other.pk, other.terms_hash = None, "another"
    other.save()
    assert report(world, -3, -1, "one").status_code == 201
    assert report(world, -3, -1, "two", contract=other).status_code == 201


# --- the contract's state ----------------------------------------------------------------------


def set_state(contract, **fields):
    Contract.objects.filter(pk=contract.pk).update(**fields)


@pytest.mark.parametrize(("state", "start", "end", "status", "code"), [
    ("active", -1, 0, 201, None),
    ("active", 1, 1, 400, "invalid_request"),  # days that have not happened
    ("active", -40, -35, 400, "invalid_request"),  # before the contract was accepted
    ("suspended", -3, 0, 201, None),  # a suspension stops renders, not the revenue share
    ("terminated", -15, -11, 201, None),  # late report of days it was in force
    ("terminated", -12, -10, 409, "invalid_state"),  # reaches past the termination
    ("terminated", -5, -5, 409, "invalid_state"),
    ("expired", -9, -6, 201, None),
    ("expired", -6, -5, 400, "invalid_request"),  # past valid_until
    ("proposed", -1, -1, 409, "invalid_state"),  # never accepted
    ("declined", -1, -1, 409, "invalid_state"),  # terminated before acceptance
])
def test_sales_follow_the_contract_state(world, state, start, end, status, code):
    if state == "suspended":  # through the service: the database requires a holder for a suspension
        rights_services.contract_transition(contract_id=world.contract.pk, action="suspend",
                                            actor=world.contract.performer)
    elif state == "terminated":
        set_state(world.contract, status=ContractStatus.TERMINATED, terminated_at=midnight(-10))
    elif state == "expired":
        set_state(world.contract, valid_until=midnight(-5))
    elif state == "proposed":
        set_state(world.contract, status=ContractStatus.PROPOSED, accepted_at=None)
    elif state == "declined":
        set_state(world.contract, status=ContractStatus.TERMINATED, accepted_at=None, terminated_at=midnight(-2))
    response = report(world, start, end, "k")
    assert response.status_code == status, response.content
    if code:
        assert response.json()["error"]["code"] == code
        assert not Transaction.objects.exists() and not SaleReport.objects.exists()


def test_the_openapi_description_of_sales_states_the_rules(db):
    schema = yaml.safe_load(Client().get("/api/schema/").content)
    description = schema["paths"]["/api/v1/sales"]["post"]["description"]
    for rule in ("sale_already_reported", "One report per day", "termination", "suspension", "amount_limit_exceeded"):
        assert rule in description


# --- races ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_reports_for_one_period_book_one():
    world = make_world()
    today = timezone.now().date()
    results = race(6, lambda i: services.revenue_share_book(
        contract=world.contract, gross=1000 + i, currency="USD", period_start=today - timedelta(days=2 + i % 2),
        period_end=today, idempotency_key=f"race-{i}"))
    won = [value for status, value in results if status == "ok"]
    lost = [value for status, value in results if status == "error"]
    assert len(won) == 1, results
    assert all(isinstance(exc, services.SaleAlreadyReported) for exc in lost), lost
    assert all(exc.extra["transaction"] == won[0].id for exc in lost)
    assert Transaction.objects.filter(kind="revenue_share").count() == SaleReport.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_one_report_sent_concurrently_under_one_key_replays():
    world = make_world()
    today = timezone.now().date()
    results = race(4, lambda i: services.revenue_share_book(
        contract=world.contract, gross=5000, currency="USD", period_start=today, period_end=today,
        idempotency_key="one-key"))
    assert all(status == "ok" for status, _ in results), results
    assert len({txn.id for _, txn in results}) == 1
    assert SaleReport.objects.count() == 1
