"""Payout runs: each payee's available balance per currency, sent as a Stripe Transfer.

The two-phase protocol (docs/payments.md "Payouts"), so that a rerun, a retry or a
crash at any point never pays twice and never loses a payout:

1. **reserve** (one database transaction, the payee's account locked): a ``Payout``
   row ``pending`` and the ledger transaction payee account (Dr) → clearing (Cr);
   the money leaves the available balance. At most one pending payout per payee
   account and currency (a unique index), so a concurrent run cannot reserve twice.
2. **transfer**: ``POST /v1/transfers`` with the idempotency key
   ``doppel-payout-<payout id>`` and ``transfer_group`` = the payout id. Sending it
   again (a rerun after a crash) returns the same transfer.
3. **post** (one database transaction): clearing (Dr) → Stripe cash (Cr); ``paid``.
   If Stripe refused the transfer: clearing (Dr) → payee account (Cr); ``failed``.
   If the outcome is unknown (network, 5xx): the payout stays ``pending`` and the
   next run (or ``reconcile``) sends the same request again.

A reversal (``transfer.reversed``) books Stripe cash (Dr) → payee account (Cr) for
the amount reversed: the balance is owed again.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import stripe
from django.db import transaction
from django.utils import timezone

from common.timefmt import iso
from ledger import services as ledger
from ledger.models import Account, AccountPurpose, Side
from ledger.selectors import account_totals
from payments import conf, stripe_api
from payments.currencies import UnsupportedCurrency, currency
from payments.models import PayeeAccount, Payout, PayoutRun, PayoutStatus
from rights.models import Party

log = logging.getLogger(__name__)

PAYEE_PURPOSES = (AccountPurpose.PAYABLE, AccountPurpose.PENSION_HEALTH)
CHUNK = 500


def available_balance(account_id: str) -> int:
    """What the ledger owes on a payable or P&H account (credits − debits), minor units."""
    debits, credits = account_totals(account_ids=[account_id]).get(account_id, (0, 0))
    return credits - debits


def _step_legs(po: Payout, step: str, payee_account: str, amount: int) -> list[ledger.Leg]:
    clearing = ledger.account_get_or_create(party=None, purpose=AccountPurpose.CLEARING, currency=po.currency)
    cash = ledger.account_get_or_create(party=None, purpose=AccountPurpose.STRIPE_CASH, currency=po.currency)
    if step == "reserve":
        return [ledger.Leg(payee_account, Side.DEBIT, amount, po.currency),
                ledger.Leg(clearing, Side.CREDIT, amount, po.currency)]
    if step == "paid":
        return [ledger.Leg(clearing, Side.DEBIT, amount, po.currency), ledger.Leg(cash, Side.CREDIT, amount, po.currency)]
    if step == "failed":  # never left: back from clearing
        return [ledger.Leg(clearing, Side.DEBIT, amount, po.currency),
                ledger.Leg(payee_account, Side.CREDIT, amount, po.currency)]
    if step == "reversed":  # came back to our Stripe balance
        return [ledger.Leg(cash, Side.DEBIT, amount, po.currency),
                ledger.Leg(payee_account, Side.CREDIT, amount, po.currency)]
    raise ValueError(step)


def _book(po: Payout, step: str, amount: int, *, key_suffix: str = "") -> Any:
    payee_account = Account.objects.get(party_id=po.payee_id, purpose=po.purpose, currency=po.currency)
    return ledger.transaction_record(
        kind="payout", legs=_step_legs(po, step, payee_account.id, amount),
        idempotency_key=f"payout:{po.id}:{step}{key_suffix}", reference=po.id,
        meta={"payout": po.id, "step": "returned" if step in ("failed", "reversed") else step,
              "payee": po.payee_id, "purpose": po.purpose, "transfer": po.transfer or None},
    )


# --- 1. reserve --------------------------------------------------------------------------


def payout_reserve(*, account: Account, destination: str, run: PayoutRun | None, now: datetime,
                   minimum: int | None = None) -> tuple[Payout | None, str]:
    """Reserve the available balance of a payee's ``account`` (payable or P&H).

    Returns (payout, why): a new pending payout and ``"reserved"``; the payout already
    pending for this account and ``"pending"`` (finish it first); or None and
    ``"below_minimum"`` / ``"unsupported_currency"``. The sendable amount follows
    Stripe's rule for the currency (payments.currencies); the rest stays owed."""
    try:
        cur = currency(account.currency)
    except UnsupportedCurrency:
        return None, "unsupported_currency"
    minimum = conf.payout_minimum(account.currency) if minimum is None else minimum
    with transaction.atomic():
        Account.objects.select_for_update().filter(id=account.id).first()  # serialises runs per account
        pending = Payout.objects.filter(payee_id=account.party_id, purpose=account.purpose,
                                        currency=account.currency, status=PayoutStatus.PENDING).first()
        if pending is not None:
            return pending, "pending"
        balance = available_balance(account.id)
        if balance < minimum:
            return None, "below_minimum"
        stripe_amount, _left = cur.to_stripe(balance)
        amount = cur.from_stripe(stripe_amount)
        if amount < minimum or stripe_amount <= 0:
            return None, "below_minimum"
        previous = (Payout.objects.filter(payee_id=account.party_id, purpose=account.purpose,
                                          currency=account.currency).order_by("-period_end").first())
        po = Payout(payee_id=account.party_id, purpose=account.purpose, currency=account.currency, amount=amount,
                    stripe_amount=stripe_amount, destination=destination, run=run,
                    period_start=previous.period_end if previous else account.created_at, period_end=now,
                    created_at=now, updated_at=now)
        po.reserve_transaction = _book(po, "reserve", amount)
        # A concurrent reservation is excluded by the account lock (and, failing that, by the
        # unique index on pending payouts: the IntegrityError rolls this whole block back).
        po.save(force_insert=True)
        return po, "reserved"


