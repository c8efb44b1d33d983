"""Money moving through Stripe: payees' Connect accounts, payouts and their runs,
brand billing (customers, meter reports, invoices), Stripe's webhook events, and
reconciliation runs (docs/payments.md).

The ledger stays the source of truth for money: every amount here is mirrored by
ledger transactions (kind ``payout`` or ``settlement``) written in the same
database transaction as the row that records it.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from common.ids import new_id
from ledger.models import Transaction
from rights.models import Party


def new_payout_id() -> str:
    return new_id("po")


class PayeeAccount(models.Model):
    """A performer's or union's Stripe Connect Express account and its state as
    Stripe last reported it (``account.updated``; ``stripe_updated`` is the
    ``created`` time of the event applied last, so an older event arriving late
    is not applied over a newer one)."""

    party = models.OneToOneField(Party, primary_key=True, on_delete=models.PROTECT, related_name="stripe_payee")
    stripe_account = models.CharField(max_length=64, unique=True)
    payouts_enabled = models.BooleanField(default=False)
    charges_enabled = models.BooleanField(default=False)
    details_submitted = models.BooleanField(default=False)
    requirements = models.JSONField(default=list, blank=True)
    disabled_reason = models.CharField(max_length=100, blank=True, default="")
    stripe_updated = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.party_id} → {self.stripe_account} ({'payouts on' if self.payouts_enabled else 'onboarding'})"


class PayoutStatus(models.TextChoices):
    PENDING = "pending"  # reserved in the ledger; the transfer is being made (or its outcome is unknown)
    PAID = "paid"  # the transfer exists; posted payable → clearing → Stripe cash
    FAILED = "failed"  # Stripe refused the transfer; the amount is owed again
    REVERSED = "reversed"  # the transfer was reversed in full; the amount is owed again


class PayoutRun(models.Model):
    """One run of the payout job: what it paid, skipped and why."""

    id = models.BigAutoField(primary_key=True)
    trigger = models.CharField(max_length=16, default="command")  # command | schedule | demo
    dry_run = models.BooleanField(default=False)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"payout run {self.id} ({'dry run' if self.dry_run else self.trigger})"


class Payout(models.Model):
    """One transfer of a payee's available balance in one currency to its connected
    account. The ledger reserves the amount first (payee's account → clearing),
    the transfer is made with the idempotency key ``doppel-payout-<id>``, then the
    payout is posted (clearing → Stripe cash). A failed or reversed transfer
    returns the amount to the payee's balance (docs/payments.md "Payouts")."""

    Status = PayoutStatus

    id = models.CharField(primary_key=True, max_length=32, default=new_payout_id, editable=False)
    payee = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="payouts")
    purpose = models.CharField(max_length=16)  # the ledger account paid out: payable | pension_health
    currency = models.CharField(max_length=3)
    amount = models.BigIntegerField(help_text="Ledger minor units")
    stripe_amount = models.BigIntegerField(help_text="Stripe's amount (its smallest unit of the currency)")
    destination = models.CharField(max_length=64)
    status = models.CharField(max_length=8, choices=PayoutStatus.choices, default=PayoutStatus.PENDING)
    transfer = models.CharField(max_length=64, null=True, blank=True, unique=True)  # noqa: DJ001
    amount_returned = models.BigIntegerField(default=0, help_text="Ledger minor units owed again (reversals)")
    reserve_transaction = models.OneToOneField(Transaction, on_delete=models.PROTECT, related_name="+")
    paid_transaction = models.OneToOneField(Transaction, null=True, blank=True, on_delete=models.PROTECT,
                                            related_name="+")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    run = models.ForeignKey(PayoutRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="payouts")
    attempts = models.PositiveIntegerField(default=0)
    failure_code = models.CharField(max_length=64, blank=True, default="")
    failure_message = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(fields=["payee", "created_at"], name="payments_payout_payee_idx"),
            models.Index(fields=["status", "created_at"], condition=Q(status="pending"),
                         name="payments_payout_pending_idx"),
        ]
        constraints = [
            # One payout in flight per payee account and currency: a second run waits for it.
            models.UniqueConstraint(fields=["payee", "purpose", "currency"], condition=Q(status="pending"),
                                    name="payments_one_pending_payout"),
            models.CheckConstraint(condition=Q(amount__gt=0) & Q(stripe_amount__gt=0), name="payments_payout_positive"),
            models.CheckConstraint(condition=Q(status__in=[s.value for s in PayoutStatus]),
                                   name="payments_payout_status_valid"),
            models.CheckConstraint(condition=Q(amount_returned__gte=0) & Q(amount_returned__lte=models.F("amount")),
                                   name="payments_payout_returned_range"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.amount} {self.currency} → {self.payee_id} ({self.status})"


class BrandBilling(models.Model):
    """A brand as a Stripe customer: its credit limit and whether billing flagged it
    (a failed invoice payment or a dispute)."""

    party = models.OneToOneField(Party, primary_key=True, on_delete=models.PROTECT, related_name="billing")
    stripe_customer = models.CharField(max_length=64, null=True, blank=True, unique=True)  # noqa: DJ001
    # Operator-set, in major units of each currency's equivalent (see payments.currencies); NULL: the default.
    credit_limit_major = models.PositiveBigIntegerField(null=True, blank=True)
    flagged_at = models.DateTimeField(null=True, blank=True)
    flag_reason = models.CharField(max_length=200, blank=True, default="")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.party_id} ({self.stripe_customer or 'no customer yet'}){' FLAGGED' if self.flagged_at else ''}"


