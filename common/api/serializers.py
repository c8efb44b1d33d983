"""Input serializers every API shares."""

from __future__ import annotations

from rest_framework import serializers

from common.api.fields import StrictCharField


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know: a typo must not silently drop a term."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": [f"Expected a JSON object, got {type(data).__name__}."]}
            )
        unknown = sorted(set(data) - set(self.fields))
        errors: dict[str, list[str]] = {name: ["Unknown field."] for name in unknown}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
            errors = {**detail, **errors}
            raise serializers.ValidationError(errors) from None
        if errors:
            raise serializers.ValidationError(errors)
        return value


class PageQuerySerializer(StrictSerializer):
    """``?cursor=…&limit=…`` of a cursor-paginated list."""

    cursor = StrictCharField(max_length=500, required=False)
    limit = StrictCharField(max_length=5, required=False)


class ReasonInSerializer(StrictSerializer):
    """The optional free-text reason of a state change (suspend, reject…)."""

    reason = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")
