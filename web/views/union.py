"""The union auditor's pages (issue 12, item 4). URL patterns are listed in
``urlpatterns`` below and included by web/urls.py.

Every page is for union members only (``party_page("union")``; the middleware also
requires TOTP of them) and sees what the API shows a union key: its member
performers' contracts, generations and books (``rights.visibility``). Another
union's member's object is a 404.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from common.errors import DomainError, NotFound
from common.spreadsheet import csv_stream
from gateway.models import Generation, GenerationStatus
from ledger import selectors as ledger_selectors
from ledger.models import AccountPurpose, Posting, Side
from rights import services as rights_services
from rights import visibility
from rights.models import Contract, ContractStatus, Party, PartyKind
from web.access import party_page
from web.audit import AUDIT_COMMAND
from web.charts import bar_chart
from web.models import AuditRun

PAGE_SIZE = 50
union_page = party_page(PartyKind.UNION)


# --- figures ----------------------------------------------------------------------------------


def member_figures(union: Party) -> list[dict]:
    """Each member performer with ``uses`` (delivered generations) and ``earnings``
    (``{currency: payable credits, minor units}``). Two queries, whatever the number of
    members: one annotated list, one aggregate of payable credits by (performer, currency)."""
    delivered = (Generation.objects.filter(performer=OuterRef("pk"), status=GenerationStatus.DELIVERED)
                 .order_by().values("performer").annotate(n=Count("id")).values("n"))
    members = list(Party.objects.filter(visibility.performer_directory_q(union))
                   .annotate(uses=Coalesce(Subquery(delivered, output_field=IntegerField()), Value(0)),
                             contracts_suspended=Count("contracts_as_performer", filter=Q(
                                 contracts_as_performer__status=ContractStatus.SUSPENDED)))
                   .order_by("name", "id"))
    earned: dict[str, dict[str, int]] = {}
    rows = (Posting.objects.filter(account__party__union=union, account__purpose=AccountPurpose.PAYABLE,
                                   side=Side.CREDIT)
            .order_by().values("account__party_id", "currency").annotate(total=Sum("amount")))
    for row in rows:
        earned.setdefault(row["account__party_id"], {})[row["currency"]] = row["total"]
    return [{"party": m, "uses": m.uses, "suspended": m.contracts_suspended,
             "earnings": sorted(earned.get(m.id, {}).items())} for m in members]


def _denials(union: Party):
    return Generation.objects.filter(visibility.generation_q(union), status=GenerationStatus.DENIED)


def _failed_rule(qs, rule: str):
    """Denials where ``rule`` failed (its check in ``decision.checks`` has passed = false)."""
    if connection.vendor == "postgresql":
        return qs.filter(decision__checks__contains=[{"rule": rule, "passed": False}])
    table = Generation._meta.db_table
    return qs.extra(where=[  # noqa: S610 - a constant clause; the rule is a parameter
        f"EXISTS (SELECT 1 FROM json_each({table}.decision, '$.checks') AS c "
        "WHERE json_extract(c.value, '$.rule') = %s AND json_extract(c.value, '$.passed') = 0)"], params=[rule])


def failed_checks(generation: Generation) -> list[dict]:
    """The failing checks of a denial, ``[{"rule", "message"}]`` (from its recorded decision)."""
    checks = (generation.decision or {}).get("checks") or []
    return [c for c in checks if isinstance(c, dict) and not c.get("passed")]


def denial_counts(union: Party) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Denied attempts counted by failed rule and by brand (two queries)."""
    by_rule: Counter[str] = Counter()
    for decision in _denials(union).values_list("decision", flat=True).iterator(chunk_size=2000):
        for check in (decision or {}).get("checks") or []:
            if isinstance(check, dict) and not check.get("passed"):
                by_rule[str(check.get("rule"))] += 1
    by_brand = [(row["brand__name"], row["n"]) for row in
                _denials(union).order_by().values("brand_id", "brand__name").annotate(n=Count("id"))
                .order_by("-n", "brand__name")]
    return sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0])), by_brand


