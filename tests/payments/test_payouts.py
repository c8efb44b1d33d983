"""Payouts through the fake Stripe server (issue 11 items 1, 2, 5): onboarding, runs,
reruns, crashes, failures, reversals, minimums, JPY and KWD."""

from __future__ import annotations

import pytest
from django.db import transaction

from ledger.models import Account, AccountPurpose, Transaction
from ledger.selectors import account_totals
from payments.models import PayeeAccount, Payout, PayoutStatus
from payments.services import payouts, reconcile
from tests.factories import client_for
from tests.ledger.factories import make_contract, make_key, make_party
from tests.payments.conftest import deliver_all, earn, onboard

pytestmark = pytest.mark.django_db(transaction=True)


def balance(party, purpose=AccountPurpose.PAYABLE, currency="USD") -> int:
    account = Account.objects.filter(party=party, purpose=purpose, currency=currency).first()
    if account is None:
        return 0
    debits, credits = account_totals(account_ids=[account.id])[account.id]
    return credits - debits


def platform_balance(purpose, currency="USD") -> int:
    account = Account.objects.filter(party__isnull=True, purpose=purpose, currency=currency).first()
    if account is None:
        return 0
    debits, credits = account_totals(account_ids=[account.id])[account.id]
    return debits - credits


# --- onboarding ---------------------------------------------------------------------------------


def test_onboarding_creates_one_account_and_follows_account_updated(stripe_on, world):
    key = make_key(world.performer)
    first = client_for(key).post("/api/v1/payouts/account")
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["account"].startswith("acct_") and body["payouts_enabled"] is False
    assert body["onboarding_url"].startswith(stripe_on.url) and body["requirements"]
    again = client_for(key).post("/api/v1/payouts/account").json()
    assert again["account"] == body["account"]  # created once
    assert len(stripe_on.client.v1.accounts.list(params={"limit": 100}).data) == 1
    stripe_on.complete_onboarding(body["account"])
    assert deliver_all(stripe_on, "account.updated") == 1
    state = client_for(key).get("/api/v1/payouts/account").json()
    assert state["payouts_enabled"] is True and state["requirements"] == [] and state["onboarding_url"] is None
    # Restricted later: an older event delivered after the newer one changes nothing.
    stripe_on.restrict(body["account"])
    [newest, older] = stripe_on.events("account.updated")[:2]
    deliver_all(stripe_on, "account.updated")
    assert client_for(key).get("/api/v1/payouts/account").json()["payouts_enabled"] is False
    payee = PayeeAccount.objects.get(party=world.performer)
    payee.stripe_updated = newest["created"] + 10  # a newer one was applied already
    payee.save()
    from tests.payments.conftest import deliver
    deliver(stripe_on, older | {"id": older["id"] + "x", "created": newest["created"]})
    assert PayeeAccount.objects.get(party=world.performer).payouts_enabled is False


def test_onboarding_is_for_payees_and_needs_stripe(settings, world, stripe_on):
    brand = client_for(make_key(world.brand))
    assert brand.post("/api/v1/payouts/account").status_code == 403
    assert client_for(make_key(world.union)).get("/api/v1/payouts/account").status_code == 404  # none yet
    settings.STRIPE_SECRET_KEY = None
    response = client_for(make_key(world.performer)).post("/api/v1/payouts/account")
    assert response.status_code == 503 and response.json()["error"]["code"] == "payments_not_configured"
    assert client_for(None).get("/api/v1/payouts").status_code == 401


def test_account_updated_for_an_account_never_stored_is_adopted_or_ignored(stripe_on, world):
    acct = stripe_on.client.v1.accounts.create(params={"type": "express", "metadata": {"party": world.performer.id}})
    stranger = stripe_on.client.v1.accounts.create(params={"type": "express"})
    stripe_on.complete_onboarding(acct.id)
    stripe_on.complete_onboarding(stranger.id)
    deliver_all(stripe_on, "account.updated")
    assert PayeeAccount.objects.get(party=world.performer).stripe_account == acct.id  # a crash after create
    assert not PayeeAccount.objects.filter(stripe_account=stranger.id).exists()


# --- runs ----------------------------------------------------------------------------------------


