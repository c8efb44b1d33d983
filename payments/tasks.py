"""django-q2 tasks: thin and idempotent (delivery is at-least-once)."""

from __future__ import annotations

from payments import conf
from payments.services import billing, events, payouts, reconcile


def stripe_event_process_task(event_id: str) -> str:
    return events.event_process(event_id=event_id)


def stripe_events_retry_task() -> int:
    return events.events_retry()


def billing_sync_task() -> dict | None:
    """Send meter reports (nothing to do when Stripe is not configured)."""
    return billing.billing_sync() if conf.stripe_configured() else None


def payouts_run_task() -> dict | None:
    if not conf.stripe_configured():
        return None
    return payouts.payouts_run(trigger="schedule").summary


def reconcile_task() -> dict | None:
    if not conf.stripe_configured():
        return None
    run = reconcile.reconcile(trigger="schedule")
    return {"run": run.id, "ok": run.ok, "differences": len(run.differences)}
