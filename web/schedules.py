"""The web app's periodic job: the ledger audit of every union (``web.audit``), as a
django-q2 schedule registered after every migrate (web.apps)."""

from __future__ import annotations

from django.conf import settings
from django_q.models import Schedule


def schedules() -> list[tuple[str, str, int]]:
    """(name, function, every N minutes); ``DOPPEL_UNION_AUDIT_EVERY_MINUTES`` (default 60)."""
    return [("doppel: union ledger audit", "web.audit.union_audit_task",
             settings.DOPPEL_UNION_AUDIT_EVERY_MINUTES)]


def ensure_schedules() -> list[str]:
    names = []
    for name, func, minutes in schedules():
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1})
        names.append(name)
    return names


def on_post_migrate(sender, **kwargs) -> None:
    from django.db import connection

    if "django_q_schedule" in connection.introspection.table_names():
        ensure_schedules()
