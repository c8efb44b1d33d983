"""Ledger writes: holds, royalties, revenue shares, reversals, and the log sequencer.

The public write API, by concern (reads live in ``ledger.selectors``):

* ``money``: billed seconds, basis points, the royalty split (no writes);
* ``posting``: accounts, the raw-SQL posting path, ``transaction_record``;
* ``holds``: ``hold_create``, ``hold_post``, ``hold_void``, ``holds_sweep``;
* ``sales``: ``revenue_share_book``;
* ``reversals``: ``transaction_reverse``;
* ``ledger.log.sequencer``: ``log_sequence``, ``log_sequence_soon``;
* ``idempotency``: how every write binds its idempotency key to the request
  and replays (``write_or_replay``); ``inputs``: checks of text and metadata.

The errors they raise are ``ledger.exceptions``, re-exported here so that a
caller can write ``except services.QuotaExceeded``.
"""

from ledger.exceptions import (
    AlreadyReversed,
    AmountLimitExceeded,
    CountersInconsistent,
    CurrencyMismatch,
    HoldNotFound,
    HoldNotOpen,
    InvalidAmount,
    InvalidPosting,
    QuotaExceeded,
    SaleAlreadyReported,
    TransactionNotFound,
    UnbalancedTransaction,
    UnknownAccount,
)
from ledger.exceptions import LedgerIdempotencyConflict as IdempotencyConflict
from ledger.log.sequencer import log_sequence, log_sequence_soon
from ledger.services.holds import (
    hold_create,
    hold_post,
    hold_transaction_id,
    hold_void,
    holds_sweep,
)
from ledger.services.money import (
    RoyaltyBreakdown,
    billed_seconds,
    bps_of,
    duration_to_ms,
    royalty_breakdown,
)
from ledger.services.posting import Leg, account_get_or_create, transaction_record
from ledger.services.reversals import transaction_reverse
from ledger.services.sales import revenue_share_book

__all__ = [
    "AlreadyReversed", "AmountLimitExceeded", "CountersInconsistent", "CurrencyMismatch", "HoldNotFound", "HoldNotOpen",
    "IdempotencyConflict", "InvalidAmount", "InvalidPosting", "Leg", "QuotaExceeded", "RoyaltyBreakdown", "SaleAlreadyReported",
    "TransactionNotFound", "UnbalancedTransaction", "UnknownAccount", "account_get_or_create", "billed_seconds",
    "bps_of", "duration_to_ms", "hold_create", "hold_post", "hold_transaction_id", "hold_void", "holds_sweep",
    "log_sequence", "log_sequence_soon", "revenue_share_book", "royalty_breakdown", "transaction_record",
    "transaction_reverse",
]
