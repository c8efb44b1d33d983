"""Enqueueing django-q2 tasks from inside a database transaction.

With the ORM broker (the default) the task row is written in the same
transaction as the state change it acts on: both commit or neither, so no
accepted generation or recorded event is ever left without its task. With
Redis the task is sent on commit (a worker must not look for a row that is not
committed yet); a crash between the commit and the send is repaired by the
sweeper (``generations_reconcile``, ``deliveries_dispatch_due``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django_q.tasks import async_task


def enqueue(func: str, *args, **kwargs) -> None:
    """Enqueue ``func`` (a dotted path) with these arguments, atomically with the caller's
    transaction (ORM broker) or when it commits (Redis)."""

    def send() -> None:
        async_task(func, *args, **kwargs)

    if settings.DOPPEL_Q_BROKER == "orm":
        send()
    else:
        transaction.on_commit(send)
