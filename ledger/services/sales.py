"""Sales: the performer's revenue share of a brand's reported sales.

A report covers a period of days (both ends included) of one contract, and is
booked once: the same sales sent again under another idempotency key, or a
report overlapping a standing one, is refused (``SaleAlreadyReported``); a
correction is a reversal of the standing report by support, which frees its days.
The check runs under a lock on the contract row, so of two concurrent reports for
one period exactly one is booked. Reports follow the contract's state: only days
on which it was in force, and none in the future (docs/ledger.md "Sales").
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from django.utils import timezone

from common.errors import InvalidRequest, InvalidState
from ledger.exceptions import CurrencyMismatch, SaleAlreadyReported
from ledger.models import MAX_AMOUNT, SaleReport, Transaction, TransactionKind
from ledger.services.idempotency import (
    check_key,
    fingerprint,
    replayed_transaction,
    write_or_replay,
)
from ledger.services.money import bps_of, royalty_breakdown
from ledger.services.posting import split_statements, transaction_write
from rights.models import Contract, ContractStatus

__all__ = ["contract_sale_days", "revenue_share_book"]


def revenue_share_book(
    *, contract: Contract, gross: int, currency: str, period_start: date, period_end: date, idempotency_key: str
) -> Transaction:
    """Book the performer's share of a brand's reported sales for a period of days.

    share = gross × revenue_share_bps / 10,000 (half-up); P&H and the default
    platform fee come on top, as for royalties. Raises ``InvalidRequest`` (bad
    input, days outside the contract or in the future), ``InvalidState`` (never
    accepted, no revenue share, days after its termination),
    ``SaleAlreadyReported`` (409: a standing report covers one of the days),
    ``AmountLimitExceeded`` (422: what the brand pays would pass 2^53 − 1)."""
    key = check_key(idempotency_key)
    if isinstance(gross, bool) or not isinstance(gross, int) or not 1 <= gross <= MAX_AMOUNT:
        raise InvalidRequest(fields={"gross": ["A positive integer of minor units, at most 2^53 - 1."]})
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
    _check_days_covered(contract, period_start, period_end)
    share = bps_of(gross, contract.revenue_share_bps)
    split = royalty_breakdown(contract=contract, performer_amount=share, platform=None)

    def write() -> Transaction:
        # Reports of one contract queue here; PostgreSQL: FOR NO KEY UPDATE, which does
        # not block holds and transactions that reference the contract. SQLite: the
        # IMMEDIATE transaction already holds the database's write lock.
        list(Contract.objects.select_for_update(no_key=True).filter(pk=contract.pk).values_list("pk", flat=True))
        replay = replayed_transaction(key, request_hash)  # the same request, committed while we waited
        if replay is not None:
            return replay
        standing = _standing_report(contract.pk, period_start, period_end)
        if standing is not None:
            raise SaleAlreadyReported(
                f"Sales of {standing.period_start.isoformat()}..{standing.period_end.isoformat()} under contract "
                f"{contract.pk} are already reported (transaction {standing.transaction_id}); a report may not "
                "overlap a standing one. To correct it, ask support to reverse that report first.",
                transaction=standing.transaction_id, period_start=standing.period_start.isoformat(),
                period_end=standing.period_end.isoformat(),
            )
        txn, statements = split_statements(
            split=split, brand_id=contract.brand_id, performer_id=contract.performer_id, contract_id=contract.pk,
            kind=TransactionKind.REVENUE_SHARE, key=key, request_hash=request_hash,
            reference=f"sales {period_start.isoformat()}..{period_end.isoformat()}",
            meta={"gross": gross, "revenue_share_bps": contract.revenue_share_bps,
                  "period_start": period_start.isoformat(), "period_end": period_end.isoformat()},
        )
        transaction_write(statements)
        SaleReport.objects.create(contract_id=contract.pk, period_start=period_start, period_end=period_end,
                                  transaction_id=txn.id, created_at=txn.created_at)
        return txn

    return write_or_replay(write, replay=lambda: replayed_transaction(key, request_hash))


def contract_sale_days(contract: Contract) -> tuple[date, date] | None:
    """The first and last day (UTC) on which ``contract`` was in force — from its
    acceptance, or ``valid_from`` if later, to ``valid_until`` or its termination,
    whichever came first — or None if it was never accepted."""
    if contract.accepted_at is None:
        return None
    start = max(contract.valid_from, contract.accepted_at)
    end = contract.valid_until
    if contract.status == ContractStatus.TERMINATED:
        end = min(end, contract.terminated_at or contract.updated_at)
    # ``end`` is an instant the contract no longer covers: its last day is the one before it.
    return start.astimezone(UTC).date(), (end - timedelta(microseconds=1)).astimezone(UTC).date()


def _check_days_covered(contract: Contract, period_start: date, period_end: date) -> None:
    days = contract_sale_days(contract)
    if days is None:
        raise InvalidState("The contract was never accepted; it has no revenue to share.")
    if not contract.revenue_share_bps:
        raise InvalidState("The contract has no revenue share.")
    today = timezone.now().astimezone(UTC).date()
    if period_end > today:
        raise InvalidRequest(fields={"period_end": [f"Sales are reported for days that have passed: at most "
                                                    f"{today.isoformat()} (UTC)."]})
    first, last = days
    if period_end > last and contract.status == ContractStatus.TERMINATED and last < _last_valid_day(contract):
        raise InvalidState(
            f"Contract {contract.pk} was terminated; its revenue share covers sales up to {last.isoformat()}.",
            last_day=last.isoformat(),
        )
    if period_start < first or period_end > last:
        field = "period_start" if period_start < first else "period_end"
        raise InvalidRequest(fields={field: [f"The contract was in force from {first.isoformat()} to "
                                             f"{last.isoformat()}; the period must lie within."]})


def _last_valid_day(contract: Contract) -> date:
    return (contract.valid_until - timedelta(microseconds=1)).astimezone(UTC).date()


def _standing_report(contract_id: str, period_start: date, period_end: date) -> SaleReport | None:
    """A report of the contract that covers one of the days and was not reversed."""
    return (SaleReport.objects
            .filter(contract_id=contract_id, period_start__lte=period_end, period_end__gte=period_start,
                    transaction__reversed_by__isnull=True)
            .order_by("period_start").first())
