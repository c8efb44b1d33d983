"""Thin API views for parties, keys and contracts (STYLE.md: <Entity><Action>Api)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.pagination import paginated_response
from common.api.requests import query_params, single_upload
from common.api.schema import ERRORS
from common.api.serializers import PageQuerySerializer, ReasonInSerializer
from common.errors import Forbidden, InvalidRequest, NotFound
from rights import selectors, services
from rights.models import ApiKey, Party, PartyKind
from rights.serializers import (
    ApiKeyCreateInSerializer,
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
        responses={200: ContractOutSerializer(many=True), **ERRORS},
        description="Contracts visible to the caller: a brand's own, a performer's own, a union's members'.",
    )
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
    def post(self, request):
        if request.user.kind != PartyKind.BRAND:
            raise Forbidden("Only brands propose contracts.")
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
    def get(self, request, contract_id: str):
        contract = selectors.contract_get(party=request.user, contract_id=contract_id)
        if contract is None:
            raise NotFound()
        return Response(ContractOutSerializer(contract).data)


class ContractActionApi(APIView):
    """accept (performer) · suspend (performer or union) · resume (performer) · terminate (performer)."""

    action_name: str = ""

    def post(self, request, contract_id: str):
        ser = ReasonInSerializer(data=request.data if request.data else {})
        ser.is_valid(raise_exception=True)
        contract = services.contract_transition(
            contract_id=contract_id, action=self.action_name, actor=request.user,
            api_key=request.auth, reason=ser.validated_data["reason"],
        )
        return Response(ContractOutSerializer(contract).data)


ACTION_DOCS = {
    "accept": "The performer accepts the proposed terms; a consent record pins their hash. → `active`.",
    "suspend": "The performer, or their union (a strike), suspends an active contract. → `suspended`.",
    "resume": "The performer resumes a suspended contract. → `active`.",
    "terminate": "The performer ends the contract (the brand may withdraw an unaccepted proposal). "
                 "→ `terminated`.",
}


def contract_action_view(action: str):
    def post(self, request, contract_id: str):
        return ContractActionApi.post(self, request, contract_id)

    post = extend_schema(operation_id=f"contracts_{action}", request=ReasonInSerializer,
                         responses={200: ContractOutSerializer, **ERRORS},
                         description=ACTION_DOCS[action] + " Illegal transitions are 409 `invalid_state`.")(post)
    cls = type(f"Contract{action.capitalize()}Api", (ContractActionApi,), {"action_name": action, "post": post})
    return cls.as_view()


class PartyMeApi(APIView):
    @extend_schema(operation_id="parties_me", responses={200: PartyOutSerializer, **ERRORS})
    def get(self, request):
        return Response(PartyOutSerializer(request.user).data)


class PartyDetailApi(APIView):
    @extend_schema(operation_id="parties_get", responses={200: PartyOutSerializer, **ERRORS})
    def get(self, request, party_id: str):
        party = Party.objects.filter(id=party_id).first()
        if party is None or not selectors.party_visible_to(party=party, viewer=request.user):
            raise NotFound()
        return Response(PartyOutSerializer(party).data)


class PerformerListApi(APIView):
    """The talent directory: brands see every performer (to propose contracts), unions their members."""

    @extend_schema(operation_id="performers_list", responses={200: PartyOutSerializer(many=True), **ERRORS})
    def get(self, request):
        if request.user.kind == PartyKind.PERFORMER:
            raise Forbidden("Performers have no access to the directory.")
        query_params(request, PageQuerySerializer)
        qs = Party.objects.filter(kind=PartyKind.PERFORMER)
        if request.user.kind == PartyKind.UNION:
            qs = qs.filter(union_id=request.user.id)
        return paginated_response(request=request, view=self, queryset=qs,
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
    def post(self, request):
        if request.user.kind != PartyKind.PERFORMER:
            raise Forbidden("Only performers have portraits.")
        upload = single_upload(request, field="portrait", limit=settings.DOPPEL_MAX_PORTRAIT_BYTES,
                               noun="portrait")
        party = services.performer_portrait_set(performer=request.user, image=upload.read())
        return Response(PartyOutSerializer(party).data)


class ApiKeyListCreateApi(APIView):
    @extend_schema(operation_id="keys_list", responses={200: ApiKeyOutSerializer(many=True), **ERRORS})
    def get(self, request):
        keys = ApiKey.objects.filter(party=request.user).order_by("created_at")
        return Response({"results": ApiKeyOutSerializer(keys, many=True).data})

    @extend_schema(operation_id="keys_create", request=ApiKeyCreateInSerializer,
                   responses={201: ApiKeyOutSerializer, **ERRORS},
                   description="Issue a new key for the caller's party. The key is shown once, in `api_key`.")
    def post(self, request):
        ser = ApiKeyCreateInSerializer(data=request.data if request.data else {})
        ser.is_valid(raise_exception=True)
        if ApiKey.objects.filter(party=request.user, revoked_at__isnull=True).count() >= 50:
            raise InvalidRequest("Too many active keys; revoke some first.", fields={"name": ["Limit of 50 keys."]})
        issued = services.api_key_issue(party=request.user, name=ser.validated_data["name"])
        return Response({**ApiKeyOutSerializer(issued.key).data, "api_key": issued.raw}, status=201)


class ApiKeyRevokeApi(APIView):
    @extend_schema(operation_id="keys_revoke", request=None, responses={200: ApiKeyOutSerializer, **ERRORS})
    def post(self, request, key_id: str):
        key = ApiKey.objects.filter(party=request.user, id=key_id).first()
        if key is None:
            raise NotFound()
        return Response(ApiKeyOutSerializer(services.api_key_revoke(key=key)).data)

