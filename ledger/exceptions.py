"""The ledger's errors: plain domain exceptions (``common.errors``), no HTTP.

The API's exception handler maps them by their base class: an ``InvalidPosting``
is a 400 ``invalid_request``, ``QuotaExceeded`` a 409 ``quota_exceeded``…
"""

from __future__ import annotations

from common.errors import IdempotencyConflict, InvalidRequest, InvalidState, NotFound


class LedgerError(Exception):
    """Mixin base: ``except LedgerError`` catches every error the ledger raises on purpose."""


class InvalidPosting(LedgerError, InvalidRequest):
    """The postings of a transaction are not acceptable."""


class UnbalancedTransaction(InvalidPosting):
    """Debits and credits differ in some currency, or fewer than two legs."""


class CurrencyMismatch(InvalidPosting):
    """A leg's currency is not its account's, or a sale's not the contract's."""


class UnknownAccount(InvalidPosting):
    """A leg names an account that does not exist."""


class InvalidAmount(InvalidPosting):
    """An amount is not an integer of minor units within the documented bound."""


class LedgerIdempotencyConflict(LedgerError, IdempotencyConflict):
    """The idempotency key was used for a different request."""


class QuotaExceeded(LedgerError, InvalidState):
    """The contract has no render left of its quota."""

    code = "quota_exceeded"


class HoldNotOpen(LedgerError, InvalidState):
    """The hold is posted or voided: it cannot be posted or voided again."""


class HoldNotFound(LedgerError, NotFound):
    """No such hold."""


class TransactionNotFound(LedgerError, NotFound):
    """No such transaction."""


class AlreadyReversed(LedgerError, InvalidState):
    """The transaction is reversed already (or is itself a reversal)."""


class CountersInconsistent(LedgerError, InvalidState):
    """A quota counter would go negative: the contract's counters disagree with its holds."""


__all__ = [
    "AlreadyReversed", "CountersInconsistent", "CurrencyMismatch", "HoldNotFound", "HoldNotOpen",
    "InvalidAmount", "InvalidPosting", "LedgerError", "LedgerIdempotencyConflict", "QuotaExceeded",
    "TransactionNotFound", "UnbalancedTransaction", "UnknownAccount",
]
