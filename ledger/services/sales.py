"""Sales: the performer's revenue share of a brand's reported sales."""

from __future__ import annotations

from datetime import date, datetime

from common.errors import InvalidRequest, InvalidState
from ledger.exceptions import CurrencyMismatch
from ledger.models import MAX_AMOUNT, Transaction, TransactionKind
from ledger.services.idempotency import (
    check_key,
    fingerprint,
    replayed_transaction,
    write_or_replay,
)
from ledger.services.money import bps_of, royalty_breakdown
from ledger.services.posting import split_statements, transaction_write
from rights.models import Contract

__all__ = ["revenue_share_book"]


def revenue_share_book(
    *, contract: Contract, gross: int, currency: str, period_start: date, period_end: date, idempotency_key: str
) -> Transaction:
    """Book the performer's share of a brand's reported sales for a period.

    share = gross × revenue_share_bps / 10,000 (half-up); P&H and the default
    platform fee come on top, as for royalties."""
    key = check_key(idempotency_key)
    if isinstance(gross, bool) or not isinstance(gross, int) or not 1 <= gross <= MAX_AMOUNT:
        raise InvalidRequest(fields={"gross": ["A positive integer of minor units."]})
    if not isinstance(currency, str):
        raise InvalidRequest(fields={"currency": ["An ISO 4217 code."]})
    if not (isinstance(period_start, date) and isinstance(period_end, date)) \
            or isinstance(period_start, datetime) or isinstance(period_end, datetime):
        raise InvalidRequest(fields={"period_start": ["Dates (YYYY-MM-DD)."]})
    if period_end < period_start:
        raise InvalidRequest(fields={"period_end": ["Must not precede period_start."]})
    request_hash = fingerprint("revenue_share", contract=contract.pk, gross=gross, currency=currency,
                               period_start=period_start.isoformat(), period_end=period_end.isoformat())
    replay = replayed_transaction(key, request_hash)
    if replay is not None:
        return replay
    contract = Contract.objects.select_related("performer__union").get(pk=contract.pk)
    if currency != contract.currency:
        raise CurrencyMismatch(f"Contract {contract.pk} pays in {contract.currency}, not {currency}.",
                               fields={"currency": [f"The contract's currency is {contract.currency}."]})
    if contract.accepted_at is None:
        raise InvalidState("The contract was never accepted; it has no revenue to share.")
    if not contract.revenue_share_bps:
        raise InvalidState("The contract has no revenue share.")
    if period_start >= contract.valid_until.date() or period_end < contract.valid_from.date():
        raise InvalidRequest(fields={"period_start": ["The period lies outside the contract's validity."]})
    share = bps_of(gross, contract.revenue_share_bps)
    split = royalty_breakdown(contract=contract, performer_amount=share, platform=None)

    def write() -> Transaction:
        txn, statements = split_statements(
            split=split, brand_id=contract.brand_id, performer_id=contract.performer_id, contract_id=contract.pk,
            kind=TransactionKind.REVENUE_SHARE, key=key, request_hash=request_hash,
            reference=f"sales {period_start.isoformat()}..{period_end.isoformat()}",
            meta={"gross": gross, "revenue_share_bps": contract.revenue_share_bps,
                  "period_start": period_start.isoformat(), "period_end": period_end.isoformat()},
        )
        transaction_write(statements)
        return txn

    return write_or_replay(write, replay=lambda: replayed_transaction(key, request_hash))
