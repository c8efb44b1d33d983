"""The brand's pages (issue 12 item 3). URL patterns are listed in ``urlpatterns`` below
and included by web/urls.py; every page is ``/app/brand/…`` and only for brands.

Each page calls the service the matching API view calls (rights/views.py,
gateway/views.py), with ``request.party`` where the API passes ``request.user``;
another brand's contract, generation, key or endpoint is a 404 (``rights.visibility``
through the selectors). Domain errors are shown next to the form fields they name.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from babel.numbers import get_currency_precision
from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.errors import DomainError
from gateway import limits, webhooks
from gateway import selectors as gateway_selectors
from gateway import services as gateway_services
from gateway.models import TERMINAL, GenerationStatus, RateBucket, WebhookEvent
from gateway.pipeline import assets_dir
from gateway.serializers import GenerationCreateInSerializer, WebhookCreateInSerializer
from ledger.models import AccountPurpose, Posting, Side, TransactionKind
from payments.services.billing import brand_billing_view
from rights import selectors as rights_selectors
from rights import services as rights_services
from rights import vocab
from rights.models import ContractStatus
from rights.serializers import ContractCreateInSerializer
from web.access import party_page
from web.charts import bar_chart
from web.templatetags.doppel import money

brand_page = party_page("brand")

# In words, for the generation page and its status.json.
STATUS_TEXT = {
    GenerationStatus.QUEUED: "Queued: waiting for a renderer.",
    GenerationStatus.AWAITING_APPROVAL: "Waiting for the performer's approval.",
    GenerationStatus.RENDERING: "Rendering.",
    GenerationStatus.SIGNING: "Signing the clip (Content Credentials).",
    GenerationStatus.DELIVERED: "Delivered: the signed clip is ready.",
    GenerationStatus.FAILED: "Failed: nothing was charged.",
    GenerationStatus.DENIED: "Denied: the contract does not allow this use.",
    GenerationStatus.REJECTED: "Rejected by the performer: nothing was charged.",
    GenerationStatus.CANCELLED: "Cancelled: nothing was charged.",
}
PAGE_ROWS = 50
HOME_ROWS = 200


def _add_errors(form: forms.Form, errors, *, rename: dict[str, str] | None = None) -> None:
    """Put a DRF ``serializer.errors`` (or a DomainError's ``fields``) next to ``form``'s
    fields: nested dicts are flattened (``royalty.per_render`` → ``per_render``),
    ``rename`` maps an API field to the form's, anything else is a form-wide error."""
    rename = rename or {}

    def walk(value, key: str | None):
        if isinstance(value, dict):
            for sub, inner in value.items():
                walk(inner, None if sub in ("non_field_errors", "__all__") else sub)
            return
        messages_ = value if isinstance(value, list) else [value]
        for message in messages_:
            if isinstance(message, dict | list):
                walk(message, key)
                continue
            name = rename.get(key, key) if key else None
            form.add_error(name if name in form.fields else None, str(message))

    walk(errors, None)


# --- home: contracts, spend, billing ---------------------------------------------------------


def _contract_rows(contracts, now: datetime) -> list[dict]:
    return [{"contract": c, "status": c.effective_status(now),
             "remaining": max(c.max_renders - c.renders_used - c.renders_held, 0)} for c in contracts]


def _receivable_debits(brand):
    """The brand's receivable debits of royalties and revenue shares: what it was charged."""
    return Posting.objects.filter(account__party=brand, account__purpose=AccountPurpose.RECEIVABLE,
                                  side=Side.DEBIT,
                                  transaction__kind__in=[TransactionKind.ROYALTY, TransactionKind.REVENUE_SHARE])


def brand_spend(*, brand) -> dict:
    """What ``brand`` was charged (royalties and revenue shares, its receivable's debits),
    in minor units: ``{"months": {currency: [(date, amount), …]}, "contracts": {(contract
    id, currency): amount}}``. Two aggregate queries whatever the number of postings."""
    months: dict[str, list] = defaultdict(list)
    for row in (_receivable_debits(brand).annotate(month=TruncMonth("created_at", tzinfo=UTC))
                .values("month", "currency").annotate(total=Sum("amount")).order_by("currency", "month")):
        months[row["currency"]].append((row["month"], row["total"]))
    contracts = {(row["transaction__contract_id"], row["currency"]): row["total"]
                 for row in _receivable_debits(brand).values("transaction__contract_id", "currency")
                 .annotate(total=Sum("amount"))}
    return {"months": dict(months), "contracts": contracts}


@brand_page
@require_GET
def home(request):
    brand = request.party
    now = timezone.now()
    contracts = list(rights_selectors.contract_list(party=brand).order_by("-created_at")[:HOME_ROWS])
    spend = brand_spend(brand=brand)
    rows = _contract_rows(contracts, now)
    for row in rows:
        row["spent"] = spend["contracts"].get((row["contract"].id, row["contract"].currency), 0)
    charts = [bar_chart([(m.strftime("%Y-%m"), total) for m, total in points],
                        title=f"Spend per month ({currency})", fmt=lambda v, c=currency: money(v, c))
              for currency, points in spend["months"].items()]
    generations = list(gateway_selectors.generation_list(party=brand).select_related("contract__performer")[:10])
    return render(request, "web/brand/home.html", {
        "rows": rows, "charts": charts, "billing": brand_billing_view(brand=brand),
        "generations": _generation_rows(generations), "truncated": len(contracts) == HOME_ROWS,
    })


# --- contracts -----------------------------------------------------------------------------------


def _codes(value: str) -> list[str]:
    return [part for part in (p.strip() for p in value.replace(";", ",").replace(" ", ",").split(",")) if part]


class ContractForm(forms.Form):
    """The terms, as a person enters them: royalties in major units of the currency,
    the revenue share in percent, validity as dates (UTC)."""

    performer = forms.ChoiceField(label="Performer")
    platforms = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, label="Platforms")
    languages = forms.CharField(max_length=400, label="Languages",
                                help_text="ISO 639-1 codes, separated by commas (e.g. en, fr).")
    territories = forms.CharField(max_length=1000, label="Territories",
                                  help_text="ISO 3166-1 alpha-2 codes, separated by commas (e.g. US, CA).")
    banned_categories = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple, required=False, label="Banned categories",
        choices=[(c, c.replace("_", " ").capitalize()) for c in vocab.CATEGORIES])
    currency = forms.ChoiceField(label="Currency", initial="USD")
    per_render = forms.DecimalField(min_value=0, max_digits=16, label="Royalty per render", initial=0,
                                    help_text="In the currency's units (e.g. 5.00 for five dollars).")
    per_second = forms.DecimalField(min_value=0, max_digits=16, required=False, initial=0,
                                    label="Royalty per second of video")
    revenue_share = forms.DecimalField(min_value=0, max_value=100, decimal_places=2, required=False, initial=0,
                                       label="Revenue share (%)")
    max_renders = forms.IntegerField(min_value=1, label="Maximum renders")
    valid_from = forms.DateField(label="Valid from", widget=forms.DateInput(attrs={"type": "date"}),
                                 help_text="From the start of this day (UTC).")
    valid_until = forms.DateField(label="Valid until", widget=forms.DateInput(attrs={"type": "date"}),
                                  help_text="To the end of this day (UTC).")
    requires_approval = forms.BooleanField(required=False, label="The performer approves each script")
    notice_days = forms.IntegerField(min_value=0, max_value=3650, initial=30, label="Notice period (days)")

    def __init__(self, *args, brand, **kwargs):
        super().__init__(*args, **kwargs)
        performers = rights_selectors.performer_list(viewer=brand).order_by("name")[:1000]
        self.fields["performer"].choices = [("", "Choose a performer")] + [(p.id, f"{p.name} ({p.id})")
                                                                           for p in performers]
        self.fields["platforms"].choices = [(p, p.replace("_", " ").capitalize()) for p in vocab.platforms()]
        self.fields["currency"].choices = [(c, c) for c in sorted(vocab.currencies())]

    def _minor(self, name: str, currency: str) -> int | None:
        value = self.cleaned_data.get(name)
        if value is None:
            return 0
        digits = get_currency_precision(currency)
        try:
            minor = Decimal(value).scaleb(digits)
        except InvalidOperation:
            self.add_error(name, "Not a number.")
            return None
        if minor != minor.to_integral_value():
            self.add_error(name, f"{currency} has {digits} decimal{'s' if digits != 1 else ''}: "
                                 f"give at most {digits} after the point.")
            return None
        return int(minor)

    def api_body(self) -> dict | None:
        """The body ``POST /api/v1/contracts`` would take (minor units, basis points,
        ISO timestamps); None with the errors added when a value cannot be converted."""
        d = self.cleaned_data
        currency = d["currency"]
        per_render, per_second = self._minor("per_render", currency), self._minor("per_second", currency)
        share = d.get("revenue_share") or Decimal(0)
        if per_render is None or per_second is None:
            return None
        start = datetime.combine(d["valid_from"], time.min, tzinfo=UTC)
        end = datetime.combine(d["valid_until"], time.min, tzinfo=UTC) + timedelta(days=1)
        return {
            "performer": d["performer"], "platforms": list(d["platforms"]),
            "banned_categories": list(d["banned_categories"]),
            "languages": _codes(d["languages"]), "territories": [c.upper() for c in _codes(d["territories"])],
            "valid_from": start.isoformat().replace("+00:00", "Z"),
            "valid_until": end.isoformat().replace("+00:00", "Z"),
            "royalty": {"currency": currency, "per_render": per_render, "per_second": per_second,
                        "revenue_share_bps": int(share * 100)},
            "max_renders": d["max_renders"], "requires_approval": d["requires_approval"],
            "notice_days": d["notice_days"],
        }


