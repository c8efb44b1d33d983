"""Thin API views of the generation gateway, verification and webhooks."""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.exceptions import error_body
from common.api.pagination import paginated_response
from common.api.requests import idempotency_key_header, query_params, single_upload
from common.api.schema import ERRORS
from common.api.serializers import ReasonInSerializer
from common.errors import Forbidden, NotFound
from gateway import limits, selectors, services, webhooks
from gateway.models import WebhookDelivery, WebhookEndpoint
from gateway.pipeline import assets_dir
from gateway.serializers import (
    GenerationCreateInSerializer,
    GenerationListQuerySerializer,
    GenerationOutSerializer,
    WebhookCreateInSerializer,
    generation_representation,
    iso,
)
from rights.models import PartyKind

GENERATION_EXAMPLE = OpenApiExample("A TikTok ad", value={
    "contract": "ctr_…", "script": "Crack open an ice-cold Fizzly and taste the summer.",
    "platform": "tiktok", "category": "soft_drinks", "language": "en", "territory": "US"}, request_only=True)


class GenerationListCreateApi(APIView):
    @extend_schema(
        operation_id="generations_create",
        request=GenerationCreateInSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True,
                                     description="Same key + same body replays the first response for 24 h; "
                                                 "same key + another body is 409 idempotency_conflict.")],
        responses={202: GenerationOutSerializer, **ERRORS},
        examples=[GENERATION_EXAMPLE],
        description="Request a generation. The policy engine decides first: a denial is recorded and "
                    "answered 403 `policy_denied` with every failing rule; an accepted request reserves "
                    "quota (a ledger hold) and is queued, or waits for the performer's approval.",
    )
    def post(self, request):
        if request.user.kind != PartyKind.BRAND:
            raise Forbidden("Only brands request generations.")
        limits.rate_limit_hit(brand=request.user)
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
        responses={200: GenerationOutSerializer(many=True), **ERRORS},
        description="Generations visible to the caller, denials included (unions audit them).",
    )
    def get(self, request):
        params = query_params(request, GenerationListQuerySerializer)
        qs = selectors.generation_list(party=request.user, status=params.get("status"),
                                       contract=params.get("contract"))
        return paginated_response(
            request=request, view=self, queryset=qs,
            serialize=lambda page: [generation_representation(g, request=request) for g in page])


class GenerationDetailApi(APIView):
    @extend_schema(operation_id="generations_get", responses={200: GenerationOutSerializer, **ERRORS})
    def get(self, request, generation_id: str):
        gen = selectors.generation_get(party=request.user, generation_id=generation_id)
        if gen is None:
            raise NotFound()
        return Response(generation_representation(gen, request=request))


class GenerationAssetApi(APIView):
    @extend_schema(operation_id="generations_asset",
                   responses={(200, "video/mp4"): bytes, **ERRORS},
                   description="The signed MP4: for the brand, the performer and the performer's union.")
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


class _GenerationActionApi(APIView):
    def respond(self, request, gen):
        return Response(generation_representation(gen, request=request))


class GenerationApproveApi(_GenerationActionApi):
    @extend_schema(operation_id="generations_approve", request=None,
                   responses={200: GenerationOutSerializer, **ERRORS})
    def post(self, request, generation_id: str):
        gen = services.generation_approve(generation_id=generation_id, performer=request.user)
        return self.respond(request, gen)


class GenerationRejectApi(_GenerationActionApi):
    @extend_schema(operation_id="generations_reject", request=ReasonInSerializer,
                   responses={200: GenerationOutSerializer, **ERRORS})
    def post(self, request, generation_id: str):
        ser = ReasonInSerializer(data=request.data if request.data else {})
        ser.is_valid(raise_exception=True)
        gen = services.generation_reject(generation_id=generation_id, performer=request.user,
                                         reason=ser.validated_data["reason"])
        return self.respond(request, gen)


class GenerationCancelApi(_GenerationActionApi):
    @extend_schema(operation_id="generations_cancel", request=None,
                   responses={200: GenerationOutSerializer, **ERRORS})
    def post(self, request, generation_id: str):
        gen = services.generation_cancel(generation_id=generation_id, brand=request.user)
        return self.respond(request, gen)


