"""Input and output serializers of the generation API (shared/API.md "Generations")."""

from __future__ import annotations

import re

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.api.fields import StrictBooleanField, StrictCharField, TimestampField
from common.api.serializers import PageQuerySerializer, StrictSerializer
from common.errors import PayloadTooLarge
from common.timefmt import iso
from gateway.egress import ERROR_CLASSES
from gateway.models import (
    DeliveryStatus,
    Generation,
    GenerationStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from ledger.selectors import RoyaltySummary, royalty_summary
from renderer import (
    PROFILES,
    RenderError,
    available_languages,
    profile_for_platform,
)
from rights import vocab

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


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


class GenerationListQuerySerializer(PageQuerySerializer):
    status = serializers.ChoiceField(choices=GenerationStatus.choices, required=False)
    contract = StrictCharField(max_length=32, required=False)


# --- outputs -------------------------------------------------------------------------------


class PolicyCheckOutSerializer(serializers.Serializer):
    rule = serializers.CharField(help_text="A rule code (shared/API.md), e.g. `platform_not_allowed`")
    passed = serializers.BooleanField()
    message = serializers.CharField()
    detail = serializers.DictField(required=False)


class PolicyDecisionOutSerializer(serializers.Serializer):
    """``rights.policy.Decision.as_dict()``: every rule checked, and the verdict."""

    allowed = serializers.BooleanField()
    checks = PolicyCheckOutSerializer(many=True)


@extend_schema_field(PolicyDecisionOutSerializer)
class DecisionField(serializers.JSONField):
    """The policy decision as recorded with the generation, written back verbatim."""


class FailureOutSerializer(serializers.Serializer):
    """Why a generation ended undelivered; null otherwise."""

    code = serializers.CharField(source="failure_code")
    message = serializers.CharField(source="failure_message")

    def to_representation(self, gen: Generation) -> dict | None:
        return super().to_representation(gen) if gen.failure_code else None


class AssetOutSerializer(serializers.Serializer):
    """The delivered clip; null until delivery."""

    url = serializers.SerializerMethodField()
    mime = serializers.SerializerMethodField()
    sha256 = serializers.CharField(source="asset_sha256")
    bytes = serializers.IntegerField(source="asset_bytes", allow_null=True)
    duration_s = serializers.FloatField(allow_null=True)

    def get_url(self, gen: Generation) -> str:
        """Absolute when the serializer has the request in its context."""
        url = reverse("generation-asset", args=[gen.id])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url

    def get_mime(self, gen: Generation) -> str:
        return "video/mp4"

    def to_representation(self, gen: Generation) -> dict | None:
        return super().to_representation(gen) if gen.asset_sha256 else None


class GenerationOutSerializer(serializers.Serializer):
    """A generation as its brand, performer and union see it (shared/API.md "Generations").
    Put the request in the context for an absolute asset URL."""

    id = serializers.CharField()
    status = serializers.ChoiceField(choices=GenerationStatus.choices)
    progress = serializers.SerializerMethodField()
    contract = serializers.CharField(source="contract_id")
    brand = serializers.CharField(source="brand_id")
    performer = serializers.CharField(source="performer_id")
    script = serializers.CharField()
    platform = serializers.CharField()
    category = serializers.CharField()
    language = serializers.CharField()
    territory = serializers.CharField()
    profile = serializers.CharField()
    decision = DecisionField()
    failure = FailureOutSerializer(source="*", allow_null=True)
    asset = AssetOutSerializer(source="*", allow_null=True)
    royalty = serializers.SerializerMethodField()
    approval_expires_at = TimestampField(allow_null=True)
    created_at = TimestampField()
    updated_at = TimestampField()
    delivered_at = TimestampField(allow_null=True)

    def get_progress(self, gen: Generation) -> float:
        """0..1, three decimals."""
        return round(gen.progress, 3)

    def get_royalty(self, gen: Generation) -> RoyaltySummary | None:
        if not gen.ledger_transaction_id:
            return None
        return royalty_summary(gen.ledger_transaction)


class GenerationAcceptedOutSerializer(serializers.Serializer):
    """The 202 body of ``POST /generations``. ``gateway.services.generation_request``
    writes it once and replays it verbatim for the same Idempotency-Key."""

    id = serializers.CharField()
    status = serializers.ChoiceField(choices=GenerationStatus.choices, help_text="`queued` or `awaiting_approval`")
    contract = serializers.CharField()
    decision = PolicyDecisionOutSerializer()
    approval_expires_at = TimestampField(allow_null=True, help_text="When an unanswered approval lapses")


class WebhookCreateInSerializer(StrictSerializer):
    url = serializers.URLField(max_length=2000)
    events = serializers.ListField(child=serializers.ChoiceField(choices=WebhookEvent.choices), required=False,
                                   default=list, max_length=10)


class WebhookEndpointOutSerializer(serializers.Serializer):
    id = serializers.CharField()
    url = serializers.URLField()
    events = serializers.SerializerMethodField()
    active = serializers.BooleanField()
    created_at = TimestampField()

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=WebhookEvent.choices)))
    def get_events(self, endpoint: WebhookEndpoint) -> list[str]:
        """The subscribed events; every event when the endpoint named none."""
        return endpoint.events or list(WebhookEvent.values)