def test_a_payout_run_pays_each_payee_once_and_a_rerun_pays_nothing(stripe_on, world):
    earn(world, 3)
    owed, owed_union = balance(world.performer), balance(world.union, AccountPurpose.PENSION_HEALTH)
    assert owed > 1000 and owed_union > 0
    acct = onboard(stripe_on, world.performer)
    run = payouts.payouts_run()
    [po] = Payout.objects.filter(run=run)
    assert (po.status, po.amount, po.destination, po.payee_id) == (PayoutStatus.PAID, owed, acct, world.performer.id)
    transfer = stripe_on.client.v1.transfers.retrieve(po.transfer)
    assert (transfer.amount, transfer.currency, transfer.destination) == (owed, "usd", acct)
    assert transfer.metadata["payout"] == po.id
    assert balance(world.performer) == 0
    assert platform_balance(AccountPurpose.CLEARING) == 0  # clearing returns to zero
    assert platform_balance(AccountPurpose.STRIPE_CASH) == -owed
    # The union has no connected account: its P&H waits, still owed.
    assert balance(world.union, AccountPurpose.PENSION_HEALTH) == owed_union
    assert run.summary["counts"]["not_onboarded"] >= 1
    rerun = payouts.payouts_run()
    assert Payout.objects.filter(run=rerun).count() == 0
    assert stripe_on.stats()["transfers"] == 1
    # The payee sees it.
    page = client_for(make_key(world.performer)).get("/api/v1/payouts").json()
    [row] = page["results"]
    assert (row["id"], row["status"], row["transfer"], row["amount"]) == (po.id, "paid", po.transfer, owed)
    assert row["transaction"] == po.paid_transaction_id
    assert client_for(make_key(world.other_performer)).get("/api/v1/payouts").json()["results"] == []


def test_union_pension_and_health_is_paid_to_the_union(stripe_on, world):
    earn(world, 20)
    owed = balance(world.union, AccountPurpose.PENSION_HEALTH)
    assert owed >= 1000
    onboard(stripe_on, world.union)
    payouts.payouts_run()
    [po] = Payout.objects.filter(payee=world.union)
    assert (po.purpose, po.amount, po.status) == ("pension_health", owed, "paid")
    assert balance(world.union, AccountPurpose.PENSION_HEALTH) == 0
    assert balance(world.performer) > 0  # not onboarded: waits
    fee = Account.objects.get(party__isnull=True, purpose=AccountPurpose.PLATFORM_FEE, currency="USD")
    assert not Payout.objects.filter(purpose="platform_fee").exists() and fee  # our fee stays ours


def test_below_the_minimum_nothing_is_paid_and_the_balance_waits(stripe_on, world, settings):
    earn(world, 1)
    owed = balance(world.performer)
    onboard(stripe_on, world.performer)
    settings.DOPPEL_PAYOUT_MINIMUMS = [f"USD={owed + 1}"]
    run = payouts.payouts_run()
    assert run.summary["counts"]["below_minimum"] == 1 and not Payout.objects.exists()
    assert balance(world.performer) == owed and stripe_on.stats()["transfers"] == 0
    settings.DOPPEL_PAYOUT_MINIMUMS = [f"USD={owed}"]
    payouts.payouts_run()
    assert Payout.objects.get().amount == owed


def test_dry_run_reserves_and_sends_nothing(stripe_on, world):
    earn(world, 3)
    owed = balance(world.performer)
    onboard(stripe_on, world.performer)
    before = Transaction.objects.count()
    run = payouts.payouts_run(dry_run=True)
    assert run.summary["planned"][0]["amount"] == owed
    assert Transaction.objects.count() == before and stripe_on.stats()["transfers"] == 0


@pytest.mark.parametrize(("code", "per_render", "sent", "left"), [
    ("JPY", 1234, 1234 + 10 * 10, 0),  # zero-decimal: sent as is
    ("KWD", 12345, None, None),  # three-decimal: a multiple of 10, the rest stays owed
])
def test_jpy_and_kwd_follow_stripes_amount_rules(stripe_on, world, settings, code, per_render, sent, left):
    contract = make_contract(performer=world.performer, brand=world.brand, currency=code, per_render=per_render,
                             per_second=10)
    earn(world, 1, contract=contract, seconds=10)
    owed = balance(world.performer, currency=code)
    settings.DOPPEL_PAYOUT_MINIMUMS = [f"{code}=1"]
    onboard(stripe_on, world.performer)
    payouts.payouts_run(currencies={code})
    po = Payout.objects.get(currency=code)
    transfer = stripe_on.client.v1.transfers.retrieve(po.transfer)
    if code == "JPY":
        assert (transfer.amount, balance(world.performer, currency=code)) == (sent, left) and owed == sent
    else:
        assert owed % 10 != 0
        assert transfer.amount == owed - owed % 10 and transfer.amount % 10 == 0
        assert balance(world.performer, currency=code) == owed % 10
    assert transfer.currency == code.lower()


