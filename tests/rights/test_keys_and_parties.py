"""API keys (hashed, shown once, revocable, visible prefix) and party endpoints."""

from __future__ import annotations

import hashlib
import json

import pytest

from rights.auth import key_lookup
from rights.models import ApiKey
from tests.factories import client_for


def test_keys_are_stored_hashed_with_a_visible_prefix(cast):
    key = ApiKey.objects.get(party=cast.brand)
    prefix, _ = cast.brand_key.split(".", 1)
    assert key.prefix == prefix and prefix.startswith("dpl_")
    assert key.hashed == hashlib.sha256(cast.brand_key.encode()).hexdigest()
    assert cast.brand_key not in json.dumps(list(ApiKey.objects.values()), default=str)


def test_lookup_needs_the_whole_key(cast):
    assert key_lookup(cast.brand_key).party == cast.brand
    prefix, secret = cast.brand_key.split(".", 1)
    assert key_lookup(f"{prefix}.{secret[:-1]}x" if secret[-1] != "x" else f"{prefix}.{secret[:-1]}y") is None
    assert key_lookup(prefix) is None
    assert key_lookup("") is None


def test_issue_list_and_revoke_keys_over_the_api(cast):
    client = cast.client("performer")
    created = client.post("/api/v1/keys", data={"name": "laptop"}, format="json")
    assert created.status_code == 201
    raw = created.json()["api_key"]
    assert raw.startswith(created.json()["prefix"] + ".")
    listed = client.get("/api/v1/keys").json()["results"]
    assert {k["name"] for k in listed} == {"test", "laptop"}
    assert all("api_key" not in k and "hashed" not in k for k in listed)  # shown once only
    new_client = client_for(raw)
    assert new_client.get("/api/v1/parties/me").json()["id"] == cast.performer.id
    revoked = client.post(f"/api/v1/keys/{created.json()['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert new_client.get("/api/v1/parties/me").status_code == 401
    assert client.get("/api/v1/parties/me").status_code == 200  # the other key still works


def test_cannot_revoke_another_partys_key(cast):
    other = ApiKey.objects.get(party=cast.brand)
    resp = cast.client("performer").post(f"/api/v1/keys/{other.id}/revoke")
    assert resp.status_code == 404
    other.refresh_from_db()
    assert other.revoked_at is None


@pytest.mark.parametrize("body,field", [({"name": 5}, "name"), ({"name": "x" * 101}, "name"), ({"x": 1}, "x")])
def test_key_create_bad_input(cast, body, field):
    before = ApiKey.objects.count()
    resp = cast.client("brand").post("/api/v1/keys", data=body, format="json")
    assert resp.status_code == 400 and field in resp.json()["error"]["fields"]
    assert ApiKey.objects.count() == before


def test_party_me_and_visibility(cast):
    from tests.factories import make_contract

    me = cast.client("performer").get("/api/v1/parties/me").json()
    assert me == {**me, "id": cast.performer.id, "kind": "performer", "union": cast.union.id}
    # Before any contract, a brand cannot see the performer's party record...
    assert cast.client("brand").get(f"/api/v1/parties/{cast.performer.id}").status_code == 404
    make_contract(cast.brand, cast.performer, accept=False)
    # ...after a proposal, counterparties see each other.
    assert cast.client("brand").get(f"/api/v1/parties/{cast.performer.id}").status_code == 200
    assert cast.client("performer").get(f"/api/v1/parties/{cast.brand.id}").status_code == 200
    assert cast.client("union").get(f"/api/v1/parties/{cast.performer.id}").status_code == 200
    assert cast.client("other_union").get(f"/api/v1/parties/{cast.performer.id}").status_code == 404
    assert cast.client("other_brand").get(f"/api/v1/parties/{cast.brand.id}").status_code == 404


def test_performer_directory(cast):
    brand_view = {p["id"] for p in cast.client("brand").get("/api/v1/performers").json()["results"]}
    assert brand_view == {cast.performer.id, cast.other_performer.id}
    union_view = {p["id"] for p in cast.client("union").get("/api/v1/performers").json()["results"]}
    assert union_view == {cast.performer.id}
    assert cast.client("performer").get("/api/v1/performers").status_code == 403


def test_portrait_upload_refuses_non_images_and_writes_nothing(cast):
    from django.core.files.uploadedfile import SimpleUploadedFile

    resp = cast.client("performer").post(
        "/api/v1/parties/me/portrait", data={"portrait": SimpleUploadedFile("x.jpg", b"not an image")},
        format="multipart")
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert err["code"] == "invalid_request" and err["reason"] == "not_an_image"
    cast.performer.refresh_from_db()
    assert not cast.performer.portrait_sha256 and cast.performer.landmarks is None


def test_portrait_upload_only_for_performers_and_needs_the_field(cast):
    from django.core.files.uploadedfile import SimpleUploadedFile

    assert cast.client("brand").post(
        "/api/v1/parties/me/portrait", data={"portrait": SimpleUploadedFile("x.jpg", b"x")},
        format="multipart").status_code == 403
    resp = cast.client("performer").post("/api/v1/parties/me/portrait", data={"other": "1"}, format="multipart")
    assert resp.status_code == 400 and "portrait" in resp.json()["error"]["fields"]


def test_portrait_upload_size_limit(cast, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.DOPPEL_MAX_PORTRAIT_BYTES = 2048
    resp = cast.client("performer").post(
        "/api/v1/parties/me/portrait", data={"portrait": SimpleUploadedFile("x.jpg", b"\xff" * 5000)},
        format="multipart")
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "payload_too_large"


def test_a_performer_uploads_a_real_portrait(cast, astronaut_jpeg):
    import hashlib

    from django.core.files.uploadedfile import SimpleUploadedFile

    resp = cast.client("performer").post(
        "/api/v1/parties/me/portrait", data={"portrait": SimpleUploadedFile("face.jpg", astronaut_jpeg)},
        format="multipart")
    assert resp.status_code == 200, resp.content
    assert resp.json()["portrait"] == {"sha256": hashlib.sha256(astronaut_jpeg).hexdigest(), "has_landmarks": True}
    cast.performer.refresh_from_db()
    assert cast.performer.portrait.read() == astronaut_jpeg
    assert len(cast.performer.landmarks["landmarks"]) == 478  # MediaPipe FaceMesh with refined irises
    assert cast.performer.landmarks["image_sha256"] == hashlib.sha256(astronaut_jpeg).hexdigest()


# --- issue 10 item 16: key lists are paginated, keys per party bounded -------------------------


def test_the_key_list_is_paginated_like_every_list(cast, django_assert_num_queries):
    client = cast.client("brand")
    for i in range(7):
        assert client.post("/api/v1/keys", data={"name": f"k{i}"}, format="json").status_code == 201
    client.get("/api/v1/keys")  # the key's last_used_at is written at most once a minute
    with django_assert_num_queries(2):  # the caller's key, one page
        first = client.get("/api/v1/keys", {"limit": 5}).json()
    assert set(first) == {"next", "previous", "results"} and len(first["results"]) == 5
    assert [k["name"] for k in first["results"]] == ["k6", "k5", "k4", "k3", "k2"]  # newest first
    rest = client.get(first["next"]).json()
    assert [k["name"] for k in rest["results"]] == ["k1", "k0", "test"] and rest["next"] is None
    assert ApiKey.objects.filter(party=cast.brand).count() == 8


@pytest.mark.parametrize("query,field", [({"limit": 0}, "limit"), ({"limit": 201}, "limit"),
                                         ({"limit": "x"}, "limit"), ({"cursor": "forged"}, "cursor"),
                                         ({"status": "active"}, "status")])
def test_the_key_list_refuses_bad_paging(cast, query, field):
    resp = cast.client("brand").get("/api/v1/keys", query)
    assert resp.status_code == 400 and field in resp.json()["error"]["fields"]


def test_a_party_holds_at_most_fifty_active_keys(cast):
    from rights import services

    client = cast.client("union")
    for _ in range(services.MAX_ACTIVE_KEYS - 1):  # the union already holds one
        services.api_key_issue(party=cast.union, name="bulk")
    resp = client.post("/api/v1/keys", data={"name": "one too many"}, format="json")
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert err["code"] == "invalid_request" and err["limit"] == 50 and "name" in err["fields"]
    assert ApiKey.objects.filter(party=cast.union).count() == 50
    key = ApiKey.objects.filter(party=cast.union, name="bulk").first()
    assert client.post(f"/api/v1/keys/{key.id}/revoke").status_code == 200
    assert client.post("/api/v1/keys", data={"name": "now fits"}, format="json").status_code == 201


def test_keys_issued_in_all_are_bounded_revoked_ones_included(cast, monkeypatch):
    """Create-and-revoke in a loop used to grow a party's keys without limit."""
    from rights import services
    from rights.exceptions import KeyLimitReached

    monkeypatch.setattr(services, "MAX_KEYS_PER_PARTY", 6)
    client = cast.client("performer")
    statuses = []
    for i in range(7):
        resp = client.post("/api/v1/keys", data={"name": f"rotating {i}"}, format="json")
        statuses.append(resp.status_code)
        if resp.status_code == 201:
            assert client.post(f"/api/v1/keys/{resp.json()['id']}/revoke").status_code == 200
    assert statuses == [201] * 5 + [400] * 2  # the performer's first key counts too
    err = client.post("/api/v1/keys", data={}, format="json").json()["error"]
    assert err["limit"] == 6 and "revoked" in err["message"]
    assert ApiKey.objects.filter(party=cast.performer).count() == 6
    assert ApiKey.objects.filter(party=cast.performer, revoked_at__isnull=True).count() == 1
    with pytest.raises(KeyLimitReached):  # the rule is the service's, whoever calls it
        services.api_key_issue(party=cast.performer, name="admin")


def test_the_admin_issue_key_action_reports_the_bound(cast, admin_client, monkeypatch):
    from rights import services

    monkeypatch.setattr(services, "MAX_ACTIVE_KEYS", 1)
    resp = admin_client.post("/admin/rights/party/", {"action": "issue_key", "_selected_action": [cast.brand.id]},
                             follow=True)
    assert resp.status_code == 200
    assert "Too many active keys" in resp.content.decode()
    assert ApiKey.objects.filter(party=cast.brand).count() == 1
