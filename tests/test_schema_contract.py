"""Declared output contracts: ``GET /api/schema/`` describes the body of every 2xx
response (issue 9: output serializers declare their fields)."""

from __future__ import annotations

import pytest
import yaml
from django.test import Client

# Bodies that are bytes, not JSON: described by their media type and a string schema.
BINARY_MEDIA = ("video/mp4", "text/csv")


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        resp = Client().get("/api/schema/")
    assert resp.status_code == 200
    return yaml.safe_load(resp.content)


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
