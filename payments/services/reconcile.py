"""Reconciliation: the ledger compared with Stripe, every difference listed with what
to do, and the two crash cases repaired (docs/payments.md "Reconciliation").

Checks, each streaming (Stripe lists page by page, the ledger by SQL aggregates):

1. **transfers vs payouts** — every Stripe transfer of ours has a payout posted for
   the same amount and reversal; every paid payout has its transfer. Repairs: a
   transfer Stripe has but the ledger never posted (a crash after the transfer) is
   posted; a payout reserved with no transfer (a crash before it) is sent again with
   its own idempotency key.
2. **meters vs billed royalties** — per brand and currency, the meter's total equals
   the sum of the reports sent, and every billed transaction has a report (the
   outbox is then sent).
3. **paid invoices vs settled receivables** — every paid invoice of ours is settled
   once, for its amount (a missed ``invoice.paid`` is settled now).
4. **clearing** — each currency's clearing balance equals the pending payouts.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import stripe
from django.db.models import Sum
from django.utils import timezone

from ledger.models import Account, AccountPurpose, Posting, Side
from ledger.selectors import account_totals
from payments import stripe_api
from payments.currencies import currency
from payments.models import (
    BrandBilling,
    MeterReport,
    Payout,
    PayoutStatus,
    ReconcileRun,
    StripeInvoice,
    StripeMeter,
)
from payments.services import billing, payouts

log = logging.getLogger(__name__)

# A pending payout younger than this may still be in the hands of its run.
PENDING_GRACE = timedelta(minutes=5)


class _Report:
    def __init__(self) -> None:
        self.differences: list[dict[str, Any]] = []
        self.repairs: list[dict[str, Any]] = []
        self.counts: dict[str, int] = defaultdict(int)

    def differ(self, kind: str, action: str, **detail: Any) -> None:
        self.differences.append({"kind": kind, "action": action, **detail})

    def repaired(self, kind: str, **detail: Any) -> None:
        self.repairs.append({"kind": kind, **detail})


def reconcile(*, repair: bool = True, trigger: str = "command", now: datetime | None = None) -> ReconcileRun:
    """Compare the ledger with Stripe; returns the stored run (``ok`` when nothing differs
    after repairs). Differences are logged as errors and listed in the admin."""
    now = now or timezone.now()
    run = ReconcileRun.objects.create(trigger=trigger, started_at=now)
    report = _Report()
    client = stripe_api.client()
    for check in (_transfers, _meters, _invoices, _clearing):
        try:
            check(client, report, repair=repair, now=now)
        except stripe.StripeError as exc:
            code, message = stripe_api.describe(exc)
            report.differ("stripe_unreachable", "Run reconcile again when Stripe answers.", check=check.__name__,
                          error=f"{code}: {message}")
    run.finished_at = timezone.now()
    run.differences, run.repairs, run.counts = report.differences[:1000], report.repairs[:1000], dict(report.counts)
    run.counts["differences_total"] = len(report.differences)
    run.ok = not report.differences
    run.save()
    for difference in report.differences[:50]:
        log.error("reconcile %s: %s", run.id, difference)
    return run


# --- 1. transfers ------------------------------------------------------------------------------


def _transfers(client: stripe.StripeClient, report: _Report, *, repair: bool, now: datetime) -> None:
    seen: set[str] = set()
    for obj in client.v1.transfers.list(params={"limit": 100}).auto_paging_iter():
        transfer = stripe_api.plain(obj)
        report.counts["stripe_transfers"] += 1
        payout_id = (transfer.get("metadata") or {}).get("payout") or transfer.get("transfer_group")
        po = Payout.objects.filter(id=str(payout_id or "")).first() or \
            Payout.objects.filter(transfer=transfer["id"]).first()
        if po is None:
            report.differ("transfer_unknown", "A transfer Doppel did not make: check the Stripe dashboard.",
                          transfer=transfer["id"], amount=transfer["amount"], currency=transfer["currency"])
            continue
        seen.add(po.id)
        if po.status == PayoutStatus.PENDING:
            if repair:
                po = payouts.payout_mark_paid(transfer=transfer)
                report.repaired("transfer_posted", payout=po.id, transfer=transfer["id"])
            else:
                report.differ("transfer_not_posted", "Run reconcile with repairs to post it.", payout=po.id,
                              transfer=transfer["id"])
            continue
        if po.status == PayoutStatus.FAILED:
            report.differ("failed_payout_transferred", "Stripe has a transfer for a payout booked as failed: "
                          "reverse the transfer in Stripe or re-post the payout by hand.", payout=po.id,
                          transfer=transfer["id"])
            continue
        if po.stripe_amount != transfer["amount"] or po.transfer != transfer["id"]:
            report.differ("transfer_mismatch", "Amounts or ids differ: investigate before the next run.",
                          payout=po.id, transfer=transfer["id"], ledger=po.stripe_amount, stripe=transfer["amount"])
            continue
        returned_stripe = int(transfer.get("amount_reversed") or 0)
        if currency(po.currency).from_stripe(returned_stripe) != po.amount_returned:
            if repair:
                payouts.payout_reversed(transfer=transfer)
                report.repaired("reversal_posted", payout=po.id, transfer=transfer["id"])
            else:
                report.differ("reversal_not_posted", "Run reconcile with repairs to book the reversal.",
                              payout=po.id, transfer=transfer["id"])
        report.counts["transfers_matched"] += 1
    # Paid payouts whose transfer Stripe does not list; pending ones with no transfer at all.
    for po in Payout.objects.filter(status__in=[PayoutStatus.PAID, PayoutStatus.REVERSED]).exclude(id__in=seen) \
            .iterator(chunk_size=2000):
        report.differ("transfer_missing", "The ledger has a paid payout Stripe does not list: investigate.",
                      payout=po.id, transfer=po.transfer)
    for po in Payout.objects.filter(status=PayoutStatus.PENDING).exclude(id__in=seen):
        if now - po.created_at < PENDING_GRACE:
            report.counts["pending_in_flight"] += 1
            continue
        if repair:
            po = payouts.payout_execute(payout=po)
            report.repaired("payout_resent", payout=po.id, status=po.status)
            if po.status == PayoutStatus.PENDING:
                report.differ("payout_pending", "Stripe did not answer; reconcile retries it.", payout=po.id)
        else:
            report.differ("payout_not_sent", "Run reconcile with repairs to send it.", payout=po.id)


# --- 2. meters ----------------------------------------------------------------------------------


def _meters(client: stripe.StripeClient, report: _Report, *, repair: bool, now: datetime) -> None:
    # Every billed transaction has a report (SQL aggregate, no rows loaded).
    billed = dict(
        Posting.objects.filter(transaction__kind__in=billing.BILLED_KINDS, account__purpose=AccountPurpose.RECEIVABLE,
                               side=Side.DEBIT).values_list("currency").annotate(total=Sum("amount")))
    reported = dict(MeterReport.objects.values_list("currency").annotate(total=Sum("value")))
    for code in sorted(set(billed) | set(reported)):
        if billed.get(code, 0) != reported.get(code, 0):
            if repair:
                collected = billing.meter_reports_collect(limit=10**9)
                report.repaired("meter_reports_collected", currency=code, count=collected)
                reported = dict(MeterReport.objects.values_list("currency").annotate(total=Sum("value")))
            if billed.get(code, 0) != reported.get(code, 0):
                report.differ("billed_not_metered", "Billed royalties and meter reports differ.", currency=code,
                              ledger=billed.get(code, 0), reports=reported.get(code, 0))
    due = MeterReport.objects.filter(reported_at__isnull=True).count()
    if due and repair:
        result = billing.meter_reports_send(limit=10**9)
        report.repaired("meter_reports_sent", **result)
        due = MeterReport.objects.filter(reported_at__isnull=True).count()
    if due:
        report.differ("meter_reports_due", "Reports not yet accepted by Stripe; the billing sync retries them.",
                      count=due)
    # Stripe's meter totals per brand and currency equal what we sent.
    meters = {m.currency: m for m in StripeMeter.objects.all()}
    sent = MeterReport.objects.filter(reported_at__isnull=False).values_list("brand_id", "currency") \
        .annotate(total=Sum("value"))
    customers = dict(BrandBilling.objects.filter(stripe_customer__isnull=False)
                     .values_list("party_id", "stripe_customer"))
    start = int((now - timedelta(days=3650)).timestamp())
    end = int((now + timedelta(days=1)).timestamp())
    for brand_id, code, total in sent.iterator():
        meter, customer = meters.get(code), customers.get(brand_id)
        if meter is None or customer is None:
            report.differ("meter_unknown", "Reports marked sent without a meter or customer.", brand=brand_id,
                          currency=code)
            continue
        summaries = client.v1.billing.meters.event_summaries.list(
            meter.meter, params={"customer": customer, "start_time": start, "end_time": end, "limit": 100})
        stripe_total = sum(int(s.aggregated_value) for s in summaries.auto_paging_iter())
        report.counts["meters_compared"] += 1
        if stripe_total != total:
            report.differ("meter_total_mismatch", "Stripe's meter total differs from the reports sent: compare the "
                          "meter events with the ledger's royalties for this brand.", brand=brand_id, currency=code,
                          ledger=int(total), stripe=stripe_total)


# --- 3. invoices ---------------------------------------------------------------------------------


def _invoices(client: stripe.StripeClient, report: _Report, *, repair: bool, now: datetime) -> None:
    customers = set(BrandBilling.objects.filter(stripe_customer__isnull=False).values_list("stripe_customer",
                                                                                         flat=True))
    for invoice in client.v1.invoices.list(params={"limit": 100, "status": "paid"}).auto_paging_iter():
        if invoice.customer not in customers:
            continue
        report.counts["paid_invoices"] += 1
        record = StripeInvoice.objects.filter(id=invoice.id).first()
        cur = currency(str(invoice.currency).upper())
        if record is None or record.settlement_transaction_id is None:
            if int(invoice.amount_paid or 0) == 0:
                continue
            if repair:
                billing.invoice_apply(invoice=invoice.to_dict())
                report.repaired("invoice_settled", invoice=invoice.id)
            else:
                report.differ("invoice_not_settled", "Run reconcile with repairs to settle it.", invoice=invoice.id)
            continue
        if record.amount_paid != cur.from_stripe(int(invoice.amount_paid or 0)):
            report.differ("invoice_amount_mismatch", "The settlement differs from what Stripe collected: book an "
                          "adjustment.", invoice=invoice.id, ledger=record.amount_paid, stripe=invoice.amount_paid)


# --- 4. clearing --------------------------------------------------------------------------------


def _clearing(client: stripe.StripeClient, report: _Report, *, repair: bool, now: datetime) -> None:
    accounts = {a.id: a.currency for a in Account.objects.filter(party__isnull=True, purpose=AccountPurpose.CLEARING)}
    pending = dict(Payout.objects.filter(status=PayoutStatus.PENDING).values_list("currency")
                   .annotate(total=Sum("amount")))
    for account_id, (debits, credits) in account_totals(account_ids=list(accounts)).items():
        code = accounts[account_id]
        in_transit = credits - debits
        if in_transit != pending.get(code, 0):
            report.differ("clearing_mismatch", "Clearing must equal the payouts in flight: find the payout "
                          "steps not booked.", currency=code, clearing=in_transit, pending=pending.get(code, 0))
