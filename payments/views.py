"""Thin views: payees' Stripe accounts and payouts, a brand's billing, Stripe's webhook."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.exceptions import error_body, status_of
from common.api.pagination import paginated_response
from common.api.requests import query_params
from common.api.schema import ERRORS, STRIPE_ERRORS, paginated
from common.errors import DomainError
from payments.models import Payout
from payments.serializers import (
    BillingOutSerializer,
    PayoutAccountOutSerializer,
    PayoutListQuerySerializer,
    PayoutOutSerializer,
)
from payments.services import billing, events, onboarding, payouts
from rights.auth import roles
from rights.models import PartyKind

PAYEES = (PartyKind.PERFORMER, PartyKind.UNION)


class PayoutAccountApi(APIView):
    @extend_schema(operation_id="payouts_account_get", responses={200: PayoutAccountOutSerializer, **ERRORS},
                   description="The caller's connected Stripe account as Stripe last reported it "
                               "(`account.updated`). 404 before one is connected.")
    @roles(*PAYEES)
    def get(self, request):
        return Response(PayoutAccountOutSerializer(onboarding.payee_account_get(party=request.user)).data)

    @extend_schema(operation_id="payouts_account_connect", request=None,
                   responses={200: PayoutAccountOutSerializer, **STRIPE_ERRORS},
                   description="Connect a Stripe Connect Express account (created once) and get a fresh "
                               "onboarding link. Until onboarding is complete the balance waits; earning goes on.")
    @roles(*PAYEES)
    def post(self, request):
        return Response(PayoutAccountOutSerializer(onboarding.payee_account_connect(party=request.user)).data)


class PayoutListApi(APIView):
    @extend_schema(operation_id="payouts_list",
                   parameters=[OpenApiParameter("status", str), OpenApiParameter("limit", int),
                               OpenApiParameter("cursor", str)],
                   responses={200: paginated(PayoutOutSerializer), **ERRORS},
                   description="The caller's payouts, newest first (a union: its pension & health payouts).")
    @roles(*PAYEES)
    def get(self, request):
        params = query_params(request, PayoutListQuerySerializer)
        qs = Payout.objects.filter(payee=request.user)
        if "status" in params:
            qs = qs.filter(status=params["status"])
        return paginated_response(request=request, view=self, queryset=qs,
                                  serialize=lambda page: [payouts.payout_view(p) for p in page])


class BillingApi(APIView):
    @extend_schema(operation_id="billing_get", responses={200: BillingOutSerializer, **ERRORS},
                   description="The brand's billing: Stripe customer, flag, and per currency the credit limit, "
                               "unpaid receivable and open holds (ledger minor units).")
    @roles(PartyKind.BRAND)
    def get(self, request):
        return Response(BillingOutSerializer(billing.brand_billing_view(brand=request.user)).data)


@method_decorator(csrf_exempt, name="dispatch")
class StripeWebhookView(View):
    """``POST /stripe/webhook``: Stripe's signed events only; anything else is 400."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> JsonResponse:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > events.MAX_EVENT_BYTES:
            return JsonResponse(error_body("payload_too_large", f"An event is at most {events.MAX_EVENT_BYTES} bytes."),
                                status=413)
        try:
            event, created = events.event_receive(payload=request.body,
                                                  signature=request.headers.get("Stripe-Signature"))
        except DomainError as exc:
            return JsonResponse(error_body(exc.code, exc.message), status=status_of(exc))
        return JsonResponse({"received": True, "id": event.id, "duplicate": not created}, status=200)
