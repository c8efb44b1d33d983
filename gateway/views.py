"""Thin API views of the generation gateway, verification and webhooks (roles: ``@roles``)."""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.exceptions import error_body
from common.api.pagination import paginated_response
from common.api.requests import idempotency_key_header, query_params, single_upload
from common.api.schema import CHARGING_ERRORS, ERRORS, paginated
from common.api.serializers import PageQuerySerializer, ReasonInSerializer
from common.errors import NotFound
from gateway import limits, selectors, services, webhooks
from gateway.models import RateBucket
from gateway.pipeline import assets_dir
from gateway.serializers import (
    GenerationAcceptedOutSerializer,
    GenerationCreateInSerializer,
    GenerationListQuerySerializer,
    GenerationOutSerializer,
    VerifyReportOutSerializer,
    WebhookCreateInSerializer,
    WebhookDeliveryOutSerializer,
    WebhookEndpointCreatedOutSerializer,
    WebhookEndpointOutSerializer,
)
from provenance.media import MediaError
from provenance.verify import verify_file
from rights.auth import ANY_PARTY, roles
from rights.models import PartyKind

GENERATION_EXAMPLE = OpenApiExample("A TikTok ad", value={
    "contract": "ctr_…", "script": "Crack open an ice-cold Fizzly and taste the summer.",
    "platform": "tiktok", "category": "soft_drinks", "language": "en", "territory": "US"}, request_only=True)


def generation_body(request, gen) -> dict:
    return GenerationOutSerializer(gen, context={"request": request}).data


class GenerationListCreateApi(APIView):
    @extend_schema(
        operation_id="generations_create",
        request=GenerationCreateInSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True,
                                     description="Same key + same body replays the first response for 24 h; "
                                                 "same key + another body is 409 idempotency_conflict.")],
        responses={202: GenerationAcceptedOutSerializer, **CHARGING_ERRORS},
        examples=[GENERATION_EXAMPLE],
        description="Request a generation. The policy engine decides first: a denial is recorded and "
                    "answered 403 `policy_denied` with every failing rule; an accepted request reserves "
                    "quota (a ledger hold) and is queued, or waits for the performer's approval. When "
                    "billing is on, a request that would pass the brand's credit limit (or of a brand whose "
                    "billing is flagged) is recorded as a denial and answered 402 `payment_required`.",
    )
    @roles(PartyKind.BRAND)
    def post(self, request):
        limits.rate_limit_hit(party=request.user, bucket=RateBucket.GENERATIONS)
        key = idempotency_key_header(request)
        ser = GenerationCreateInSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        outcome = services.generation_request(
            brand=request.user, idempotency_key=key,
            fingerprint=services.request_fingerprint(request.data),
            data=services.GenerationInput(
                contract_id=d["contract"], script=d["script"], platform=d["platform"], category=d["category"],
                language=d["language"], territory=d["territory"], profile=d["profile"], captions=d["captions"]),
        )
        resp = Response(outcome.body, status=outcome.status)
        if outcome.replayed:
            resp["Idempotent-Replayed"] = "true"
        if outcome.generation_id and outcome.status == 202:
            resp["Location"] = f"/api/v1/generations/{outcome.generation_id}"
        return resp

    @extend_schema(
        operation_id="generations_list",
        parameters=[OpenApiParameter("status", str), OpenApiParameter("contract", str),
                    OpenApiParameter("limit", int), OpenApiParameter("cursor", str)],
        responses={200: paginated(GenerationOutSerializer), **ERRORS},
        description="Generations visible to the caller, denials included (unions audit them).",
    )
    @roles(*ANY_PARTY)
    def get(self, request):
        params = query_params(request, GenerationListQuerySerializer)
        qs = selectors.generation_list(party=request.user, status=params.get("status"),
                                       contract=params.get("contract"))
        return paginated_response(request=request, view=self, queryset=qs, serialize=lambda page: GenerationOutSerializer(
            page, many=True, context={"request": request}).data)


class GenerationDetailApi(APIView):
    @extend_schema(operation_id="generations_get", responses={200: GenerationOutSerializer, **ERRORS})
    @roles(*ANY_PARTY)
    def get(self, request, generation_id: str):
        gen = selectors.generation_get(party=request.user, generation_id=generation_id)
        if gen is None:
            raise NotFound()
        return Response(generation_body(request, gen))


class GenerationAssetApi(APIView):
    @extend_schema(operation_id="generations_asset",
                   responses={(200, "video/mp4"): OpenApiResponse(OpenApiTypes.BINARY, description="The MP4"),
                              **ERRORS},
                   description="The signed MP4: for the brand, the performer and the performer's union.")
    @roles(*ANY_PARTY)
    def get(self, request, generation_id: str):
        gen = selectors.generation_get(party=request.user, generation_id=generation_id)
        if gen is None or not gen.asset_path:
            raise NotFound()
        path = assets_dir() / gen.asset_path
        if not path.is_file():
            raise NotFound("The asset file is missing from storage.")
        resp = FileResponse(path.open("rb"), content_type="video/mp4", as_attachment=False,
                            filename=f"{gen.id}.mp4")
        resp["ETag"] = f'"{gen.asset_sha256}"'
        resp["Cache-Control"] = "private, max-age=3600"
        return resp


# Approve, reject and cancel accept any party: the service answers 404 for a
# generation the caller cannot see, then 403 unless it is the performer's
# (approve, reject) or the brand's (cancel).