CONTRACT_FIELD_NAMES = {"revenue_share_bps": "revenue_share", "currency": "currency"}


@brand_page
@require_http_methods(["GET", "POST"])
def contract_new(request):
    """Propose a contract: the API's ContractCreateInSerializer validates the converted
    body; ``rights.services.contract_propose`` makes it (as ``ContractListCreateApi.post``)."""
    form = ContractForm(request.POST or None, brand=request.party)
    if request.method == "POST" and form.is_valid():
        body = form.api_body()
        if body is not None:
            ser = ContractCreateInSerializer(data=body)
            if not ser.is_valid():
                _add_errors(form, ser.errors, rename=CONTRACT_FIELD_NAMES)
            else:
                d = ser.validated_data
                try:
                    contract = rights_services.contract_propose(
                        brand=request.party, performer=d["performer"], platforms=d["platforms"],
                        banned_categories=d["banned_categories"], languages=d["languages"],
                        territories=d["territories"], valid_from=d["valid_from"], valid_until=d["valid_until"],
                        currency=d["royalty"]["currency"], per_render=d["royalty"]["per_render"],
                        per_second=d["royalty"]["per_second"],
                        revenue_share_bps=d["royalty"]["revenue_share_bps"], max_renders=d["max_renders"],
                        requires_approval=d["requires_approval"], notice_days=d["notice_days"])
                except DomainError as exc:
                    _add_errors(form, exc.extra.get("fields") or [exc.message], rename=CONTRACT_FIELD_NAMES)
                else:
                    messages.success(request, f"Contract proposed to {contract.performer.name}. "
                                              "It becomes active when they accept it.")
                    return redirect("web:brand_contract", contract_id=contract.id)
    return render(request, "web/brand/contract_new.html", {"form": form}, status=400 if form.errors else 200)


