"""The public's pages (issue 12): ``/verify/`` — anyone, no sign-in, checks a clip.

The page calls the same service as ``POST /api/v1/verify`` (``provenance.verify.verify_file``
with the gateway's payload lookup, inside a ``gateway.limits.verify_slot``), with the same
size limit (``DOPPEL_MAX_UPLOAD_BYTES``), and explains the report in plain words.

Rate limit: ``DOPPEL_VERIFY_RATE_LIMIT_PER_MINUTE`` uploads a minute per client address.
gateway/limits.py keys its windows on a Party (a DB foreign key), which an anonymous
visitor is not, so the count is a ``web.AddressWindow`` row per hashed client address
and minute — the address django-axes resolves for login throttling (the same
trusted-proxy rule, ``DOPPEL_PROXY_COUNT``) — shared by every server process, like the
database-held ``verify_slot`` cap on concurrent verifications.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta

from axes.helpers import get_client_ip_address
from django import forms
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.shortcuts import render
from django.urls import path
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from common.api.parsers import declared_length
from gateway import limits, selectors
from gateway.exceptions import LimitExceeded
from gateway.models import Generation
from provenance.media import MediaError
from provenance.verify import verify_file
from web.models import AddressWindow

TEMPLATE = "web/public/verify.html"
FRAMING_ALLOWANCE = 64 * 1024  # multipart boundaries and headers around the file

PLATFORM_NAMES = {
    "tiktok": "TikTok", "capcut": "CapCut", "douyin": "Douyin", "instagram": "Instagram", "facebook": "Facebook",
    "youtube": "YouTube", "x": "X", "snapchat": "Snapchat", "taobao_live": "Taobao Live", "kuaishou": "Kuaishou",
    "web": "the web", "tv": "TV", "print": "print",
}


def platform_name(code: str) -> str:
    return PLATFORM_NAMES.get(code, code.replace("_", " ").title())


def words_list(items: list[str]) -> str:
    """["a", "b", "c"] → "a, b and c"."""
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


class VerifyForm(forms.Form):
    file = forms.FileField(
        label="The clip or a still frame",
        help_text="MP4, MOV, WebM, JPEG or PNG. Nothing is kept after the check.",
        error_messages={"required": "Choose a file to check.", "empty": "The file is empty.",
                        "invalid": "That is not a file we can read."})

    def __init__(self, *args, limit: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.limit = limit
        self.fields["file"].widget.attrs.update({"accept": "video/mp4,video/quicktime,video/webm,image/jpeg,image/png",
                                                 "aria-describedby": "id_file_help"})

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > self.limit:
            raise forms.ValidationError(too_large_words(self.limit))
        return upload


def too_large_words(limit: int) -> str:
    return f"The file is too big: the limit is {limit // (1024 * 1024) or 1} MB ({limit} bytes)."


def client_key(request) -> str:
    ip = get_client_ip_address(request) or request.META.get("REMOTE_ADDR") or "unknown"
    return hashlib.sha256(ip.encode()).hexdigest()[:32]


def rate_limit_hit(request, *, now: float | None = None) -> None:
    """Count one upload from this client address in the current minute; raise
    LimitExceeded (``retry_after`` seconds to the next minute) beyond
    ``DOPPEL_VERIFY_RATE_LIMIT_PER_MINUTE``. The window is a database row
    (``web.AddressWindow``), bumped with one UPDATE: every server process shares it."""
    now = time.time() if now is None else now
    limit = settings.DOPPEL_VERIFY_RATE_LIMIT_PER_MINUTE
    window = int(now // 60)
    start = datetime.fromtimestamp(window * 60, tz=UTC)
    key = f"verify:{client_key(request)}"
    count = _bump(key, start)
    if count is None:
        try:
            with transaction.atomic():
                AddressWindow.objects.create(subject=key, window_start=start, count=1)
            count = 1
            # A new window: drop the ones that can no longer count (cheap, indexed).
            AddressWindow.objects.filter(window_start__lt=start - timedelta(minutes=5)).delete()
        except IntegrityError:  # another process opened this window first
            count = _bump(key, start) or 1
    if count > limit:
        retry_after = max(1, int((window + 1) * 60 - now) + 1)
        raise LimitExceeded(f"More than {limit} checks a minute from your address; try again in {retry_after} s.",
                            retry_after=retry_after, limit=limit)


def _bump(key: str, start: datetime) -> int | None:
    """One round trip: add one to the window and read it back (PostgreSQL, SQLite ≥ 3.35)."""
    table = AddressWindow._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET count = count + 1 WHERE subject = %s AND window_start = %s RETURNING count",
                       [key, connection.ops.adapt_datetimefield_value(start)])
        row = cursor.fetchone()
    return row[0] if row else None


def refused(request, form, message: str, status: int):
    """The form again, with ``message`` as the file's error (a bad upload is never a 500)."""
    form.errors.pop("file", None)  # runs the form's own checks first (a bound form: cleaned_data exists)
    form.add_error("file", message)
    return render(request, TEMPLATE, {"form": form}, status=status)


MEDIA_STATUS = {"payload_too_large": 413, "unsupported_media": 415, "unreadable_media": 422}


def media_words(exc: MediaError) -> str:
    if exc.code == "unsupported_media":
        return f"This is not a video or picture we can check (MP4, MOV, WebM, JPEG or PNG): {exc.message}."
    if exc.code == "payload_too_large":
        return f"This file is too big or too heavy to check safely: {exc.message}."
    return f"This file is damaged or built to harm decoders, so it was not checked: {exc.message}."


