"""Input and output serializers for the rights API (shared/API.md "Contracts")."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.api.fields import (
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    TimestampField,
)
from common.api.serializers import PageQuerySerializer, StrictSerializer
from rights import vocab
from rights.models import REPORTED_STATUSES, ApiKey, Contract, Party, PartyKind, SuspensionHolder

MAX_LIST_ITEMS = 300
MAX_ROYALTY_PER_RENDER = 1_000_000_000  # 10 M in a 2-decimal currency: beyond is a typo
MAX_ROYALTY_PER_SECOND = 100_000_000
MAX_RENDERS = 10_000_000
MAX_CONTRACT_YEARS = 100


class CodeListField(serializers.ListField):
    """A JSON list of unique codes from a closed vocabulary."""

    def __init__(self, *, vocabulary, label_plural: str, allow_empty: bool, **kwargs):
        self._vocabulary = vocabulary
        self._label_plural = label_plural
        super().__init__(child=StrictCharField(max_length=32), allow_empty=allow_empty,
                         max_length=MAX_LIST_ITEMS, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        values = super().to_internal_value(data)
        allowed = self._vocabulary() if callable(self._vocabulary) else self._vocabulary
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise serializers.ValidationError(
                f"Unknown {self._label_plural}: {', '.join(sorted(set(unknown))[:10])}."
            )
        if len(set(values)) != len(values):
            raise serializers.ValidationError("Duplicate entries.")
        return values


class StrictDateTimeField(serializers.DateTimeField):
    """ISO-8601 with an explicit UTC offset; naive times are ambiguous and refused."""

    def to_internal_value(self, value):
        if not isinstance(value, str) or len(value) > 40:
            self.fail("invalid", format="ISO-8601 with offset, e.g. 2026-01-01T00:00:00Z")
        parsed = super().to_internal_value(value)
        if parsed.tzinfo is None or not ("Z" in value or "+" in value[10:] or "-" in value[10:]):
            raise serializers.ValidationError("Give a timezone offset (e.g. 'Z' or '+02:00').")
        return parsed


class RoyaltyInSerializer(StrictSerializer):
    currency = StrictCharField(max_length=3, min_length=3)
    per_render = StrictIntegerField(min_value=0, max_value=MAX_ROYALTY_PER_RENDER)
    per_second = StrictIntegerField(min_value=0, max_value=MAX_ROYALTY_PER_SECOND, required=False, default=0)
    revenue_share_bps = StrictIntegerField(min_value=0, max_value=10000, required=False, default=0)

    def validate_currency(self, value: str) -> str:
        if value not in vocab.currencies():
            raise serializers.ValidationError("Unsupported currency (ISO 4217, upper case).")
        return value

    def validate(self, attrs):
        if attrs["per_render"] == 0 and attrs["per_second"] == 0 and attrs["revenue_share_bps"] == 0:
            raise serializers.ValidationError("A contract must pay the performer: set a royalty or a revenue share.")
        return attrs


class ContractCreateInSerializer(StrictSerializer):
    performer = StrictCharField(max_length=32)
    platforms = CodeListField(vocabulary=vocab.platforms, label_plural="platforms", allow_empty=False)
    banned_categories = CodeListField(vocabulary=vocab.CATEGORIES, label_plural="categories",
                                      allow_empty=True, required=False, default=list)
    languages = CodeListField(vocabulary=vocab.languages, label_plural="languages (ISO 639-1, lower case)",
                              allow_empty=False)
    territories = CodeListField(vocabulary=vocab.territories,
                                label_plural="territories (ISO 3166-1 alpha-2, upper case)", allow_empty=False)
    valid_from = StrictDateTimeField()
    valid_until = StrictDateTimeField()
    royalty = RoyaltyInSerializer()
    max_renders = StrictIntegerField(min_value=1, max_value=MAX_RENDERS)
    requires_approval = StrictBooleanField(required=False, default=False)
    notice_days = StrictIntegerField(min_value=0, max_value=3650, required=False, default=0)

    def validate_performer(self, value: str) -> Party:
        party = Party.objects.filter(id=value, kind=PartyKind.PERFORMER).first()
        if party is None:
            raise serializers.ValidationError("Unknown performer.")
        return party

    def validate(self, attrs):
        errors = {}
        if attrs["valid_until"] <= attrs["valid_from"]:
            errors["valid_until"] = ["Must be after valid_from."]
        elif attrs["valid_until"] <= timezone.now():
            errors["valid_until"] = ["Must be in the future."]
        elif attrs["valid_until"] - attrs["valid_from"] > timedelta(days=366 * MAX_CONTRACT_YEARS):
            errors["valid_until"] = [f"A contract may last at most {MAX_CONTRACT_YEARS} years."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class RoyaltyOutSerializer(serializers.Serializer):
    """``rights.terms.Royalty``: integer minor units of ``currency``."""

    currency = serializers.CharField()
    per_render = serializers.IntegerField()
    per_second = serializers.IntegerField()
    revenue_share_bps = serializers.IntegerField()


class SuspensionOutSerializer(serializers.Serializer):
    """A suspension in force (``rights.models.Suspension``): ``by`` performer or
    union (a strike), the party that made it, since when. Only its holder lifts it."""

    by = serializers.ChoiceField(choices=SuspensionHolder.choices)
    party = serializers.CharField()
    since = TimestampField()


def _codes(**kwargs) -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(), **kwargs)


class ContractOutSerializer(serializers.Serializer):
    """A contract: its terms (``Contract.terms``, the same value the terms hash
    pins), its status as of ``context["now"]`` (default: now) and its quota."""

    id = serializers.CharField()
    status = serializers.SerializerMethodField()
    status_reason = serializers.CharField()
    performer = serializers.CharField(source="terms.performer")
    brand = serializers.CharField(source="terms.brand")
    performer_name = serializers.CharField(source="performer.name")
    brand_name = serializers.CharField(source="brand.name")
    platforms = _codes(source="terms.platforms")
    banned_categories = _codes(source="terms.banned_categories")
    languages = _codes(source="terms.languages")
    territories = _codes(source="terms.territories")
    valid_from = TimestampField(source="terms.valid_from")
    valid_until = TimestampField(source="terms.valid_until")
    royalty = RoyaltyOutSerializer(source="terms.royalty")
    max_renders = serializers.IntegerField(source="terms.max_renders")
    renders_used = serializers.IntegerField()
    renders_held = serializers.IntegerField()
    renders_remaining = serializers.SerializerMethodField()
    requires_approval = serializers.BooleanField(source="terms.requires_approval")
    notice_days = serializers.IntegerField(source="terms.notice_days")
    terms_hash = serializers.CharField()
    created_at = TimestampField()
    accepted_at = TimestampField(allow_null=True)
    terminated_at = TimestampField(allow_null=True)
    suspensions = SuspensionOutSerializer(
        many=True, help_text="Who holds the contract suspended (empty unless `status` is suspended): the "
                             "performer, their union (a strike), or both; each lifts only its own.")

    @extend_schema_field(serializers.ChoiceField(choices=REPORTED_STATUSES))
    def get_status(self, contract: Contract) -> str:
        return contract.effective_status(self.context.get("now") or timezone.now())

    def get_renders_remaining(self, contract: Contract) -> int:
        return max(contract.max_renders - contract.renders_used - contract.renders_held, 0)


class PortraitOutSerializer(serializers.Serializer):
    """A performer's portrait, or null before one was uploaded."""

    sha256 = serializers.CharField(source="portrait_sha256")
    has_landmarks = serializers.SerializerMethodField()

    def get_has_landmarks(self, party: Party) -> bool:
        return bool(party.landmarks)

    def to_representation(self, party: Party) -> dict | None:
        return super().to_representation(party) if party.portrait_sha256 else None


