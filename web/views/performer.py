"""The performer's pages (issue 12). URL patterns are listed in ``urlpatterns`` below and
included by web/urls.py.

Every page calls the API's selectors and services with ``request.party`` (what the
API passes as ``request.user``); another party's object is a 404 through
``rights.visibility``. Domain errors of a POST become a message, never a 500.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime

from babel import Locale
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import path, re_path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from common.errors import DomainError, NotFound
from common.spreadsheet import csv_stream
from gateway import selectors as gateway_selectors
from gateway import services as gateway_services
from gateway.models import Generation, GenerationStatus
from gateway.pipeline import assets_dir
from ledger import statements
from ledger.models import AccountPurpose, Posting, Side, TransactionKind
from ledger.selectors import balances_for_party, royalty_summary
from ledger.serializers import EARLIEST, LATEST
from payments.exceptions import StripeNotConfigured
from payments.models import Payout
from payments.services import onboarding
from rights import selectors as rights_selectors
from rights import services as rights_services
from rights import visibility
from rights.models import EXPIRED, Contract, ContractStatus, SuspensionHolder
from web.access import party_page
from web.charts import bar_chart
from web.templatetags.doppel import money

PER_PAGE = 50
MONTHS_SHOWN = 12
KILL_SWITCH = "The next request is denied and anything queued or rendering is cancelled."
CONTRACT_ACTIONS = ("accept", "suspend", "resume", "terminate")

performer_page = party_page("performer")


def _months_back(today: date, count: int) -> list[date]:
    """The first day of the last ``count`` calendar months (UTC), oldest first, this month last."""
    months = []
    year, month = today.year, today.month
    for _ in range(count):
        months.append(date(year, month, 1))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return months[::-1]


def earnings_by_month(*, party, months: list[date]) -> dict[str, dict[date, int]]:
    """What ``party`` was credited on its payable accounts by royalties and revenue
    shares, per currency and UTC month: ``{currency: {month_start: minor_units}}``,
    every month of ``months`` present (0 when nothing). One query."""
    start = datetime(months[0].year, months[0].month, 1, tzinfo=UTC)
    rows = (Posting.objects
            .filter(account__party=party, account__purpose=AccountPurpose.PAYABLE, side=Side.CREDIT,
                    transaction__kind__in=[TransactionKind.ROYALTY, TransactionKind.REVENUE_SHARE],
                    created_at__gte=start)
            .annotate(month=TruncMonth("created_at", tzinfo=UTC))
            .values("currency", "month").annotate(total=Sum("amount")).order_by())
    out: dict[str, dict[date, int]] = defaultdict(lambda: dict.fromkeys(months, 0))
    for row in rows:
        month = row["month"]
        key = date(month.year, month.month, 1)
        if key in out[row["currency"]]:
            out[row["currency"]][key] += row["total"]
    return dict(out)


@performer_page
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    party = request.party
    balances = [b for b in balances_for_party(party=party) if b["purpose"] == AccountPurpose.PAYABLE]
    months = _months_back(timezone.now().astimezone(UTC).date(), MONTHS_SHOWN)
    charts = []
    for currency, per_month in sorted(earnings_by_month(party=party, months=months).items()):
        charts.append(bar_chart([(m.strftime("%b %Y"), per_month[m]) for m in months],
                                title=f"Earnings per month in {currency}",
                                fmt=lambda v, c=currency: money(v, c)))
    payouts = Payout.objects.filter(payee=party).order_by("-created_at", "id")[:10]
    pending = Generation.objects.filter(visibility.generation_q(party),
                                        status=GenerationStatus.AWAITING_APPROVAL).count()
    statement_months = [f"{m.year:04d}-{m.month:02d}" for m in reversed(months)]
    return render(request, "web/performer/home.html", {
        "balances": balances, "charts": charts, "payouts": payouts, "pending": pending,
        "statement_months": statement_months})


@performer_page
@require_GET
def statement(request: HttpRequest, month: str, fmt: str) -> HttpResponse:
    """The performer's statement of ``month`` (YYYY-MM, UTC) as PDF or CSV, as
    ``GET /api/v1/ledger/statements`` gives it. A month out of the calendar is a 404."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", month)
    if not match or not 1 <= int(match[2]) <= 12:
        raise Http404("A month as YYYY-MM.")
    first = date(int(match[1]), int(match[2]), 1) if int(match[1]) >= 1 else None
    if first is None or not EARLIEST <= first <= LATEST:
        raise Http404("That month is outside the ledger's calendar.")
    party = request.party
    if fmt == "csv":
        lines = ([line[c] for c in statements.LINE_COLUMNS]
                 for line in statements.statement_lines(party=party, month=first))
        response = StreamingHttpResponse(csv_stream(statements.LINE_COLUMNS, lines),
                                         content_type="text/csv; charset=utf-8")
        name = statements.statement_filename({"party": party.id, "month": month}, "csv")
    else:
        built = statements.statement_build(party=party, month=first)
        response = HttpResponse(statements.statement_pdf(built), content_type="application/pdf")
        name = statements.statement_filename(built, "pdf")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@performer_page
