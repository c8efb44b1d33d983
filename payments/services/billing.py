"""Brand billing: every billed ledger transaction reported to a Stripe Billing Meter,
invoices settling receivables, credit limits and flags (docs/payments.md "Billing").

Each royalty and revenue share debits the brand's receivable; that amount (ledger
minor units) is one meter event on the meter of its currency
(``doppel_usage_<ccy>``, priced at one minor unit per unit), with the transaction id
as the event's ``identifier`` and idempotency key — a retried report never bills
twice. Stripe invoices the brand; ``invoice.paid`` settles the receivable
(Stripe cash Dr / receivable Cr). Performers are paid what they earned whether or
not the brand has paid yet: Doppel carries the credit risk, bounded by each
brand's credit limit.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from common.timefmt import iso
from ledger import services as ledger
from ledger.models import Account, AccountPurpose, Hold, HoldStatus, Posting, Side, TransactionKind
from ledger.selectors import account_totals
from payments import stripe_api
from payments.currencies import UnsupportedCurrency, currency
from payments.exceptions import BrandFlagged, CreditLimitExceeded
from payments.models import BrandBilling, MeterReport, StripeInvoice, StripeMeter
from rights.models import Party, PartyKind

log = logging.getLogger(__name__)

BILLED_KINDS = (TransactionKind.ROYALTY, TransactionKind.REVENUE_SHARE)


def meter_event_name(code: str) -> str:
    return f"doppel_usage_{code.lower()}"


# --- credit --------------------------------------------------------------------------------


def brand_billing(brand: Party) -> BrandBilling:
    billing = BrandBilling.objects.filter(party=brand).first()
    if billing is None:
        try:
            with transaction.atomic():
                billing = BrandBilling.objects.create(party=brand)
        except IntegrityError:
            billing = BrandBilling.objects.get(party=brand)
    return billing


def credit_limit(*, brand: Party, code: str) -> int:
    """The brand's credit limit in ``code``, ledger minor units: its operator-set
    ``credit_limit_major`` (or DOPPEL_CREDIT_LIMIT_MAJOR) major units of the currency's
    equivalent (payments.currencies: Stripe's minimum charge ≈ USD 0.50 per 0.50)."""
    billing = BrandBilling.objects.filter(party=brand).first()
    major = billing.credit_limit_major if billing and billing.credit_limit_major is not None else \
        settings.DOPPEL_CREDIT_LIMIT_MAJOR
    try:
        cur = currency(code)
    except UnsupportedCurrency:
        return 0
    return cur.major(cur.minimum_charge_major * 2 * major)


def brand_exposure(*, brand: Party, code: str) -> dict[str, int]:
    """What the brand owes in ``code`` now: the unpaid receivable (debits − credits) and
    the expected royalties of its open holds, ledger minor units."""
    account = Account.objects.filter(party=brand, purpose=AccountPurpose.RECEIVABLE, currency=code).first()
    receivable = 0
    if account is not None:
        debits, credits = account_totals(account_ids=[account.id]).get(account.id, (0, 0))
        receivable = debits - credits
    held = Hold.objects.filter(status=HoldStatus.OPEN, contract__brand=brand, currency=code) \
        .aggregate(total=Sum("expected_amount"))["total"] or 0
    return {"receivable": receivable, "open_holds": int(held)}


def credit_check(*, brand: Party, code: str, amount: int) -> None:
    """Refuse a request that would take the brand's unpaid receivable plus open holds
    (plus ``amount``, this request's expected royalty) over its credit limit, or any
    request of a flagged brand. Raises CreditLimitExceeded or BrandFlagged (402)."""
    billing = BrandBilling.objects.filter(party=brand).first()
    if billing is not None and billing.flagged_at is not None:
        raise BrandFlagged(f"The brand's billing is on hold since {iso(billing.flagged_at)}: {billing.flag_reason}",
                           rule="billing_flagged")
    limit = credit_limit(brand=brand, code=code)
    exposure = brand_exposure(brand=brand, code=code)
    total = exposure["receivable"] + exposure["open_holds"] + amount
    if total > limit:
        raise CreditLimitExceeded(
            f"Unpaid {exposure['receivable']} + open holds {exposure['open_holds']} + this request {amount} "
            f"{code} (minor units) would pass the credit limit of {limit}.",
            rule="credit_limit", limit=limit, currency=code, **exposure, requested=amount)


def brand_flag(*, brand: Party, reason: str) -> None:
    billing = brand_billing(brand)
    BrandBilling.objects.filter(party=brand).update(flagged_at=billing.flagged_at or timezone.now(),
                                                    flag_reason=reason[:200], updated_at=timezone.now())
    log.warning("brand %s flagged: %s", brand.id, reason)


def brand_unflag(*, brand: Party) -> None:
    BrandBilling.objects.filter(party=brand).update(flagged_at=None, flag_reason="", updated_at=timezone.now())


# --- Stripe objects: customers and meters ------------------------------------------------------


def brand_customer(brand: Party) -> str:
    """The brand's Stripe customer id, created once (key ``doppel-customer-<brand>``)."""
    billing = brand_billing(brand)
    if billing.stripe_customer:
        return billing.stripe_customer
    customer = stripe_api.client().v1.customers.create(
        params={"name": brand.name[:200], "metadata": {"party": brand.id}}, options=stripe_api.key("customer", brand.id))
    BrandBilling.objects.filter(party=brand, stripe_customer__isnull=True).update(
        stripe_customer=customer.id, updated_at=timezone.now())
    return BrandBilling.objects.get(party=brand).stripe_customer


def meter_for(code: str) -> StripeMeter:
    """The Billing Meter of ``code``, created once (key ``doppel-meter-<ccy>``)."""
    meter = StripeMeter.objects.filter(currency=code).first()
    if meter is not None:
        return meter
    client = stripe_api.client()
    name = meter_event_name(code)
    try:
        created = client.v1.billing.meters.create(params={
            "display_name": f"Doppel usage ({code}, minor units)", "event_name": name,
            "default_aggregation": {"formula": "sum"},
            "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
            "value_settings": {"event_payload_key": "value"},
        }, options=stripe_api.key("meter", code))
        meter_id = created.id
    except stripe.InvalidRequestError:
        # Made earlier (by another deployment of ours, or under an expired key): find it.
        found = [m for m in client.v1.billing.meters.list(params={"limit": 100}).auto_paging_iter()
                 if m.event_name == name]
        if not found:
            raise
        meter_id = found[0].id
    StripeMeter.objects.get_or_create(currency=code, defaults={"meter": meter_id, "event_name": name})
    return StripeMeter.objects.get(currency=code)


# --- the meter outbox ------------------------------------------------------------------------


def meter_reports_collect(*, limit: int = 5000) -> int:
    """Create a MeterReport for each billed transaction that has none (oldest first);
    return how many. The value is the brand's receivable debit."""
    rows = list(
        Posting.objects.filter(transaction__kind__in=BILLED_KINDS, account__purpose=AccountPurpose.RECEIVABLE,
                               side=Side.DEBIT, transaction__meter_report__isnull=True)
        .order_by("transaction__created_at", "transaction_id")
        .values_list("transaction_id", "account__party_id", "currency", "amount", "transaction__created_at")[:limit]
    )
    reports = [MeterReport(transaction_id=t, brand_id=b, currency=c, value=v, transaction_created_at=at)
               for t, b, c, v, at in rows]
    MeterReport.objects.bulk_create(reports, ignore_conflicts=True)
    return len(reports)


def meter_report_send(report: MeterReport, *, customer: str, meter: StripeMeter) -> None:
    stripe_api.client().v1.billing.meter_events.create(
        params={"event_name": meter.event_name, "identifier": report.transaction_id,
                "timestamp": int(report.transaction_created_at.timestamp()),
                "payload": {"stripe_customer_id": customer, "value": str(report.value)}},
        options=stripe_api.key("meter-event", report.transaction_id))


def meter_reports_send(*, limit: int = 5000) -> dict[str, int]:
    """Send due meter reports, oldest first. A brand whose report fails is skipped for
    the rest of this pass (its next ones would land out of order); the others go on.
    Stripe unreachable stops the pass: everything is retried on the next."""
    sent = failed = 0
    skip_brands: set[str] = set()
    customers: dict[str, str] = {}
    due = MeterReport.objects.filter(reported_at__isnull=True).select_related("brand") \
        .order_by("transaction_created_at", "transaction_id")[:limit]
    for report in due:
        if report.brand_id in skip_brands:
            continue
        try:
            if report.brand_id not in customers:
                customers[report.brand_id] = brand_customer(report.brand)
            meter_report_send(report, customer=customers[report.brand_id], meter=meter_for(report.currency))
        except stripe.StripeError as exc:
            failed += 1
            skip_brands.add(report.brand_id)
            code, message = stripe_api.describe(exc)
            MeterReport.objects.filter(pk=report.pk).update(attempts=report.attempts + 1,
                                                            last_error=f"{code}: {message}"[:500])
            if not stripe_api.refused(exc):
                log.warning("meter reports: Stripe unreachable (%s); the pass stops, retried next time", code)
                break
            continue
        MeterReport.objects.filter(pk=report.pk).update(reported_at=timezone.now(), attempts=report.attempts + 1,
                                                        last_error="")
        sent += 1
    return {"sent": sent, "failed": failed}


def billing_sync(*, limit: int = 5000) -> dict[str, int]:
    """Collect new billed transactions into the outbox and send what is due."""
    collected = meter_reports_collect(limit=limit)
    return {"collected": collected, **meter_reports_send(limit=limit)}


# --- invoices and disputes (from webhooks or reconcile) ------------------------------------------


def _brand_of_customer(customer_id: str) -> Party | None:
    billing = BrandBilling.objects.select_related("party").filter(stripe_customer=customer_id).first()
    return billing.party if billing else None


def invoice_apply(*, invoice: dict[str, Any]) -> str:
    """Record an invoice's state; a paid one settles the brand's receivable once
    (idempotency key ``invoice:<id>:paid``). Returns ``settled``, ``recorded`` or
    ``unknown`` (not a customer of ours)."""
    brand = _brand_of_customer(str(invoice.get("customer") or ""))
    if brand is None:
        return "unknown"
    code = str(invoice.get("currency") or "").upper()
    cur = currency(code)
    status = str(invoice.get("status") or "")
    now = timezone.now()
    with transaction.atomic():
        record, _ = StripeInvoice.objects.select_for_update().get_or_create(
            id=str(invoice["id"]), defaults={"brand": brand, "currency": code, "status": status, "created_at": now})
        record.amount_due = cur.from_stripe(int(invoice.get("amount_due") or 0))
        record.amount_paid = cur.from_stripe(int(invoice.get("amount_paid") or 0))
        record.status, record.updated_at = status, now
        outcome = "recorded"
        if status == "paid" and record.settlement_transaction_id is None and record.amount_paid > 0:
            receivable = ledger.account_get_or_create(party=brand, purpose=AccountPurpose.RECEIVABLE, currency=code)
            cash = ledger.account_get_or_create(party=None, purpose=AccountPurpose.STRIPE_CASH, currency=code)
            record.settlement_transaction = ledger.transaction_record(
                kind="settlement", idempotency_key=f"invoice:{record.id}:paid", reference=record.id,
                legs=[ledger.Leg(cash, Side.DEBIT, record.amount_paid, code),
                      ledger.Leg(receivable, Side.CREDIT, record.amount_paid, code)],
                meta={"invoice": record.id, "brand": brand.id, "customer": str(invoice.get("customer"))})
            outcome = "settled"
        record.save()
        if status == "paid":
            billing = BrandBilling.objects.filter(party=brand).first()
            if billing and billing.flag_reason.startswith("payment_failed"):
                brand_unflag(brand=brand)
    return outcome


def invoice_payment_failed(*, invoice: dict[str, Any]) -> str:
    brand = _brand_of_customer(str(invoice.get("customer") or ""))
    if brand is None:
        return "unknown"
    invoice_apply(invoice=invoice)
    brand_flag(brand=brand, reason=f"payment_failed: invoice {invoice.get('id')}")
    return "flagged"


def dispute_created(*, dispute: dict[str, Any]) -> str:
    """A dispute flags the brand whose charge it is (found through the charge's customer)."""
    charge_id = dispute.get("charge")
    customer = None
    if isinstance(charge_id, dict):
        customer = charge_id.get("customer")
    elif charge_id:
        customer = stripe_api.plain(stripe_api.client().v1.charges.retrieve(str(charge_id))).get("customer")
    brand = _brand_of_customer(str(customer or ""))
    if brand is None:
        return "unknown"
    brand_flag(brand=brand, reason=f"dispute {dispute.get('id')} on charge {dispute.get('charge')}")
    return "flagged"


def brand_billing_view(*, brand: Party, now: datetime | None = None) -> dict[str, Any]:
    """The brand's billing state per currency it has been billed in."""
    if brand.kind != PartyKind.BRAND:
        raise ValueError("not a brand")
    billing = BrandBilling.objects.filter(party=brand).first()
    codes = sorted(set(Account.objects.filter(party=brand, purpose=AccountPurpose.RECEIVABLE)
                       .values_list("currency", flat=True)))
    return {
        "customer": billing.stripe_customer if billing else None,
        "flagged_at": iso(billing.flagged_at) if billing else None,
        "flag_reason": billing.flag_reason if billing else "",
        "currencies": [{"currency": c, "credit_limit": credit_limit(brand=brand, code=c),
                        **brand_exposure(brand=brand, code=c)} for c in codes],
    }
