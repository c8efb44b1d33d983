"""Reads for generations and webhooks, scoped to the caller by ``rights.visibility``."""

from __future__ import annotations

from django.db.models import QuerySet

from gateway.models import Generation, WebhookDelivery, WebhookEndpoint
from rights import visibility
from rights.models import Party


def generation_list(*, party: Party, status: str | None = None, contract: str | None = None) -> QuerySet:
    # The royalty transaction is joined, not fetched per row: the list's royalty
    # summaries cost no extra query (their breakdown is in the transaction's meta).
    qs = Generation.objects.filter(visibility.generation_q(party)).select_related("ledger_transaction")
    if status:
        qs = qs.filter(status=status)
    if contract:
        qs = qs.filter(contract_id=contract)
    return qs


def generation_get(*, party: Party, generation_id: str) -> Generation | None:
    return (Generation.objects.filter(visibility.generation_q(party), id=generation_id)
            .select_related("ledger_transaction", "contract").first())


def generation_by_payload(*, payload: int) -> dict | None:
    """The verify service's lookup: which generation carries this watermark payload?"""
    gen = Generation.objects.filter(watermark_payload=payload).values(
        "id", "contract_id", "performer_id", "brand_id", "status").first()
    if gen is None:
        return None
    return {"id": gen["id"], "contract": gen["contract_id"], "performer": gen["performer_id"],
            "brand": gen["brand_id"], "status": gen["status"]}


def webhook_endpoint_list(*, brand: Party) -> QuerySet[WebhookEndpoint]:
    """The active endpoints ``brand`` registered, oldest first."""
    return WebhookEndpoint.objects.filter(visibility.webhook_endpoint_q(brand), active=True)


def webhook_endpoint_get(*, brand: Party, endpoint_id: str) -> WebhookEndpoint | None:
    return webhook_endpoint_list(brand=brand).filter(id=endpoint_id).first()


def webhook_delivery_list(*, brand: Party) -> QuerySet[WebhookDelivery]:
    """The delivery log of ``brand``'s endpoints (disabled ones included), newest first."""
    return WebhookDelivery.objects.filter(visibility.webhook_delivery_q(brand))