def test_a_refused_transfer_fails_the_payout_and_the_balance_is_owed_again(stripe_on, world):
    earn(world, 3)
    owed = balance(world.performer)
    acct = onboard(stripe_on, world.performer)
    stripe_on.fail_transfers(acct)
    run = payouts.payouts_run()
    po = Payout.objects.get(run=run)
    assert po.status == "failed" and po.failure_code and balance(world.performer) == owed
    assert platform_balance(AccountPurpose.CLEARING) == 0
    row = client_for(make_key(world.performer)).get("/api/v1/payouts").json()["results"][0]
    assert row["status"] == "failed" and row["failure"]["code"] == po.failure_code
    stripe_on.fail_transfers(acct, on=False)
    payouts.payouts_run()  # a new payout, a new key
    assert Payout.objects.filter(status="paid").get().amount == owed and balance(world.performer) == 0


def test_a_reversed_transfer_is_owed_again_even_when_the_event_comes_first(stripe_on, world):
    earn(world, 3)
    owed = balance(world.performer)
    onboard(stripe_on, world.performer)
    po = Payout.objects.get(run=payouts.payouts_run())
    stripe_on.client.v1.transfers.reversals.create(po.transfer, params={"amount": 100})
    deliver_all(stripe_on, "transfer.reversed")
    po.refresh_from_db()
    assert (po.status, po.amount_returned, balance(world.performer)) == ("paid", 100, 100)
    stripe_on.client.v1.transfers.reversals.create(po.transfer)
    deliver_all(stripe_on, "transfer.reversed")  # both events again: the redelivered one is a no-op
    po.refresh_from_db()
    assert (po.status, po.amount_returned, balance(world.performer)) == ("reversed", owed, owed)
    assert platform_balance(AccountPurpose.CLEARING) == 0 and platform_balance(AccountPurpose.STRIPE_CASH) == 0


def test_reversal_before_the_payout_was_posted_posts_it_then_reverses(stripe_on, world):
    earn(world, 3)
    owed = balance(world.performer)
    acct = onboard(stripe_on, world.performer)
    account = Account.objects.get(party=world.performer, purpose="payable", currency="USD")
    po, why = payouts.payout_reserve(account=account, destination=acct, run=None, now=__import__(
        "django.utils.timezone", fromlist=["now"]).now())
    assert why == "reserved"
    transfer = stripe_on.client.v1.transfers.create(  # as if the worker died right after this call
        params={"amount": po.stripe_amount, "currency": "usd", "destination": acct, "transfer_group": po.id,
                "metadata": {"payout": po.id}}, options={"idempotency_key": f"doppel-payout-{po.id}"})
    stripe_on.client.v1.transfers.reversals.create(transfer.id)
    deliver_all(stripe_on, "transfer.reversed")
    po.refresh_from_db()
    assert (po.status, po.transfer, po.amount_returned) == ("reversed", transfer.id, owed)
    assert balance(world.performer) == owed and platform_balance(AccountPurpose.CLEARING) == 0


# --- crashes and reconcile -------------------------------------------------------------------------


def test_crash_after_the_transfer_is_posted_by_reconcile_without_a_second_transfer(stripe_on, world):
    earn(world, 3)
    owed = balance(world.performer)
    acct = onboard(stripe_on, world.performer)
    account = Account.objects.get(party=world.performer, purpose="payable", currency="USD")
    from django.utils import timezone
    po, _ = payouts.payout_reserve(account=account, destination=acct, run=None,
                                   now=timezone.now() - payouts_grace())
    Payout.objects.filter(id=po.id).update(created_at=timezone.now() - payouts_grace())
    stripe_on.client.v1.transfers.create(  # the transfer went through; the process died before posting
        params={"amount": po.stripe_amount, "currency": "usd", "destination": acct, "transfer_group": po.id,
                "metadata": {"payout": po.id}}, options={"idempotency_key": f"doppel-payout-{po.id}"})
    broken = reconcile.reconcile(repair=False)
    assert not broken.ok and {d["kind"] for d in broken.differences} >= {"transfer_not_posted"}
    fixed = reconcile.reconcile()
    assert [r["kind"] for r in fixed.repairs if r["kind"].startswith("transfer")] == ["transfer_posted"]
    assert fixed.ok, fixed.differences
    po.refresh_from_db()
    assert po.status == "paid" and po.amount == owed and balance(world.performer) == 0
    assert stripe_on.stats()["transfers"] == 1
    assert reconcile.reconcile().ok