@require_POST
def payouts_connect(request: HttpRequest) -> HttpResponse:
    """Connect (once) a Stripe Express account and go to Stripe's onboarding."""
    try:
        account = onboarding.payee_account_connect(party=request.party)
    except StripeNotConfigured:
        messages.error(request, "Payouts are not set up on this Doppel yet, so Stripe cannot be connected. "
                                "Your earnings keep accruing; ask the operator to configure Stripe.")
        return redirect("web:performer_home")
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("web:performer_home")
    if account.get("onboarding_url"):
        return redirect(account["onboarding_url"])
    messages.success(request, "Your Stripe account is connected and payouts are enabled.")
    return redirect("web:performer_home")


def _page(request: HttpRequest, qs):
    return Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))


@performer_page
@require_GET
def uses(request: HttpRequest) -> HttpResponse:
    qs = (Generation.objects.filter(visibility.generation_q(request.party), status=GenerationStatus.DELIVERED)
          .select_related("brand", "ledger_transaction").order_by("-created_at", "id"))
    page = _page(request, qs)
    rows = []
    for gen in page.object_list:
        summary = royalty_summary(gen.ledger_transaction) if gen.ledger_transaction_id else None
        rows.append({"gen": gen, "earned": summary["performer_amount"] if summary else None,
                     "currency": (summary or {}).get("currency") or ""})
    return render(request, "web/performer/uses.html", {"page": page, "rows": rows})


@performer_page
@require_GET
def use_video(request: HttpRequest, generation_id: str) -> FileResponse:
    """The signed MP4 of one of the performer's generations (the API's asset view's checks)."""
    gen = gateway_selectors.generation_get(party=request.party, generation_id=generation_id)
    if gen is None or not gen.asset_path:
        raise Http404("No such clip.")
    file = assets_dir() / gen.asset_path
    if not file.is_file():
        raise Http404("The clip's file is missing from storage.")
    resp = FileResponse(file.open("rb"), content_type="video/mp4", as_attachment=False, filename=f"{gen.id}.mp4")
    resp["ETag"] = f'"{gen.asset_sha256}"'
    resp["Cache-Control"] = "private, max-age=3600"
    return resp


@performer_page
@require_GET
def approvals(request: HttpRequest) -> HttpResponse:
    qs = (Generation.objects.filter(visibility.generation_q(request.party),
                                    status=GenerationStatus.AWAITING_APPROVAL)
          .select_related("brand").order_by("approval_expires_at", "created_at", "id"))
    return render(request, "web/performer/approvals.html", {"page": _page(request, qs)})


def _answer(request: HttpRequest, generation_id: str, verb: str) -> HttpResponse:
    try:
        if verb == "approve":
            gateway_services.generation_approve(generation_id=generation_id, performer=request.party)
        else:
            gateway_services.generation_reject(generation_id=generation_id, performer=request.party,
                                               reason=request.POST.get("reason", "")[:500])
    except NotFound:
        raise Http404("No such generation.") from None
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Approved: the clip is queued for rendering." if verb == "approve"
                         else "Rejected: the clip will not be made.")
    return redirect("web:performer_approvals")


@performer_page
@require_POST
def approve(request: HttpRequest, generation_id: str) -> HttpResponse:
    return _answer(request, generation_id, "approve")


@performer_page
@require_POST
def reject(request: HttpRequest, generation_id: str) -> HttpResponse:
    return _answer(request, generation_id, "reject")


@performer_page
@require_GET
def contracts(request: HttpRequest) -> HttpResponse:
    qs = rights_selectors.contract_list(party=request.party).order_by("-created_at", "id")
    page = _page(request, qs)
    now = timezone.now()
    rows = [{"contract": c, "status": c.effective_status(now)} for c in page.object_list]
    return render(request, "web/performer/contracts.html", {"page": page, "rows": rows})


