"""Thin API views for parties, keys and contracts (STYLE.md: <Entity><Action>Api).

Who may call a method is declared on it with ``@roles`` (``rights.auth``); what a
caller sees is the rule of ``rights.visibility``, which the selectors apply.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.pagination import paginated_response
from common.api.requests import query_params, single_upload
from common.api.schema import ERRORS, paginated
from common.api.serializers import PageQuerySerializer, ReasonInSerializer
from common.errors import NotFound
from rights import selectors, services
from rights.auth import ANY_PARTY, roles
from rights.models import PartyKind
from rights.serializers import (
    ApiKeyCreateInSerializer,
    ApiKeyIssuedOutSerializer,
    ApiKeyOutSerializer,
    ContractCreateInSerializer,
    ContractListQuerySerializer,
    ContractOutSerializer,
    PartyOutSerializer,
)


class ContractListCreateApi(APIView):
    @extend_schema(
        operation_id="contracts_list",
        parameters=[OpenApiParameter("status", str), OpenApiParameter("performer", str),
                    OpenApiParameter("brand", str), OpenApiParameter("limit", int),
                    OpenApiParameter("cursor", str)],
        responses={200: paginated(ContractOutSerializer), **ERRORS},
        description="Contracts visible to the caller: a brand's own, a performer's own, a union's members'.",
    )
    @roles(*ANY_PARTY)
    def get(self, request):
        params = query_params(request, ContractListQuerySerializer)
        qs = selectors.contract_list(party=request.user, status=params.get("status"),
                                     performer=params.get("performer"), brand=params.get("brand"))
        return paginated_response(request=request, view=self, queryset=qs,
                                  serialize=lambda page: ContractOutSerializer(page, many=True).data)

    @extend_schema(
        operation_id="contracts_create",
        request=ContractCreateInSerializer,
        responses={201: ContractOutSerializer, **ERRORS},
        description="A brand proposes a contract to a performer. Status starts as `proposed`.",
    )
    @roles(PartyKind.BRAND)
    def post(self, request):
        ser = ContractCreateInSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        contract = services.contract_propose(
            brand=request.user, performer=d["performer"], platforms=d["platforms"],
            banned_categories=d["banned_categories"], languages=d["languages"],
            territories=d["territories"], valid_from=d["valid_from"], valid_until=d["valid_until"],
            currency=d["royalty"]["currency"], per_render=d["royalty"]["per_render"],
            per_second=d["royalty"]["per_second"], revenue_share_bps=d["royalty"]["revenue_share_bps"],
            max_renders=d["max_renders"], requires_approval=d["requires_approval"],
            notice_days=d["notice_days"], api_key=request.auth,
        )
        return Response(ContractOutSerializer(contract).data, status=status.HTTP_201_CREATED)


class ContractDetailApi(APIView):
    @extend_schema(operation_id="contracts_get", responses={200: ContractOutSerializer, **ERRORS})
    @roles(*ANY_PARTY)
    def get(self, request, contract_id: str):
        contract = selectors.contract_get(party=request.user, contract_id=contract_id)
        if contract is None:
            raise NotFound()
        return Response(ContractOutSerializer(contract).data)


ACTION_DOCS = {
    "accept": "The performer accepts the proposed terms; a consent record pins their hash. → `active`.",
    "suspend": "The performer, or their union (a strike), suspends an active or already suspended contract: "
               "each holds its own suspension (listed in `suspensions`). → `suspended`. Suspending "
               "twice by the same holder is 409 `invalid_state`.",
    "resume": "The performer lifts their own suspension, the union its own strike; the contract is `active` "
              "again once no suspension holds (else it stays `suspended`). Lifting a suspension the caller "
              "does not hold (the performer a strike, the union a performer's suspension) is 409 "
              "`invalid_state` with `suspended_by`.",
    "terminate": "The performer ends the contract (the brand may withdraw an unaccepted proposal). "
                 "→ `terminated`.",
}


class ContractActionApi(APIView):
    """accept (performer) · suspend and resume (performer or union, each its own) · terminate (performer)."""

    action_name: str = ""

    # Any party: the service answers 404 for a contract the caller cannot see,
    # then 403 unless its role may take this action on it.
    @roles(*ANY_PARTY)
    def post(self, request, contract_id: str):
        ser = ReasonInSerializer(data=request.data if request.data else {})
        ser.is_valid(raise_exception=True)
        contract = services.contract_transition(
            contract_id=contract_id, action=self.action_name, actor=request.user,
            api_key=request.auth, reason=ser.validated_data["reason"],
        )
        return Response(ContractOutSerializer(contract).data)


def contract_action_view(action: str):
    """The view of ``POST /contracts/{id}/<action>``, with its own OpenAPI operation."""
    cls = type(f"Contract{action.capitalize()}Api", (ContractActionApi,), {"action_name": action})
    return extend_schema_view(post=extend_schema(
        operation_id=f"contracts_{action}", request=ReasonInSerializer, responses={200: ContractOutSerializer, **ERRORS},
        description=ACTION_DOCS[action] + " Illegal transitions are 409 `invalid_state`."))(cls).as_view()


class PartyMeApi(APIView):
    @extend_schema(operation_id="parties_me", responses={200: PartyOutSerializer, **ERRORS})
    @roles(*ANY_PARTY)
    def get(self, request):
        return Response(PartyOutSerializer(request.user).data)


class PartyDetailApi(APIView):
    @extend_schema(operation_id="parties_get", responses={200: PartyOutSerializer, **ERRORS})
    @roles(*ANY_PARTY)
    def get(self, request, party_id: str):
        party = selectors.party_get(viewer=request.user, party_id=party_id)
        if party is None:
            raise NotFound()
        return Response(PartyOutSerializer(party).data)


class PerformerListApi(APIView):
    """The talent directory: brands see every performer (to propose contracts), unions their members."""

    @extend_schema(operation_id="performers_list", responses={200: paginated(PartyOutSerializer), **ERRORS})
    @roles(PartyKind.BRAND, PartyKind.UNION)
    def get(self, request):
        query_params(request, PageQuerySerializer)
        return paginated_response(request=request, view=self, queryset=selectors.performer_list(viewer=request.user),
                                  serialize=lambda page: PartyOutSerializer(page, many=True).data)


class PortraitUploadApi(APIView):
    """A performer replaces their portrait (multipart field ``portrait``)."""

    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="parties_me_portrait",
        request={"multipart/form-data": inline_serializer(
            name="PortraitUpload", fields={"portrait": serializers.FileField()})},
        responses={200: PartyOutSerializer, **ERRORS},
    )
    @roles(PartyKind.PERFORMER)
    def post(self, request):
        upload = single_upload(request, field="portrait", limit=settings.DOPPEL_MAX_PORTRAIT_BYTES,
                               noun="portrait")
        party = services.performer_portrait_set(performer=request.user, image=upload.read())
        return Response(PartyOutSerializer(party).data)


class ApiKeyListCreateApi(APIView):
    @extend_schema(operation_id="keys_list",
                   parameters=[OpenApiParameter("limit", int), OpenApiParameter("cursor", str)],
                   responses={200: paginated(ApiKeyOutSerializer), **ERRORS},
                   description="The caller's keys, revoked ones included, newest first; paginated like every list "
                               f"(`next`/`previous` cursors). A party holds at most {services.MAX_ACTIVE_KEYS} "
                               f"active keys and is issued at most {services.MAX_KEYS_PER_PARTY} in all.")
    @roles(*ANY_PARTY)
    def get(self, request):
        query_params(request, PageQuerySerializer)
        return paginated_response(request=request, view=self, queryset=selectors.api_key_list(party=request.user),
                                  serialize=lambda page: ApiKeyOutSerializer(page, many=True).data)

    @extend_schema(operation_id="keys_create", request=ApiKeyCreateInSerializer,
                   responses={201: ApiKeyIssuedOutSerializer, **ERRORS},
                   description="Issue a new key for the caller's party. The key is shown once, in `api_key`. "
                               f"Beyond {services.MAX_ACTIVE_KEYS} active keys or {services.MAX_KEYS_PER_PARTY} "
                               "keys in all: 400 `invalid_request` with `limit`.")
    @roles(*ANY_PARTY)
    def post(self, request):
        ser = ApiKeyCreateInSerializer(data=request.data if request.data else {})
        ser.is_valid(raise_exception=True)
        issued = services.api_key_issue(party=request.user, name=ser.validated_data["name"])
        return Response(ApiKeyIssuedOutSerializer(issued.key, context={"api_key": issued.raw}).data, status=201)


class ApiKeyRevokeApi(APIView):
    @extend_schema(operation_id="keys_revoke", request=None, responses={200: ApiKeyOutSerializer, **ERRORS})
    @roles(*ANY_PARTY)
    def post(self, request, key_id: str):
        key = selectors.api_key_get(party=request.user, key_id=key_id)
        if key is None:
            raise NotFound()
        return Response(ApiKeyOutSerializer(services.api_key_revoke(key=key)).data)
