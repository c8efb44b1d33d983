"""The payments app's periodic jobs (django-q2 schedules, registered after every migrate
by gateway.schedules). Each does nothing while Stripe is not configured."""

from __future__ import annotations

from django.conf import settings
from django_q.models import Schedule


def schedules() -> list[tuple[str, str, int]]:
    return [
        ("doppel: payouts run", "payments.tasks.payouts_run_task", settings.DOPPEL_PAYOUT_EVERY_MINUTES),
        ("doppel: billing meter sync", "payments.tasks.billing_sync_task", settings.DOPPEL_BILLING_SYNC_MINUTES),
        ("doppel: stripe events retry", "payments.tasks.stripe_events_retry_task", 1),
        ("doppel: reconcile with stripe", "payments.tasks.reconcile_task", settings.DOPPEL_RECONCILE_EVERY_MINUTES),
    ]


def ensure_schedules() -> list[str]:
    names = []
    for name, func, minutes in schedules():
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1})
        names.append(name)
    return names
