"""Staff admin for the gateway. Generations and their records are read-only:
their state changes only through the pipeline and the services (which void or
post the ledger hold with it)."""

from __future__ import annotations

from django.contrib import admin

from common.admin import ReadOnlyAdmin
from gateway.models import (
    Generation,
    IdempotencyRecord,
    RateWindow,
    VerifySlot,
    WebhookDelivery,
    WebhookEndpoint,
)


@admin.register(Generation)
class GenerationAdmin(ReadOnlyAdmin):
    list_display = ("id", "status", "brand", "performer", "platform", "category", "language", "progress",
                    "created_at", "delivered_at")
    list_filter = ("status", "platform", "category", "language")
    search_fields = ("id", "contract__id", "brand__name", "performer__name", "script")
    date_hierarchy = "created_at"


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ("brand", "key", "response_status", "generation", "created_at")
    search_fields = ("key", "brand__name", "generation__id")


@admin.register(RateWindow)
class RateWindowAdmin(ReadOnlyAdmin):
    list_display = ("party", "bucket", "window_start", "count")
    list_filter = ("bucket",)


@admin.register(VerifySlot)
class VerifySlotAdmin(ReadOnlyAdmin):
    list_display = ("slot", "holder", "lease_until")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("id", "brand", "url", "active", "created_at")
    list_filter = ("active",)
    search_fields = ("url", "brand__name")
    # The signing secret is never shown again after creation (it is stored sealed).
    readonly_fields = ("id", "brand", "created_at")
    fields = ("id", "brand", "url", "events", "active", "created_at")

    def has_add_permission(self, request):
        return False  # brands register endpoints through the API (the secret is shown once)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "event", "endpoint", "status", "attempts", "last_status_code", "created_at")
    list_filter = ("status", "event")
    search_fields = ("id", "generation__id", "endpoint__url")
