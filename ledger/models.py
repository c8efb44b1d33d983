"""The royalty ledger: accounts, transactions, postings, holds, and the Merkle log.

Money is integer minor units; one currency per account. The invariants that
make the ledger trustworthy live in the database (migration 0002, see
docs/ledger.md "Invariants"):

* a transaction's postings are written first, then the transaction row
  *seals* them: it names how many there are, and the database checks that
  exactly that many exist, at least two, and that debits equal credits per
  currency (PostgreSQL: deferred constraint triggers at commit; SQLite: a
  trigger on the sealing insert). No posting can be added to a sealed
  transaction;
* postings, transactions, accounts and the log tables are append-only:
  UPDATE and DELETE are refused by triggers;
* a transaction may post a hold only while the hold is open, and only once;
* every transaction is queued for the Merkle log by a trigger.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

from common.ids import new_id
from rights.models import Contract, Party


# Named module-level functions: migrations reference field defaults by name.
def new_account_id() -> str:
    return new_id("acc")


def new_transaction_id() -> str:
    return new_id("txn")


def new_hold_id() -> str:
    return new_id("hld")


# The bounds of money (docs/ledger.md "Bounds"). One posting, and one transaction's
# total per currency, is at most MAX_AMOUNT minor units: every JSON reader holds it
# exactly. An account has fewer than 2^63 postings (the id space of Posting.id on
# both databases), so its running debit or credit total is below 2^63 × 2^53 = 2^116
# < 10^38 = TOTAL_LIMIT, which ``ExactTotalField`` stores exactly: no sequence of
# accepted writes can overflow a total.
MAX_AMOUNT = 2**53 - 1
TOTAL_DIGITS = 38
TOTAL_LIMIT = 10**TOTAL_DIGITS
CURRENCY_PATTERN = r"^[A-Z]{3}$"


class ExactTotalField(models.Field):
    """A non-negative integer below ``TOTAL_LIMIT`` (38 decimal digits), exact on both
    databases, as a Python ``int``.

    PostgreSQL: ``NUMERIC(38, 0)``, which refuses a larger value. SQLite: ``TEXT``
    holding the decimal digits — its INTEGER is 64-bit (a larger Python int cannot
    even be bound: ``OverflowError``), and its NUMERIC affinity turns a larger
    integer into a lossy REAL. Running totals only: never compared or summed in SQL
    (on SQLite the comparison would be textual)."""

    description = "An exact integer of up to 38 decimal digits"

    def db_type(self, connection) -> str:
        return f"numeric({TOTAL_DIGITS}, 0)" if connection.vendor == "postgresql" else "text"

    def from_db_value(self, value: Any, expression, connection) -> int | None:
        return None if value is None else int(value)

    def to_python(self, value: Any) -> int | None:
        if value is None or isinstance(value, int):
            return value
        if isinstance(value, Decimal) and value != value.to_integral_value():
            raise ValueError(f"{value} is not an integer")
        return int(value)

    def get_db_prep_value(self, value: Any, connection, prepared: bool = False) -> Any:
        value = self.to_python(value)
        if value is None:
            return None
        return value if connection.vendor == "postgresql" else str(value)


class AccountPurpose(models.TextChoices):
    RECEIVABLE = "receivable"  # a brand owes us (debit-normal)
    PAYABLE = "payable"  # we owe a performer (credit-normal)
    PENSION_HEALTH = "pension_health"  # we owe a union's P&H fund (credit-normal)
    PLATFORM_FEE = "platform_fee"  # our revenue (credit-normal, no party)
    STRIPE_CASH = "stripe_cash"  # money at Stripe (debit-normal, no party)
    CLEARING = "clearing"  # transit during payouts; returns to zero (debit-normal)


DEBIT_NORMAL = frozenset({AccountPurpose.RECEIVABLE, AccountPurpose.STRIPE_CASH, AccountPurpose.CLEARING})

# Which kind of party may own an account of each purpose (None: the platform).
PURPOSE_OWNER = {
    AccountPurpose.RECEIVABLE: "brand",
    AccountPurpose.PAYABLE: "performer",
    AccountPurpose.PENSION_HEALTH: "union",
    AccountPurpose.PLATFORM_FEE: None,
    AccountPurpose.STRIPE_CASH: None,
    AccountPurpose.CLEARING: None,
}


class Account(models.Model):
    """One (party, purpose, currency). Platform accounts have no party. Append-only."""

    id = models.CharField(primary_key=True, max_length=32, default=new_account_id, editable=False)
    party = models.ForeignKey(
        Party, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_accounts"
    )
    purpose = models.CharField(max_length=16, choices=AccountPurpose.choices)
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["party", "purpose", "currency"], condition=Q(party__isnull=False),
                name="ledger_account_one_per_party_purpose_currency",
            ),
            models.UniqueConstraint(
                fields=["purpose", "currency"], condition=Q(party__isnull=True),
                name="ledger_account_one_platform_per_purpose_currency",
            ),
            models.CheckConstraint(
                condition=Q(purpose__in=[p.value for p in AccountPurpose]), name="ledger_account_purpose_valid"
            ),
            models.CheckConstraint(condition=Q(currency__regex=CURRENCY_PATTERN), name="ledger_account_currency_iso"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.purpose} {self.currency} ({self.party_id or 'platform'})"

    @property
    def debit_normal(self) -> bool:
        return self.purpose in DEBIT_NORMAL


class TransactionKind(models.TextChoices):
    ROYALTY = "royalty"  # one delivered render (a posted hold)
    REVENUE_SHARE = "revenue_share"  # a brand's reported sales (POST /sales)
    REVERSAL = "reversal"  # undoes another transaction, leg by leg
    PAYOUT = "payout"  # one step of a payout to a performer or union (payments app)
    ADJUSTMENT = "adjustment"
    SETTLEMENT = "settlement"  # a brand's paid invoice settles its receivable (payments app)


class HoldStatus(models.TextChoices):
    OPEN = "open"
    POSTED = "posted"
    VOIDED = "voided"


class Hold(models.Model):
    """A render accepted but not yet delivered: one unit of the contract's quota is
    held (``Contract.renders_held``) and the expected royalty recorded.

    ``open`` → ``posted`` (one royalty transaction, ``Transaction.hold``) or
    ``voided`` (failure, revocation, expiry). A closed hold never changes again
    (database trigger)."""

    Status = HoldStatus

    id = models.CharField(primary_key=True, max_length=32, default=new_hold_id, editable=False)
    # Indexed by ledger_hold_contract_idx (contract, created_at).
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="ledger_holds", db_index=False)
    # The id the royalty transaction will have when this hold is posted: known in
    # advance so that the C2PA manifest, signed before delivery, can name it.
    royalty_transaction_id = models.CharField(max_length=32, unique=True, default=new_transaction_id, editable=False)
    reference = models.CharField(max_length=200, unique=True, help_text="The generation this hold meters")
    status = models.CharField(max_length=8, choices=HoldStatus.choices, default=HoldStatus.OPEN)
    currency = models.CharField(max_length=3)
    expected_seconds = models.PositiveIntegerField(null=True, blank=True)
    expected_amount = models.BigIntegerField(help_text="Expected performer royalty, minor units")
    # The distribution platform: it decides the platform fee (``PlatformFee``). NULL, not
    # "", when there is none: the royalty's signed leaf records it as null.
    platform = models.CharField(max_length=32, null=True, blank=True)  # noqa: DJ001
    meta = models.JSONField(default=dict, blank=True, help_text="platform, category, language, territory, script_length")
    expires_at = models.DateTimeField()
    idempotency_key = models.CharField(max_length=255, unique=True)
    request_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    posted_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.BigIntegerField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=200, blank=True)
    void_idempotency_key = models.CharField(max_length=255, null=True, blank=True, unique=True)
    void_request_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            # Only open holds: posting or voiding a hold takes it out of this index.
            models.Index(fields=["expires_at"], condition=Q(status="open"), name="ledger_hold_open_expiry_idx"),
            models.Index(fields=["contract", "created_at"], name="ledger_hold_contract_idx"),
            models.Index(fields=["created_at", "id"], name="ledger_hold_created_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=[s.value for s in HoldStatus]), name="ledger_hold_status_valid"),
            models.CheckConstraint(
                condition=Q(status=HoldStatus.POSTED, posted_at__isnull=False)
                | (~Q(status=HoldStatus.POSTED) & Q(posted_at__isnull=True)),
                name="ledger_hold_posted_at_iff_posted",
            ),
            models.CheckConstraint(
                condition=Q(status=HoldStatus.VOIDED, voided_at__isnull=False)
                | (~Q(status=HoldStatus.VOIDED) & Q(voided_at__isnull=True)),
                name="ledger_hold_voided_at_iff_voided",
            ),
            models.CheckConstraint(condition=Q(expected_amount__gte=0), name="ledger_hold_expected_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.status} ({self.reference})"


class Transaction(models.Model):
    """A balanced set of postings, written once. Corrections are reversals."""

    Kind = TransactionKind

    id = models.CharField(primary_key=True, max_length=32, default=new_transaction_id, editable=False)
    kind = models.CharField(max_length=16, choices=TransactionKind.choices)
    # Indexed by ledger_txn_contract_idx (contract, created_at).
    contract = models.ForeignKey(
        Contract, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_transactions",
        db_index=False,
    )
    # A hold is posted at most once: the database refuses a second royalty for it.
    hold = models.OneToOneField(
        Hold, null=True, blank=True, on_delete=models.PROTECT, related_name="transaction"
    )
    # A transaction is reversed at most once.
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    reference = models.CharField(max_length=200, blank=True)
    meta = models.JSONField(default=dict, blank=True)
    posting_count = models.PositiveSmallIntegerField(help_text="The seal: how many postings this transaction has")
    idempotency_key = models.CharField(max_length=255, unique=True)
    request_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(fields=["created_at", "id"], name="ledger_txn_created_idx"),
            models.Index(fields=["contract", "created_at"], name="ledger_txn_contract_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=[k.value for k in TransactionKind]), name="ledger_txn_kind_valid"),
            models.CheckConstraint(condition=Q(posting_count__gte=2), name="ledger_txn_two_postings_at_least"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.kind}"


class Side(models.TextChoices):
    DEBIT = "debit"
    CREDIT = "credit"


class Posting(models.Model):
    """One leg of a transaction. ``created_at`` repeats the transaction's, so that
    statements can range-scan an account's postings by time."""

    id = models.BigAutoField(primary_key=True)
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="postings")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="postings", db_index=False)
    side = models.CharField(max_length=6, choices=Side.choices)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["account", "created_at"], name="ledger_posting_account_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(side__in=["debit", "credit"]), name="ledger_posting_side_valid"),
            models.CheckConstraint(
                condition=Q(amount__gte=0) & Q(amount__lte=MAX_AMOUNT), name="ledger_posting_amount_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.amount} {self.currency} {self.account_id}"


class PlatformFee(models.Model):
    """Our fee per distribution platform, in basis points of the performer's royalty,
    charged to the brand on top. Platforms without a row use DOPPEL_PLATFORM_FEE_BPS."""

    platform = models.CharField(primary_key=True, max_length=32)
    fee_bps = models.PositiveIntegerField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(fee_bps__lte=10000), name="ledger_fee_bps_range")]

    def __str__(self) -> str:
        return f"{self.platform}: {self.fee_bps} bps"