MEDIA_ERROR_STATUS = {"payload_too_large": 413, "unsupported_media": 415, "unreadable_media": 422}

VERIFY_RESPONSE = inline_serializer(name="VerifyReport", fields={
    "c2pa": serializers.DictField(), "watermark": serializers.DictField(),
    "generation": serializers.DictField(allow_null=True)})


class VerifyApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="verify",
        request={"multipart/form-data": inline_serializer(name="VerifyUpload",
                                                          fields={"file": serializers.FileField()})},
        responses={200: VERIFY_RESPONSE, **ERRORS},
        description="Check a clip or frame (MP4, MOV, WebM, JPEG, PNG): its C2PA Content Credentials, "
                    "the invisible watermark, and the generation it identifies — also when the manifest "
                    "was stripped.",
    )
    def post(self, request):
        from provenance.media import MediaError
        from provenance.verify import verify_file

        upload = single_upload(request, field="file", limit=settings.DOPPEL_MAX_UPLOAD_BYTES, noun="file")
        try:
            report = verify_file(data=upload.read(), filename=upload.name,
                                 resolve_payload=lambda p: selectors.generation_by_payload(payload=p))
        except MediaError as exc:
            status = MEDIA_ERROR_STATUS.get(exc.code, 400)
            return Response(error_body(exc.code, f"The file cannot be verified: {exc}",
                                       fields={"file": [str(exc)]}), status=status)
        return Response(report)


# --- webhooks ----------------------------------------------------------------------------


def _endpoint_out(e: WebhookEndpoint) -> dict:
    return {"id": e.id, "url": e.url, "events": e.events or list(webhooks.EVENTS), "active": e.active,
            "created_at": iso(e.created_at)}


class WebhookEndpointListCreateApi(APIView):
    allowed_kinds = ("brand",)

    @extend_schema(operation_id="webhooks_list", responses={200: dict, **ERRORS})
    def get(self, request):
        return Response({"results": [_endpoint_out(e) for e in
                                     WebhookEndpoint.objects.filter(brand=request.user, active=True)]})

    @extend_schema(operation_id="webhooks_create", request=WebhookCreateInSerializer,
                   responses={201: dict, **ERRORS},
                   description="Register a URL for generation events. The signing secret is shown once. "
                               "Each POST carries `Doppel-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "
                               "\"<t>.<body>\")>`.")
    def post(self, request):
        ser = WebhookCreateInSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        endpoint = webhooks.endpoint_create(brand=request.user, url=ser.validated_data["url"],
                                            events=ser.validated_data["events"])
        return Response({**_endpoint_out(endpoint), "secret": endpoint.secret}, status=201)


class WebhookEndpointDisableApi(APIView):
    allowed_kinds = ("brand",)

    @extend_schema(operation_id="webhooks_delete", responses={204: None, **ERRORS})
    def delete(self, request, endpoint_id: str):
        endpoint = WebhookEndpoint.objects.filter(brand=request.user, id=endpoint_id, active=True).first()
        if endpoint is None:
            raise NotFound()
        webhooks.endpoint_disable(endpoint=endpoint)
        return Response(status=204)


class WebhookDeliveryListApi(APIView):
    allowed_kinds = ("brand",)

    @extend_schema(operation_id="webhooks_deliveries", responses={200: dict, **ERRORS},
                   description="The delivery log: every event, its attempts and their outcomes.")
    def get(self, request):
        query_params(request, GenerationListQuerySerializer)
        qs = WebhookDelivery.objects.filter(endpoint__brand=request.user)
        return paginated_response(request=request, view=self, queryset=qs, serialize=lambda page: [
            {"id": d.id, "endpoint": d.endpoint_id, "event": d.event, "generation": d.generation_id,
             "status": d.status, "attempts": d.attempts, "last_status_code": d.last_status_code,
             "last_error": d.last_error, "next_attempt_at": iso(d.next_attempt_at) if d.status == "pending"
             else None, "delivered_at": iso(d.delivered_at), "log": d.log, "created_at": iso(d.created_at)}
            for d in page])
