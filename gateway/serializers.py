"""Input and output serializers of the generation API (shared/API.md "Generations")."""

from __future__ import annotations

import re

from django.conf import settings
from django.urls import reverse
from rest_framework import serializers

from common.api.fields import StrictBooleanField, StrictCharField
from common.api.serializers import StrictSerializer
from common.errors import PayloadTooLarge
from gateway.models import Generation
from rights import vocab

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def iso(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


class GenerationCreateInSerializer(StrictSerializer):
    contract = StrictCharField(max_length=32)
    script = StrictCharField(trim_whitespace=True)
    # Plain strings checked against the vocabularies (a ChoiceField is deep-copied
    # with its choices on every request; this is the hottest endpoint).
    platform = StrictCharField(max_length=32)
    category = StrictCharField(max_length=32)
    language = StrictCharField(max_length=3)
    territory = StrictCharField(max_length=2)
    profile = StrictCharField(max_length=32, required=False)
    captions = StrictBooleanField(required=False, default=True)

    def validate_platform(self, value: str) -> str:
        if value not in vocab.platforms():
            raise serializers.ValidationError(f"Unknown platform; one of: {', '.join(vocab.platforms())}.")
        return value

    def validate_category(self, value: str) -> str:
        if value not in vocab.CATEGORY_SET:
            raise serializers.ValidationError(f"Unknown category; one of: {', '.join(vocab.CATEGORIES)}.")
        return value

    def validate_script(self, value: str) -> str:
        limit = settings.DOPPEL_MAX_SCRIPT_CHARS
        if len(value) > limit:
            raise PayloadTooLarge(f"The script has {len(value)} characters; the limit is {limit}.",
                                  limit=limit, fields={"script": [f"At most {limit} characters."]})
        if not value.strip():
            raise serializers.ValidationError("The script is empty.")
        if _CONTROL.search(value):
            raise serializers.ValidationError("Control characters are not allowed.")
        return value

    def validate_language(self, value: str) -> str:
        if value not in vocab.languages():
            raise serializers.ValidationError("Not an ISO 639-1 language code (lower case).")
        from renderer import available_languages

        speakable = available_languages()
        if value not in speakable:
            raise serializers.ValidationError(
                f"'{value}' cannot be spoken on this installation (available: {', '.join(sorted(speakable))}).")
        return value

    def validate_territory(self, value: str) -> str:
        if value not in vocab.territories():
            raise serializers.ValidationError("Not an ISO 3166-1 alpha-2 code (upper case).")
        return value

    def validate(self, attrs):
        from renderer import PROFILES, RenderError, profile_for_platform

        profile = attrs.get("profile")
        if not profile:
            try:
                profile = profile_for_platform(attrs["platform"]).name
            except RenderError as exc:
                raise serializers.ValidationError({"profile": [f"{exc.message} Name a profile."]}) from None
        if profile not in PROFILES:
            raise serializers.ValidationError({"profile": [f"One of: {', '.join(sorted(PROFILES))}."]})
        attrs["profile"] = profile
        return attrs


class GenerationListQuerySerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=["queued", "awaiting_approval", "rendering", "signing", "delivered",
                                              "failed", "denied", "rejected", "cancelled"], required=False)
    contract = StrictCharField(max_length=32, required=False)
    cursor = StrictCharField(max_length=500, required=False)
    limit = StrictCharField(max_length=5, required=False)


def royalty_of(gen: Generation) -> dict | None:
    if not gen.ledger_transaction_id:
        return None
    from ledger.services import royalty_summary

    return royalty_summary(gen.ledger_transaction)


def generation_representation(gen: Generation, *, request=None) -> dict:
    asset = None
    if gen.asset_sha256:
        url = reverse("generation-asset", args=[gen.id])
        asset = {"url": request.build_absolute_uri(url) if request else url, "mime": "video/mp4",
                 "sha256": gen.asset_sha256, "bytes": gen.asset_bytes, "duration_s": gen.duration_s}
    return {
        "id": gen.id,
        "status": gen.status,
        "progress": round(gen.progress, 3),
        "contract": gen.contract_id,
        "brand": gen.brand_id,
        "performer": gen.performer_id,
        "script": gen.script,
        "platform": gen.platform,
        "category": gen.category,
        "language": gen.language,
        "territory": gen.territory,
        "profile": gen.profile,
        "decision": gen.decision,
        "failure": {"code": gen.failure_code, "message": gen.failure_message} if gen.failure_code else None,
        "asset": asset,
        "royalty": royalty_of(gen),
        "approval_expires_at": iso(gen.approval_expires_at),
        "created_at": iso(gen.created_at),
        "updated_at": iso(gen.updated_at),
        "delivered_at": iso(gen.delivered_at),
    }


class GenerationOutSerializer(serializers.Serializer):
    def to_representation(self, gen):
        return generation_representation(gen, request=self.context.get("request"))


class WebhookCreateInSerializer(StrictSerializer):
    url = serializers.URLField(max_length=2000)
    events = serializers.ListField(child=serializers.ChoiceField(
        choices=["generation.delivered", "generation.denied", "generation.failed", "generation.rejected",
                 "generation.cancelled"]), required=False, default=list, max_length=10)
