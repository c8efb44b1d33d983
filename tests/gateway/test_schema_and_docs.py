"""The machine-readable contract: OpenAPI 3 schema and interactive docs, served offline."""

from __future__ import annotations

import re

import pytest
import yaml
from django.test import Client

PATHS = [
    "/api/v1/contracts", "/api/v1/contracts/{contract_id}", "/api/v1/contracts/{contract_id}/accept",
    "/api/v1/contracts/{contract_id}/suspend", "/api/v1/contracts/{contract_id}/resume",
    "/api/v1/contracts/{contract_id}/terminate", "/api/v1/generations", "/api/v1/generations/{generation_id}",
    "/api/v1/generations/{generation_id}/asset", "/api/v1/generations/{generation_id}/approve",
    "/api/v1/generations/{generation_id}/reject", "/api/v1/verify", "/api/v1/ledger/transactions",
    "/api/v1/ledger/balances", "/api/v1/ledger/tree-head", "/api/v1/ledger/proofs/inclusion",
    "/api/v1/ledger/proofs/consistency", "/api/v1/usage", "/api/v1/sales", "/api/v1/webhooks",
]


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        resp = Client().get("/api/schema/")
    assert resp.status_code == 200
    return yaml.safe_load(resp.content)


def test_schema_is_openapi_3_and_documents_every_endpoint(schema):
    assert schema["openapi"].startswith("3.")
    missing = [p for p in PATHS if p not in schema["paths"]]
    assert missing == []


def test_schema_validates(db):
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    validate_schema(SchemaGenerator().get_schema(request=None, public=True))


def test_error_responses_are_documented(schema):
    post = schema["paths"]["/api/v1/generations"]["post"]
    for code in ("202", "400", "401", "403", "409", "413", "429"):
        assert code in post["responses"], code
    params = {p["name"] for p in post.get("parameters", [])}
    assert "Idempotency-Key" in params
    assert post["requestBody"]["content"]["application/json"]["examples"]


def test_interactive_docs_are_served_without_a_cdn(db):
    client = Client()
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui" in html.lower()
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert assets, html
    for asset in assets:
        resp = client.get(asset)
        assert resp.status_code == 200, asset


# --- declared output contracts: every 2xx body is described -------------------------------

# Bodies that are bytes, not JSON: described by their media type and a string schema.
BINARY_MEDIA = ("video/mp4", "text/csv", "application/pdf")


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _success_responses(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    yield f"{method.upper()} {path} {status}", status, response


def test_every_success_response_has_a_described_body(schema):
    undescribed = []
    for where, status, response in _success_responses(schema):
        if status == "204":
            assert not response.get("content"), where
            continue
        content = response.get("content") or {}
        if not content:
            undescribed.append(f"{where}: no body")
        for media, body in content.items():
            described = _resolve(schema, body.get("schema") or {})
            if media in BINARY_MEDIA:
                if described.get("type") != "string":
                    undescribed.append(f"{where} {media}: not a string")
            elif described.get("type") != "object" or not described.get("properties"):
                undescribed.append(f"{where} {media}: no properties")
    assert undescribed == []


def test_lists_describe_their_items(schema):
    """A list's ``results`` are objects with properties, not an empty ``{}``."""
    lists = 0
    for where, _, response in _success_responses(schema):
        for body in (response.get("content") or {}).values():
            properties = _resolve(schema, body.get("schema") or {}).get("properties", {})
            if "results" in properties:
                lists += 1
                items = _resolve(schema, properties["results"].get("items") or {})
                assert items.get("properties"), where
    assert lists >= 7  # contracts, performers, keys, generations, webhooks, deliveries, transactions, usage


def test_nested_objects_are_described_too(schema):
    generation = _resolve(schema, {"$ref": "#/components/schemas/GenerationOut"})
    for name in ("decision", "asset", "royalty", "failure"):
        node = generation["properties"][name]
        target = _resolve(schema, (node.get("allOf") or node.get("oneOf") or [node])[0])
        assert target.get("properties"), name
    contract = _resolve(schema, {"$ref": "#/components/schemas/ContractOut"})
    status = contract["properties"]["status"]
    assert "expired" in _resolve(schema, (status.get("allOf") or [status])[0])["enum"]


def test_binary_bodies_name_their_media_type(schema):
    asset = schema["paths"]["/api/v1/generations/{generation_id}/asset"]["get"]["responses"]["200"]["content"]
    assert list(asset) == ["video/mp4"] and asset["video/mp4"]["schema"]["format"] == "binary"
    usage = schema["paths"]["/api/v1/usage"]["get"]["responses"]["200"]["content"]
    assert set(usage) == {"application/json", "text/csv"}
