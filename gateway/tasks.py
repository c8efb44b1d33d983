"""django-q2 tasks: thin, load by id, call a service, safe to run twice."""

from __future__ import annotations

from gateway import limits, services, webhooks
from gateway.pipeline import generation_process


def generation_process_task(generation_id: str) -> str:
    return generation_process(generation_id=generation_id)


def gateway_sweep_task() -> dict:
    return {
        "approvals_expired": services.approvals_expire(),
        **services.generations_reconcile(),
        "webhooks": webhooks.deliveries_dispatch_due(),
        "idempotency_purged": services.idempotency_purge(),
        "rate_windows_purged": limits.rate_windows_purge(),
    }


def webhook_deliver_task(delivery_id: str) -> str:
    return webhooks.delivery_attempt(delivery_id=delivery_id)
