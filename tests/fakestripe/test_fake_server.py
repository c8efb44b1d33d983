"""The local fake Stripe server (fakestripe/), driven through the real stripe 16 SDK."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
import stripe

from tests.fakestripe_server import FakeStripe, start_fake_stripe, stop_fake_stripe
from tests.webhook_receiver import Receiver


def _account(fs: FakeStripe, onboard: bool = True):
    acct = fs.client.v1.accounts.create(params={
        "type": "express", "country": "FR", "email": "ana@example.org",
        "capabilities": {"transfers": {"requested": True}}, "metadata": {"performer": "7"}})
    if onboard:
        fs.complete_onboarding(acct.id)
    return acct


def _meter(fs: FakeStripe, ccy: str = "usd"):
    return fs.client.v1.billing.meters.create(params={
        "display_name": f"Doppel usage {ccy}", "event_name": f"doppel_usage_{ccy}",
        "default_aggregation": {"formula": "sum"},
        "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
        "value_settings": {"event_payload_key": "value"}})


def _usage(fs: FakeStripe, customer: str, value: str, identifier: str, ccy: str = "usd"):
    return fs.client.v1.billing.meter_events.create(params={
        "event_name": f"doppel_usage_{ccy}", "identifier": identifier, "timestamp": int(time.time()),
        "payload": {"stripe_customer_id": customer, "value": value}})


def _raw(fs: FakeStripe, method: str, path: str, headers: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(fs.url + path, method=method, headers=headers or {},
                                 data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


# -- accounts and onboarding -------------------------------------------------------------------

def test_a_new_account_is_restricted_until_onboarding_completes(fake_stripe):
    acct = _account(fake_stripe, onboard=False)
    assert acct.id.startswith("acct_") and acct.type == "express" and acct.email == "ana@example.org"
    assert (acct.payouts_enabled, acct.charges_enabled, acct.details_submitted) == (False, False, False)
    assert acct.capabilities.transfers == "inactive" and acct.requirements.currently_due
    assert acct.metadata["performer"] == "7"
    fake_stripe.complete_onboarding(acct.id)
    again = fake_stripe.client.v1.accounts.retrieve(acct.id)
    assert again.payouts_enabled and again.capabilities.transfers == "active"
    assert again.requirements.currently_due == [] and again.requirements.disabled_reason is None
    [event] = fake_stripe.events("account.updated")
    assert event["data"]["object"]["id"] == acct.id and event["data"]["object"]["payouts_enabled"] is True
    fake_stripe.restrict(acct.id)
    assert fake_stripe.client.v1.accounts.retrieve(acct.id).payouts_enabled is False
    latest = fake_stripe.events("account.updated")[0]["data"]["object"]
    assert latest["payouts_enabled"] is False and latest["requirements"]["currently_due"]
    assert [a.id for a in fake_stripe.client.v1.accounts.list().data] == [acct.id]


def test_an_unknown_account_is_404(fake_stripe):
    with pytest.raises(stripe.InvalidRequestError) as e:
        fake_stripe.client.v1.accounts.retrieve("acct_nope")
    assert e.value.http_status == 404 and e.value.code == "resource_missing"


def test_the_account_link_page_completes_onboarding_in_a_browser(fake_stripe):
    acct = _account(fake_stripe, onboard=False)
    link = fake_stripe.client.v1.account_links.create(params={
        "account": acct.id, "refresh_url": "http://example.org/r", "return_url": "http://example.org/done",
        "type": "account_onboarding"})
    assert link.url.startswith(fake_stripe.url + f"/_fake/onboarding/{acct.id}?")
    assert link.expires_at == link.created + 300
    page = urllib.request.urlopen(link.url).read().decode()  # no API key: a browser has none
    assert "Complete onboarding" in page and "<form" in page

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.build_opener(NoRedirect).open(urllib.request.Request(link.url, data=b"", method="POST"))
    assert e.value.code == 303 and e.value.headers["Location"] == "http://example.org/done"
    assert fake_stripe.client.v1.accounts.retrieve(acct.id).payouts_enabled is True
    with pytest.raises(stripe.InvalidRequestError) as e2:
        fake_stripe.client.v1.account_links.create(params={"account": "acct_nope", "type": "account_onboarding"})
    assert e2.value.param == "account"


# -- transfers and reversals ---------------------------------------------------------------------

def test_a_transfer_and_its_reversals(fake_stripe):
    acct = _account(fake_stripe)
    tr = fake_stripe.client.v1.transfers.create(params={
        "amount": 1234, "currency": "EUR", "destination": acct.id, "transfer_group": "run-1",
        "description": "royalties", "metadata": {"payout": "42"}})
    assert tr.id.startswith("tr_") and tr.amount == 1234 and tr.currency == "eur"
    assert tr.destination == acct.id and tr.transfer_group == "run-1" and tr.metadata["payout"] == "42"
    assert tr.reversed is False and tr.amount_reversed == 0 and tr.reversals.data == []
    assert fake_stripe.client.v1.transfers.retrieve(tr.id).amount == 1234
    rev = fake_stripe.client.v1.transfers.reversals.create(tr.id, params={"amount": 234, "metadata": {"why": "x"}})
    assert rev.id.startswith("trr_") and rev.amount == 234 and rev.transfer == tr.id and rev.currency == "eur"
    after = fake_stripe.client.v1.transfers.retrieve(tr.id)
    assert after.amount_reversed == 234 and after.reversed is False
    with pytest.raises(stripe.InvalidRequestError) as e:
        fake_stripe.client.v1.transfers.reversals.create(tr.id, params={"amount": 1001})
    assert e.value.http_status == 400 and e.value.param == "amount"
    full = fake_stripe.client.v1.transfers.reversals.create(tr.id)  # the rest
    assert full.amount == 1000 and fake_stripe.client.v1.transfers.retrieve(tr.id).reversed is True
    reversed_events = fake_stripe.events("transfer.reversed")
    assert len(reversed_events) == 2 and reversed_events[0]["data"]["object"]["amount_reversed"] == 1234
    assert fake_stripe.events("transfer.created")[0]["data"]["object"]["id"] == tr.id
    assert fake_stripe.stats()["transfer_reversals"] == 2


@pytest.mark.parametrize("params,code,param", [
    ({"amount": 0, "currency": "usd"}, "parameter_invalid_integer", "amount"),
    ({"amount": "12.5", "currency": "usd"}, "parameter_invalid_integer", "amount"),
    ({"amount": 1005, "currency": "kwd"}, "parameter_invalid_integer", "amount"),
    ({"amount": 100, "currency": "us"}, "invalid_currency", "currency"),
])
def test_malformed_transfers_are_refused(fake_stripe, params, code, param):
    acct = _account(fake_stripe)
    with pytest.raises(stripe.InvalidRequestError) as e:
        fake_stripe.client.v1.transfers.create(params={**params, "destination": acct.id})
    assert (e.value.http_status, e.value.code, e.value.param) == (400, code, param)
    assert fake_stripe.stats()["transfers"] == 0


def test_kwd_and_jpy_amounts_that_fit_their_currency_pass(fake_stripe):
    acct = _account(fake_stripe)
    assert fake_stripe.client.v1.transfers.create(params={"amount": 1010, "currency": "kwd", "destination": acct.id}).amount == 1010
    assert fake_stripe.client.v1.transfers.create(params={"amount": 7, "currency": "jpy", "destination": acct.id}).amount == 7


def test_transfers_to_unknown_unonboarded_or_failing_accounts_are_refused(fake_stripe):
    with pytest.raises(stripe.InvalidRequestError) as e:
        fake_stripe.client.v1.transfers.create(params={"amount": 100, "currency": "usd", "destination": "acct_nope"})
    assert (e.value.code, e.value.param) == ("resource_missing", "destination")
    pending = _account(fake_stripe, onboard=False)
    with pytest.raises(stripe.InvalidRequestError) as e:
        fake_stripe.client.v1.transfers.create(params={"amount": 100, "currency": "usd", "destination": pending.id})
    assert e.value.code == "account_invalid" and "transfers" in e.value.user_message
    ok = _account(fake_stripe)
    fake_stripe.fail_transfers(ok.id)
    with pytest.raises(stripe.InvalidRequestError) as e:
        fake_stripe.client.v1.transfers.create(params={"amount": 100, "currency": "usd", "destination": ok.id})
    assert e.value.code == "transfers_not_allowed"
    fake_stripe.fail_transfers(ok.id, on=False)
    fake_stripe.client.v1.transfers.create(params={"amount": 100, "currency": "usd", "destination": ok.id})
    assert fake_stripe.stats()["transfers"] == 1


def test_idempotency_replays_the_same_answer_and_refuses_other_params(fake_stripe):
    acct = _account(fake_stripe)
    params = {"amount": 500, "currency": "usd", "destination": acct.id, "metadata": {"line": "9"}}
    first = fake_stripe.client.v1.transfers.create(params=params, options={"idempotency_key": "payout-9"})
    again = fake_stripe.client.v1.transfers.create(params=params, options={"idempotency_key": "payout-9"})
    assert again.id == first.id and again.last_response.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.last_response.headers
    with pytest.raises(stripe.IdempotencyError) as e:
        fake_stripe.client.v1.transfers.create(params={**params, "amount": 501}, options={"idempotency_key": "payout-9"})
    assert e.value.http_status == 400
    assert fake_stripe.stats()["transfers"] == 1 and fake_stripe.stats()["idempotent_replays"] == 1
    assert len(fake_stripe.events("transfer.created")) == 1
    # a refusal by state is saved and replayed, even after the state changed
    fake_stripe.fail_transfers(acct.id)
    with pytest.raises(stripe.InvalidRequestError):
        fake_stripe.client.v1.transfers.create(params=params, options={"idempotency_key": "payout-10"})
    fake_stripe.fail_transfers(acct.id, on=False)
    with pytest.raises(stripe.InvalidRequestError) as e2:
        fake_stripe.client.v1.transfers.create(params=params, options={"idempotency_key": "payout-10"})
    assert e2.value.code == "transfers_not_allowed"
    # a malformed request is not saved: the same key works once the params are right
    with pytest.raises(stripe.InvalidRequestError):
        fake_stripe.client.v1.transfers.create(params={**params, "amount": -1}, options={"idempotency_key": "payout-11"})
    made = fake_stripe.client.v1.transfers.create(params=params, options={"idempotency_key": "payout-11"})
    assert made.id != first.id and fake_stripe.stats()["transfers"] == 2


def test_listing_pages_newest_first_through_auto_paging(fake_stripe):
    acct, other = _account(fake_stripe), _account(fake_stripe)
    made = [fake_stripe.client.v1.transfers.create(params={
        "amount": i + 1, "currency": "usd", "destination": acct.id if i % 2 else other.id,
        "transfer_group": "g1" if i < 10 else "g2"}).id for i in range(230)]
    page = fake_stripe.client.v1.transfers.list(params={"limit": 3})
    assert [t.id for t in page.data] == made[::-1][:3] and page.has_more is True
    seen = [t.id for t in fake_stripe.client.v1.transfers.list(params={"limit": 100}).auto_paging_iter()]
    assert seen == made[::-1]
    to_acct = [t.destination for t in fake_stripe.client.v1.transfers.list(
        params={"destination": acct.id, "limit": 100}).auto_paging_iter()]
    assert len(to_acct) == 115 and set(to_acct) == {acct.id}
    assert len(list(fake_stripe.client.v1.transfers.list(params={"transfer_group": "g1"}).auto_paging_iter())) == 10
    now = int(time.time())
    assert len(list(fake_stripe.client.v1.transfers.list(
        params={"created": {"gte": now + 100}}).auto_paging_iter())) == 0
    assert len(list(fake_stripe.client.v1.transfers.list(
        params={"created": {"gte": now - 100, "lt": now + 100}, "limit": 100}).auto_paging_iter())) == 230
    with pytest.raises(stripe.InvalidRequestError) as e:
        fake_stripe.client.v1.transfers.list(params={"limit": 101})
    assert e.value.param == "limit"


# -- customers, meters, invoices -------------------------------------------------------------------

def test_customers_come_from_localstripe_with_idempotency(fake_stripe):
    params = {"name": "Acme", "email": "billing@acme.test", "metadata": {"brand": "3"}}
    cus = fake_stripe.client.v1.customers.create(params=params, options={"idempotency_key": "brand-3"})
    again = fake_stripe.client.v1.customers.create(params=params, options={"idempotency_key": "brand-3"})
    assert cus.id.startswith("cus_") and again.id == cus.id and cus.metadata["brand"] == "3"
    assert fake_stripe.client.v1.customers.retrieve(cus.id).email == "billing@acme.test"
    assert [c.id for c in fake_stripe.client.v1.customers.list().data] == [cus.id]
    with pytest.raises(stripe.InvalidRequestError) as e:
        fake_stripe.client.v1.customers.retrieve("cus_nope")
    assert e.value.http_status == 404


def test_meters_events_dedupe_and_summaries(fake_stripe):
    cus = fake_stripe.client.v1.customers.create(params={"name": "Acme"})
    meter = _meter(fake_stripe)
    assert meter.id.startswith("mtr_") and meter.status == "active" and meter.event_name == "doppel_usage_usd"
    assert fake_stripe.client.v1.billing.meters.retrieve(meter.id).display_name == "Doppel usage usd"
    assert [m.id for m in fake_stripe.client.v1.billing.meters.list().data] == [meter.id]
    with pytest.raises(stripe.InvalidRequestError) as e:
        _meter(fake_stripe)
    assert e.value.param == "event_name"
    first = _usage(fake_stripe, cus.id, "250", "use-1")
    assert first.identifier == "use-1" and first.payload["value"] == "250"
    again = _usage(fake_stripe, cus.id, "250", "use-1")  # a retried report
    assert again.created == first.created and again.identifier == "use-1"
    _usage(fake_stripe, cus.id, "100", "use-2")
    summaries = fake_stripe.client.v1.billing.meters.event_summaries.list(meter.id, params={
        "customer": cus.id, "start_time": int(time.time()) - 3600, "end_time": int(time.time()) + 3600})
    assert summaries.data[0].aggregated_value == 350 and summaries.data[0].meter == meter.id
    assert fake_stripe.stats()["meter_events"] == 2
    for bad, param in [({"value": "2.5"}, "payload[value]"), ({"stripe_customer_id": "cus_nope"}, "payload[stripe_customer_id]")]:
        with pytest.raises(stripe.InvalidRequestError) as e:
            fake_stripe.client.v1.billing.meter_events.create(params={
                "event_name": "doppel_usage_usd", "identifier": "x",
                "payload": {"stripe_customer_id": cus.id, "value": "1", **bad}})
        assert e.value.param == param
    with pytest.raises(stripe.InvalidRequestError) as e:
        fake_stripe.client.v1.billing.meter_events.create(params={
            "event_name": "nope", "payload": {"stripe_customer_id": cus.id, "value": "1"}})
    assert e.value.param == "event_name"


def test_closing_billing_invoices_the_usage_of_one_currency_once(fake_stripe):
    cus = fake_stripe.client.v1.customers.create(params={"name": "Acme"})
    _meter(fake_stripe, "usd")
    _meter(fake_stripe, "jpy")
    _usage(fake_stripe, cus.id, "250", "u1")
    _usage(fake_stripe, cus.id, "100", "u2")
    _usage(fake_stripe, cus.id, "900", "j1", ccy="jpy")
    inv = fake_stripe.close_billing(cus.id, "USD")
    assert inv["id"].startswith("in_") and inv["currency"] == "usd" and inv["status"] == "open"
    assert (inv["amount_due"], inv["amount_paid"], inv["amount_remaining"]) == (350, 0, 350)
    assert sorted(line["identifier"] for line in inv["lines"]["data"]) == ["u1", "u2"]
    assert fake_stripe.close_billing(cus.id, "usd")["amount_due"] == 0  # nothing billed twice
    fake_stripe.fail_invoice(inv["id"])
    failed = fake_stripe.client.v1.invoices.retrieve(inv["id"])
    assert failed.status == "open" and failed.attempt_count == 1
    assert fake_stripe.events("invoice.payment_failed")[0]["data"]["object"]["id"] == inv["id"]
    fake_stripe.pay_invoice(inv["id"])
    paid = fake_stripe.client.v1.invoices.retrieve(inv["id"])
    assert paid.status == "paid" and paid.amount_paid == 350 and paid.amount_remaining == 0
    assert inv["id"] in [e["data"]["object"]["id"] for e in fake_stripe.events("invoice.paid")]
    assert fake_stripe.close_billing(cus.id, "jpy")["amount_due"] == 900
    listed = fake_stripe.client.v1.invoices.list(params={"customer": cus.id, "status": "open"})
    assert [i.currency for i in listed.data] == ["jpy"]
    with pytest.raises(stripe.InvalidRequestError):
        fake_stripe.client.v1.invoices.retrieve("in_nope")


def test_a_dispute_emits_its_event_and_the_charge_is_readable(fake_stripe):
    cus = fake_stripe.client.v1.customers.create(params={"name": "Acme"})
    made = fake_stripe.dispute(cus.id, 1500, "eur")
    charge, dispute = made["charge"], made["dispute"]
    assert dispute["id"].startswith("dp_") and dispute["charge"] == charge["id"]
    assert (dispute["status"], dispute["reason"], dispute["amount"]) == ("needs_response", "fraudulent", 1500)
    assert fake_stripe.client.v1.charges.retrieve(charge["id"]).customer == cus.id
    assert fake_stripe.events("charge.dispute.created")[0]["data"]["object"]["id"] == dispute["id"]


# -- auth, isolation, webhooks -----------------------------------------------------------------------

def test_missing_or_invalid_auth_is_401(fake_stripe):
    status, body = _raw(fake_stripe, "GET", "/v1/transfers")
    assert status == 401 and body["error"]["type"] == "invalid_request_error"
    status, _ = _raw(fake_stripe, "GET", "/v1/transfers", {"Authorization": "Bearer pk_test_abcdef"})
    assert status == 401
    bad = stripe.StripeClient("sk_x", base_addresses={"api": fake_stripe.url}, max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError):
        bad.v1.accounts.list()


def test_each_api_key_sees_its_own_world(fake_stripe_server):
    one, two = FakeStripe(url=fake_stripe_server.url), FakeStripe(url=fake_stripe_server.url)
    acct = _account(one)
    one.client.v1.transfers.create(params={"amount": 1, "currency": "usd", "destination": acct.id},
                                   options={"idempotency_key": "same"})
    assert two.client.v1.transfers.list().data == [] and two.stats()["transfers"] == 0
    with pytest.raises(stripe.InvalidRequestError):
        two.client.v1.accounts.retrieve(acct.id)
    other = _account(two)  # the same idempotency key in another world is another request
    tr = two.client.v1.transfers.create(params={"amount": 2, "currency": "usd", "destination": other.id},
                                        options={"idempotency_key": "same"})
    assert tr.amount == 2 and one.events("transfer.created")[0]["data"]["object"]["amount"] == 1


def _verified(receiver: Receiver, secret: str) -> list[stripe.Event]:
    return [stripe.Webhook.construct_event(body, headers["Stripe-Signature"], secret)
            for headers, body in receiver.received]


def test_webhooks_are_signed_delivered_in_order_retried_and_redelivered(fake_stripe):
    receiver = Receiver([500, 503])  # the first two attempts fail
    try:
        fake_stripe.set_webhook(receiver.url)
        acct = _account(fake_stripe)
        fake_stripe.client.v1.transfers.create(params={"amount": 10, "currency": "usd", "destination": acct.id})
        fake_stripe.wait_webhooks()
        events = _verified(receiver, fake_stripe.webhook_secret)
        assert [e.type for e in events] == ["account.updated"] * 3 + ["transfer.created"]
        assert len({e.id for e in events}) == 2  # one event retried until accepted, then the next
        attempts = [(d["type"], d["attempt"], d["status"]) for d in fake_stripe.deliveries()]
        assert attempts == [("account.updated", 1, 500), ("account.updated", 2, 503),
                            ("account.updated", 3, 200), ("transfer.created", 1, 200)]
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(receiver.received[0][1], receiver.received[0][0]["Stripe-Signature"],
                                           "whsec_wrong")
        fake_stripe.redeliver(events[-1].id)
        fake_stripe.wait_webhooks()
        assert _verified(receiver, fake_stripe.webhook_secret)[-1].id == events[-1].id
    finally:
        receiver.close()


def test_paused_webhooks_queue_up_until_resumed(fake_stripe):
    receiver = Receiver([])
    try:
        fake_stripe.set_webhook(receiver.url)
        fake_stripe.pause_webhooks()
        acct = _account(fake_stripe)
        fake_stripe.restrict(acct.id)
        time.sleep(0.3)
        assert receiver.received == [] and fake_stripe.control("GET", "/_fake/webhook")["pending"] == 2
        fake_stripe.resume_webhooks()
        fake_stripe.wait_webhooks()
        got = _verified(receiver, fake_stripe.webhook_secret)
        assert [e.data.object.payouts_enabled for e in got] == [True, False]
    finally:
        receiver.close()


def test_an_unreachable_endpoint_is_recorded_and_does_not_block(fake_stripe):
    fake_stripe.set_webhook("http://127.0.0.1:9/hooks")
    _account(fake_stripe)
    fake_stripe.wait_webhooks()
    attempts = fake_stripe.deliveries()
    assert len(attempts) == 4 and all(a["status"] is None and a["error"] for a in attempts)


def test_the_cli_default_webhook_serves_every_key():
    receiver = Receiver([])
    server = start_fake_stripe("--webhook-url", receiver.url, "--webhook-secret", "whsec_cli")
    try:
        fs = FakeStripe(url=server.url)
        _account(fs)
        fs.wait_webhooks()
        assert [e.type for e in _verified(receiver, "whsec_cli")] == ["account.updated"]
    finally:
        stop_fake_stripe(server)
        receiver.close()
    assert server.process.returncode == 0
