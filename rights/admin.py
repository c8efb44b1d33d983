"""Staff admin. Contracts, consents and their audit trail are read-only here:
rights change only through the services (which record who and why)."""

from __future__ import annotations

from django.contrib import admin, messages

from common.admin import ReadOnlyAdmin
from rights import services
from rights.exceptions import KeyLimitReached
from rights.models import ApiKey, Consent, Contract, ContractEvent, Party


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    fields = ("prefix", "name", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Party)
class PartyAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "id", "union", "created_at")
    list_filter = ("kind",)
    search_fields = ("name", "id")
    readonly_fields = ("id", "portrait_sha256", "landmarks", "created_at")
    inlines = [ApiKeyInline]
    actions = ["issue_key"]

    @admin.action(description="Issue a new API key (shown once)")
    def issue_key(self, request, queryset):
        for party in queryset:
            try:
                issued = services.api_key_issue(party=party, name=f"admin:{request.user.get_username()}")
            except KeyLimitReached as exc:
                self.message_user(request, f"{party.name}: {exc.message}", messages.ERROR)
                continue
            self.message_user(request, f"{party.name}: {issued.raw}  (copy it now; it is not stored)",
                              messages.WARNING)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "party", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = ("party__kind",)
    search_fields = ("prefix", "party__name", "name")
    readonly_fields = ("id", "party", "prefix", "hashed", "created_at", "last_used_at", "revoked_at")
    fields = ("id", "party", "name", "prefix", "hashed", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # issue keys from the party page (shown once) or `create_party`

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for key in queryset:
            services.api_key_revoke(key=key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")


class ContractEventInline(admin.TabularInline):
    model = ContractEvent
    extra = 0
    fields = ("created_at", "action", "actor", "from_status", "to_status", "reason")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Contract)
class ContractAdmin(ReadOnlyAdmin):
    list_display = ("id", "performer", "brand", "status", "valid_until", "renders_used", "renders_held",
                    "max_renders")
    list_filter = ("status", "requires_approval", "currency")
    search_fields = ("id", "performer__name", "brand__name")
    inlines = [ContractEventInline]


@admin.register(ContractEvent)
class ContractEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "contract", "action", "actor", "from_status", "to_status")
    list_filter = ("action",)
    search_fields = ("contract__id", "actor__name")


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "contract", "performer", "terms_hash", "source")
    search_fields = ("contract__id", "performer__name", "terms_hash")
