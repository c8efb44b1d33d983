"""A contract's quota counters: the rights app owns ``renders_held`` and ``renders_used``.

``renders_held`` counts accepted, not-yet-delivered renders (the ledger's open
holds); ``renders_used`` delivered ones. The ledger moves them, inside its own
database transaction, through these functions only. Each is one conditional
UPDATE of the contract row, so concurrent callers queue on the row and re-check:
a unit is never reserved beyond ``max_renders`` and no counter goes below zero.
The CHECK ``contract_quota_never_exceeded`` is the backstop. Each returns
whether the unit moved; what a refusal means is the caller's to say.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import F

from rights.models import Contract

__all__ = ["contract_quota_consume", "contract_quota_release", "contract_quota_reserve", "quota_consume_statement"]


def contract_quota_reserve(*, contract_id: str) -> bool:
    """Hold one unit (``renders_held + 1``) if ``renders_held + renders_used < max_renders``.
    False when no unit is left (or no such contract)."""
    return Contract.objects.filter(
        pk=contract_id, renders_held__lt=F("max_renders") - F("renders_used")
    ).update(renders_held=F("renders_held") + 1) == 1


def contract_quota_release(*, contract_id: str) -> bool:
    """Give a held unit back (``renders_held - 1``). False when none is held."""
    return Contract.objects.filter(pk=contract_id, renders_held__gte=1).update(
        renders_held=F("renders_held") - 1
    ) == 1


def contract_quota_consume(*, contract_id: str) -> bool:
    """Turn a held unit into a used one (a delivered render). False when none is held."""
    with connection.cursor() as cursor:
        cursor.execute(*quota_consume_statement(contract_id))
        return cursor.rowcount == 1


_CONSUME_SQL = (
    f"UPDATE {Contract._meta.db_table} SET renders_held = renders_held - 1, renders_used = renders_used + 1 "
    "WHERE id = %s AND renders_held >= 1"
)


def quota_consume_statement(contract_id: str) -> tuple[str, list[Any]]:
    """``contract_quota_consume`` as one fixed SQL statement and its parameters, for a
    caller that sends it together with its own writes, in one pipeline of the same
    database transaction (the ledger's posting path: one round trip for every write
    of a delivery). Its row count is 1 when a held unit became a used one, 0 when
    none was held."""
    return _CONSUME_SQL, [contract_id]