# --- the Merkle log -------------------------------------------------------------------


class LogPending(models.Model):
    """Committed transactions not yet in the log (filled by a trigger, drained by
    the sequencer). Small: it only holds the backlog of the last few seconds.

    A transaction whose leaf cannot be built (data that bypassed the services, a
    bug) is *quarantined* instead of stopping the log for everyone: it stays here,
    so balances still count it, with ``quarantined_at`` and the reason, and the
    sequencer passes over it (docs/ledger.md "Fault isolation")."""

    seq = models.BigAutoField(primary_key=True)
    transaction = models.OneToOneField(Transaction, on_delete=models.PROTECT, related_name="log_pending")
    quarantined_at = models.DateTimeField(null=True, blank=True)
    quarantine_reason = models.CharField(max_length=300, blank=True, default="", db_default="")

    def __str__(self) -> str:
        state = f" (quarantined: {self.quarantine_reason})" if self.quarantined_at else ""
        return f"pending #{self.seq}: {self.transaction_id}{state}"


class LogLeaf(models.Model):
    """Leaf ``index`` of the log is ``transaction``. Append-only."""

    index = models.BigIntegerField(primary_key=True)
    transaction = models.OneToOneField(Transaction, on_delete=models.PROTECT, related_name="log_leaf")

    class Meta:
        ordering = ["index"]

    def __str__(self) -> str:
        return f"leaf {self.index}: {self.transaction_id}"