@csrf_exempt  # CSRF is checked in verify_form, after the cheap refusals: the middleware would parse the upload first
@require_http_methods(["GET", "POST"])
def verify(request):
    limit = settings.DOPPEL_MAX_UPLOAD_BYTES
    if request.method == "POST":
        try:
            rate_limit_hit(request)
        except LimitExceeded as exc:
            response = render(request, TEMPLATE, {"form": VerifyForm(limit=limit), "limited": exc.message},
                              status=429)
            response["Retry-After"] = str(exc.extra.get("retry_after", 60))
            return response
        if declared_length(request) > limit + FRAMING_ALLOWANCE:
            return refused(request, VerifyForm({}, limit=limit), too_large_words(limit), 413)
    return verify_form(request, limit)


@csrf_protect
def verify_form(request, limit: int):
    if request.method != "POST":
        return render(request, TEMPLATE, {"form": VerifyForm(limit=limit)})
    form = VerifyForm(request.POST, request.FILES, limit=limit)
    if not form.is_valid():
        return render(request, TEMPLATE, {"form": form}, status=400)
    upload = form.cleaned_data["file"]
    try:
        with limits.verify_slot():
            report = verify_file(data=upload.read(), filename=upload.name,
                                 resolve_payload=lambda p: selectors.generation_by_payload(payload=p))
    except LimitExceeded as exc:
        response = render(request, TEMPLATE, {"form": form, "limited": exc.message}, status=429)
        response["Retry-After"] = str(exc.extra.get("retry_after", 60))
        return response
    except MediaError as exc:
        return refused(request, form, media_words(exc), MEDIA_STATUS.get(exc.code, 400))
    return render(request, TEMPLATE, {"form": VerifyForm(limit=limit), "result": explain(report),
                                      "filename": upload.name})


# --- the report in words ---------------------------------------------------------------


def confidence_words(confidence: float) -> str:
    if confidence >= 0.99:
        return "very high"
    if confidence >= 0.9:
        return "high"
    if confidence >= 0.7:
        return "moderate"
    return "low"


def explain(report: dict) -> dict:
    """What the page shows: ``{"verdict", "evidence", "proof": {...}, "trace": {...}, "licence": {...} | None,
    "made": {...} | None, "outside": [str], "summary"}`` from a verify_file report."""
    c2pa, mark, gen_ref = report["c2pa"], report["watermark"], report["generation"]
    evidence = report["evidence"]
    generation = None
    if gen_ref:
        generation = (Generation.objects.select_related("contract", "performer", "brand")
                      .filter(id=gen_ref["id"]).first())
    proof = {"state": c2pa["state"], "trusted": bool(c2pa["issuer_trusted"] and evidence == "proof"),
             "issuer": c2pa["issuer"], "issuer_trusted": c2pa["issuer_trusted"], "meaning": c2pa["meaning"],
             "failures": c2pa["failures"]}
    trace = {"found": mark["found"], "identified": mark["identified"], "meaning": mark["meaning"],
             "confidence": mark["confidence"], "confidence_words": confidence_words(mark["confidence"] or 0.0),
             "percent": round((mark["confidence"] or 0.0) * 100)}
    licence = made = None
    outside: list[str] = []
    if generation is not None:
        contract = generation.contract
        licence = {
            "performer": generation.performer.name, "brand": generation.brand.name, "contract": contract.id,
            "platforms": words_list([platform_name(p) for p in contract.platforms]) or "none",
            "languages": words_list(contract.languages) or "none",
            "territories": words_list(contract.territories) or "none",
            "valid_from": contract.valid_from, "valid_until": contract.valid_until,
            "status": contract.get_status_display(), "banned": words_list([c.replace("_", " ") for c in contract.banned_categories]),
        }
        made = {"id": generation.id, "platform": platform_name(generation.platform), "language": generation.language,
                "territory": generation.territory, "created_at": generation.created_at,
                "status": generation.get_status_display()}
        outside.append(f"This licence allowed {licence['platforms']} only. Anywhere else — another platform "
                       "or site — this clip is outside the licence.")
        outside.append(f"It was made for {made['platform']}, in language {generation.language}, "
                       f"for territory {generation.territory}; the licence covers languages {licence['languages']} "
                       f"and territories {licence['territories']}.")
        outside.append("Shown outside that period, or after the contract ended, it is outside the licence too.")
        if generation.status != "delivered":
            outside.append(f"Doppel never delivered this generation (its status: {made['status']}): "
                           "a copy of it in circulation did not come through a finished licensed render.")
    if evidence == "proof":
        verdict = "Proof: this file carries valid Content Credentials signed by Doppel and is unchanged since."
    elif evidence == "trace":
        verdict = ("A trace, not proof: the invisible watermark points to a licensed Doppel generation, "
                   "but the file carries no valid Content Credentials.")
    else:
        verdict = "Nothing links this file to Doppel: no valid Content Credentials and no known watermark."
    return {"verdict": verdict, "evidence": evidence, "proof": proof, "trace": trace, "licence": licence,
            "made": made, "outside": outside, "summary": report["summary"], "media": report["media"]}


urlpatterns: list = [
    path("verify/", verify, name="verify"),
]