# --- pages ------------------------------------------------------------------------------------


@union_page
def home(request):
    union = request.party
    members = member_figures(union)
    totals: Counter[str] = Counter()
    for m in members:
        for currency, amount in m["earnings"]:
            totals[currency] += amount
    ph = [b for b in ledger_selectors.balances_for_party(party=union) if b["purpose"] == AccountPurpose.PENSION_HEALTH]
    return render(request, "web/union/home.html", {
        "members": members, "ph_balances": ph, "earning_totals": sorted(totals.items()),
        "uses_total": sum(m["uses"] for m in members), "denials_total": _denials(union).count(),
    })


class DenialFilterForm(forms.Form):
    rule = forms.ChoiceField(required=False, label="Failed rule")
    brand = forms.ChoiceField(required=False)
    member = forms.ChoiceField(required=False)

    def __init__(self, data, *, rules, brands, members):
        super().__init__(data)
        self.fields["rule"].choices = [("", "Any rule")] + [(r, r.replace("_", " ").capitalize()) for r in rules]
        self.fields["brand"].choices = [("", "Any brand")] + brands
        self.fields["member"].choices = [("", "Any member")] + members


@union_page
def denials(request):
    union = request.party
    by_rule, by_brand = denial_counts(union)
    brands = list(Party.objects.filter(kind=PartyKind.BRAND, pk__in=_denials(union).values("brand_id"))
                  .order_by("name").values_list("id", "name"))
    members = list(Party.objects.filter(visibility.performer_directory_q(union)).order_by("name")
                   .values_list("id", "name"))
    form = DenialFilterForm(request.GET or None, rules=[r for r, _ in by_rule], brands=brands, members=members)
    qs = _denials(union).select_related("brand", "performer").order_by("-created_at", "id")
    status = 200
    if form.is_bound:
        if form.is_valid():
            if form.cleaned_data["rule"]:
                qs = _failed_rule(qs, form.cleaned_data["rule"])
            if form.cleaned_data["brand"]:
                qs = qs.filter(brand_id=form.cleaned_data["brand"])
            if form.cleaned_data["member"]:
                qs = qs.filter(performer_id=form.cleaned_data["member"])
        else:
            qs, status = qs.none(), 400
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [{"g": g, "failed": failed_checks(g)} for g in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "web/union/denials.html", {
        "form": form, "page": page, "rows": rows, "query": query.urlencode(),
        "rule_chart": bar_chart([(r.replace("_", " "), n) for r, n in by_rule], title="Denied attempts by rule"),
        "brand_chart": bar_chart(by_brand, title="Denied attempts by brand"),
    }, status=status)


@union_page
def denial_detail(request, generation_id: str):
    g = get_object_or_404(_denials(request.party).select_related("brand", "performer", "contract"), pk=generation_id)
    return render(request, "web/union/denial_detail.html", {"g": g, "failed": failed_checks(g)})


class StrikeForm(forms.Form):
    reason = forms.CharField(max_length=2000, required=False, label="Reason (shown on the contract's record)",
                             widget=forms.Textarea(attrs={"rows": 2}))


STRIKABLE = (ContractStatus.ACTIVE, ContractStatus.SUSPENDED)


@union_page
def contracts(request):
    qs = (Contract.objects.filter(visibility.contract_q(request.party), status__in=STRIKABLE)
          .select_related("performer", "brand").order_by("performer__name", "-created_at"))
    member = request.GET.get("member") or ""
    if member:
        qs = qs.filter(performer_id=member)
    rows = [{"c": c, "struck": c.union_suspended_at is not None, "by_performer": c.performer_suspended_at is not None}
            for c in qs[:500]]
    return render(request, "web/union/contracts.html", {"rows": rows, "form": StrikeForm(), "member": member})