class StripeMeter(models.Model):
    """The Billing Meter of one currency (``doppel_usage_<ccy>``, values in ledger minor units)."""

    currency = models.CharField(primary_key=True, max_length=3)
    meter = models.CharField(max_length=64, unique=True)
    event_name = models.CharField(max_length=100, unique=True)

    def __str__(self) -> str:
        return f"{self.event_name} ({self.meter})"


class MeterReport(models.Model):
    """What one billed ledger transaction (a royalty or a revenue share) reports to
    the brand's meter: the brand's receivable debit. ``identifier`` (the transaction
    id) is the meter event's identifier and idempotency key, so a retried report is
    never billed twice. An outbox: created for each billed transaction, sent by
    ``billing_sync`` until ``reported_at`` is set."""

    transaction = models.OneToOneField(Transaction, primary_key=True, on_delete=models.PROTECT,
                                       related_name="meter_report")
    brand = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="meter_reports")
    currency = models.CharField(max_length=3)
    value = models.BigIntegerField()
    transaction_created_at = models.DateTimeField()
    reported_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["transaction_created_at"], condition=Q(reported_at__isnull=True),
                         name="payments_meter_unreported_idx"),
            models.Index(fields=["brand", "currency"], name="payments_meter_brand_idx"),
        ]

    def __str__(self) -> str:
        return f"meter {self.transaction_id}: {self.value} {self.currency} ({'sent' if self.reported_at else 'due'})"


class StripeInvoice(models.Model):
    """A brand's invoice as Stripe reported it, and the ledger settlement of a paid one."""

    id = models.CharField(primary_key=True, max_length=64)
    brand = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="stripe_invoices")
    currency = models.CharField(max_length=3)
    amount_due = models.BigIntegerField(default=0)
    amount_paid = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16)
    settlement_transaction = models.OneToOneField(Transaction, null=True, blank=True, on_delete=models.PROTECT,
                                                  related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.id} {self.amount_paid}/{self.amount_due} {self.currency} ({self.status})"


class StripeEventStatus(models.TextChoices):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"  # a type we do not handle, or an object that is not ours
    FAILED = "failed"  # processing raised; retried by the sweep


class StripeEvent(models.Model):
    """A webhook event, stored once by its id (a redelivery is a no-op) and processed by a task."""

    id = models.CharField(primary_key=True, max_length=64)
    type = models.CharField(max_length=100)
    created = models.BigIntegerField(help_text="Stripe's event time, Unix seconds")
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=StripeEventStatus.choices, default=StripeEventStatus.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    note = models.CharField(max_length=500, blank=True, default="")
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["status", "received_at"], name="payments_event_status_idx")]

    def __str__(self) -> str:
        return f"{self.id} {self.type} ({self.status})"


class ReconcileRun(models.Model):
    """One comparison of the ledger with Stripe: the differences found, the repairs made."""

    id = models.BigAutoField(primary_key=True)
    trigger = models.CharField(max_length=16, default="command")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    differences = models.JSONField(default=list, blank=True)
    repairs = models.JSONField(default=list, blank=True)
    counts = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"reconcile {self.id}: {'ok' if self.ok else f'{len(self.differences)} difference(s)'}"
