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
    """An amount is not a non-negative integer of minor units."""


class AmountLimitExceeded(InvalidAmount):
    """An amount, or a transaction's total, would pass ``MAX_AMOUNT`` (2^53 − 1 minor
    units; docs/ledger.md "Bounds"). 422 ``amount_limit_exceeded``, with ``limit``."""

    code = "amount_limit_exceeded"
    http_status = 422


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


class SaleAlreadyReported(LedgerError, InvalidState):
    """Sales of some day of the period were already reported under this contract
    (``transaction``, ``period_start``, ``period_end`` of the standing report)."""

    code = "sale_already_reported"


class LogQuarantined(LedgerError, InvalidState):
    """The transaction is committed but the sequencer could not build its leaf; it is
    held out of the log for an operator (docs/ledger.md "Fault isolation")."""

    code = "log_quarantined"


class NotYetLogged(LedgerError, InvalidState):
    """Not in the signed log yet (the worker sequences it shortly): ``retry_after`` seconds."""

    code = "not_yet_logged"


class CountersInconsistent(LedgerError, InvalidState):
    """A quota counter would go negative: the contract's counters disagree with its holds."""


__all__ = [
    "AlreadyReversed", "AmountLimitExceeded", "CountersInconsistent", "CurrencyMismatch", "HoldNotFound",
    "HoldNotOpen", "InvalidAmount", "InvalidPosting", "LedgerError", "LedgerIdempotencyConflict", "LogQuarantined",
    "NotYetLogged", "QuotaExceeded", "SaleAlreadyReported", "TransactionNotFound", "UnbalancedTransaction",
    "UnknownAccount",
]
