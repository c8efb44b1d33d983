"""Read-only admin over the ledger: staff may look, never edit (the database
refuses edits anyway; corrections are reversing transactions)."""

from django.contrib import admin

from common.admin import ReadOnlyAdmin
from ledger.models import (
    Account,
    BalanceCheckpoint,
    Hold,
    LogLeaf,
    LogNode,
    LogPending,
    LogState,
    PlatformFee,
    Posting,
    SaleReport,
    Transaction,
    TreeHead,
)


class PostingInline(admin.TabularInline):
    model = Posting
    extra = 0
    can_delete = False
    fields = ("account", "side", "amount", "currency")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "contract", "reference", "created_at")
    list_filter = ("kind",)
    search_fields = ("id", "reference", "contract__id")
    inlines = [PostingInline]


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "party", "purpose", "currency", "created_at")
    list_filter = ("purpose", "currency")
    search_fields = ("id", "party__id", "party__name")


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ("id", "reference", "contract", "status", "expected_amount", "currency", "expires_at")
    list_filter = ("status",)
    search_fields = ("id", "reference", "contract__id")


@admin.register(TreeHead)
class TreeHeadAdmin(ReadOnlyAdmin):
    list_display = ("size", "root_hash", "timestamp")


@admin.register(PlatformFee)
class PlatformFeeAdmin(admin.ModelAdmin):
    """Fees are configuration, not ledger entries: staff set them here."""

    list_display = ("platform", "fee_bps", "updated_at")


@admin.register(Posting)
class PostingAdmin(ReadOnlyAdmin):
    list_display = ("transaction", "account", "side", "amount", "currency", "created_at")
    list_filter = ("side", "currency")
    search_fields = ("transaction__id", "account__id")


@admin.register(LogPending)
class LogPendingAdmin(ReadOnlyAdmin):
    """Transactions committed but not yet sequenced into the Merkle log; a quarantined
    one could not be (its leaf cannot be built) and waits for an operator."""

    list_display = ("seq", "transaction", "quarantined_at", "quarantine_reason")
    list_filter = (("quarantined_at", admin.EmptyFieldListFilter),)


@admin.register(LogLeaf)
class LogLeafAdmin(ReadOnlyAdmin):
    list_display = ("index", "transaction")
    search_fields = ("transaction__id",)


@admin.register(LogNode)
class LogNodeAdmin(ReadOnlyAdmin):
    list_display = ("id", "hash")


@admin.register(LogState)
class LogStateAdmin(ReadOnlyAdmin):
    list_display = ("size", "root_hash", "updated_at")


@admin.register(BalanceCheckpoint)
class BalanceCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("account", "debits", "credits", "log_size", "updated_at", "stale_since", "stale_reason")
    list_filter = (("stale_since", admin.EmptyFieldListFilter),)
    search_fields = ("account__id", "account__party__name")


@admin.register(SaleReport)
class SaleReportAdmin(ReadOnlyAdmin):
    list_display = ("contract", "period_start", "period_end", "transaction", "created_at")
    search_fields = ("contract__id", "transaction__id")
