"""The render pipeline, run in-process on real renders (torch on CPU, real c2pa, real ledger).

Scripts are short to keep the suite fast; the end-to-end tests (tests/e2e)
run the same pipeline through a real qcluster process.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import timedelta

import pytest
from django.utils import timezone

from gateway import pipeline
from gateway.models import Generation
from ledger.models import Transaction
from rights import services as rights_services
from rights.models import PartyKind
from tests.factories import make_contract

SHORT = "Hi! Fizzly tastes like summer."


@pytest.fixture
def star(cast, astronaut_jpeg):
    """A performer onboarded through the real service (real landmarks), in the union."""
    performer, _ = rights_services.party_create(kind=PartyKind.PERFORMER, name="Ava Stone", union=cast.union,
                                                portrait=astronaut_jpeg, voice="en")
    return performer


@pytest.fixture
def star_contract(cast, star):
    return make_contract(cast.brand, star)


def request_generation(cast, contract, script=SHORT, key=None, **overrides):
    body = {"contract": contract.id, "script": script, "platform": "tiktok", "category": "soft_drinks",
            "language": "en", "territory": "US", **overrides}
    resp = cast.client("brand").post("/api/v1/generations", json.dumps(body), content_type="application/json",
                                     HTTP_IDEMPOTENCY_KEY=key or f"k-{timezone.now().timestamp()}")
    assert resp.status_code == 202, resp.content
    return resp.json()["id"]


def test_a_generation_is_rendered_signed_watermarked_and_paid(cast, star, star_contract, settings):
    from provenance.c2pa_io import read_manifest
    from provenance.watermark import detect_video

    gen_id = request_generation(cast, star_contract)
    assert pipeline.generation_process(generation_id=gen_id) == "delivered"
    gen = Generation.objects.get(id=gen_id)
    assert gen.status == "delivered" and gen.progress == 1.0 and gen.attempts == 1

    # The asset is stored with its hash and served to the brand.
    body = cast.client("brand").get(f"/api/v1/generations/{gen_id}").json()
    asset = body["asset"]
    data = b"".join(cast.client("brand").get(f"/api/v1/generations/{gen_id}/asset").streaming_content)
    assert hashlib.sha256(data).hexdigest() == asset["sha256"] == gen.asset_sha256
    assert asset["bytes"] == len(data) and asset["mime"] == "video/mp4" and asset["duration_s"] > 1

    # Content Credentials: ours, trusted, naming the generation and its ledger transaction.
    report = read_manifest(data=data, mime="video/mp4")
    assert report.state == "Trusted", report.failures
    assert report.license["generation"] == gen_id
    assert report.license["contract"] == star_contract.id and report.license["performer"] == star.id
    assert report.license["ledger_transaction"] == gen.ledger_transaction_id

    # The invisible watermark carries this generation's payload.
    mark = detect_video(data=data)
    assert mark.found and mark.payload == gen.watermark_payload

    # The royalty: one transaction with every leg; the performer is paid in full.
    royalty = body["royalty"]
    seconds = math.ceil(gen.duration_s - 1e-9)
    assert royalty["performer_amount"] == 500 + 10 * seconds
    assert royalty["union_amount"] == (royalty["performer_amount"] * 1000 + 5000) // 10000  # half-up
    assert royalty["total"] == royalty["performer_amount"] + royalty["union_amount"] + royalty["fee_amount"]
    star_contract.refresh_from_db()
    assert (star_contract.renders_used, star_contract.renders_held) == (1, 0)

    # At-least-once delivery: running the task again changes nothing.
    assert pipeline.generation_process(generation_id=gen_id) == "delivered"
    assert Transaction.objects.filter(id=gen.ledger_transaction_id).count() == 1
    gen.refresh_from_db()
    assert gen.attempts == 1

    # The performer's union may fetch the clip; outsiders may not.
    assert cast.client("union").get(f"/api/v1/generations/{gen_id}/asset").status_code == 200
    assert cast.client("other_brand").get(f"/api/v1/generations/{gen_id}/asset").status_code == 404


def test_a_suspension_before_the_render_cancels_and_charges_nothing(cast, star, star_contract):
    gen_id = request_generation(cast, star_contract)
    cast.client("union").post(f"/api/v1/contracts/{star_contract.id}/suspend", {"reason": "strike"}, format="json")
    assert pipeline.generation_process(generation_id=gen_id) == "cancelled"
    gen = Generation.objects.get(id=gen_id)
    assert gen.failure_code == "policy_changed" and "suspended" in gen.failure_message
    assert gen.hold.status == "voided" and gen.ledger_transaction is None and not gen.asset_sha256
    star_contract.refresh_from_db()
    assert (star_contract.renders_used, star_contract.renders_held) == (0, 0)


def test_a_termination_during_the_render_cancels_before_delivery(cast, star, star_contract):
    gen_id = request_generation(cast, star_contract)
    gen, token = pipeline._claim(gen_id)
    # The render is under way (claimed) when the performer terminates the contract.
    rights_services.contract_transition(contract_id=star_contract.id, action="terminate", actor=star,
                                        reason="I withdraw my consent")
    assert pipeline._run(gen, token) == "cancelled"
    gen.refresh_from_db()
    assert gen.status == "cancelled" and gen.hold.status == "voided" and gen.ledger_transaction is None
    assert not [p for p in pipeline.assets_dir().iterdir() if p.name.startswith(gen_id)]


def test_a_render_failure_voids_the_hold(cast, star, star_contract):
    gen_id = request_generation(cast, star_contract)
    type(star).objects.filter(id=star.id).update(landmarks={"corrupt": True})
    assert pipeline.generation_process(generation_id=gen_id) == "failed"
    gen = Generation.objects.get(id=gen_id)
    assert gen.failure_code and gen.failure_message
    assert gen.hold.status == "voided" and gen.ledger_transaction is None
    star_contract.refresh_from_db()
    assert (star_contract.renders_used, star_contract.renders_held) == (0, 0)


def test_a_stale_worker_cannot_deliver_after_its_lease_was_taken_over(cast, star, star_contract):
    gen_id = request_generation(cast, star_contract)
    stale, stale_token = pipeline._claim(gen_id)
    # The first worker looks dead (lease expired); the broker re-delivers the task.
    Generation.objects.filter(id=gen_id).update(lease_until=timezone.now() - timedelta(seconds=1))
    fresh, fresh_token = pipeline._claim(gen_id)
    assert fresh_token == stale_token + 1
    with pytest.raises(pipeline.Fenced):
        pipeline._run(stale, stale_token)
    assert pipeline._run(fresh, fresh_token) == "delivered"
    gen = Generation.objects.get(id=gen_id)
    assert gen.attempts == 2 and gen.status == "delivered"
    files = [p.name for p in pipeline.assets_dir().iterdir() if p.name.startswith(gen_id)]
    assert files == [gen.asset_path]
    assert Transaction.objects.filter(id=gen.ledger_transaction_id).count() == 1


def test_a_live_lease_is_respected(cast, star, star_contract):
    gen_id = request_generation(cast, star_contract)
    pipeline._claim(gen_id)
    assert pipeline._claim(gen_id) is None  # another worker holds a live lease


def test_a_generation_whose_hold_expired_is_failed_by_the_sweep(cast, star, star_contract):
    from gateway import services
    from ledger import services as ledger

    gen_id = request_generation(cast, star_contract)
    gen = Generation.objects.get(id=gen_id)
    assert ledger.holds_sweep(now=gen.hold.expires_at + timedelta(seconds=1)) == 1
    assert services.generations_reconcile()["failed"] == 1
    gen.refresh_from_db()
    assert gen.status == "failed" and gen.failure_code == "hold_expired"
    assert pipeline.generation_process(generation_id=gen_id) == "failed"  # a late task does nothing
