"""OpenAPI descriptions shared by every view (drf-spectacular)."""

from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

ERROR_SCHEMA = inline_serializer(
    name="Error",
    fields={"error": inline_serializer(name="ErrorBody", fields={
        "code": serializers.CharField(), "message": serializers.CharField(),
        "fields": serializers.DictField(required=False),
    })},
)
# The error responses every endpoint may give; spread into ``responses={...}``.
ERRORS = {400: ERROR_SCHEMA, 401: ERROR_SCHEMA, 403: ERROR_SCHEMA, 404: ERROR_SCHEMA,
          409: ERROR_SCHEMA, 413: ERROR_SCHEMA, 429: ERROR_SCHEMA}
# Endpoints that depend on Stripe: 503 when it is not configured or not reachable.
STRIPE_ERRORS = {**ERRORS, 503: ERROR_SCHEMA}
# Requests that charge a brand: 402 when its credit limit or billing flag refuses them.
CHARGING_ERRORS = {**ERRORS, 402: ERROR_SCHEMA}


def paginated(serializer_class: type[serializers.Serializer], *, name: str | None = None):
    """The schema of one cursor page (``common.api.pagination.paginated_response``)
    of ``serializer_class`` items: ``{"next", "previous", "results": [...]}``."""
    base = serializer_class.__name__.removesuffix("Serializer").removesuffix("Out")
    return inline_serializer(name=name or f"{base}Page", fields={
        "next": serializers.URLField(allow_null=True, help_text="The next page, or null on the last"),
        "previous": serializers.URLField(allow_null=True),
        "results": serializer_class(many=True),
    })
