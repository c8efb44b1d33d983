"""Periodic jobs, registered idempotently after every `migrate`.

| job | every | what |
|---|---|---|
| gateway sweep | 1 min | expire approvals, repair generations after crashes, retry webhooks, purge old keys/windows |
| ledger jobs | see ledger.schedules | sequence the Merkle log, sign tree heads, void expired holds |
| payments jobs | see payments.schedules | payout run (weekly), meter reports, Stripe event retries, reconcile (daily) |
"""

from __future__ import annotations

from django.db import connection
from django_q.models import Schedule

from ledger.schedules import ensure_schedules as ledger_schedules
from payments.schedules import ensure_schedules as payments_schedules

SCHEDULES = [
    # (name, func, minutes)
    ("doppel: gateway sweep", "gateway.tasks.gateway_sweep_task", 1),
]


def ensure_schedules() -> list[str]:
    """Create or update every periodic job (the gateway's and the ledger's); return their names."""
    names = []
    for name, func, minutes in SCHEDULES:
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes,
                                 "repeats": -1})
        names.append(name)
    return names + list(ledger_schedules() or []) + payments_schedules()


def on_post_migrate(sender, **kwargs) -> None:
    if "django_q_schedule" in connection.introspection.table_names():
        ensure_schedules()