def payouts_grace():
    return reconcile.PENDING_GRACE * 2


def test_crash_before_the_transfer_is_sent_by_reconcile_or_the_next_run_once(stripe_on, world):
    earn(world, 3)
    owed = balance(world.performer)
    acct = onboard(stripe_on, world.performer)
    account = Account.objects.get(party=world.performer, purpose="payable", currency="USD")
    from django.utils import timezone
    po, _ = payouts.payout_reserve(account=account, destination=acct, run=None, now=timezone.now())
    Payout.objects.filter(id=po.id).update(created_at=timezone.now() - payouts_grace())
    assert balance(world.performer) == 0  # reserved: not available to a second run
    assert payouts.payout_reserve(account=account, destination=acct, run=None, now=timezone.now())[1] == "pending"
    run = reconcile.reconcile()
    assert any(r["kind"] == "payout_resent" for r in run.repairs) and run.ok, run.differences
    po.refresh_from_db()
    assert po.status == "paid" and po.amount == owed
    payouts.payouts_run()
    assert stripe_on.stats()["transfers"] == 1


def test_the_same_idempotency_key_never_makes_a_second_transfer(stripe_on, world):
    earn(world, 3)
    acct = onboard(stripe_on, world.performer)
    account = Account.objects.get(party=world.performer, purpose="payable", currency="USD")
    from django.utils import timezone
    po, _ = payouts.payout_reserve(account=account, destination=acct, run=None, now=timezone.now())
    for _ in range(3):  # three workers, retries, a rerun: one transfer
        with transaction.atomic():  # as if the posting had been lost: pending again, nothing booked
            Payout.objects.filter(id=po.id).update(status="pending", transfer=None, paid_transaction=None)
        payouts.payout_execute(payout=Payout.objects.get(id=po.id))
    assert stripe_on.stats()["transfers"] == 1 and stripe_on.stats()["idempotent_replays"] == 2


def test_one_payees_failure_never_stops_the_run(stripe_on, world):
    earn(world, 3)
    other = make_contract(performer=world.other_performer, brand=world.other_brand)
    earn(world, 3, contract=other)
    onboard(stripe_on, world.performer)
    onboard(stripe_on, world.other_performer)
    # The first payee's account row points at an account Stripe does not know.
    PayeeAccount.objects.filter(party=world.performer).update(stripe_account="acct_gone")
    run = payouts.payouts_run()
    statuses = {p.payee_id: p.status for p in Payout.objects.filter(run=run)}
    assert statuses == {world.performer.id: "failed", world.other_performer.id: "paid"}
    assert balance(world.performer) > 0 and balance(world.other_performer) == 0


def test_payouts_list_input_is_checked(stripe_on, world):
    client = client_for(make_key(world.performer))
    assert client.get("/api/v1/payouts?status=bogus").status_code == 400
    assert client.get("/api/v1/payouts?limit=0").status_code == 400
    assert client.get("/api/v1/payouts?cursor=forged").status_code in (400, 404)
    brand = client_for(make_key(make_party("brand")))
    assert brand.get("/api/v1/payouts").status_code == 403


def test_two_runs_at_once_pay_each_payee_once(stripe_on, world):
    from tests.ledger.test_concurrency import race

    earn(world, 3)
    other = make_contract(performer=world.other_performer, brand=world.other_brand)
    earn(world, 3, contract=other)
    owed = balance(world.performer)
    onboard(stripe_on, world.performer)
    onboard(stripe_on, world.other_performer)
    results = race(3, lambda i: payouts.payouts_run())
    assert all(status == "ok" for status, _ in results), results
    paid = Payout.objects.filter(status="paid")
    assert sorted(p.payee_id for p in paid) == sorted([world.performer.id, world.other_performer.id])
    assert stripe_on.stats()["transfers"] == 2
    assert balance(world.performer) == 0 and paid.get(payee=world.performer).amount == owed
    assert platform_balance(AccountPurpose.CLEARING) == 0
