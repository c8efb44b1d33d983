"""Input and output serializers for the rights API (shared/API.md "Contracts")."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers

from common.api.fields import StrictBooleanField, StrictCharField, StrictIntegerField
from common.api.serializers import PageQuerySerializer, StrictSerializer
from rights import vocab
from rights.models import ApiKey, Contract, Party, PartyKind

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


class ContractOutSerializer(serializers.Serializer):
    def to_representation(self, c: Contract) -> dict:
        now = self.context.get("now") or timezone.now()
        return {
            "id": c.id,
            "status": c.effective_status(now),
            "status_reason": c.status_reason,
            "performer": c.performer_id,
            "brand": c.brand_id,
            "performer_name": c.performer.name,
            "brand_name": c.brand.name,
            "platforms": c.platforms,
            "banned_categories": c.banned_categories,
            "languages": c.languages,
            "territories": c.territories,
            "valid_from": c.valid_from.isoformat().replace("+00:00", "Z"),
            "valid_until": c.valid_until.isoformat().replace("+00:00", "Z"),
            "royalty": {
                "currency": c.currency,
                "per_render": c.royalty_per_render,
                "per_second": c.royalty_per_second,
                "revenue_share_bps": c.revenue_share_bps,
            },
            "max_renders": c.max_renders,
            "renders_used": c.renders_used,
            "renders_held": c.renders_held,
            "renders_remaining": max(c.max_renders - c.renders_used - c.renders_held, 0),
            "requires_approval": c.requires_approval,
            "notice_days": c.notice_days,
            "terms_hash": c.terms_hash,
            "created_at": c.created_at.isoformat().replace("+00:00", "Z"),
            "accepted_at": c.accepted_at.isoformat().replace("+00:00", "Z") if c.accepted_at else None,
            "terminated_at": c.terminated_at.isoformat().replace("+00:00", "Z") if c.terminated_at else None,
        }


class PartyOutSerializer(serializers.Serializer):
    def to_representation(self, p: Party) -> dict:
        out = {"id": p.id, "kind": p.kind, "name": p.name,
               "created_at": p.created_at.isoformat().replace("+00:00", "Z")}
        if p.kind == PartyKind.PERFORMER:
            out["union"] = p.union_id
            out["voice"] = p.voice or None
            out["portrait"] = {"sha256": p.portrait_sha256, "has_landmarks": bool(p.landmarks)} \
                if p.portrait_sha256 else None
        if p.kind == PartyKind.UNION:
            out["pension_health_bps"] = p.pension_health_bps
        return out


class ApiKeyOutSerializer(serializers.Serializer):
    def to_representation(self, k: ApiKey) -> dict:
        iso = lambda d: d.isoformat().replace("+00:00", "Z") if d else None  # noqa: E731
        return {"id": k.id, "name": k.name, "prefix": k.prefix, "created_at": iso(k.created_at),
                "last_used_at": iso(k.last_used_at), "revoked_at": iso(k.revoked_at),
                "active": k.revoked_at is None}


class ApiKeyCreateInSerializer(StrictSerializer):
    name = StrictCharField(max_length=100, required=False, allow_blank=True, default="")


class ContractListQuerySerializer(PageQuerySerializer):
    status = serializers.ChoiceField(choices=["proposed", "active", "suspended", "terminated", "expired"],
                                     required=False)
    performer = StrictCharField(max_length=32, required=False)
    brand = StrictCharField(max_length=32, required=False)


__all__ = [
    "ContractCreateInSerializer", "ContractOutSerializer", "PartyOutSerializer",
    "ApiKeyOutSerializer", "ApiKeyCreateInSerializer", "ContractListQuerySerializer",
]