class WebhookEndpointCreatedOutSerializer(WebhookEndpointOutSerializer):
    secret = serializers.CharField(help_text="The signing secret, shown once")


DELIVERY_ERROR_HELP = ("Empty when the endpoint answered 2xx; else a generic class (never an exception text "
                       "or the response body): " + "; ".join(f"`{k}`: {v}" for k, v in ERROR_CLASSES.items()))


class DeliveryAttemptOutSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    attempt = serializers.IntegerField()
    status_code = serializers.IntegerField(allow_null=True, help_text="The endpoint's HTTP status; null without one")
    error = serializers.CharField(help_text=DELIVERY_ERROR_HELP)
    ms = serializers.FloatField()


@extend_schema_field(DeliveryAttemptOutSerializer(many=True))
class DeliveryLogField(serializers.JSONField):
    """The delivery's attempts as recorded, written back verbatim."""


class WebhookDeliveryOutSerializer(serializers.Serializer):
    id = serializers.CharField()
    endpoint = serializers.CharField(source="endpoint_id")
    event = serializers.ChoiceField(choices=WebhookEvent.choices)
    generation = serializers.CharField(source="generation_id", allow_null=True)
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    attempts = serializers.IntegerField()
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField(help_text=DELIVERY_ERROR_HELP)
    next_attempt_at = serializers.SerializerMethodField()
    delivered_at = TimestampField(allow_null=True)
    log = DeliveryLogField()
    created_at = TimestampField()

    @extend_schema_field(TimestampField(allow_null=True))
    def get_next_attempt_at(self, delivery: WebhookDelivery) -> str | None:
        """Only while the delivery is pending."""
        return iso(delivery.next_attempt_at) if delivery.status == DeliveryStatus.PENDING else None


# --- verification (the report is ``provenance.verify.verify_file``'s, written back as is) -----


class VerifiedGenerationOutSerializer(serializers.Serializer):
    id = serializers.CharField()
    contract = serializers.CharField()
    performer = serializers.CharField()
    brand = serializers.CharField()
    status = serializers.ChoiceField(choices=GenerationStatus.choices)
    identified_by = serializers.ChoiceField(choices=["watermark", "manifest"])


class C2paReportOutSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["Trusted", "Valid", "Invalid", "NoManifest"])
    failures = serializers.ListField(child=serializers.JSONField())
    license = serializers.DictField(allow_null=True)
    ours = serializers.BooleanField()
    issuer = serializers.CharField(allow_null=True)
    manifests = serializers.IntegerField()
    claim_generator = serializers.CharField(allow_null=True)
    soft_binding = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class WatermarkReportOutSerializer(serializers.Serializer):
    found = serializers.BooleanField()
    generation = serializers.CharField(allow_null=True)
    identified = serializers.BooleanField()
    confidence = serializers.FloatField()
    bit_accuracy = serializers.FloatField(allow_null=True)
    matches_manifest = serializers.BooleanField(allow_null=True)
    frames_used = serializers.IntegerField()
    error = serializers.CharField(allow_null=True)


class VerifyReportOutSerializer(serializers.Serializer):
    media = serializers.DictField(help_text="mime, kind, bytes, filename, declared_mime")
    c2pa = C2paReportOutSerializer()
    watermark = WatermarkReportOutSerializer()
    generation = VerifiedGenerationOutSerializer(allow_null=True)
    summary = serializers.CharField()
