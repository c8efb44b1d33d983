"""Every error the API answers is JSON in shared/API.md's shape — bugs included (issue 10 item 15)."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import RequestFactory

from common.api.exceptions import api_server_error
from rights import selectors


def _assert_api_error(resp, status: int, code: str) -> None:
    assert resp.status_code == status
    assert resp["Content-Type"].startswith("application/json")
    body = json.loads(resp.content)
    assert body["error"]["code"] == code and isinstance(body["error"]["message"], str)


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v2/contracts", "/api/", "/api/v1/contracts/x/explode"])
def test_an_unknown_api_path_is_a_json_404(cast, path):
    _assert_api_error(cast.client("brand").get(path), 404, "not_found")


def test_a_page_outside_the_api_keeps_djangos_404(client):
    resp = client.get("/no-such-page")
    assert resp.status_code == 404 and not resp["Content-Type"].startswith("application/json")


def test_a_bug_in_a_view_is_a_logged_json_500(cast, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(selectors, "contract_list", broken)
    with caplog.at_level(logging.ERROR, logger="common.api.exceptions"):
        resp = cast.client("brand").get("/api/v1/contracts")
    _assert_api_error(resp, 500, "internal_error")
    assert "a bug" not in resp.content.decode()  # no internals leak to the client
    assert any(r.exc_info and "a bug" in str(r.exc_info[1]) for r in caplog.records)


def test_a_crash_outside_drf_under_api_is_json_elsewhere_html():
    factory = RequestFactory()
    _assert_api_error(api_server_error(factory.get("/api/v1/contracts")), 500, "internal_error")
    assert api_server_error(factory.get("/admin/")).status_code == 500
    assert not api_server_error(factory.get("/admin/"))["Content-Type"].startswith("application/json")