@brand_page
@require_GET
def contract_detail(request, contract_id: str):
    contract = rights_selectors.contract_get(party=request.party, contract_id=contract_id)
    if contract is None:
        raise Http404("No such contract.")
    spent = (_receivable_debits(request.party).filter(transaction__contract_id=contract.id, currency=contract.currency)
             .aggregate(total=Sum("amount"))["total"] or 0)
    generations = list(gateway_selectors.generation_list(party=request.party, contract=contract.id)
                       .select_related("contract__performer")[:PAGE_ROWS])
    now = timezone.now()
    return render(request, "web/brand/contract_detail.html", {
        "contract": contract, "status": contract.effective_status(now), "spent": spent,
        "share_percent": f"{Decimal(contract.revenue_share_bps) / 100:f}".rstrip("0").rstrip("."),
        "remaining": max(contract.max_renders - contract.renders_used - contract.renders_held, 0),
        "generations": _generation_rows(generations),
        "can_generate": contract.effective_status(now) == ContractStatus.ACTIVE,
    })


# --- generations ---------------------------------------------------------------------------------


def _generation_rows(generations) -> list[dict]:
    return [{"generation": g, "status_text": STATUS_TEXT.get(g.status, g.status)} for g in generations]


class GenerationForm(forms.Form):
    contract = forms.ChoiceField(label="Contract")
    platform = forms.ChoiceField(label="Platform")
    category = forms.ChoiceField(label="Category",
                                 choices=[(c, c.replace("_", " ").capitalize()) for c in vocab.CATEGORIES])
    language = forms.CharField(max_length=3, label="Language", initial="en",
                               help_text="ISO 639-1 code the script is spoken in (e.g. en).")
    territory = forms.CharField(max_length=2, label="Territory", initial="US",
                                help_text="ISO 3166-1 alpha-2 code where the clip runs (e.g. US).")
    script = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), label="Script", max_length=100_000,
                             help_text="What the double says.")
    captions = forms.BooleanField(required=False, initial=True, label="Burn in captions")
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=255)

    def __init__(self, *args, brand, **kwargs):
        super().__init__(*args, **kwargs)
        # Suspended contracts are listed too: a request against one is sent, denied and recorded
        # (the performer's kill switch; the union sees the denial), with the rule in words.
        contracts = (rights_selectors.contract_list(party=brand)
                     .filter(status__in=[ContractStatus.ACTIVE, ContractStatus.SUSPENDED],
                             valid_until__gt=timezone.now())
                     .order_by("-created_at")[:HOME_ROWS])
        self.fields["contract"].choices = [
            (c.id, f"{c.performer.name} — {c.id}{' (suspended)' if c.status == ContractStatus.SUSPENDED else ''}")
            for c in contracts]
        self.fields["platform"].choices = [(p, p.replace("_", " ").capitalize()) for p in vocab.platforms()]

    def api_body(self) -> dict:
        """The body ``POST /api/v1/generations`` would take (its fingerprint is the request's)."""
        d = self.cleaned_data
        return {"contract": d["contract"], "script": d["script"], "platform": d["platform"],
                "category": d["category"], "language": d["language"].strip().lower(),
                "territory": d["territory"].strip().upper(), "captions": d["captions"]}


