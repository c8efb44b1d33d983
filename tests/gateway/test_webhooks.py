"""Outgoing webhooks: registered per brand, signed, retried with backoff, logged."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from gateway import webhooks
from gateway.models import WebhookDelivery, WebhookEndpoint
from tests.webhook_receiver import Receiver


@pytest.fixture
def receiver_factory():
    made = []

    def make(statuses=()):
        r = Receiver(statuses)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture(autouse=True)
def allow_loopback(settings):
    settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE = True


def register(cast, url, events=None):
    resp = cast.client("brand").post("/api/v1/webhooks", {"url": url, **({"events": events} if events else {})},
                                     format="json")
    assert resp.status_code == 201, resp.content
    return resp.json()


def deny(cast, gen_body):
    resp = cast.client("brand").post("/api/v1/generations", json.dumps(gen_body(platform="instagram")),
                                     content_type="application/json", HTTP_IDEMPOTENCY_KEY=str(time.time_ns()))
    assert resp.status_code == 403
    return resp.json()["error"]["generation"]


def test_denial_is_delivered_signed(cast, contract, gen_body, receiver_factory, django_capture_on_commit_callbacks):
    receiver = receiver_factory()
    hook = register(cast, receiver.url)
    assert hook["secret"].startswith("whsec_")
    with django_capture_on_commit_callbacks(execute=False):
        gen_id = deny(cast, gen_body)
    delivery = WebhookDelivery.objects.get(generation_id=gen_id)
    assert webhooks.delivery_attempt(delivery_id=delivery.id) == "delivered"
    headers, body = receiver.received[0]
    assert headers["Doppel-Event"] == "generation.denied"
    assert webhooks.verify_signature(secret=hook["secret"], body=body, header=headers["Doppel-Signature"])
    assert not webhooks.verify_signature(secret=hook["secret"], body=body + b" ", header=headers["Doppel-Signature"])
    assert not webhooks.verify_signature(secret="whsec_wrong", body=body, header=headers["Doppel-Signature"])
    payload = json.loads(body)
    assert payload["type"] == "generation.denied" and payload["data"]["generation"] == gen_id
    # Sending again is a no-op: delivered once.
    assert webhooks.delivery_attempt(delivery_id=delivery.id) == "delivered"
    assert len(receiver.received) == 1


def test_signature_tolerance_rejects_replays():
    header = webhooks.sign(secret="s", body=b"{}", timestamp=1_000)
    assert webhooks.verify_signature(secret="s", body=b"{}", header=header, now=1_100)
    assert not webhooks.verify_signature(secret="s", body=b"{}", header=header, now=1_000 + 301)
    assert not webhooks.verify_signature(secret="s", body=b"{}", header="garbage", now=1_000)


def test_failures_are_retried_with_backoff_and_logged(cast, contract, gen_body, receiver_factory, settings):
    receiver = receiver_factory(statuses=[500, 503])
    register(cast, receiver.url)
    gen_id = deny(cast, gen_body)
    delivery = WebhookDelivery.objects.get(generation_id=gen_id)
    t0 = timezone.now()
    assert webhooks.delivery_attempt(delivery_id=delivery.id, now=t0) == "pending"
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.last_status_code == 500
    assert delivery.next_attempt_at == t0 + timedelta(minutes=1)
    assert webhooks.deliveries_dispatch_due(now=t0 + timedelta(seconds=30)) == 0  # not due yet
    assert webhooks.deliveries_dispatch_due(now=t0 + timedelta(minutes=1, seconds=1)) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.last_status_code == 503
    assert delivery.next_attempt_at > t0 + timedelta(minutes=2)  # doubled
    assert webhooks.deliveries_dispatch_due(now=t0 + timedelta(minutes=10)) == 1
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 3
    assert [e["status_code"] for e in delivery.log] == [500, 503, 200]
    log = cast.client("brand").get("/api/v1/webhooks/deliveries").json()["results"]
    assert log[0]["id"] == delivery.id and log[0]["status"] == "delivered" and len(log[0]["log"]) == 3


def test_gives_up_after_the_last_attempt(cast, contract, gen_body, settings):
    settings.DOPPEL_WEBHOOK_MAX_ATTEMPTS = 2
    register(cast, "http://127.0.0.1:9/nothing-listens-here")
    delivery = WebhookDelivery.objects.get(generation_id=deny(cast, gen_body))
    now = timezone.now()
    assert webhooks.delivery_attempt(delivery_id=delivery.id, now=now) == "pending"
    assert webhooks.delivery_attempt(delivery_id=delivery.id, now=now + timedelta(hours=1)) == "failed"
    delivery.refresh_from_db()
    # Issue 10 #13: a generic class only, never the exception text ("Connection refused" made a port scanner).
    assert delivery.last_error == "connection_failed" and delivery.last_status_code is None
    assert [e["error"] for e in delivery.log] == ["connection_failed", "connection_failed"]


def test_event_filter_and_disabled_endpoints(cast, contract, gen_body):
    only_delivered = register(cast, "http://127.0.0.1:9/a", events=["generation.delivered"])
    everything = register(cast, "http://127.0.0.1:9/b")
    deny(cast, gen_body)
    assert set(WebhookDelivery.objects.values_list("endpoint_id", flat=True)) == {everything["id"]}
    assert cast.client("brand").delete(f"/api/v1/webhooks/{everything['id']}").status_code == 204
    deny(cast, gen_body)
    assert WebhookDelivery.objects.count() == 1
    listed = cast.client("brand").get("/api/v1/webhooks").json()["results"]
    assert [h["id"] for h in listed] == [only_delivered["id"]] and "secret" not in listed[0]


@pytest.mark.parametrize("url", ["ftp://example.com/x", "javascript:alert(1)", "http://user:pw@example.com/",
                                 "not a url", "http://" + "a" * 2100 + ".com/"])
def test_bad_urls_are_refused(cast, url):
    resp = cast.client("brand").post("/api/v1/webhooks", {"url": url}, format="json")
    assert resp.status_code == 400 and "url" in resp.json()["error"]["fields"]
    assert WebhookEndpoint.objects.count() == 0


def test_private_addresses_are_refused_unless_allowed(cast, settings):
    settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE = False
    for url in ("http://127.0.0.1:8000/x", "http://10.1.2.3/x", "http://169.254.169.254/latest/meta-data"):
        resp = cast.client("brand").post("/api/v1/webhooks", {"url": url}, format="json")
        assert resp.status_code == 400, url
    assert WebhookEndpoint.objects.count() == 0


@pytest.mark.parametrize("who", ["performer", "union"])
def test_webhooks_are_for_brands(cast, who):
    assert cast.client(who).post("/api/v1/webhooks", {"url": "http://127.0.0.1/x"}, format="json").status_code == 403
    assert cast.client(who).get("/api/v1/webhooks/deliveries").status_code == 403


def test_another_brands_endpoint_is_404(cast):
    hook = register(cast, "http://127.0.0.1:9/a")
    assert cast.client("other_brand").delete(f"/api/v1/webhooks/{hook['id']}").status_code == 404
    assert WebhookEndpoint.objects.get(id=hook["id"]).active


def test_the_delivery_log_refuses_query_parameters_it_does_not_read(cast):
    """It pages (cursor, limit) and filters nothing: a filter it would ignore is a 400, not a silent no-op."""
    client = cast.client("brand")
    assert client.get("/api/v1/webhooks/deliveries?limit=5").status_code == 200
    resp = client.get("/api/v1/webhooks/deliveries?status=delivered")
    assert resp.status_code == 400 and resp.json()["error"]["fields"] == {"status": ["Unknown field."]}
