"""The operator commands and scheduled tasks of payments (issue 11 items 2, 5):
``payouts_run`` and ``reconcile`` as an operator runs them, bad arguments, the
schedules, transfer.created, revenue shares metered, the brand's statement."""

from __future__ import annotations

import io
import json
import logging
from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_q.models import Schedule

from gateway import schedules as gateway_schedules
from ledger import services as ledger
from ledger.models import AccountPurpose
from payments import tasks
from payments.models import BrandBilling, MeterReport, Payout, ReconcileRun
from payments.services import billing, payouts
from tests.factories import client_for
from tests.ledger.factories import make_key
from tests.payments.conftest import deliver_all, earn, onboard

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_payouts_run_command_dry_run_then_real_then_rerun(stripe_on, world):
    earn(world, 3)
    acct = onboard(stripe_on, world.performer)
    out, _ = run("payouts_run", "--dry-run", "--json")
    plan = json.loads(out)
    assert plan["dry_run"] is True and plan["payouts"] == [] and plan["planned"][0]["destination"] == acct
    assert not Payout.objects.exists()
    out, _ = run("payouts_run", "--json")
    result = json.loads(out)
    [made] = result["payouts"]
    assert made["status"] == "paid" and made["transfer"].startswith("tr_") and result["counts"]["paid"] == 1
    text, _ = run("payouts_run")
    assert text.startswith("payout run") and "po_" not in text  # nothing left to pay
    assert stripe_on.stats()["transfers"] == 1


@pytest.mark.parametrize("args", [("--currency", "XYZ"), ("--currency", "US"), ("--currency", "1234"), ("--bogus",)])
def test_payouts_run_refuses_bad_currencies(stripe_on, world, args):
    with pytest.raises((CommandError, SystemExit)):
        run("payouts_run", *args)
    assert not Payout.objects.exists()


def test_commands_without_stripe_fail_clearly(settings, db):
    settings.STRIPE_SECRET_KEY = None
    with pytest.raises(CommandError, match="not configured"):
        run("reconcile")
    # A run with nothing to pay needs no Stripe; with something to pay it records the error per payee.
    out, _ = run("payouts_run", "--json")
    assert json.loads(out)["payouts"] == []


def test_reconcile_command_json_and_exit_status(stripe_on, world, caplog):
    earn(world, 2)
    with pytest.raises(SystemExit) as exit_info:
        call_command("reconcile", "--json", "--no-repair", stdout=(buf := io.StringIO()))
    assert exit_info.value.code == 1
    report = json.loads(buf.getvalue())
    assert report["ok"] is False and report["differences"][0]["kind"] == "billed_not_metered"
    assert any("reconcile" in r.getMessage() and "billed_not_metered" in r.getMessage()
               for r in caplog.records if r.levelno == logging.ERROR)
    out, _ = run("reconcile", "--json")  # repairs: collects and sends the reports
    assert json.loads(out)["ok"] is True
    assert ReconcileRun.objects.filter(ok=False).count() == 1 and ReconcileRun.objects.filter(ok=True).count() == 1


def test_schedules_are_registered_and_tasks_do_nothing_without_stripe(settings, db):
    gateway_schedules.ensure_schedules()
    funcs = dict(Schedule.objects.values_list("func", "minutes"))
    assert funcs["payments.tasks.payouts_run_task"] == 7 * 24 * 60
    assert funcs["payments.tasks.reconcile_task"] == 24 * 60
    assert "payments.tasks.billing_sync_task" in funcs and "payments.tasks.stripe_events_retry_task" in funcs
    settings.STRIPE_SECRET_KEY = None
    assert tasks.payouts_run_task() is None and tasks.reconcile_task() is None and tasks.billing_sync_task() is None


def test_scheduled_reconcile_records_its_result(stripe_on, world):
    earn(world, 1)
    assert tasks.billing_sync_task()["sent"] == 1
    result = tasks.reconcile_task()
    assert result["ok"] is True and ReconcileRun.objects.get(id=result["run"]).trigger == "schedule"


def test_transfer_created_posts_a_payout_whose_run_died(stripe_on, world):
    from django.utils import timezone

    from ledger.models import Account
    earn(world, 3)
    acct = onboard(stripe_on, world.performer)
    account = Account.objects.get(party=world.performer, purpose="payable", currency="USD")
    po, _ = payouts.payout_reserve(account=account, destination=acct, run=None, now=timezone.now())
    stripe_on.client.v1.transfers.create(
        params={"amount": po.stripe_amount, "currency": "usd", "destination": acct, "transfer_group": po.id,
                "metadata": {"payout": po.id}}, options={"idempotency_key": f"doppel-payout-{po.id}"})
    deliver_all(stripe_on, "transfer.created")
    po.refresh_from_db()
    assert po.status == "paid" and po.transfer


def test_revenue_shares_are_metered_too(stripe_on, world):
    today = date.today()
    ledger.revenue_share_book(contract=world.contract, gross=100_000, currency="USD", period_start=today, period_end=today,
                              idempotency_key="sales-1")
    assert billing.billing_sync()["sent"] == 1
    report = MeterReport.objects.get()
    assert report.transaction.kind == "revenue_share" and report.value > 0


def test_the_brand_statement_shows_what_it_paid(stripe_on, world):
    earn(world, 2)
    billing.billing_sync()
    invoice = stripe_on.close_billing(BrandBilling.objects.get(party=world.brand).stripe_customer, "usd")
    stripe_on.pay_invoice(invoice["id"])
    deliver_all(stripe_on, "invoice.paid")
    month = date.today().strftime("%Y-%m")
    brand = client_for(make_key(world.brand)).get(f"/api/v1/ledger/statements?month={month}").json()
    [usd] = brand["currencies"]
    assert usd["payments_received"] == -invoice["amount_due"] and usd["closing_balance"] == 0
    performer_key = make_key(world.performer)
    onboard(stripe_on, world.performer)
    payouts.payouts_run()
    mine = client_for(performer_key).get(f"/api/v1/ledger/statements?month={month}").json()
    [usd] = mine["currencies"]
    assert usd["payouts"] == -usd["royalties"] and usd["closing_balance"] == 0
    assert any(line["payout"] for line in mine["lines"])
    csv = client_for(performer_key).get(f"/api/v1/ledger/statements?month={month}&format=csv")
    assert csv.status_code == 200 and b"reserve" in b"".join(csv.streaming_content)
    assert AccountPurpose.PAYABLE == mine.get("account_purpose", "payable")
