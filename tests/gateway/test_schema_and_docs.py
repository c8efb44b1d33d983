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