class GenerationApproveApi(APIView):
    @extend_schema(operation_id="generations_approve", request=None,
                   responses={200: GenerationOutSerializer, **ERRORS})
    @roles(*ANY_PARTY)
    def post(self, request, generation_id: str):
        gen = services.generation_approve(generation_id=generation_id, performer=request.user)
        return Response(generation_body(request, gen))


class GenerationRejectApi(APIView):
    @extend_schema(operation_id="generations_reject", request=ReasonInSerializer,
                   responses={200: GenerationOutSerializer, **ERRORS})
    @roles(*ANY_PARTY)
    def post(self, request, generation_id: str):
        ser = ReasonInSerializer(data=request.data if request.data else {})
        ser.is_valid(raise_exception=True)
        gen = services.generation_reject(generation_id=generation_id, performer=request.user,
                                         reason=ser.validated_data["reason"])
        return Response(generation_body(request, gen))


class GenerationCancelApi(APIView):
    @extend_schema(operation_id="generations_cancel", request=None,
                   responses={200: GenerationOutSerializer, **ERRORS})
    @roles(*ANY_PARTY)
    def post(self, request, generation_id: str):
        gen = services.generation_cancel(generation_id=generation_id, brand=request.user)
        return Response(generation_body(request, gen))


MEDIA_ERROR_STATUS = {"payload_too_large": 413, "unsupported_media": 415, "unreadable_media": 422}


class VerifyApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="verify",
        request={"multipart/form-data": inline_serializer(name="VerifyUpload",
                                                          fields={"file": serializers.FileField()})},
        responses={200: VerifyReportOutSerializer, **ERRORS},
        description="Check a clip or frame (MP4, MOV, WebM, JPEG, PNG): its C2PA Content Credentials, "
                    "the invisible watermark, and the generation it identifies — also when the manifest "
                    "was stripped. Verification costs CPU seconds: each caller (all its keys together) may "
                    "ask `DOPPEL_VERIFY_RATE_LIMIT_PER_MINUTE` times a minute, and at most "
                    "`DOPPEL_VERIFY_MAX_CONCURRENT` verifications run at once on the service; beyond either, "
                    "429 `rate_limited` with `Retry-After`.",
    )
    @roles(*ANY_PARTY)
    def post(self, request):
        # Counted before the upload is parsed: a refused request costs no decoding.
        limits.rate_limit_hit(party=request.user, bucket=RateBucket.VERIFY)
        upload = single_upload(request, field="file", limit=settings.DOPPEL_MAX_UPLOAD_BYTES, noun="file")
        try:
            with limits.verify_slot():
                report = verify_file(data=upload.read(), filename=upload.name,
                                     resolve_payload=lambda p: selectors.generation_by_payload(payload=p))
        except MediaError as exc:
            status = MEDIA_ERROR_STATUS.get(exc.code, 400)
            return Response(error_body(exc.code, f"The file cannot be verified: {exc}",
                                       fields={"file": [str(exc)]}), status=status)
        # provenance's report is written back as is; VerifyReportOutSerializer describes it.
        return Response(report)


# --- webhooks ----------------------------------------------------------------------------


class WebhookEndpointListCreateApi(APIView):
    @extend_schema(operation_id="webhooks_list", responses={200: inline_serializer(
        name="WebhookEndpointList", fields={"results": WebhookEndpointOutSerializer(many=True)}), **ERRORS})
    @roles(PartyKind.BRAND)
    def get(self, request):
        endpoints = selectors.webhook_endpoint_list(brand=request.user)
        return Response({"results": WebhookEndpointOutSerializer(endpoints, many=True).data})

    @extend_schema(operation_id="webhooks_create", request=WebhookCreateInSerializer,
                   responses={201: WebhookEndpointCreatedOutSerializer, **ERRORS},
                   description="Register a URL for generation events. The signing secret is shown once. "
                               "Each POST carries `Doppel-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "
                               "\"<t>.<body>\")>`.")
    @roles(PartyKind.BRAND)
    def post(self, request):
        ser = WebhookCreateInSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        endpoint = webhooks.endpoint_create(brand=request.user, url=ser.validated_data["url"],
                                            events=ser.validated_data["events"])
        return Response(WebhookEndpointCreatedOutSerializer(endpoint).data, status=201)


class WebhookEndpointDisableApi(APIView):
    @extend_schema(operation_id="webhooks_delete", responses={204: None, **ERRORS})
    @roles(PartyKind.BRAND)
    def delete(self, request, endpoint_id: str):
        endpoint = selectors.webhook_endpoint_get(brand=request.user, endpoint_id=endpoint_id)
        if endpoint is None:
            raise NotFound()
        webhooks.endpoint_disable(endpoint=endpoint)
        return Response(status=204)


class WebhookDeliveryListApi(APIView):
    @extend_schema(operation_id="webhooks_deliveries", responses={200: paginated(WebhookDeliveryOutSerializer),
                                                                  **ERRORS},
                   description="The delivery log: every event, its attempts and their outcomes.")
    @roles(PartyKind.BRAND)
    def get(self, request):
        query_params(request, PageQuerySerializer)  # only ?cursor= and ?limit=: anything else is a 400
        return paginated_response(request=request, view=self, queryset=selectors.webhook_delivery_list(
            brand=request.user), serialize=lambda page: WebhookDeliveryOutSerializer(page, many=True).data)
