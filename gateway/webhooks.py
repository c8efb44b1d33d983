"""Outgoing webhooks to brand-registered URLs.

Each event is a ``WebhookDelivery`` row created in the same transaction as
the state change it reports; the first attempt is enqueued with it (gateway.queue), later
ones are picked up by the sweeper with exponential backoff
(1 min, 2 min, 4 min … capped at 1 h; ``DOPPEL_WEBHOOK_MAX_ATTEMPTS`` tries).

Signature (documented in the README): header
``Doppel-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``.
Receivers recompute it over the raw body and reject timestamps older than
five minutes (replay protection). The secret is shown once, at registration,
and stored sealed (``gateway.secretbox``).

Where a delivery may go (``gateway.egress``): only globally routable addresses,
checked at registration on every address the host resolves to, and again at
each delivery on the address the connection is pinned to; redirects are never
followed; the log records the status code and a generic error class only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import socket
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from common.errors import InvalidRequest
from gateway import egress
from gateway.models import DeliveryStatus, Generation, WebhookDelivery, WebhookEndpoint
from gateway.queue import enqueue
from gateway.secretbox import SecretUnreadable
from rights.models import Party

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Doppel-Signature"
TOLERANCE_S = 300


def sign(*, secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(*, secret: str, body: bytes, header: str, now: int | None = None,
                     tolerance_s: int = TOLERANCE_S) -> bool:
    """Reference receiver-side check (also what our tests use)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    now = int(time.time()) if now is None else now
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret=secret, body=body, timestamp=timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


# --- endpoints -----------------------------------------------------------------------


def _check_url(url: str) -> None:
    """400 unless ``url`` is http(s), without credentials, with a port in 1-65535, and
    every address its host resolves to is one webhooks may reach (``egress.address_allowed``;
    loopback too when ``DOPPEL_WEBHOOK_ALLOW_PRIVATE``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(fields={"url": ["Must be an http(s) URL with a host."]})
    if parts.username or parts.password:
        raise InvalidRequest(fields={"url": ["Credentials in the URL are not allowed."]})
    port = egress.url_port(url)
    if port is None:
        raise InvalidRequest(fields={"url": ["The port must be between 1 and 65535."]})
    try:
        addresses = egress.resolve(parts.hostname, port)
    except (socket.gaierror, UnicodeError, ValueError):
        raise InvalidRequest(fields={"url": ["The host does not resolve."]}) from None
    allow_loopback = settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE
    if not addresses or not all(egress.address_allowed(a, allow_loopback=allow_loopback) for a in addresses):
        raise InvalidRequest(fields={"url": [
            "The host resolves to an address that is not globally routable (private, loopback, link-local, "
            "shared/CGNAT, reserved, multicast, or a tunnel/translation form of one); webhooks are refused there."]})


def endpoint_create(*, brand: Party, url: str, events: list[str]) -> WebhookEndpoint:
    """Register ``url`` for ``events`` (empty: all). The returned endpoint's ``secret`` is
    the clear signing secret, to show once; the row stores it sealed. 400 for a URL
    webhooks may not reach, or beyond 10 active endpoints."""
    _check_url(url)
    if WebhookEndpoint.objects.filter(brand=brand, active=True).count() >= 10:
        raise InvalidRequest(fields={"url": ["At most 10 active webhook endpoints per brand."]})
    return WebhookEndpoint.objects.create(brand=brand, url=url, events=sorted(set(events)),
                                          secret="whsec_" + secrets.token_urlsafe(32))


def endpoint_disable(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    endpoint.active = False
    endpoint.save(update_fields=["active"])
    return endpoint


# --- events and deliveries -----------------------------------------------------------------


def event_payload(*, generation: Generation, event: str) -> dict:
    return {
        "id": f"{event}:{generation.id}",
        "type": event,
        "created": int(time.time()),
        "data": {
            "generation": generation.id,
            "contract": generation.contract_id,
            "status": generation.status,
            "failure": {"code": generation.failure_code, "message": generation.failure_message}
            if generation.failure_code else None,
            "asset_sha256": generation.asset_sha256 or None,
            "ledger_transaction": generation.ledger_transaction_id,
        },
    }


def event_emit(*, generation: Generation, event: str) -> int:
    """Record one delivery of ``event`` per subscribed endpoint (inside the caller's
    transaction) and enqueue its first attempt (see gateway.queue); return how many
    were recorded (a repeated event is recorded once per endpoint)."""
    endpoints = [e for e in WebhookEndpoint.objects.filter(brand_id=generation.brand_id, active=True)
                 if not e.events or event in e.events]
    ids = []
    for endpoint in endpoints:
        delivery, created = WebhookDelivery.objects.get_or_create(
            endpoint=endpoint, generation=generation, event=event,
            defaults={"payload": event_payload(generation=generation, event=event)})
        if created:
            ids.append(delivery.id)
    for delivery_id in ids:
        enqueue("gateway.tasks.webhook_deliver_task", delivery_id, group="webhooks")
    return len(ids)


def backoff(attempt: int) -> timedelta:
    return timedelta(seconds=min(60 * 2 ** (attempt - 1), 3600))


def delivery_attempt(*, delivery_id: str, now: datetime | None = None) -> str:
    """POST one delivery once. Safe to call twice: a delivered one is not resent."""
    with transaction.atomic():
        delivery = (WebhookDelivery.objects.select_for_update(of=("self",)).select_related("endpoint")
                    .filter(id=delivery_id).first())
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return delivery.status if delivery else "missing"
        claim_time = now or timezone.now()
        if delivery.next_attempt_at > claim_time:
            return "not_due"  # another dispatcher claimed this attempt
        # Claim the attempt so a concurrent dispatcher does not send it too.
        delivery.attempts += 1
        delivery.next_attempt_at = claim_time + backoff(delivery.attempts)
        delivery.save(update_fields=["attempts", "next_attempt_at"])
    endpoint = delivery.endpoint
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    started = time.monotonic()
    try:
        secret = endpoint.secret
    except SecretUnreadable:
        log.error("webhook endpoint %s: the signing secret does not decrypt (key changed?)", endpoint.id)
        outcome = egress.Outcome(None, "secret_unreadable")
    else:
        outcome = egress.post(url=endpoint.url, body=body, headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret=secret, body=body, timestamp=int(time.time())),
            "Doppel-Event": delivery.event, "Doppel-Delivery": delivery.id,
        }, timeout_s=settings.DOPPEL_WEBHOOK_TIMEOUT_S, allow_loopback=settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE)
    elapsed_ms = round((time.monotonic() - started) * 1000, 1)
    now = now or timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(id=delivery_id)
        # Only the status code and a generic error class: never an exception text or a body.
        delivery.log = [*delivery.log, {"at": now.isoformat(), "attempt": delivery.attempts,
                                        "status_code": outcome.status_code, "error": outcome.error,
                                        "ms": elapsed_ms}]
        delivery.last_status_code, delivery.last_error = outcome.status_code, outcome.error
        if outcome.ok:
            delivery.status, delivery.delivered_at = DeliveryStatus.DELIVERED, now
        elif delivery.attempts >= settings.DOPPEL_WEBHOOK_MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
        delivery.save()
    return delivery.status


def deliveries_dispatch_due(*, now: datetime | None = None, limit: int = 200) -> int:
    now = now or timezone.now()
    due = list(WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
               .order_by("next_attempt_at").values_list("id", flat=True)[:limit])
    for delivery_id in due:
        delivery_attempt(delivery_id=delivery_id, now=now)
    return len(due)