def _fresh_key() -> str:
    return f"web-{uuid.uuid4()}"


@brand_page
@require_http_methods(["GET", "POST"])
def generation_new(request):
    """Request a generation as ``GenerationListCreateApi.post`` does: rate limit, the
    API's input serializer, then ``gateway.services.generation_request`` with the form's
    hidden Idempotency-Key (one per form shown: a double submit replays the first answer)."""
    initial = {"idempotency_key": _fresh_key(), "contract": request.GET.get("contract", "")}
    form = GenerationForm(request.POST or None, brand=request.party, initial=initial)
    if request.method == "POST" and form.is_valid():
        body = form.api_body()
        ser = GenerationCreateInSerializer(data=body)
        valid = False
        try:
            valid = ser.is_valid()
            if not valid:
                _add_errors(form, ser.errors)
            else:
                limits.rate_limit_hit(party=request.party, bucket=RateBucket.GENERATIONS)
                d = ser.validated_data
                outcome = gateway_services.generation_request(
                    brand=request.party, idempotency_key=form.cleaned_data["idempotency_key"],
                    fingerprint=gateway_services.request_fingerprint(body),
                    data=gateway_services.GenerationInput(
                        contract_id=d["contract"], script=d["script"], platform=d["platform"],
                        category=d["category"], language=d["language"], territory=d["territory"],
                        profile=d["profile"], captions=d["captions"]))
        except DomainError as exc:
            fields = exc.extra.get("fields")
            if fields:
                _add_errors(form, fields)
            else:
                form.add_error(None, exc.message)
            if exc.code == "idempotency_conflict":
                form.add_error(None, "This form was already sent with other values; check them and send it again.")
        else:
            if valid:
                if outcome.replayed:
                    messages.info(request, "This request was already sent; here is its result.")
                elif outcome.status == 202:
                    messages.success(request, "Generation requested.")
                else:
                    messages.error(request, "The request was refused; the reasons are below.")
                return redirect("web:brand_generation", generation_id=outcome.generation_id)
        # Not sent: the same key stays in the form, so sending it again is still one request.
    return render(request, "web/brand/generation_new.html", {"form": form}, status=400 if form.errors else 200)