def _transition(request, contract_id: str, action: str, reason: str) -> bool:
    try:
        rights_services.contract_transition(contract_id=contract_id, action=action, actor=request.party,
                                            reason=reason, source="web")
    except NotFound:
        raise Http404("No such contract.") from None
    except DomainError as exc:
        messages.error(request, f"{contract_id}: {exc.message}")
        return False
    return True


@union_page
@require_POST
def contract_action(request, contract_id: str, action: str):
    """Strike (``suspend``) or lift the union's strike (``resume``) on one contract."""
    if action not in ("suspend", "resume"):
        raise Http404("A union strikes (suspend) or lifts its strike (resume).")
    get_object_or_404(Contract.objects.filter(visibility.contract_q(request.party)), pk=contract_id)
    form = StrikeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The reason is too long (2000 characters at most).")
    elif _transition(request, contract_id, action, form.cleaned_data["reason"]):
        messages.success(request, f"Strike on {contract_id} {'called' if action == 'suspend' else 'lifted'}.")
    return redirect(request.POST.get("next") if request.POST.get("next", "").startswith("/app/union/")
                    else reverse("web:union_contracts"))


@union_page
@require_POST
def member_strike(request, performer_id: str):
    """Strike every active contract of one member at once."""
    member = get_object_or_404(Party.objects.filter(visibility.performer_directory_q(request.party)), pk=performer_id)
    form = StrikeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The reason is too long (2000 characters at most).")
        return redirect(reverse("web:union_contracts") + f"?member={member.id}")
    ids = list(Contract.objects.filter(performer=member, union_suspended_at__isnull=True,
                                       status__in=STRIKABLE).values_list("id", flat=True))
    done = sum(_transition(request, cid, "suspend", form.cleaned_data["reason"]) for cid in ids)
    messages.success(request, f"Strike called on {done} contract(s) of {member.name}.")
    return redirect(reverse("web:union_contracts") + f"?member={member.id}")


@union_page
def ledger(request):
    head = ledger_selectors.tree_head_latest()
    last = AuditRun.objects.filter(union=request.party).first()
    url = request.build_absolute_uri("/").rstrip("/")
    return render(request, "web/union/ledger.html", {
        "head": head, "last": last, "command": AUDIT_COMMAND.format(url=url),
        "recent": AuditRun.objects.filter(union=request.party).only("started_at", "outcome", "verified")[:10],
    })


# --- CSV exports ------------------------------------------------------------------------------


