"""Output shapes of the payments API (shared/API.md "Payouts and billing")."""

from __future__ import annotations

from rest_framework import serializers

from common.api.serializers import PageQuerySerializer, StrictSerializer


class PayoutAccountOutSerializer(serializers.Serializer):
    account = serializers.CharField(help_text="The Stripe Connect account id (acct_…)")
    onboarding_url = serializers.CharField(allow_null=True, help_text="Stripe's onboarding link (POST), else null")
    payouts_enabled = serializers.BooleanField()
    details_submitted = serializers.BooleanField()
    requirements = serializers.ListField(child=serializers.CharField(), help_text="Stripe's currently_due list")
    disabled_reason = serializers.CharField(allow_blank=True)
    updated_at = serializers.DateTimeField()


class PayoutAccountInSerializer(StrictSerializer):
    """No fields: the account is created for the caller."""


class PayoutFailureSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class PayoutOutSerializer(serializers.Serializer):
    id = serializers.CharField()
    amount = serializers.IntegerField(help_text="Ledger minor units")
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=["pending", "paid", "failed", "reversed"])
    stripe_amount = serializers.IntegerField(help_text="The transfer's amount in Stripe's unit of the currency")
    transfer = serializers.CharField(allow_null=True)
    destination = serializers.CharField()
    transaction = serializers.CharField(help_text="The ledger transaction that posted it (reserve while pending)")
    reserve_transaction = serializers.CharField()
    amount_returned = serializers.IntegerField(help_text="Owed again after a failure or reversal")
    purpose = serializers.CharField(help_text="payable (a performer) or pension_health (a union)")
    period_start = serializers.CharField()
    period_end = serializers.CharField()
    created_at = serializers.CharField()
    paid_at = serializers.CharField(allow_null=True)
    failure = PayoutFailureSerializer(allow_null=True)


class PayoutListQuerySerializer(PageQuerySerializer):
    status = serializers.ChoiceField(choices=["pending", "paid", "failed", "reversed"], required=False)


class BillingCurrencySerializer(serializers.Serializer):
    currency = serializers.CharField()
    credit_limit = serializers.IntegerField()
    receivable = serializers.IntegerField()
    open_holds = serializers.IntegerField()


class BillingOutSerializer(serializers.Serializer):
    customer = serializers.CharField(allow_null=True)
    flagged_at = serializers.CharField(allow_null=True)
    flag_reason = serializers.CharField(allow_blank=True)
    currencies = BillingCurrencySerializer(many=True)
