"""Contracts over HTTP: create, read, list, the state machine, bad input and permissions."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from rights.models import Consent, Contract, ContractEvent
from rights.terms import terms_hash
from tests.factories import client_for, contract_terms_payload, make_contract

URL = "/api/v1/contracts"


def post_json(client, url, body, **extra):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json", **extra)


def assert_error(resp, status, code):
    assert resp.status_code == status, resp.content
    body = resp.json()
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


# --- create ------------------------------------------------------------------------


def test_brand_proposes_a_contract(cast):
    resp = post_json(cast.client("brand"), URL, contract_terms_payload(cast.performer))
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["id"].startswith("ctr_")
    assert body["status"] == "proposed"
    assert body["performer"] == cast.performer.id and body["brand"] == cast.brand.id
    assert body["royalty"] == {"currency": "USD", "per_render": 500, "per_second": 10, "revenue_share_bps": 0}
    assert body["platforms"] == ["tiktok", "youtube"]
    assert body["renders_used"] == 0 and body["renders_held"] == 0 and body["renders_remaining"] == 100
    contract = Contract.objects.get(id=body["id"])
    assert body["terms_hash"] == contract.terms_hash and len(contract.terms_hash) == 64
    assert list(ContractEvent.objects.filter(contract=contract).values_list("action", flat=True)) == ["propose"]


def test_defaults_for_optional_terms(cast):
    body = contract_terms_payload(cast.performer)
    for optional in ("banned_categories", "requires_approval", "notice_days"):
        body.pop(optional)
    body["royalty"] = {"currency": "EUR", "per_render": 100}
    resp = post_json(cast.client("brand"), URL, body)
    assert resp.status_code == 201, resp.content
    out = resp.json()
    assert out["banned_categories"] == [] and out["requires_approval"] is False and out["notice_days"] == 0
    assert out["royalty"] == {"currency": "EUR", "per_render": 100, "per_second": 0, "revenue_share_bps": 0}


def test_same_terms_give_the_same_hash_regardless_of_list_order(cast):
    a = post_json(cast.client("brand"), URL, contract_terms_payload(cast.performer)).json()
    body = contract_terms_payload(cast.performer, platforms=["youtube", "tiktok"], territories=["CA", "US"])
    body["valid_from"], body["valid_until"] = a["valid_from"], a["valid_until"]
    b = post_json(cast.client("brand"), URL, body).json()
    assert a["id"] != b["id"]
    assert a["terms_hash"] == b["terms_hash"]


BAD_BODIES = {
    "wrong type for max_renders": ({"max_renders": "100"}, "max_renders"),
    "float for max_renders": ({"max_renders": 100.0}, "max_renders"),
    "bool for max_renders": ({"max_renders": True}, "max_renders"),
    "zero max_renders": ({"max_renders": 0}, "max_renders"),
    "absurd max_renders": ({"max_renders": 10**12}, "max_renders"),
    "negative per_render": ({"royalty": {"currency": "USD", "per_render": -1}}, "royalty"),
    "absurd per_render": ({"royalty": {"currency": "USD", "per_render": 10**15}}, "royalty"),
    "share over 100%": ({"royalty": {"currency": "USD", "per_render": 1, "revenue_share_bps": 10001}}, "royalty"),
    "royalty pays nothing": ({"royalty": {"currency": "USD", "per_render": 0}}, "royalty"),
    "unsupported currency": ({"royalty": {"currency": "XYZ", "per_render": 500}}, "royalty"),
    "lower-case currency": ({"royalty": {"currency": "usd", "per_render": 500}}, "royalty"),
    "unknown royalty field": ({"royalty": {"currency": "USD", "per_render": 5, "tip": 1}}, "royalty"),
    "royalty not an object": ({"royalty": 500}, "royalty"),
    "valid_until before valid_from": ({"valid_from": "2030-01-02T00:00:00Z", "valid_until": "2030-01-01T00:00:00Z"},
                                      "valid_until"),
    "valid_until in the past": ({"valid_from": "2020-01-01T00:00:00Z", "valid_until": "2020-06-01T00:00:00Z"},
                                "valid_until"),
    "naive datetime": ({"valid_from": "2026-01-01T00:00:00"}, "valid_from"),
    "garbage datetime": ({"valid_until": "next tuesday"}, "valid_until"),
    "absurd duration": ({"valid_until": "2999-01-01T00:00:00Z"}, "valid_until"),
    "unknown performer": ({"performer": "pty_doesnotexist"}, "performer"),
    "performer is a number": ({"performer": 12}, "performer"),
    "unknown platform": ({"platforms": ["myspace"]}, "platforms"),
    "empty platforms": ({"platforms": []}, "platforms"),
    "platforms not a list": ({"platforms": "tiktok"}, "platforms"),
    "duplicate platforms": ({"platforms": ["tiktok", "tiktok"]}, "platforms"),
    "unknown category": ({"banned_categories": ["knitting"]}, "banned_categories"),
    "bad language": ({"languages": ["english"]}, "languages"),
    "upper-case language": ({"languages": ["EN"]}, "languages"),
    "bad territory": ({"territories": ["USA"]}, "territories"),
    "requires_approval not bool": ({"requires_approval": "yes"}, "requires_approval"),
    "negative notice": ({"notice_days": -1}, "notice_days"),
    "unknown top-level field": ({"discount": 5}, "discount"),
    "NUL in a string": ({"performer": "pty_\x00"}, "performer"),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_bodies_are_400_with_fields_and_write_nothing(cast, case):
    overrides, field = BAD_BODIES[case]
    body = contract_terms_payload(cast.performer, **overrides)
    before = (Contract.objects.count(), ContractEvent.objects.count())
    err = assert_error(post_json(cast.client("brand"), URL, body), 400, "invalid_request")
    assert field in err["fields"], err
    assert (Contract.objects.count(), ContractEvent.objects.count()) == before


def test_missing_fields_are_all_listed(cast):
    err = assert_error(post_json(cast.client("brand"), URL, {}), 400, "invalid_request")
    for field in ("performer", "platforms", "languages", "territories", "valid_from", "valid_until",
                  "royalty", "max_renders"):
        assert field in err["fields"]
    assert Contract.objects.count() == 0


MALFORMED = {
    "truncated JSON": b'{"performer": "x", ',
    "not JSON": b"performer=x&max_renders=1",
    "NaN": b'{"max_renders": NaN}',
    "duplicate keys": b'{"max_renders": 1, "max_renders": 2}',
    "a list": b"[1, 2, 3]",
    "a string": b'"hello"',
    "empty": b"   ",
    "latin-1 bytes": '{"performer": "é"}'.encode("latin-1"),
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_json_is_400(cast, case):
    resp = cast.client("brand").post(URL, data=MALFORMED[case], content_type="application/json")
    if case == "deep nesting":  # 200 KB: the size limit answers first
        assert_error(resp, 413, "payload_too_large")
    else:
        err = assert_error(resp, 400, "invalid_request")
        assert err["fields"]
    assert Contract.objects.count() == 0


def test_oversized_body_is_413(cast, settings):
    body = contract_terms_payload(cast.performer)
    body["padding"] = "x" * (settings.DOPPEL_MAX_JSON_BYTES + 10)
    err = assert_error(post_json(cast.client("brand"), URL, body), 413, "payload_too_large")
    assert err["limit"] == settings.DOPPEL_MAX_JSON_BYTES
    assert Contract.objects.count() == 0


def test_form_encoded_body_is_refused(cast):
    resp = cast.client("brand").post(URL, data={"performer": cast.performer.id})
    assert resp.status_code == 415
    assert resp.json()["error"]["code"] == "invalid_request"


def test_hostile_strings_are_stored_verbatim_not_interpreted(cast):
    contract = make_contract(cast.brand, cast.performer, accept=False)
    resp = post_json(cast.client("performer"), f"{URL}/{contract.id}/accept",
                     {"reason": "<script>alert(1)</script>'; DROP TABLE rights_contract; --"})
    assert resp.status_code == 200
    event = ContractEvent.objects.get(contract=contract, action="accept")
    assert event.reason.startswith("<script>")
    assert Contract.objects.filter(id=contract.id).exists()


# --- reads ---------------------------------------------------------------------------


def test_get_returns_terms_status_and_counters(cast):
    contract = make_contract(cast.brand, cast.performer)
    body = cast.client("brand").get(f"{URL}/{contract.id}").json()
    assert body["status"] == "active"
    assert body["renders_used"] == 0 and body["renders_held"] == 0
    assert body["banned_categories"] == ["gambling", "sexual_health"]


def test_expiry_is_derived_from_time(cast):
    contract = make_contract(cast.brand, cast.performer)
    Contract.objects.filter(id=contract.id).update(
        valid_from=timezone.now() - timedelta(days=10), valid_until=timezone.now() - timedelta(seconds=1))
    assert cast.client("brand").get(f"{URL}/{contract.id}").json()["status"] == "expired"
    ids = [c["id"] for c in cast.client("brand").get(URL, {"status": "expired"}).json()["results"]]
    assert ids == [contract.id]
    assert cast.client("brand").get(URL, {"status": "active"}).json()["results"] == []


def test_list_is_scoped_filtered_and_paginated(cast):
    mine = [make_contract(cast.brand, cast.performer, accept=False) for _ in range(5)]
    make_contract(cast.other_brand, cast.other_performer)
    client = cast.client("brand")
    page1 = client.get(URL, {"limit": 2}).json()
    assert len(page1["results"]) == 2 and page1["next"]
    page2 = client.get(page1["next"]).json()
    page3 = client.get(page2["next"]).json()
    seen = [c["id"] for p in (page1, page2, page3) for c in p["results"]]
    assert sorted(seen) == sorted(c.id for c in mine)
    assert page3["next"] is None
    assert len(client.get(URL, {"status": "proposed"}).json()["results"]) == 5
    assert client.get(URL, {"status": "active"}).json()["results"] == []


@pytest.mark.parametrize("params,field", [
    ({"status": "bogus"}, "status"),
    ({"limit": "0"}, "limit"),
    ({"limit": "abc"}, "limit"),
    ({"limit": "100000"}, "limit"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"unknown": "1"}, "unknown"),
])
def test_list_rejects_bad_query_parameters(cast, params, field):
    err = assert_error(cast.client("brand").get(URL, params), 400, "invalid_request")
    assert field in err["fields"]


def test_list_query_count_does_not_grow_with_rows(cast, django_assert_max_num_queries):
    for _ in range(3):
        make_contract(cast.brand, cast.performer)
    client = cast.client("brand")
    with django_assert_max_num_queries(3):  # auth key lookup, (last_used update), page
        assert len(client.get(URL).json()["results"]) == 3
    for _ in range(20):
        make_contract(cast.brand, cast.performer)
    with django_assert_max_num_queries(3):
        assert len(client.get(URL).json()["results"]) == 23


# --- the state machine -----------------------------------------------------------------


def act(cast, who, contract, action, reason=None):
    body = {"reason": reason} if reason is not None else None
    client = cast.client(who)
    url = f"{URL}/{contract.id}/{action}"
    return post_json(client, url, body) if body else client.post(url)


def test_accept_records_consent_for_the_exact_terms(cast):
    contract = make_contract(cast.brand, cast.performer, accept=False)
    resp = act(cast, "performer", contract, "accept")
    assert resp.status_code == 200, resp.content
    assert resp.json()["status"] == "active"
    consent = Consent.objects.get(contract=contract)
    assert consent.performer == cast.performer
    assert consent.terms_hash == contract.terms_hash == terms_hash(consent.terms)
    assert consent.terms["royalty"]["per_render"] == 500
    assert consent.api_key.prefix == cast.performer_key.split(".")[0]
    assert consent.event.action == "accept"


def test_full_lifecycle_with_audit_trail(cast):
    contract = make_contract(cast.brand, cast.performer, accept=False)
    # Issue 10 item 4: the union lifts its own strike (the performer's resume no longer does).
    steps = [("performer", "accept", "active"), ("union", "suspend", "suspended"),
             ("union", "resume", "active"), ("performer", "suspend", "suspended"),
             ("performer", "resume", "active"), ("performer", "terminate", "terminated")]
    for who, action, expected in steps:
        resp = act(cast, who, contract, action, reason=f"{who} {action}")
        assert resp.status_code == 200, (action, resp.content)
        assert resp.json()["status"] == expected
    events = list(ContractEvent.objects.filter(contract=contract).order_by("created_at", "id")
                  .values_list("action", "actor_id", "from_status", "to_status"))
    assert events[0][0] == "propose"
    assert [e[0] for e in events[1:]] == [s[1] for s in steps]
    assert events[2][1] == cast.union.id  # the strike is attributed to the union
    assert ContractEvent.objects.get(contract=contract, action="suspend", actor=cast.union).reason == "union suspend"


ILLEGAL = [
    ("active", "accept"), ("active", "resume"),
    ("proposed", "suspend"), ("proposed", "resume"),
    ("suspended", "suspend"), ("suspended", "accept"),
    ("terminated", "accept"), ("terminated", "suspend"), ("terminated", "resume"), ("terminated", "terminate"),
]


def _contract_in(cast, status):
    contract = make_contract(cast.brand, cast.performer, accept=False)
    path = {"proposed": [], "active": ["accept"], "suspended": ["accept", "suspend"],
            "terminated": ["terminate"]}[status]
    for action in path:
        assert act(cast, "performer", contract, action).status_code == 200
    return contract


@pytest.mark.parametrize("status,action", ILLEGAL)
def test_illegal_transitions_are_409_and_change_nothing(cast, status, action):
    contract = _contract_in(cast, status)
    events_before = ContractEvent.objects.filter(contract=contract).count()
    err = assert_error(act(cast, "performer", contract, action), 409, "invalid_state")
    assert err["status"] == status
    contract.refresh_from_db()
    assert contract.status == status
    assert ContractEvent.objects.filter(contract=contract).count() == events_before


def test_an_expired_proposal_cannot_be_accepted(cast):
    contract = make_contract(cast.brand, cast.performer, accept=False)
    Contract.objects.filter(id=contract.id).update(valid_until=timezone.now() - timedelta(seconds=1),
                                                   valid_from=timezone.now() - timedelta(days=2))
    err = assert_error(act(cast, "performer", contract, "accept"), 409, "invalid_state")
    assert err["status"] == "expired"
    assert not Consent.objects.filter(contract=contract).exists()


def test_an_expired_contract_can_still_be_terminated(cast):
    contract = make_contract(cast.brand, cast.performer)
    Contract.objects.filter(id=contract.id).update(valid_until=timezone.now() - timedelta(seconds=1),
                                                   valid_from=timezone.now() - timedelta(days=2))
    assert act(cast, "performer", contract, "terminate").json()["status"] == "terminated"


def test_altered_terms_are_never_consented(cast):
    contract = make_contract(cast.brand, cast.performer, accept=False)
    Contract.objects.filter(id=contract.id).update(platforms=["tiktok", "youtube", "x"])  # behind our back
    assert_error(act(cast, "performer", contract, "accept"), 409, "invalid_state")
    contract.refresh_from_db()
    assert contract.status == "proposed"  # the whole transition rolled back
    assert not Consent.objects.filter(contract=contract).exists()
    assert not ContractEvent.objects.filter(contract=contract, action="accept").exists()


def test_the_brand_may_withdraw_only_its_unaccepted_proposal(cast):
    proposal = make_contract(cast.brand, cast.performer, accept=False)
    assert act(cast, "brand", proposal, "terminate").json()["status"] == "terminated"
    active = make_contract(cast.brand, cast.performer)
    assert_error(act(cast, "brand", active, "terminate"), 403, "forbidden")


def test_reason_is_validated(cast):
    contract = make_contract(cast.brand, cast.performer)
    err = assert_error(act(cast, "performer", contract, "suspend", reason="x" * 2001), 400, "invalid_request")
    assert "reason" in err["fields"]
    resp = post_json(cast.client("performer"), f"{URL}/{contract.id}/suspend", {"reason": 5})
    assert_error(resp, 400, "invalid_request")
    resp = post_json(cast.client("performer"), f"{URL}/{contract.id}/suspend", {"why": "x"})
    assert "why" in assert_error(resp, 400, "invalid_request")["fields"]
    contract.refresh_from_db()
    assert contract.status == "active"


# --- permissions: owner / member / outsider on every endpoint ------------------------------

WHO = ["brand", "performer", "union", "other_brand", "other_performer", "other_union"]

EXPECTED = {
    #              brand performer union other_brand other_performer other_union
    "get":       (200, 200, 200, 404, 404, 404),
    "accept":    (403, 200, 403, 404, 404, 404),
    "suspend":   (403, 200, 200, 404, 404, 404),
    # Issue 10 item 4: the union may resume its own strike; this one is the performer's (409).
    "resume":    (403, 200, 409, 404, 404, 404),
    "terminate": (403, 200, 403, 404, 404, 404),
}
START = {"accept": "proposed", "suspend": "active", "resume": "suspended", "terminate": "active", "get": "active"}


@pytest.mark.parametrize("operation", sorted(EXPECTED))
@pytest.mark.parametrize("index", range(len(WHO)))
def test_permission_matrix(cast, operation, index):
    who, expected = WHO[index], EXPECTED[operation][index]
    contract = _contract_in(cast, START[operation])
    if operation == "get":
        resp = cast.client(who).get(f"{URL}/{contract.id}")
    else:
        resp = act(cast, who, contract, operation)
    assert resp.status_code == expected, (who, operation, resp.content)
    if expected == 404:
        assert resp.json()["error"]["code"] == "not_found"
        contract.refresh_from_db()
        assert contract.status == START[operation]


@pytest.mark.parametrize("who,expected", [("brand", 201), ("performer", 403), ("union", 403)])
def test_only_brands_create(cast, who, expected):
    resp = post_json(cast.client(who), URL, contract_terms_payload(cast.performer))
    assert resp.status_code == expected


def test_list_scopes(cast):
    c = make_contract(cast.brand, cast.performer)
    make_contract(cast.other_brand, cast.other_performer)
    for who, visible in [("brand", [c.id]), ("performer", [c.id]), ("union", [c.id]),
                         ("other_union", []), ("other_brand", None), ("other_performer", None)]:
        ids = [x["id"] for x in cast.client(who).get(URL).json()["results"]]
        if visible is None:
            assert c.id not in ids and len(ids) == 1
        else:
            assert ids == visible, who


def test_unknown_contract_is_404(cast):
    assert_error(cast.client("brand").get(f"{URL}/ctr_nope"), 404, "not_found")
    assert_error(act(cast, "performer", type("C", (), {"id": "ctr_nope"}), "accept"), 404, "not_found")


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic abc", "Bearer dpl_x.y",
                                    "Bearer " + "a" * 500])
def test_unauthenticated(db, header):
    client = client_for(None)
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    err = assert_error(client.get(URL), 401, "unauthenticated")
    assert err["message"]


def test_a_revoked_key_stops_working(cast):
    client = cast.client("brand")
    assert client.get(URL).status_code == 200
    from rights.models import ApiKey

    ApiKey.objects.filter(party=cast.brand).update(revoked_at=timezone.now())
    assert_error(client.get(URL), 401, "unauthenticated")