class BlankAsNullField(serializers.CharField):
    """A text column where blank means "not set": written as null."""

    def to_representation(self, value) -> str | None:
        return value or None


class PartyOutSerializer(serializers.Serializer):
    """A party. ``union``, ``voice`` and ``portrait`` are present for performers
    only, ``pension_health_bps`` for unions only."""

    KIND_ONLY = {"union": PartyKind.PERFORMER, "voice": PartyKind.PERFORMER, "portrait": PartyKind.PERFORMER,
                 "pension_health_bps": PartyKind.UNION}

    id = serializers.CharField()
    kind = serializers.ChoiceField(choices=PartyKind.choices)
    name = serializers.CharField()
    created_at = TimestampField()
    union = serializers.CharField(source="union_id", allow_null=True, required=False)
    voice = BlankAsNullField(allow_null=True, required=False, help_text="Preferred voice or language code")
    portrait = PortraitOutSerializer(source="*", allow_null=True, required=False)
    pension_health_bps = serializers.IntegerField(allow_null=True, required=False)

    def to_representation(self, party: Party) -> dict:
        out = super().to_representation(party)
        for name, kind in self.KIND_ONLY.items():
            if party.kind != kind:
                del out[name]
        return out


class ApiKeyOutSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_at = TimestampField()
    last_used_at = TimestampField(allow_null=True)
    revoked_at = TimestampField(allow_null=True)
    active = serializers.BooleanField(source="is_active")


class ApiKeyIssuedOutSerializer(ApiKeyOutSerializer):
    """A key just issued: the raw key (``context["api_key"]``) is shown this once."""

    api_key = serializers.SerializerMethodField()

    def get_api_key(self, key: ApiKey) -> str:
        return self.context["api_key"]


class ApiKeyCreateInSerializer(StrictSerializer):
    name = StrictCharField(max_length=100, required=False, allow_blank=True, default="")


class ContractListQuerySerializer(PageQuerySerializer):
    status = serializers.ChoiceField(choices=REPORTED_STATUSES, required=False)
    performer = StrictCharField(max_length=32, required=False)
    brand = StrictCharField(max_length=32, required=False)


__all__ = [
    "ApiKeyCreateInSerializer", "ApiKeyIssuedOutSerializer", "ApiKeyOutSerializer", "ContractCreateInSerializer",
    "ContractListQuerySerializer", "ContractOutSerializer", "PartyOutSerializer", "RoyaltyOutSerializer",
    "SuspensionOutSerializer",
]
