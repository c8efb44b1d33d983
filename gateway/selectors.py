"""Reads for generations, scoped to the caller."""

from __future__ import annotations

from django.db.models import QuerySet

from gateway.models import Generation
from rights.models import Party
from rights.selectors import likeness_scope_q


def generation_list(*, party: Party, status: str | None = None, contract: str | None = None) -> QuerySet:
    qs = Generation.objects.filter(likeness_scope_q(party)).select_related("ledger_transaction")
    if status:
        qs = qs.filter(status=status)
    if contract:
        qs = qs.filter(contract_id=contract)
    return qs


def generation_get(*, party: Party, generation_id: str) -> Generation | None:
    return (Generation.objects.filter(likeness_scope_q(party), id=generation_id)
            .select_related("ledger_transaction", "contract").first())


def generation_by_payload(*, payload: int) -> dict | None:
    """The verify service's lookup: which generation carries this watermark payload?"""
    gen = Generation.objects.filter(watermark_payload=payload).values(
        "id", "contract_id", "performer_id", "brand_id", "status").first()
    if gen is None:
        return None
    return {"id": gen["id"], "contract": gen["contract_id"], "performer": gen["performer_id"],
            "brand": gen["brand_id"], "status": gen["status"]}