class ExportForm(forms.Form):
    start = forms.DateField(required=False, label="From (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            self.add_error("end", "The end date is before the start date.")
        return data

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """UTC ``[start, end)`` of the chosen days."""
        tz = timezone.get_current_timezone()
        start, end = self.cleaned_data.get("start"), self.cleaned_data.get("end")
        return (datetime.combine(start, time.min, tz) if start else None,
                datetime.combine(end + timedelta(days=1), time.min, tz) if end else None)


USES_COLUMNS = ("generation", "delivered_at", "performer", "performer_name", "brand", "brand_name", "contract",
                "platform", "category", "language", "territory", "duration_s", "currency", "performer_amount",
                "union_amount", "transaction")
DENIAL_COLUMNS = ("generation", "created_at", "performer", "performer_name", "brand", "brand_name", "contract",
                  "platform", "category", "language", "territory", "failed_rules", "reasons", "script")
PH_COLUMNS = ("created_at", "transaction", "kind", "contract", "performer", "side", "currency", "amount")


def _between(qs, field: str, start, end):
    if start is not None:
        qs = qs.filter(**{f"{field}__gte": start})
    if end is not None:
        qs = qs.filter(**{f"{field}__lt": end})
    return qs


def uses_rows(union: Party, start=None, end=None) -> Iterator[list]:
    qs = (Generation.objects.filter(visibility.generation_q(union), status=GenerationStatus.DELIVERED)
          .select_related("brand", "performer", "ledger_transaction").prefetch_related("ledger_transaction__postings__account")
          .order_by("delivered_at", "id"))
    for g in _between(qs, "delivered_at", start, end).iterator(chunk_size=500):
        amounts = {AccountPurpose.PAYABLE: 0, AccountPurpose.PENSION_HEALTH: 0}
        currency = ""
        for p in g.ledger_transaction.postings.all():
            if p.account.purpose in amounts:
                amounts[p.account.purpose] += p.amount if p.side == Side.CREDIT else -p.amount
                currency = p.currency
        yield [g.id, g.delivered_at, g.performer_id, g.performer.name, g.brand_id, g.brand.name, g.contract_id,
               g.platform, g.category, g.language, g.territory, g.duration_s, currency,
               amounts[AccountPurpose.PAYABLE], amounts[AccountPurpose.PENSION_HEALTH], g.ledger_transaction_id]


def denial_rows(union: Party, start=None, end=None) -> Iterator[list]:
    qs = _denials(union).select_related("brand", "performer").order_by("created_at", "id")
    for g in _between(qs, "created_at", start, end).iterator(chunk_size=1000):
        failed = failed_checks(g)
        yield [g.id, g.created_at, g.performer_id, g.performer.name, g.brand_id, g.brand.name, g.contract_id,
               g.platform, g.category, g.language, g.territory, ";".join(str(c.get("rule")) for c in failed),
               " | ".join(str(c.get("message", "")) for c in failed), g.script]


def ph_rows(union: Party, start=None, end=None) -> Iterator[list]:
    qs = (Posting.objects.filter(account__party=union, account__purpose=AccountPurpose.PENSION_HEALTH)
          .select_related("transaction").order_by("created_at", "id"))
    for p in _between(qs, "created_at", start, end).iterator(chunk_size=1000):
        meta = p.transaction.meta or {}
        signed = p.amount if p.side == Side.CREDIT else -p.amount
        yield [p.created_at, p.transaction_id, p.transaction.kind, p.transaction.contract_id,
               meta.get("performer"), p.side, p.currency, signed]


EXPORTS = {"uses": (USES_COLUMNS, uses_rows), "denials": (DENIAL_COLUMNS, denial_rows),
           "pension-health": (PH_COLUMNS, ph_rows)}


@union_page
@require_http_methods(["GET"])
def exports(request):
    return render(request, "web/union/exports.html", {"form": ExportForm(), "kinds": list(EXPORTS)})


@union_page
@require_http_methods(["GET"])
def export_csv(request, kind: str):
    if kind not in EXPORTS:
        return HttpResponse("Unknown export.", status=404, content_type="text/plain; charset=utf-8")
    form = ExportForm(request.GET)
    if not form.is_valid():
        return render(request, "web/union/exports.html", {"form": form, "kinds": list(EXPORTS), "failed": kind},
                      status=400)
    start, end = form.bounds()
    columns, rows = EXPORTS[kind]
    response = StreamingHttpResponse(csv_stream(columns, rows(request.party, start, end)),
                                     content_type="text/csv; charset=utf-8")
    stamp = date.today().isoformat()
    response["Content-Disposition"] = f'attachment; filename="doppel-{kind}-{stamp}.csv"'
    return response


urlpatterns: list = [
    path("app/union/", home, name="union_home"),
    path("app/union/denials/", denials, name="union_denials"),
    path("app/union/denials/<str:generation_id>/", denial_detail, name="union_denial"),
    path("app/union/contracts/", contracts, name="union_contracts"),
    path("app/union/contracts/<str:contract_id>/<str:action>/", contract_action, name="union_contract_action"),
    path("app/union/members/<str:performer_id>/strike/", member_strike, name="union_member_strike"),
    path("app/union/ledger/", ledger, name="union_ledger"),
    path("app/union/exports/", exports, name="union_exports"),
    path("app/union/exports/<str:kind>.csv", export_csv, name="union_export"),
]
