"""django-q2 tasks: thin, load by id, call a service, safe to run twice."""

from __future__ import annotations


def generation_process_task(generation_id: str) -> str:
    from gateway.pipeline import generation_process

    return generation_process(generation_id=generation_id)


def gateway_sweep_task() -> dict:
    from gateway import limits, services, webhooks

    return {
        "approvals_expired": services.approvals_expire(),
        **services.generations_reconcile(),
        "webhooks": webhooks.deliveries_dispatch_due(),
        "idempotency_purged": services.idempotency_purge(),
        "rate_windows_purged": limits.rate_windows_purge(),
    }


def webhook_deliver_task(delivery_id: str) -> str:
    from gateway.webhooks import delivery_attempt

    return delivery_attempt(delivery_id=delivery_id)