# --- 2. transfer, 3. post ----------------------------------------------------------------


def payout_execute(*, payout: Payout | str) -> Payout:
    """Make (or find again) the transfer of a pending payout and post the outcome.
    Safe to call any number of times; a non-pending payout is returned as is."""
    po = Payout.objects.get(id=payout) if isinstance(payout, str) else payout
    if po.status != PayoutStatus.PENDING:
        return po
    Payout.objects.filter(id=po.id).update(attempts=po.attempts + 1, updated_at=timezone.now())
    try:
        transfer = stripe_api.client().v1.transfers.create(
            params={"amount": po.stripe_amount, "currency": po.currency.lower(), "destination": po.destination,
                    "transfer_group": po.id, "description": f"Doppel payout {po.id}",
                    "metadata": {"payout": po.id, "payee": po.payee_id, "purpose": po.purpose,
                                 "ledger_transaction": po.reserve_transaction_id}},
            options=stripe_api.key("payout", po.id))
    except stripe.StripeError as exc:
        code, message = stripe_api.describe(exc)
        if stripe_api.refused(exc):
            return payout_fail(payout=po.id, code=code, message=message)
        log.warning("payout %s: outcome unknown (%s: %s); it stays pending and is retried", po.id, code, message)
        Payout.objects.filter(id=po.id).update(failure_code=code, failure_message=message, updated_at=timezone.now())
        po.refresh_from_db()
        return po
    return payout_mark_paid(transfer=stripe_api.plain(transfer))


def _payout_of_transfer(transfer: Any) -> Payout | None:
    """The payout a transfer belongs to: by its id, else by our metadata / transfer_group."""
    po = Payout.objects.select_for_update().filter(transfer=transfer["id"]).first()
    if po is None:
        payout_id = (transfer.get("metadata") or {}).get("payout") or transfer.get("transfer_group")
        if payout_id:
            po = Payout.objects.select_for_update().filter(id=str(payout_id)).first()
    return po


def payout_mark_paid(*, transfer: Any) -> Payout | None:
    """Post a pending payout whose transfer exists (from the transfer call, a
    ``transfer.created`` event or reconcile); then apply any reversal it already
    carries. Returns the payout, or None when the transfer is not one of ours."""
    transfer = stripe_api.plain(transfer)
    with transaction.atomic():
        po = _payout_of_transfer(transfer)
        if po is None:
            return None
        if po.status == PayoutStatus.PENDING:
            po.transfer = transfer["id"]
            po.paid_transaction = _book(po, "paid", po.amount)
            po.status, po.paid_at = PayoutStatus.PAID, timezone.now()
            po.failure_code = po.failure_message = ""
            po.updated_at = timezone.now()
            po.save()
        elif po.status == PayoutStatus.FAILED:
            # We recorded a refusal, yet Stripe has the transfer: never expected (a refusal is
            # final for its key). Leave it to reconcile, loudly.
            log.error("payout %s is failed in the ledger but Stripe has transfer %s", po.id, transfer["id"])
            return po
        if int(transfer.get("amount_reversed") or 0) > 0:
            _apply_reversal(po, transfer)
    return po


def payout_fail(*, payout: str, code: str, message: str) -> Payout:
    """Stripe refused the transfer: the reserved amount is owed to the payee again."""
    with transaction.atomic():
        po = Payout.objects.select_for_update().get(id=payout)
        if po.status != PayoutStatus.PENDING:
            return po
        _book(po, "failed", po.amount)
        po.amount_returned = po.amount
        po.status, po.failure_code, po.failure_message = PayoutStatus.FAILED, code[:64], message[:500]
        po.updated_at = timezone.now()
        po.save()
    return po


def payout_reversed(*, transfer: Any) -> Payout | None:
    """A ``transfer.reversed`` event: book what was reversed (cumulative
    ``amount_reversed``, so redeliveries and partial reversals add up exactly).
    Arriving before the payout was posted (out of order), it posts it first."""
    return payout_mark_paid(transfer=transfer)


def _apply_reversal(po: Payout, transfer: Any) -> None:
    cur = currency(po.currency)
    reversed_total = min(po.amount, cur.from_stripe(int(transfer.get("amount_reversed") or 0)))
    due = reversed_total - po.amount_returned
    if due <= 0:
        return
    _book(po, "reversed", due, key_suffix=f":{reversed_total}")
    po.amount_returned = reversed_total
    if po.amount_returned == po.amount:
        po.status = PayoutStatus.REVERSED
    po.updated_at = timezone.now()
    po.save()


