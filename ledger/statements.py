"""Monthly statements: one party's account over one calendar month (UTC), every line.

Pure reads, selectors-style. A statement is the postings of one party's own
accounts (one per currency) of one purpose:

* a performer: ``payable`` (what we owe it; credits count positive);
* a union: ``pension_health`` (what we owe its P&H fund; credits positive);
* a brand: ``receivable`` (what it owes; debits — royalties and revenue shares —
  positive, settlements of its invoices negative).

So every amount is signed "the balance grows by this much", and
``closing_balance == opening_balance + sum(line amounts)`` per currency, exactly.
Opening balances are summed from the postings before the month (one range scan
per account), never from the checkpoints, so a statement of any past month is
exact. The lines stream (``.iterator()``): the JSON and PDF list at most
``line_limit`` of them but total all; CSV writes all (``statement_lines``).

Transaction kinds are read as strings, so kinds another app adds later fall in
``other``; ``settlement`` (a brand's invoice paid) is known by name and totals as
``payments_received``. Payout steps (kind ``payout``, meta ``{"payout", "step"}``)
total as ``payouts``: a reserve takes money off the payee's balance (negative), a
returned transfer puts it back (positive); ``paid`` moves only platform accounts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from typing import Any

from django.template.loader import render_to_string

from ledger.log.leaf import format_timestamp
from ledger.models import DEBIT_NORMAL, Account, AccountPurpose, Posting, Side, TransactionKind
from ledger.selectors import _posting_sums, month_bounds
from rights.models import Party, PartyKind

STATEMENT_LINE_LIMIT = 5000
SETTLEMENT = "settlement"  # a brand's invoice paid (payments app); compared as a string

# The account a statement is about, by the kind of party.
STATEMENT_PURPOSE = {
    PartyKind.PERFORMER: AccountPurpose.PAYABLE,
    PartyKind.UNION: AccountPurpose.PENSION_HEALTH,
    PartyKind.BRAND: AccountPurpose.RECEIVABLE,
}

# Totals of a currency, in the order a reader adds them up (all signed, minor units).
BUCKETS = ("royalties", "revenue_share", "reversals", "payouts", "payments_received", "other")
_BUCKET_OF_KIND = {TransactionKind.ROYALTY.value: "royalties", TransactionKind.REVENUE_SHARE.value: "revenue_share",
                   TransactionKind.REVERSAL.value: "reversals", TransactionKind.PAYOUT.value: "payouts",
                   SETTLEMENT: "payments_received"}
BUCKET_LABELS = {"royalties": "Royalties", "revenue_share": "Revenue shares", "reversals": "Reversals",
                 "payouts": "Payouts", "payments_received": "Payments received", "other": "Other"}
_KIND_LABELS = {"royalty": "royalty", "revenue_share": "revenue share", "reversal": "reversal",
                "payout": "payout", "adjustment": "adjustment", SETTLEMENT: "payments received"}

# One line per posting; the CSV's columns, in order.
LINE_COLUMNS = (
    "created_at", "transaction", "kind", "label", "bucket", "contract", "brand", "performer", "platform",
    "language", "script_excerpt", "seconds", "payout", "payout_step", "reverses", "reference", "currency",
    "amount",
)


def statement_purpose(party: Party) -> str:
    """The account purpose a statement of ``party`` covers (KeyError for an unknown kind)."""
    return STATEMENT_PURPOSE[party.kind]


def _month_text(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def _statement_accounts(party: Party) -> dict[str, Account]:
    return {a.id: a for a in Account.objects.filter(party=party, purpose=statement_purpose(party))}


def _signed(purpose: str, side: str, amount: int) -> int:
    """How much ``purpose``'s balance grows by one posting."""
    grows = Side.DEBIT if purpose in DEBIT_NORMAL else Side.CREDIT
    return amount if side == grows else -amount


def _line(posting: Posting, purpose: str) -> dict[str, Any]:
    txn = posting.transaction
    meta = txn.meta or {}
    # The use a line is about: its own hold, or (a reversal) the reversed transaction's.
    hold = txn.hold if txn.hold_id else None
    reversed_txn = txn.reverses if txn.reverses_id else None
    if hold is None and reversed_txn is not None and reversed_txn.hold_id:
        hold = reversed_txn.hold
    use = (hold.meta or {}) if hold is not None else {}
    contract = txn.contract if txn.contract_id else None
    seconds = meta.get("billed_seconds")
    if seconds is None and reversed_txn is not None:
        seconds = (reversed_txn.meta or {}).get("billed_seconds")
    if txn.kind == TransactionKind.REVERSAL and seconds is not None:
        seconds = -int(seconds)
    is_payout = txn.kind == TransactionKind.PAYOUT
    return {
        "created_at": format_timestamp(posting.created_at),
        "transaction": txn.id,
        "kind": txn.kind,
        "label": _KIND_LABELS.get(txn.kind, txn.kind.replace("_", " ")),
        "bucket": _BUCKET_OF_KIND.get(txn.kind, "other"),
        "contract": txn.contract_id,
        "brand": contract.brand.name if contract is not None else None,
        "performer": contract.performer.name if contract is not None else None,
        "platform": (hold.platform or use.get("platform")) if hold is not None else None,
        "language": use.get("language") if hold is not None else None,
        "script_excerpt": str(use.get("script_excerpt") or "") if hold is not None else None,
        "seconds": int(seconds) if seconds is not None else None,
        "payout": meta.get("payout") if is_payout else None,
        "payout_step": meta.get("step") if is_payout else None,
        "reverses": txn.reverses_id,
        "reference": txn.reference,
        "currency": posting.currency,
        "amount": _signed(purpose, posting.side, posting.amount),
    }


