"""Stripe webhook events: verified, stored once by id, processed by a task.

``event_receive`` runs in the web request: it checks the ``Stripe-Signature``
(HMAC-SHA256 with the endpoint secret, timestamp within the tolerance: unsigned,
wrongly signed and stale events are refused), stores the event by its id (a
redelivery is a no-op) and enqueues ``stripe_event_process`` after commit. The
handlers are idempotent and tolerate any order: a ``transfer.reversed`` before the
payout was posted posts it first; an ``account.updated`` for an account we never
stored is adopted (by its ``metadata.party``) or recorded as not ours.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from payments.exceptions import StripeNotConfigured, WebhookRejected
from payments.models import StripeEvent, StripeEventStatus
from payments.services import billing, onboarding, payouts

log = logging.getLogger(__name__)

MAX_EVENT_BYTES = 512 * 1024
MAX_ATTEMPTS = 8


def event_receive(*, payload: bytes, signature: str | None) -> tuple[StripeEvent, bool]:
    """Verify and store one delivery. Returns (event, created). Raises WebhookRejected
    (400) for anything not signed by Stripe with our secret within the tolerance,
    StripeNotConfigured (503) when no webhook secret is set."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise StripeNotConfigured("STRIPE_WEBHOOK_SECRET is not set: Stripe events cannot be verified.")
    if not signature:
        raise WebhookRejected("Missing Stripe-Signature header.")
    if len(payload) > MAX_EVENT_BYTES:
        raise WebhookRejected(f"An event is at most {MAX_EVENT_BYTES} bytes.")
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(text, signature, secret, settings.DOPPEL_STRIPE_WEBHOOK_TOLERANCE_S)
        data = json.loads(text)
    except UnicodeDecodeError:
        raise WebhookRejected("The body is not UTF-8.") from None
    except stripe.SignatureVerificationError as exc:
        raise WebhookRejected(f"Signature check failed: {exc.user_message or exc}") from None
    except ValueError:
        raise WebhookRejected("The body is not JSON.") from None
    if not isinstance(data, dict) or data.get("object") != "event" or not isinstance(data.get("id"), str) \
            or not isinstance(data.get("type"), str) or not isinstance((data.get("data") or {}).get("object"), dict):
        raise WebhookRejected("Not a Stripe event object.")
    if not (0 < len(data["id"]) <= 64) or len(data["type"]) > 100:
        raise WebhookRejected("Event id or type out of range.")
    created = data.get("created")
    try:
        with transaction.atomic():
            event = StripeEvent.objects.create(id=data["id"], type=data["type"],
                                               created=int(created) if isinstance(created, int) else 0, payload=data)
            transaction.on_commit(lambda: _enqueue(event.id))
        return event, True
    except IntegrityError:
        return StripeEvent.objects.get(id=data["id"]), False


def _enqueue(event_id: str) -> None:
    from django_q.tasks import async_task

    async_task("payments.tasks.stripe_event_process_task", event_id)


def _account_updated(obj: dict[str, Any], event: StripeEvent) -> str:
    return onboarding.payee_account_apply(account=obj, event_created=event.created)


def _transfer_created(obj: dict[str, Any], event: StripeEvent) -> str:
    return "posted" if payouts.payout_mark_paid(transfer=obj) is not None else "unknown"


def _transfer_reversed(obj: dict[str, Any], event: StripeEvent) -> str:
    return "reversed" if payouts.payout_reversed(transfer=obj) is not None else "unknown"


def _invoice_paid(obj: dict[str, Any], event: StripeEvent) -> str:
    return billing.invoice_apply(invoice=obj)


def _invoice_failed(obj: dict[str, Any], event: StripeEvent) -> str:
    return billing.invoice_payment_failed(invoice=obj)


def _dispute_created(obj: dict[str, Any], event: StripeEvent) -> str:
    return billing.dispute_created(dispute=obj)


HANDLERS: dict[str, Callable[[dict[str, Any], StripeEvent], str]] = {
    "account.updated": _account_updated,
    "transfer.created": _transfer_created,
    "transfer.reversed": _transfer_reversed,
    "invoice.paid": _invoice_paid,
    "invoice.payment_failed": _invoice_failed,
    "charge.dispute.created": _dispute_created,
}


def event_process(*, event_id: str) -> str:
    """Run the handler of a stored event once; returns its status. A processed or
    ignored event is not run again; a failure is recorded and retried by the sweep."""
    event = StripeEvent.objects.filter(id=event_id).first()
    if event is None:
        return "missing"
    if event.status in (StripeEventStatus.PROCESSED, StripeEventStatus.IGNORED):
        return event.status
    handler = HANDLERS.get(event.type)
    now = timezone.now()
    if handler is None:
        StripeEvent.objects.filter(id=event.id).update(status=StripeEventStatus.IGNORED, processed_at=now,
                                                       note="not a type Doppel handles")
        return StripeEventStatus.IGNORED
    try:
        outcome = handler(event.payload["data"]["object"], event)
    except Exception as exc:  # recorded; the sweep retries it, and one bad event never blocks the others
        log.exception("stripe event %s (%s) failed", event.id, event.type)
        StripeEvent.objects.filter(id=event.id).update(status=StripeEventStatus.FAILED, attempts=event.attempts + 1,
                                                       note=f"{type(exc).__name__}: {exc}"[:500])
        return StripeEventStatus.FAILED
    status = StripeEventStatus.IGNORED if outcome in ("unknown", "stale") else StripeEventStatus.PROCESSED
    StripeEvent.objects.filter(id=event.id).update(status=status, attempts=event.attempts + 1, processed_at=now,
                                                   note=outcome)
    return status


def events_retry(*, limit: int = 200) -> int:
    """Process events left received (the task was lost) or failed (fewer than MAX_ATTEMPTS)."""
    # A received event gets a minute for its own task first.
    settled = timezone.now() - timedelta(seconds=60)
    ids = list(StripeEvent.objects.filter(Q(status=StripeEventStatus.FAILED)
                                          | Q(status=StripeEventStatus.RECEIVED, received_at__lt=settled),
                                          attempts__lt=MAX_ATTEMPTS).order_by("received_at")
               .values_list("id", flat=True)[:limit])
    for event_id in ids:
        event_process(event_id=event_id)
    return len(ids)
