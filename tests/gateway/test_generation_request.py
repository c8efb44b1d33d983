"""POST /api/v1/generations and the generation state machine, without rendering."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from gateway import services
from gateway.models import Generation, IdempotencyRecord
from ledger.models import Hold
from rights.models import Contract
from tests.factories import client_for, make_contract

URL = "/api/v1/generations"


def post(client, body, key=None, raw=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key if key is not None else str(uuid.uuid4())}
    if key == "":
        headers = {}
    return client.post(URL, data=raw if raw is not None else json.dumps(body), content_type="application/json",
                       **headers)


def counts():
    return Generation.objects.count(), Hold.objects.count(), IdempotencyRecord.objects.count()


def test_accepted_request_reserves_quota_and_enqueues(cast, contract, gen_body, django_capture_on_commit_callbacks):
    from django_q.models import OrmQ

    with django_capture_on_commit_callbacks(execute=True):
        resp = post(cast.client("brand"), gen_body())
    assert resp.status_code == 202, resp.content
    body = resp.json()
    assert body["status"] == "queued" and body["id"].startswith("gen_")
    assert body["decision"]["allowed"] is True and len(body["decision"]["checks"]) == 11
    assert resp["Location"] == f"/api/v1/generations/{body['id']}"
    gen = Generation.objects.get(id=body["id"])
    assert gen.hold.status == "open" and gen.watermark_payload is not None
    contract.refresh_from_db()
    assert (contract.renders_held, contract.renders_used) == (1, 0)
    assert OrmQ.objects.count() == 1  # the render task, enqueued after commit


def test_same_key_and_body_replays_without_a_second_hold(cast, contract, gen_body):
    client = cast.client("brand")
    first = post(client, gen_body(), key="order-1")
    again = post(client, gen_body(), key="order-1")
    assert again.status_code == 202 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert counts() == (1, 1, 1)
    contract.refresh_from_db()
    assert contract.renders_held == 1


def test_same_key_other_body_is_a_conflict(cast, contract, gen_body):
    client = cast.client("brand")
    post(client, gen_body(), key="order-2")
    resp = post(client, gen_body(script="Something else entirely."), key="order-2")
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "idempotency_conflict"
    assert counts() == (1, 1, 1)


def test_keys_are_per_brand(cast, contract, gen_body):
    other_contract = make_contract(cast.other_brand, cast.other_performer)
    assert post(cast.client("brand"), gen_body(), key="shared").status_code == 202
    assert post(cast.client("other_brand"), gen_body(contract=other_contract.id), key="shared").status_code == 202


def test_a_replayed_denial_is_the_same_denial(cast, contract, gen_body):
    client = cast.client("brand")
    first = post(client, gen_body(platform="instagram"), key="deny-1")
    again = post(client, gen_body(platform="instagram"), key="deny-1")
    assert first.status_code == again.status_code == 403
    assert first.json() == again.json()
    assert Generation.objects.filter(status="denied").count() == 1


def test_expired_keys_may_be_reused(cast, contract, gen_body, settings):
    client = cast.client("brand")
    post(client, gen_body(), key="old")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(seconds=settings.DOPPEL_IDEMPOTENCY_TTL_S + 1))
    resp = post(client, gen_body(script="A new request after a day."), key="old")
    assert resp.status_code == 202
    assert Generation.objects.count() == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "tab\there", "ünïcode"])
def test_idempotency_key_is_required_and_sane(cast, contract, gen_body, key):
    resp = post(cast.client("brand"), gen_body(), key=key)
    assert resp.status_code == 400
    assert "Idempotency-Key" in resp.json()["error"]["fields"]
    assert counts() == (0, 0, 0)


def test_denial_is_recorded_with_every_reason(cast, contract, gen_body):
    resp = post(cast.client("brand"), gen_body(platform="instagram", category="gambling", territory="MX",
                                               script="Place your bets at the online casino!"))
    assert resp.status_code == 403
    err = resp.json()["error"]
    assert err["code"] == "policy_denied"
    assert {r["rule"] for r in err["reasons"]} == {"platform_not_allowed", "category_banned",
                                                   "script_category_banned", "territory_not_allowed"}
    gen = Generation.objects.get(id=err["generation"])
    assert gen.status == "denied" and gen.hold is None and gen.decision["allowed"] is False
    contract.refresh_from_db()
    assert contract.renders_held == 0
    # Unions audit denials; outsiders never see them.
    union_view = cast.client("union").get(URL, {"status": "denied"}).json()["results"]
    assert [g["id"] for g in union_view] == [gen.id]
    assert union_view[0]["decision"]["allowed"] is False
    assert cast.client("other_union").get(URL).json()["results"] == []


def test_suspended_contract_denies(cast, contract, gen_body):
    cast.client("union").post(f"/api/v1/contracts/{contract.id}/suspend", {"reason": "strike"}, format="json")
    err = post(cast.client("brand"), gen_body()).json()["error"]
    assert [r["rule"] for r in err["reasons"]] == ["contract_not_active"]


def test_quota_is_enforced_and_in_flight_work_counts(cast, gen_body):
    small = make_contract(cast.brand, cast.performer, max_renders=2)
    client = cast.client("brand")
    assert post(client, gen_body(contract=small.id)).status_code == 202
    assert post(client, gen_body(contract=small.id)).status_code == 202
    resp = post(client, gen_body(contract=small.id))
    assert resp.status_code == 403
    assert [r["rule"] for r in resp.json()["error"]["reasons"]] == ["quota_exceeded"]
    small.refresh_from_db()
    assert small.renders_held == 2


def test_another_brands_contract_is_404_and_nothing_is_written(cast, contract, gen_body):
    resp = post(cast.client("other_brand"), gen_body())
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    assert counts() == (0, 0, 0)


@pytest.mark.parametrize("who", ["performer", "union"])
def test_only_brands_generate(cast, contract, gen_body, who):
    assert post(cast.client(who), gen_body()).status_code == 403
    assert counts() == (0, 0, 0)


BAD = {
    "unknown platform": ({"platform": "myspace"}, "platform"),
    "unknown category": ({"category": "knitting"}, "category"),
    "bad language": ({"language": "english"}, "language"),
    "bad territory": ({"territory": "usa"}, "territory"),
    "empty script": ({"script": "   "}, "script"),
    "script not a string": ({"script": ["a"]}, "script"),
    "control characters": ({"script": "hello\x07world"}, "script"),
    "contract missing": ({"contract": None}, "contract"),
    "unknown field": ({"watermark": False}, "watermark"),
    "unknown profile": ({"profile": "imax"}, "profile"),
    "captions not bool": ({"captions": "no"}, "captions"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_400_and_writes_nothing(cast, contract, gen_body, case):
    overrides, field = BAD[case]
    body = gen_body(**overrides)
    if overrides.get("contract", "") is None:
        body.pop("contract")
    resp = post(cast.client("brand"), body)
    assert resp.status_code == 400, resp.content
    assert field in resp.json()["error"]["fields"]
    assert counts() == (0, 0, 0)
    contract.refresh_from_db()
    assert contract.renders_held == 0


@pytest.mark.parametrize("raw", [b"{", b"[]", b'"x"', b"null", b'{"script": NaN}'])
def test_malformed_json_is_400(cast, contract, raw):
    resp = post(cast.client("brand"), None, raw=raw)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_request"
    assert counts() == (0, 0, 0)


def test_script_over_the_limit_is_413(cast, contract, gen_body, settings):
    resp = post(cast.client("brand"), gen_body(script="a" * (settings.DOPPEL_MAX_SCRIPT_CHARS + 1)))
    assert resp.status_code == 413
    err = resp.json()["error"]
    assert err["code"] == "payload_too_large" and err["limit"] == settings.DOPPEL_MAX_SCRIPT_CHARS
    assert counts() == (0, 0, 0)


def test_body_over_the_limit_is_413(cast, contract, gen_body, settings):
    resp = post(cast.client("brand"), gen_body(script="a" * (settings.DOPPEL_MAX_JSON_BYTES + 5)))
    assert resp.status_code == 413
    assert counts() == (0, 0, 0)


def test_a_language_this_installation_cannot_speak_is_refused_up_front(cast, gen_body):
    c = make_contract(cast.brand, cast.performer, languages=["en", "xh"])
    resp = post(cast.client("brand"), gen_body(contract=c.id, language="xh"))
    assert resp.status_code == 400
    assert "cannot be spoken" in resp.json()["error"]["fields"]["language"][0]
    assert counts() == (0, 0, 0)


def test_rate_limit_is_429_with_retry_after(cast, contract, gen_body, settings):
    settings.DOPPEL_RATE_LIMIT_PER_MINUTE = 2
    client = cast.client("brand")
    assert post(client, gen_body()).status_code == 202
    assert post(client, gen_body()).status_code == 202
    resp = post(client, gen_body())
    assert resp.status_code == 429
    assert resp.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(resp["Retry-After"]) <= 61
    assert Generation.objects.count() == 2
    # Another brand has its own window.
    other = make_contract(cast.other_brand, cast.other_performer)
    assert post(cast.client("other_brand"), gen_body(contract=other.id)).status_code == 202


def test_in_flight_cap_is_429(cast, contract, gen_body, settings):
    settings.DOPPEL_MAX_INFLIGHT_PER_BRAND = 1
    client = cast.client("brand")
    assert post(client, gen_body()).status_code == 202
    resp = post(client, gen_body())
    assert resp.status_code == 429 and resp.json()["error"]["in_flight"] == 1


# --- approvals -------------------------------------------------------------------------


@pytest.fixture
def approval_contract(cast):
    return make_contract(cast.brand, cast.performer, requires_approval=True)


def _awaiting(cast, approval_contract, gen_body):
    resp = post(cast.client("brand"), gen_body(contract=approval_contract.id))
    assert resp.status_code == 202 and resp.json()["status"] == "awaiting_approval"
    return resp.json()["id"]


def test_performer_sees_the_script_and_approves(cast, approval_contract, gen_body,
                                                django_capture_on_commit_callbacks):
    from django_q.models import OrmQ

    gen_id = _awaiting(cast, approval_contract, gen_body)
    pending = cast.client("performer").get(URL, {"status": "awaiting_approval"}).json()["results"]
    assert pending[0]["script"].startswith("Crack open")
    assert OrmQ.objects.count() == 0  # nothing renders before the performer says yes
    with django_capture_on_commit_callbacks(execute=True):
        resp = cast.client("performer").post(f"{URL}/{gen_id}/approve")
    assert resp.status_code == 200 and resp.json()["status"] == "queued"
    assert OrmQ.objects.count() == 1
    again = cast.client("performer").post(f"{URL}/{gen_id}/approve")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_state"


def test_reject_voids_the_hold(cast, approval_contract, gen_body):
    gen_id = _awaiting(cast, approval_contract, gen_body)
    resp = cast.client("performer").post(f"{URL}/{gen_id}/reject", {"reason": "Not my style"}, format="json")
    assert resp.status_code == 200 and resp.json()["status"] == "rejected"
    assert resp.json()["failure"] == {"code": "rejected_by_performer", "message": "Not my style"}
    gen = Generation.objects.get(id=gen_id)
    assert gen.hold.status == "voided"
    approval_contract.refresh_from_db()
    assert approval_contract.renders_held == 0


@pytest.mark.parametrize("who,expected", [("brand", 403), ("union", 403), ("other_performer", 404),
                                          ("other_brand", 404)])
def test_only_the_performer_decides(cast, approval_contract, gen_body, who, expected):
    gen_id = _awaiting(cast, approval_contract, gen_body)
    assert cast.client(who).post(f"{URL}/{gen_id}/approve").status_code == expected
    assert cast.client(who).post(f"{URL}/{gen_id}/reject").status_code == expected
    assert Generation.objects.get(id=gen_id).status == "awaiting_approval"


def test_unanswered_approvals_expire_and_release_quota(cast, approval_contract, gen_body, settings):
    gen_id = _awaiting(cast, approval_contract, gen_body)
    assert services.approvals_expire() == 0
    later = timezone.now() + timedelta(seconds=settings.DOPPEL_APPROVAL_TTL_S + 1)
    assert services.approvals_expire(now=later) == 1
    gen = Generation.objects.get(id=gen_id)
    assert gen.status == "cancelled" and gen.failure_code == "approval_expired"
    assert gen.hold.status == "voided"
    assert cast.client("performer").post(f"{URL}/{gen_id}/approve").status_code == 409


def test_approval_after_a_strike_cancels(cast, approval_contract, gen_body):
    gen_id = _awaiting(cast, approval_contract, gen_body)
    cast.client("union").post(f"/api/v1/contracts/{approval_contract.id}/suspend", {"reason": "strike"},
                              format="json")
    resp = cast.client("performer").post(f"{URL}/{gen_id}/approve")
    assert resp.json()["status"] == "cancelled"
    assert resp.json()["failure"]["code"] == "policy_changed"
    assert Generation.objects.get(id=gen_id).hold.status == "voided"


def test_brand_cancels_a_queued_request(cast, contract, gen_body):
    gen_id = post(cast.client("brand"), gen_body()).json()["id"]
    assert cast.client("performer").post(f"{URL}/{gen_id}/cancel").status_code == 403
    resp = cast.client("brand").post(f"{URL}/{gen_id}/cancel")
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    contract.refresh_from_db()
    assert contract.renders_held == 0
    assert cast.client("brand").post(f"{URL}/{gen_id}/cancel").status_code == 409


# --- reads and permissions -------------------------------------------------------------------


@pytest.mark.parametrize("who,expected", [("brand", 200), ("performer", 200), ("union", 200),
                                          ("other_brand", 404), ("other_performer", 404),
                                          ("other_union", 404)])
def test_generation_visibility(cast, contract, gen_body, who, expected):
    gen_id = post(cast.client("brand"), gen_body()).json()["id"]
    resp = cast.client(who).get(f"{URL}/{gen_id}")
    assert resp.status_code == expected
    if expected == 200:
        body = resp.json()
        assert body["status"] == "queued" and body["asset"] is None and body["royalty"] is None
        assert 0 <= body["progress"] <= 1
    assert cast.client(who).get(f"{URL}/{gen_id}/asset").status_code == 404  # nothing delivered yet


def test_list_filters_and_query_count(cast, contract, gen_body, django_assert_max_num_queries):
    client = cast.client("brand")
    for _ in range(3):
        post(client, gen_body())
    post(client, gen_body(platform="x"))
    assert len(client.get(URL, {"status": "queued"}).json()["results"]) == 3
    assert len(client.get(URL, {"contract": contract.id}).json()["results"]) == 4
    assert client.get(URL, {"status": "nope"}).status_code == 400
    with django_assert_max_num_queries(4):
        assert len(client.get(URL).json()["results"]) == 4


def test_unauthenticated(db):
    assert client_for(None).post(URL, {}, format="json").status_code == 401
    assert client_for("dpl_abcdefgh.zzz").get(URL).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_concurrent_twins_with_one_key_make_one_generation(gen_body, cast):
    contract = make_contract(cast.brand, cast.performer)
    body = gen_body(contract=contract.id)
    results = []

    def worker():
        client = cast.client("brand")
        results.append(post(client, body, key="twin").status_code)
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(results)) <= [202, 409] and 202 in results
    assert Generation.objects.count() == 1
    assert Contract.objects.get(id=contract.id).renders_held == 1


def test_a_watermark_payload_collision_redraws_and_writes_once(cast, contract, gen_body, monkeypatch):
    import provenance.watermark as wm

    first = post(cast.client("brand"), gen_body()).json()["id"]
    taken = Generation.objects.get(id=first).watermark_payload
    draws = iter([taken, taken + 1])  # the OS RNG repeats a payload once, then gives a fresh one
    monkeypatch.setattr(wm.secrets, "randbits", lambda bits: next(draws))
    resp = post(cast.client("brand"), gen_body(), key="collide")
    assert resp.status_code == 202
    gen = Generation.objects.get(id=resp.json()["id"])
    assert gen.watermark_payload == taken + 1
    contract.refresh_from_db()
    assert contract.renders_held == 2  # the rolled-back first attempt left no hold behind
    assert Hold.objects.count() == 2 and IdempotencyRecord.objects.count() == 2
