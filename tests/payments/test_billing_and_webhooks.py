"""Brand billing and Stripe webhooks (issue 11 items 3, 4, 5): meter reports with
retries, invoice.paid settling the receivable, flags, the credit limit (402), webhook
signatures and redelivery, reconcile on a full cycle."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from gateway.models import Generation
from ledger.models import Account, AccountPurpose
from ledger.selectors import account_totals
from payments.models import BrandBilling, MeterReport, StripeEvent
from payments.services import billing, events, payouts, reconcile
from tests import factories as rights_factories
from tests.factories import client_for
from tests.ledger.factories import make_key
from tests.payments.conftest import deliver, deliver_all, earn, onboard, signed_post

pytestmark = pytest.mark.django_db(transaction=True)


def receivable(brand, currency="USD") -> int:
    account = Account.objects.filter(party=brand, purpose=AccountPurpose.RECEIVABLE, currency=currency).first()
    if account is None:
        return 0
    debits, credits = account_totals(account_ids=[account.id])[account.id]
    return debits - credits


def meter_total(fake, brand) -> int:
    customer = BrandBilling.objects.get(party=brand).stripe_customer
    meter = fake.client.v1.billing.meters.list(params={"limit": 10}).data[0]
    summaries = fake.client.v1.billing.meters.event_summaries.list(
        meter.id, params={"customer": customer, "start_time": 0, "end_time": int(time.time()) + 86400})
    return sum(int(s.aggregated_value) for s in summaries.data)


def test_each_billed_transaction_is_metered_once_even_when_retried(stripe_on, world):
    earn(world, 3)
    owed = receivable(world.brand)
    assert billing.billing_sync() == {"collected": 3, "sent": 3, "failed": 0}
    assert meter_total(stripe_on, world.brand) == owed
    # A retry of every report (as after a crash before marking them sent): Stripe bills nothing twice.
    MeterReport.objects.update(reported_at=None)
    assert billing.billing_sync()["sent"] == 3
    assert meter_total(stripe_on, world.brand) == owed and stripe_on.stats()["meter_events"] == 3
    assert billing.billing_sync() == {"collected": 0, "sent": 0, "failed": 0}


def test_meter_reports_wait_when_stripe_is_unreachable_and_go_later(stripe_on, settings, world):
    earn(world, 2)
    settings.DOPPEL_STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens
    result = billing.billing_sync()
    assert result["sent"] == 0 and result["failed"] == 1
    assert MeterReport.objects.filter(reported_at__isnull=True).count() == 2
    assert MeterReport.objects.filter(attempts=1).exclude(last_error="").count() == 1
    settings.DOPPEL_STRIPE_API_BASE = stripe_on.url
    assert billing.billing_sync()["sent"] == 2
    assert meter_total(stripe_on, world.brand) == receivable(world.brand)


def test_invoice_paid_settles_the_receivable_once(stripe_on, world):
    earn(world, 3)
    owed = receivable(world.brand)
    billing.billing_sync()
    customer = BrandBilling.objects.get(party=world.brand).stripe_customer
    invoice = stripe_on.close_billing(customer, "usd")
    assert invoice["amount_due"] == owed
    stripe_on.pay_invoice(invoice["id"])
    assert deliver_all(stripe_on, "invoice.paid") == 1
    deliver_all(stripe_on, "invoice.paid")  # redelivered: stored once, settled once
    assert receivable(world.brand) == 0
    assert StripeEvent.objects.filter(type="invoice.paid").count() == 1
    cash = Account.objects.get(party__isnull=True, purpose=AccountPurpose.STRIPE_CASH, currency="USD")
    debits, credits = account_totals(account_ids=[cash.id])[cash.id]
    assert debits - credits == owed


def test_full_cycle_clearing_is_zero_and_ledger_agrees_with_stripe(stripe_on, world, settings):
    """render → bill → invoice paid → payout: clearing zero, reconcile clean to the minor unit."""
    settings.DOPPEL_PAYOUT_MINIMUMS = ["USD=1"]
    earn(world, 5)
    onboard(stripe_on, world.performer)
    onboard(stripe_on, world.union)
    billing.billing_sync()
    invoice = stripe_on.close_billing(BrandBilling.objects.get(party=world.brand).stripe_customer, "usd")
    stripe_on.pay_invoice(invoice["id"])
    deliver_all(stripe_on, "invoice.paid")
    payouts.payouts_run()
    run = reconcile.reconcile(repair=False)
    assert run.ok, run.differences
    assert run.counts["transfers_matched"] == 2 and run.counts["meters_compared"] == 1
    assert run.counts["paid_invoices"] == 1
    clearing = Account.objects.get(party__isnull=True, purpose=AccountPurpose.CLEARING, currency="USD")
    assert account_totals(account_ids=[clearing.id])[clearing.id][0] == \
        account_totals(account_ids=[clearing.id])[clearing.id][1]
    # Cash at Stripe = paid by the brand − paid out = our fee.
    fee = Account.objects.get(party__isnull=True, purpose=AccountPurpose.PLATFORM_FEE, currency="USD")
    cash = Account.objects.get(party__isnull=True, purpose=AccountPurpose.STRIPE_CASH, currency="USD")
    fd, fc = account_totals(account_ids=[fee.id])[fee.id]
    cd, cc = account_totals(account_ids=[cash.id])[cash.id]
    assert cd - cc == fc - fd


def test_reconcile_finds_and_repairs_a_missed_invoice_paid(stripe_on, world):
    earn(world, 2)
    billing.billing_sync()
    invoice = stripe_on.close_billing(BrandBilling.objects.get(party=world.brand).stripe_customer, "usd")
    stripe_on.pay_invoice(invoice["id"])  # its webhook never arrives
    broken = reconcile.reconcile(repair=False)
    assert [d["kind"] for d in broken.differences] == ["invoice_not_settled"]
    fixed = reconcile.reconcile()
    assert fixed.ok and receivable(world.brand) == 0


def test_reconcile_reports_a_meter_total_stripe_disagrees_with(stripe_on, world):
    earn(world, 2)
    billing.billing_sync()
    MeterReport.objects.filter(pk=MeterReport.objects.first().pk).update(value=1)  # our record altered
    run = reconcile.reconcile(repair=False)
    assert {d["kind"] for d in run.differences} >= {"meter_total_mismatch", "billed_not_metered"}


def test_payment_failure_and_dispute_flag_the_brand(stripe_on, world):
    earn(world, 1)
    billing.billing_sync()
    customer = BrandBilling.objects.get(party=world.brand).stripe_customer
    invoice = stripe_on.close_billing(customer, "usd")
    stripe_on.fail_invoice(invoice["id"])
    deliver_all(stripe_on, "invoice.payment_failed")
    assert BrandBilling.objects.get(party=world.brand).flag_reason.startswith("payment_failed")
    stripe_on.pay_invoice(invoice["id"])
    deliver_all(stripe_on, "invoice.paid")
    assert BrandBilling.objects.get(party=world.brand).flagged_at is None
    stripe_on.dispute(customer, 500, "usd")
    deliver_all(stripe_on, "charge.dispute.created")
    assert BrandBilling.objects.get(party=world.brand).flag_reason.startswith("dispute")


def _generate(world, key):
    if not hasattr(world, "consented"):  # a contract the performer accepted through the rights services
        world.consented = rights_factories.make_contract(world.brand, world.performer)
    return client_for(key).post("/api/v1/generations", data={
        "contract": world.consented.id, "platform": "tiktok", "category": "soft_drinks", "language": "en",
        "territory": "US", "script": "Fizzly lemon soda. Taste the summer!"},
        format="json", headers={"Idempotency-Key": f"k-{time.monotonic_ns()}"})


def test_credit_limit_refuses_with_402_recorded_like_a_denial(stripe_on, settings, world):
    key = make_key(world.brand)
    earn(world, 2)
    owed = receivable(world.brand)
    BrandBilling.objects.create(party=world.brand, credit_limit_major=owed // 100)  # USD: 1 major = 100 minor
    response = _generate(world, key)
    assert response.status_code == 402, response.content
    body = response.json()["error"]
    assert body["code"] == "payment_required" and body["reasons"][0]["rule"] == "credit_limit"
    gen = Generation.objects.get(id=body["generation"])
    assert gen.status == "denied" and "credit_limit" in json.dumps(gen.decision)
    # The union sees the denial like any other.
    union = client_for(make_key(world.union)).get(f"/api/v1/generations/{gen.id}")
    assert union.status_code == 200
    # Paid up: allowed again.
    BrandBilling.objects.filter(party=world.brand).update(credit_limit_major=10_000)
    assert _generate(world, key).status_code == 202


def test_a_flagged_brand_is_refused_until_cleared(stripe_on, world):
    key = make_key(world.brand)
    BrandBilling.objects.create(party=world.brand, flagged_at="2026-11-01T00:00:00Z", flag_reason="dispute dp_1")
    response = _generate(world, key)
    assert response.status_code == 402 and response.json()["error"]["reasons"][0]["rule"] == "billing_flagged"
    billing.brand_unflag(brand=world.brand)
    assert _generate(world, key).status_code == 202


def test_without_stripe_there_is_no_credit_check(settings, world):
    settings.STRIPE_SECRET_KEY = None
    BrandBilling.objects.create(party=world.brand, credit_limit_major=0)
    assert _generate(world, make_key(world.brand)).status_code == 202


# --- the webhook endpoint ----------------------------------------------------------------------


def _event(type_="account.updated", **obj):
    return {"id": f"evt_{time.monotonic_ns()}", "object": "event", "type": type_, "created": int(time.time()),
            "data": {"object": {"id": "acct_x", "object": "account", **obj}}}


def test_webhook_refuses_unsigned_wrongly_signed_stale_and_malformed(stripe_on):
    payload = json.dumps(_event()).encode()
    client = Client()
    unsigned = client.post("/stripe/webhook", data=payload, content_type="application/json")
    assert unsigned.status_code == 400 and unsigned.json()["error"]["code"] == "invalid_request"
    assert signed_post(payload, "whsec_wrong").status_code == 400
    assert signed_post(payload, stripe_on.webhook_secret, timestamp=int(time.time()) - 3600).status_code == 400
    assert signed_post(b"not json", stripe_on.webhook_secret).status_code == 400
    assert signed_post(json.dumps({"id": "evt_1", "object": "charge"}).encode(),
                       stripe_on.webhook_secret).status_code == 400
    assert signed_post(json.dumps([1, 2]).encode(), stripe_on.webhook_secret).status_code == 400
    huge = json.dumps(_event(pad="x" * (events.MAX_EVENT_BYTES + 1))).encode()
    assert signed_post(huge, stripe_on.webhook_secret).status_code in (400, 413)
    assert client.get("/stripe/webhook").status_code == 405
    assert StripeEvent.objects.count() == 0
    ok = signed_post(payload, stripe_on.webhook_secret)
    assert ok.status_code == 200 and ok.json()["duplicate"] is False
    again = signed_post(payload, stripe_on.webhook_secret)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert StripeEvent.objects.count() == 1


def test_webhook_without_a_secret_is_503(settings, db):
    settings.STRIPE_WEBHOOK_SECRET = None
    assert signed_post(json.dumps(_event()).encode(), "whsec_x").status_code == 503


def test_unknown_types_and_objects_are_recorded_not_failed(stripe_on):
    for event in (_event("customer.created"), _event("account.updated"),
                  {**_event("transfer.reversed"), "data": {"object": {"id": "tr_nope", "object": "transfer",
                                                                      "amount_reversed": 5}}}):
        deliver(stripe_on, event)
    assert set(StripeEvent.objects.values_list("status", flat=True)) == {"ignored"}


def test_a_failing_event_is_retried_and_never_blocks_others(stripe_on, world):
    bad = {**_event("invoice.paid"), "data": {"object": {"id": "in_bad", "customer": "cus_x", "currency": "zzz",
                                                          "status": "paid", "amount_paid": 5}}}
    BrandBilling.objects.create(party=world.brand, stripe_customer="cus_x")
    deliver(stripe_on, bad)
    good = _event("account.updated")
    deliver(stripe_on, good)
    assert StripeEvent.objects.get(id=bad["id"]).status == "failed"
    assert StripeEvent.objects.get(id=good["id"]).status == "ignored"
    StripeEvent.objects.filter(id=bad["id"]).update(received_at="2026-01-01T00:00:00Z")
    assert events.events_retry() == 1
    assert StripeEvent.objects.get(id=bad["id"]).attempts == 2


def test_webhook_through_a_real_http_server_from_the_fake(stripe_on, live_server, world):
    """The fake delivers signed events over HTTP to our endpoint on a live server."""
    stripe_on.set_webhook(f"{live_server.url}/stripe/webhook")
    earn(world, 1)
    acct = __import__("payments.services.onboarding", fromlist=["x"]).payee_account_connect(
        party=world.performer)["account"]
    stripe_on.complete_onboarding(acct)
    stripe_on.wait_webhooks()
    deliveries = [d for d in stripe_on.deliveries() if d.get("type") == "account.updated" or True]
    assert any(d.get("status") == 200 for d in deliveries), deliveries
    stored = StripeEvent.objects.get(type="account.updated")
    assert events.event_process(event_id=stored.id) == "processed"
    assert world.performer.stripe_payee.__class__.objects.get(party=world.performer).payouts_enabled
