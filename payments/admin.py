from django.contrib import admin

from common.admin import ReadOnlyAdmin
from payments.models import (
    BrandBilling,
    MeterReport,
    PayeeAccount,
    Payout,
    PayoutRun,
    ReconcileRun,
    StripeEvent,
    StripeInvoice,
)


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = ("id", "payee", "amount", "currency", "status", "transfer", "created_at")
    list_filter = ("status", "currency")
    search_fields = ("id", "payee__id", "transfer")


@admin.register(ReconcileRun)
class ReconcileRunAdmin(ReadOnlyAdmin):
    """A run with differences is an alert: ``ok`` is False and ``differences`` says what to do."""

    list_display = ("id", "ok", "trigger", "started_at", "finished_at")
    list_filter = ("ok",)


@admin.register(BrandBilling)
class BrandBillingAdmin(admin.ModelAdmin):
    """Operators set credit limits and clear flags here."""

    list_display = ("party", "stripe_customer", "credit_limit_major", "flagged_at", "flag_reason")
    fields = ("party", "stripe_customer", "credit_limit_major", "flagged_at", "flag_reason")
    readonly_fields = ("party", "stripe_customer")
    list_filter = ("flagged_at",)


for model, columns in ((PayeeAccount, ("party", "stripe_account", "payouts_enabled", "updated_at")),
                       (PayoutRun, ("id", "trigger", "dry_run", "started_at", "finished_at")),
                       (MeterReport, ("transaction", "brand", "value", "currency", "reported_at", "attempts")),
                       (StripeInvoice, ("id", "brand", "amount_paid", "currency", "status")),
                       (StripeEvent, ("id", "type", "status", "received_at", "note"))):
    admin.site.register(model, type(f"{model.__name__}Admin", (ReadOnlyAdmin,), {"list_display": columns}))