def _month_postings(accounts: dict[str, Account], month: date):
    start, end = month_bounds(month)
    return (
        Posting.objects.filter(account_id__in=list(accounts), created_at__gte=start, created_at__lt=end)
        .select_related("transaction__hold", "transaction__reverses__hold", "transaction__contract__brand",
                        "transaction__contract__performer")
        .order_by("created_at", "id")
    )


def statement_lines(*, party: Party, month: date, chunk_size: int = 2000) -> Iterator[dict[str, Any]]:
    """Every line of ``party``'s statement for ``month``, oldest first (``LINE_COLUMNS``
    keys): one query for the accounts, then one streamed query. ``amount`` is signed,
    minor units of ``currency``; ``seconds`` is the billed seconds of a use (negative on
    its reversal); ``script_excerpt`` is "" for a use recorded before excerpts were kept."""
    accounts = _statement_accounts(party)
    if not accounts:
        return
    purpose = statement_purpose(party)
    for posting in _month_postings(accounts, month).iterator(chunk_size=chunk_size):
        yield _line(posting, purpose)


def _zero_totals() -> dict[str, int]:
    return {**dict.fromkeys(BUCKETS, 0), "renders": 0}


def statement_build(*, party: Party, month: date, line_limit: int = STATEMENT_LINE_LIMIT) -> dict[str, Any]:
    """``party``'s statement of ``month`` (a date in it; UTC calendar month).

    Returns ``{"party", "party_kind", "party_name", "performer" (the party's id for a
    performer, else None), "account_purpose", "month" ("YYYY-MM"), "period_start",
    "period_end", "currencies": [{"currency", "opening_balance", <BUCKETS>, "renders",
    "closing_balance"}], "contracts": [{"contract", "currency", "renders",
    "billed_seconds", "amount"}], "lines": [<statement_lines rows>, at most line_limit],
    "line_count", "truncated"}``. Every posting counts in the totals whatever the cap.
    Three queries, whatever the number of lines."""
    start, end = month_bounds(month)
    accounts = _statement_accounts(party)
    purpose = statement_purpose(party)
    opening: dict[str, int] = defaultdict(int)
    for account_id, (debits, credits) in _posting_sums(list(accounts), before=start).items():
        opening[accounts[account_id].currency] += debits - credits if purpose in DEBIT_NORMAL else credits - debits

    currencies: dict[str, dict[str, int]] = {}
    contracts: dict[tuple[str | None, str], dict[str, Any]] = {}
    lines: list[dict[str, Any]] = []
    count = 0
    postings = _month_postings(accounts, month).iterator(chunk_size=2000) if accounts else iter(())
    for posting in postings:
        line = _line(posting, purpose)
        count += 1
        totals = currencies.setdefault(line["currency"], _zero_totals())
        totals[line["bucket"]] += line["amount"]
        per_contract = contracts.setdefault((line["contract"], line["currency"]), {
            "contract": line["contract"], "currency": line["currency"], "renders": 0, "billed_seconds": 0,
            "amount": 0})
        per_contract["amount"] += line["amount"]
        if line["kind"] == TransactionKind.ROYALTY:
            totals["renders"] += 1
            per_contract["renders"] += 1
            per_contract["billed_seconds"] += line["seconds"] or 0
        if len(lines) < line_limit:
            lines.append(line)

    summary = []
    for currency in sorted(set(currencies) | set(opening)):
        totals = currencies.get(currency, _zero_totals())
        summary.append({
            "currency": currency, "opening_balance": opening.get(currency, 0), **totals,
            "closing_balance": opening.get(currency, 0) + sum(totals[b] for b in BUCKETS),
        })
    return {
        "party": party.id,
        "party_kind": party.kind,
        "party_name": party.name,
        "performer": party.id if party.kind == PartyKind.PERFORMER else None,
        "account_purpose": purpose,
        "month": _month_text(month),
        "period_start": format_timestamp(start),
        "period_end": format_timestamp(end),
        "currencies": summary,
        "contracts": sorted(contracts.values(), key=lambda c: (c["currency"], c["contract"] or "")),
        "lines": lines,
        "line_count": count,
        "truncated": count > len(lines),
    }


def statement_filename(statement: dict[str, Any], extension: str) -> str:
    """``doppel-statement-<party>-<YYYY-MM>.<extension>`` (ids are [A-Za-z0-9_])."""
    return f"doppel-statement-{statement['party']}-{statement['month']}.{extension}"


def statement_html(statement: dict[str, Any]) -> str:
    """``templates/statements/statement.html`` rendered for ``statement`` (``statement_build``'s
    dict): the page the web app shows and the PDF prints. Self-contained: no URL in it."""
    summary = [{**row, "buckets": [(BUCKET_LABELS[b], row[b]) for b in BUCKETS]} for row in statement["currencies"]]
    return render_to_string("statements/statement.html", {"statement": statement, "summary": summary})


def statement_pdf(statement: dict[str, Any]) -> bytes:
    """The statement as a PDF document (bytes starting ``%PDF``); see ``ledger.pdf``."""
    from ledger.pdf import html_to_pdf

    return html_to_pdf(statement_html(statement))