def _generation_or_404(request, generation_id: str):
    gen = gateway_selectors.generation_get(party=request.party, generation_id=generation_id)
    if gen is None:
        raise Http404("No such generation.")
    return gen


def _status_body(gen) -> dict:
    return {"status": gen.status, "status_text": STATUS_TEXT.get(gen.status, gen.status),
            "progress": round(gen.progress, 3), "done": gen.status in TERMINAL}


@brand_page
@require_GET
def generation_list(request):
    qs = gateway_selectors.generation_list(party=request.party).select_related("contract__performer")
    page = Paginator(qs, PAGE_ROWS).get_page(request.GET.get("page"))
    return render(request, "web/brand/generation_list.html",
                  {"page": page, "rows": _generation_rows(page.object_list)})


@brand_page
@require_GET
def generation_detail(request, generation_id: str):
    gen = _generation_or_404(request, generation_id)
    failed_checks = [c for c in (gen.decision or {}).get("checks", []) if not c.get("passed", True)]
    royalty = None
    if gen.ledger_transaction_id:
        from ledger.selectors import royalty_summary

        royalty = royalty_summary(gen.ledger_transaction)
    return render(request, "web/brand/generation_detail.html", {
        "gen": gen, "state": _status_body(gen), "failed_checks": failed_checks, "royalty": royalty,
        "has_clip": gen.status == GenerationStatus.DELIVERED and bool(gen.asset_path),
    })


@brand_page
@require_GET
def generation_status(request, generation_id: str):
    """``{"status", "status_text", "progress" (0..1), "done"}`` for static/web/app.js."""
    gen = _generation_or_404(request, generation_id)
    resp = JsonResponse(_status_body(gen))
    resp["Cache-Control"] = "no-store"
    return resp


@brand_page
@require_GET
def generation_video(request, generation_id: str):
    """The signed MP4, with ``GenerationAssetApi``'s checks; ``?download=1`` as an attachment."""
    gen = _generation_or_404(request, generation_id)
    if not gen.asset_path:
        raise Http404("No clip yet.")
    file = assets_dir() / gen.asset_path
    if not file.is_file():
        raise Http404("The clip is missing from storage.")
    resp = FileResponse(file.open("rb"), content_type="video/mp4", as_attachment=request.GET.get("download") == "1",
                        filename=f"{gen.id}.mp4")
    resp["ETag"] = f'"{gen.asset_sha256}"'
    resp["Cache-Control"] = "private, max-age=3600"
    return resp


@brand_page
@require_POST
def generation_cancel(request, generation_id: str):
    try:
        gateway_services.generation_cancel(generation_id=generation_id, brand=request.party)
    except DomainError as exc:
        if exc.code == "not_found":
            raise Http404(exc.message) from None
        messages.error(request, exc.message)
    else:
        messages.success(request, "Generation cancelled; nothing is charged for it.")
    return redirect("web:brand_generation", generation_id=generation_id)


# --- API keys ------------------------------------------------------------------------------------


class KeyForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, label="Name (what the key is for)")


@brand_page
@require_http_methods(["GET", "POST"])
def keys(request):
    """List, and issue with ``rights.services.api_key_issue``: the raw key is in this
    one response only (it is never stored)."""
    form = KeyForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = rights_services.api_key_issue(party=request.party, name=form.cleaned_data["name"])
        except DomainError as exc:
            _add_errors(form, exc.extra.get("fields") or [exc.message])
        else:
            form = KeyForm()
    keys_ = rights_selectors.api_key_list(party=request.party).order_by("-created_at")
    page = Paginator(keys_, PAGE_ROWS).get_page(request.GET.get("page"))
    resp = render(request, "web/brand/keys.html", {"form": form, "issued": issued, "page": page},
                  status=400 if form.errors else 200)
    if issued:
        resp["Cache-Control"] = "no-store"
    return resp


