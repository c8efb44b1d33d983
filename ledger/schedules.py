"""The ledger's periodic jobs as django-q2 schedules.

``ensure_schedules()`` is idempotent (update_or_create by name). It is called
after every ``migrate`` by the gateway's post_migrate hook
(``gateway.schedules.on_post_migrate``), and can be called again at any time.
"""

from __future__ import annotations

from django_q.models import Schedule

SCHEDULES = [
    # (name, function, every N minutes)
    ("doppel: ledger log sequence", "ledger.tasks.log_sequence_task", 1),
    ("doppel: ledger holds sweep", "ledger.tasks.holds_sweep_task", 1),
]


def ensure_schedules() -> list[str]:
    names = []
    for name, func, minutes in SCHEDULES:
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1},
        )
        names.append(name)
    return names