NODE_LEVEL_SHIFT = 56


def node_key(level: int, index: int) -> int:
    """One integer key per perfect subtree: level in the top byte, index below."""
    return (level << NODE_LEVEL_SHIFT) | index


class LogNode(models.Model):
    """The hash of a perfect subtree (level 0: a leaf hash), stored once it completes.
    ``id`` is ``node_key(level, index)``. Append-only."""

    id = models.BigIntegerField(primary_key=True)
    hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        level, index = self.id >> NODE_LEVEL_SHIFT, self.id & ((1 << NODE_LEVEL_SHIFT) - 1)
        return f"node level {level} index {index}"


class LogState(models.Model):
    """The single row the sequencer locks; its size and root are authoritative."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    size = models.BigIntegerField(default=0)
    root_hash = models.CharField(max_length=64)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="ledger_logstate_singleton")]

    def __str__(self) -> str:
        return f"log size {self.size}"


class TreeHead(models.Model):
    """A signed checkpoint (C2SP tlog-checkpoint note). Append-only; one per size."""

    size = models.BigIntegerField(primary_key=True)
    root_hash = models.CharField(max_length=64)
    timestamp = models.DateTimeField(default=timezone.now)
    checkpoint = models.TextField()
    verifier_key = models.CharField(max_length=300)

    class Meta:
        ordering = ["-size"]

    def __str__(self) -> str:
        return f"tree head {self.size} {self.root_hash[:16]}"


class BalanceCheckpoint(models.Model):
    """Running debit and credit totals of an account over every *sequenced*
    transaction, maintained by the sequencer in the same database transaction
    that appends the leaves. A balance is this plus the postings of transactions
    still in ``LogPending`` (see ``selectors.account_totals``).

    Totals are exact integers below ``TOTAL_LIMIT`` (``ExactTotalField``). When the
    sequencer cannot write an account's checkpoint, it marks it *stale*
    (``stale_since``, ``stale_reason``) and goes on with the log; the account's
    balance is then summed from its postings until the sequencer rebuilds it."""

    account = models.OneToOneField(Account, primary_key=True, on_delete=models.PROTECT, related_name="checkpoint")
    debits = ExactTotalField(default=0)
    credits = ExactTotalField(default=0)
    log_size = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)
    stale_since = models.DateTimeField(null=True, blank=True)
    stale_reason = models.CharField(max_length=300, blank=True, default="", db_default="")

    class Meta:
        indexes = [
            # The few stale checkpoints the sequencer rebuilds; fresh ones are not in it.
            models.Index(fields=["stale_since"], condition=Q(stale_since__isnull=False),
                         name="ledger_checkpoint_stale_idx"),
        ]

    def __str__(self) -> str:
        stale = " (stale)" if self.stale_since else ""
        return f"{self.account_id}: debits {self.debits}, credits {self.credits}{stale}"


class SaleReport(models.Model):
    """A brand's report of gross sales under a contract for a period of days
    (``period_start`` … ``period_end``, both included), and the revenue-share
    transaction it booked.

    One report per day of a contract: a report overlapping a standing one is
    refused (``SaleAlreadyReported``), checked under a lock on the contract row by
    ``revenue_share_book``; a report whose transaction was reversed no longer
    stands, which frees its days (docs/ledger.md "Sales")."""

    id = models.BigAutoField(primary_key=True)
    # Indexed by ledger_sale_contract_idx (contract, period_start).
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="sale_reports", db_index=False)
    period_start = models.DateField()
    period_end = models.DateField()
    transaction = models.OneToOneField(Transaction, on_delete=models.PROTECT, related_name="sale_report")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["contract", "period_start", "id"]
        indexes = [models.Index(fields=["contract", "period_start"], name="ledger_sale_contract_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(period_end__gte=models.F("period_start")),
                                   name="ledger_sale_period_ordered"),
        ]

    def __str__(self) -> str:
        return f"sales {self.contract_id} {self.period_start}..{self.period_end}: {self.transaction_id}"
