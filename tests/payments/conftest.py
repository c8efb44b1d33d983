"""Payments tests run against the local fake Stripe server (tests/fakestripe_server.py):
a real process, a world of its own per test (a fresh API key)."""

from __future__ import annotations

import json
import time

import pytest
import stripe
from django.test import Client

from ledger import services as ledger
from payments.services import events, onboarding
from tests.ledger.factories import make_world


@pytest.fixture
def stripe_on(settings, fake_stripe):
    """Point the service at this test's world of the fake."""
    settings.STRIPE_SECRET_KEY = fake_stripe.api_key
    settings.STRIPE_WEBHOOK_SECRET = fake_stripe.webhook_secret
    settings.DOPPEL_STRIPE_API_BASE = fake_stripe.url
    return fake_stripe


@pytest.fixture
def world(db):
    return make_world()


def earn(world, n: int = 1, *, contract=None, seconds: float = 10.0, prefix: str = "use") -> list:
    """``n`` delivered renders under the world's contract (royalties posted)."""
    contract = contract or world.contract
    txns = []
    for i in range(n):
        ref = f"{prefix}-{contract.id}-{i}-{time.monotonic_ns()}"
        hold = ledger.hold_create(contract=contract, reference=ref, idempotency_key=f"h-{ref}")
        txns.append(ledger.hold_post(hold=hold.id, duration_s=seconds, idempotency_key=f"p-{ref}"))
    return txns


def onboard(fake, party) -> str:
    """Connect and complete onboarding; apply the resulting account.updated."""
    state = onboarding.payee_account_connect(party=party)
    fake.complete_onboarding(state["account"])
    deliver_all(fake, "account.updated")
    return state["account"]


def signed_post(payload: bytes, secret: str, *, timestamp: int | None = None):
    header = stripe.WebhookSignature.generate_signature_header(
        payload.decode(), secret, **({"timestamp": timestamp} if timestamp is not None else {}))
    return Client().post("/stripe/webhook", data=payload, content_type="application/json",
                         headers={"Stripe-Signature": header})


def deliver(fake, event: dict):
    """Deliver one event of the fake to our endpoint, signed, and process it as the task would."""
    payload = json.dumps(event).encode()
    response = signed_post(payload, fake.webhook_secret)
    assert response.status_code == 200, response.content
    events.event_process(event_id=event["id"])
    return response


def deliver_all(fake, type: str | None = None) -> int:
    """Deliver the fake's events (oldest first), optionally of one type."""
    found = list(reversed(fake.events(type)))
    for event in found:
        deliver(fake, event)
    return len(found)