# --- the run -------------------------------------------------------------------------------


def _payee_accounts(currencies: set[str] | None) -> Iterator[list[Account]]:
    qs = Account.objects.filter(purpose__in=PAYEE_PURPOSES, party__isnull=False).order_by("id")
    if currencies:
        qs = qs.filter(currency__in=currencies)
    last = ""
    while True:
        chunk = list(qs.filter(id__gt=last)[:CHUNK])
        if not chunk:
            return
        yield chunk
        last = chunk[-1].id


def payouts_run(*, dry_run: bool = False, trigger: str = "command", currencies: set[str] | None = None,
                now: datetime | None = None) -> PayoutRun:
    """Pay every payee's available balance above the minimum, per currency.

    First finishes payouts left pending by an earlier run (same idempotency keys),
    then reserves and sends new ones. One payee's failure is recorded in the run's
    summary and never stops the others. ``dry_run``: reserve nothing, send nothing;
    the summary lists what would be paid."""
    now = now or timezone.now()
    run = PayoutRun.objects.create(trigger=trigger, dry_run=dry_run, started_at=now)
    counts: Counter[str] = Counter()
    totals: dict[str, int] = defaultdict(int)
    planned: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []

    if not dry_run:
        for po in Payout.objects.filter(status=PayoutStatus.PENDING).order_by("created_at"):
            _finish(po, counts, totals, errors)

    for chunk in _payee_accounts(currencies):
        balances = account_totals(account_ids=[a.id for a in chunk])
        payees = {p.party_id: p for p in PayeeAccount.objects.filter(party_id__in={a.party_id for a in chunk})}
        for account in chunk:
            debits, credits = balances.get(account.id, (0, 0))
            balance = credits - debits
            if balance <= 0:
                counts["nothing_owed"] += 1
                continue
            payee = payees.get(account.party_id)
            if payee is None:
                counts["not_onboarded"] += 1
                continue
            if not payee.payouts_enabled:
                counts["payouts_disabled"] += 1
                continue
            try:
                minimum = conf.payout_minimum(account.currency)
            except UnsupportedCurrency:
                counts["unsupported_currency"] += 1
                continue
            if balance < minimum:
                counts["below_minimum"] += 1
                continue
            if dry_run:
                stripe_amount, left = currency(account.currency).to_stripe(balance)
                planned.append({"payee": account.party_id, "purpose": account.purpose, "currency": account.currency,
                                "amount": balance - left, "stripe_amount": stripe_amount,
                                "destination": payee.stripe_account})
                counts["would_pay"] += 1
                totals[account.currency] += balance - left
                continue
            try:
                po, why = payout_reserve(account=account, destination=payee.stripe_account, run=run, now=now)
            except Exception as exc:  # one payee's data never stops the run
                log.exception("payout run %s: reserving for %s failed", run.id, account.id)
                counts["errors"] += 1
                errors.append({"account": account.id, "payee": account.party_id, "error": f"{type(exc).__name__}: {exc}"[:300]})
                continue
            if po is None:
                counts[why] += 1
                continue
            _finish(po, counts, totals, errors)

    run.finished_at = timezone.now()
    run.summary = {"counts": dict(counts), "totals": dict(totals), "errors": errors[:100],
                   "errors_total": len(errors), **({"planned": planned[:1000]} if dry_run else {})}
    run.save(update_fields=["finished_at", "summary"])
    return run


def _finish(po: Payout, counts: Counter, totals: dict[str, int], errors: list[dict[str, str]]) -> None:
    try:
        po = payout_execute(payout=po)
    except Exception as exc:
        log.exception("payout %s failed unexpectedly", po.id)
        counts["errors"] += 1
        errors.append({"payout": po.id, "payee": po.payee_id, "error": f"{type(exc).__name__}: {exc}"[:300]})
        return
    counts[po.status] += 1
    if po.status == PayoutStatus.PAID:
        totals[po.currency] += po.amount


def payout_view(po: Payout) -> dict[str, Any]:
    """A payout as the API shows it (shared/API.md "Payouts and billing")."""
    return {
        "id": po.id, "amount": po.amount, "currency": po.currency, "status": po.status,
        "stripe_amount": po.stripe_amount, "transfer": po.transfer, "destination": po.destination,
        "transaction": po.paid_transaction_id or po.reserve_transaction_id,
        "reserve_transaction": po.reserve_transaction_id, "amount_returned": po.amount_returned,
        "purpose": po.purpose, "period_start": iso(po.period_start), "period_end": iso(po.period_end),
        "created_at": iso(po.created_at), "paid_at": iso(po.paid_at),
        "failure": {"code": po.failure_code, "message": po.failure_message} if po.failure_code else None,
    }


def payee_of(party: Party) -> PayeeAccount | None:
    return PayeeAccount.objects.filter(party=party).first()