@brand_page
@require_POST
def key_revoke(request, key_id: str):
    key = rights_selectors.api_key_get(party=request.party, key_id=key_id)
    if key is None:
        raise Http404("No such key.")
    rights_services.api_key_revoke(key=key)
    messages.success(request, f"Key {key.prefix}… revoked: requests with it are refused from now on.")
    return redirect("web:brand_keys")


# --- webhooks ------------------------------------------------------------------------------------


class WebhookForm(forms.Form):
    url = forms.URLField(max_length=2000, label="URL", assume_scheme="https",
                         help_text="Where we POST generation events (publicly reachable http or https).")
    events = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, required=False,
                                       choices=WebhookEvent.choices, label="Events",
                                       help_text="None ticked: every event.")


@brand_page
@require_http_methods(["GET", "POST"])
def webhooks_page(request):
    """Endpoints (``gateway.webhooks.endpoint_create``: the signing secret shown once)
    and the delivery log."""
    form = WebhookForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        body = {"url": form.cleaned_data["url"], "events": list(form.cleaned_data["events"])}
        ser = WebhookCreateInSerializer(data=body)
        if not ser.is_valid():
            _add_errors(form, ser.errors)
        else:
            try:
                created = webhooks.endpoint_create(brand=request.party, url=ser.validated_data["url"],
                                                   events=ser.validated_data["events"])
            except DomainError as exc:
                _add_errors(form, exc.extra.get("fields") or [exc.message])
            else:
                form = WebhookForm()
    endpoints = list(gateway_selectors.webhook_endpoint_list(brand=request.party))
    deliveries = Paginator(gateway_selectors.webhook_delivery_list(brand=request.party).select_related("endpoint"),
                           PAGE_ROWS).get_page(request.GET.get("page"))
    resp = render(request, "web/brand/webhooks.html", {
        "form": form, "created": created, "created_secret": created.secret if created else None,
        "endpoints": endpoints, "page": deliveries}, status=400 if form.errors else 200)
    if created:
        resp["Cache-Control"] = "no-store"
    return resp


@brand_page
@require_POST
def webhook_delete(request, endpoint_id: str):
    endpoint = gateway_selectors.webhook_endpoint_get(brand=request.party, endpoint_id=endpoint_id)
    if endpoint is None:
        raise Http404("No such endpoint.")
    webhooks.endpoint_disable(endpoint=endpoint)
    messages.success(request, f"Endpoint {endpoint.url} removed: no more events are sent to it.")
    return redirect("web:brand_webhooks")


urlpatterns: list = [
    path("app/brand/", home, name="brand_home"),
    path("app/brand/contracts/new/", contract_new, name="brand_contract_new"),
    path("app/brand/contracts/<str:contract_id>/", contract_detail, name="brand_contract"),
    path("app/brand/generations/", generation_list, name="brand_generations"),
    path("app/brand/generations/new/", generation_new, name="brand_generation_new"),
    path("app/brand/generations/<str:generation_id>/", generation_detail, name="brand_generation"),
    path("app/brand/generations/<str:generation_id>/status.json", generation_status,
         name="brand_generation_status"),
    path("app/brand/generations/<str:generation_id>/video.mp4", generation_video, name="brand_generation_video"),
    path("app/brand/generations/<str:generation_id>/cancel/", generation_cancel, name="brand_generation_cancel"),
    path("app/brand/keys/", keys, name="brand_keys"),
    path("app/brand/keys/<str:key_id>/revoke/", key_revoke, name="brand_key_revoke"),
    path("app/brand/webhooks/", webhooks_page, name="brand_webhooks"),
    path("app/brand/webhooks/<str:endpoint_id>/delete/", webhook_delete, name="brand_webhook_delete"),
]

__all__ = ["brand_spend", "urlpatterns"]