def contract_actions(contract: Contract, status: str) -> list[str]:
    """The buttons the performer gets on ``contract`` in (effective) ``status``."""
    if status in (EXPIRED, ContractStatus.TERMINATED):
        return []
    actions = []
    if status == ContractStatus.PROPOSED:
        actions.append("accept")
    if status in (ContractStatus.ACTIVE, ContractStatus.SUSPENDED) and not contract.held_by(
            SuspensionHolder.PERFORMER):
        actions.append("suspend")
    if contract.held_by(SuspensionHolder.PERFORMER):
        actions.append("resume")
    actions.append("terminate")
    return actions


_EN = Locale("en")


def terms_in_words(contract: Contract) -> dict[str, str]:
    """The lists of ``contract``'s terms in English words: "TikTok, YouTube",
    "United States, Canada", "English", "Gambling, Sexual health"."""
    def words(items: list[str], names: dict | None = None) -> str:
        return ", ".join(sorted((names or {}).get(i) or str(i).replace("_", " ").capitalize() for i in items))

    platforms = {"tiktok": "TikTok", "youtube": "YouTube", "instagram": "Instagram", "facebook": "Facebook",
                 "x": "X", "tv": "TV", "web": "the web"}
    return {"platforms": words(contract.platforms, platforms), "languages": words(contract.languages, _EN.languages),
            "territories": words(contract.territories, _EN.territories),
            "banned": words(contract.banned_categories)}


@performer_page
@require_GET
def contract_detail(request: HttpRequest, contract_id: str) -> HttpResponse:
    contract = rights_selectors.contract_get(party=request.party, contract_id=contract_id)
    if contract is None:
        raise Http404("No such contract.")
    status = contract.effective_status()
    return render(request, "web/performer/contract_detail.html", {
        "contract": contract, "status": status, "words": terms_in_words(contract), "actions": contract_actions(contract, status),
        "remaining": max(0, contract.max_renders - contract.renders_used - contract.renders_held),
        "performer_suspended": contract.held_by(SuspensionHolder.PERFORMER),
        "union_strike": contract.held_by(SuspensionHolder.UNION),
        "kill_switch": KILL_SWITCH, "revenue_share_percent": contract.revenue_share_bps / 100})


@performer_page
@require_POST
def contract_action(request: HttpRequest, contract_id: str, action: str) -> HttpResponse:
    if action not in CONTRACT_ACTIONS:
        raise Http404("No such action.")
    try:
        rights_services.contract_transition(contract_id=contract_id, action=action, actor=request.party,
                                            reason=request.POST.get("reason", "")[:500], source="web")
    except NotFound:
        raise Http404("No such contract.") from None
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, {
            "accept": "Contract accepted: the brand may now make clips within these terms.",
            "suspend": f"Contract suspended. {KILL_SWITCH}",
            "resume": "Your suspension is lifted.",
            "terminate": f"Contract terminated. {KILL_SWITCH}",
        }[action])
    return redirect(reverse("web:performer_contract", args=[contract_id]))


@performer_page
@require_GET
def denials(request: HttpRequest) -> HttpResponse:
    qs = (Generation.objects.filter(visibility.generation_q(request.party), status=GenerationStatus.DENIED)
          .select_related("brand").order_by("-created_at", "id"))
    page = _page(request, qs)
    rows = []
    for gen in page.object_list:
        checks = (gen.decision or {}).get("checks") or []
        failed = [c for c in checks if isinstance(c, dict) and not c.get("passed", True)]
        if not failed and gen.failure_code:
            failed = [{"rule": gen.failure_code, "message": gen.failure_message}]
        rows.append({"gen": gen, "failed": failed})
    return render(request, "web/performer/denials.html", {"page": page, "rows": rows})


urlpatterns: list = [
    path("app/performer/", home, name="performer_home"),
    re_path(r"^app/performer/statements/(?P<month>[^/]+)\.(?P<fmt>pdf|csv)$", statement,
            name="performer_statement"),
    path("app/performer/payouts/connect", payouts_connect, name="performer_payouts_connect"),
    path("app/performer/uses/", uses, name="performer_uses"),
    path("app/performer/uses/<str:generation_id>/video", use_video, name="performer_use_video"),
    path("app/performer/approvals/", approvals, name="performer_approvals"),
    path("app/performer/approvals/<str:generation_id>/approve", approve, name="performer_approve"),
    path("app/performer/approvals/<str:generation_id>/reject", reject, name="performer_reject"),
    path("app/performer/contracts/", contracts, name="performer_contracts"),
    path("app/performer/contracts/<str:contract_id>/", contract_detail, name="performer_contract"),
    path("app/performer/contracts/<str:contract_id>/<str:action>", contract_action,
         name="performer_contract_action"),
    path("app/performer/denials/", denials, name="performer_denials"),
]
