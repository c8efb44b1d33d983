"""Every state transition checks its own deadline (issue 10 #3), not only the sweepers.

The matrix: each transition governed by a deadline × "just before" (1 µs before),
"at" and "just after" (1 s after) it. Deadlines are exclusive: at the deadline is late.

| deadline | transitions |
|---|---|
| approval_expires_at | approve, reject, brand cancel, the approvals sweeper |
| the hold's expires_at | claim, signing, deliver, the reconciler — and the whole pipeline |
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from gateway import pipeline, services, transitions
from gateway.exceptions import ApprovalExpired, HoldExpired
from gateway.inputs import GenerationInput
from gateway.models import Generation, GenerationStatus, WebhookDelivery, WebhookEndpoint
from ledger.models import Hold, Transaction
from tests.factories import make_contract

BEFORE, AT, AFTER = timedelta(microseconds=-1), timedelta(0), timedelta(seconds=1)
MOMENTS = {"just_before": BEFORE, "at": AT, "just_after": AFTER}


def request(cast, contract) -> Generation:
    data = GenerationInput(contract_id=contract.id, script="Crack open an ice-cold Fizzly and taste the summer.",
                           platform="tiktok", category="soft_drinks", language="en", territory="US",
                           profile="vertical_720x1280", captions=True)
    outcome = services.generation_request(brand=cast.brand, idempotency_key=str(uuid.uuid4()), fingerprint="f",
                                          data=data)
    return Generation.objects.select_related("hold").get(id=outcome.generation_id)


def events(gen: Generation) -> list[str]:
    return sorted(WebhookDelivery.objects.filter(generation=gen).values_list("event", flat=True))


@pytest.fixture(autouse=True)
def endpoint(cast):
    return WebhookEndpoint.objects.create(brand=cast.brand, url="http://127.0.0.1:9/hook", secret="whsec_t")


@pytest.fixture
def awaiting(cast):
    gen = request(cast, make_contract(cast.brand, cast.performer, requires_approval=True))
    assert gen.status == GenerationStatus.AWAITING_APPROVAL and gen.approval_expires_at
    return gen


@pytest.fixture
def contract(cast):
    return make_contract(cast.brand, cast.performer)


def assert_approval_expired(gen: Generation) -> None:
    gen.refresh_from_db()
    assert (gen.status, gen.failure_code) == (GenerationStatus.CANCELLED, "approval_expired")
    assert gen.hold.status == "voided" and gen.ledger_transaction is None
    assert gen.decided_by is None  # a late answer decides nothing
    assert events(gen) == ["generation.cancelled"]
    gen.contract.refresh_from_db()
    assert (gen.contract.renders_held, gen.contract.renders_used) == (0, 0)


# --- approval_expires_at ---------------------------------------------------------------------


@pytest.mark.parametrize("moment", MOMENTS)
def test_approve_checks_the_approval_deadline(cast, awaiting, moment):
    now = awaiting.approval_expires_at + MOMENTS[moment]
    if moment == "just_before":
        gen = services.generation_approve(generation_id=awaiting.id, performer=cast.performer, now=now)
        assert gen.status == GenerationStatus.QUEUED and gen.decided_by == cast.performer
        assert Hold.objects.get(id=awaiting.hold_id).status == "open"
        return
    with pytest.raises(ApprovalExpired) as err:
        services.generation_approve(generation_id=awaiting.id, performer=cast.performer, now=now)
    assert err.value.code == "approval_expired" and err.value.extra["status"] == "cancelled"
    assert_approval_expired(awaiting)  # the cancellation committed although the call failed


@pytest.mark.parametrize("moment", MOMENTS)
def test_reject_checks_the_approval_deadline(cast, awaiting, moment):
    now = awaiting.approval_expires_at + MOMENTS[moment]
    if moment == "just_before":
        gen = services.generation_reject(generation_id=awaiting.id, performer=cast.performer, reason="no", now=now)
        assert (gen.status, gen.failure_code) == (GenerationStatus.REJECTED, "rejected_by_performer")
        return
    with pytest.raises(ApprovalExpired):
        services.generation_reject(generation_id=awaiting.id, performer=cast.performer, reason="no", now=now)
    assert_approval_expired(awaiting)


@pytest.mark.parametrize("moment", MOMENTS)
def test_brand_cancel_checks_the_approval_deadline(cast, awaiting, moment):
    now = awaiting.approval_expires_at + MOMENTS[moment]
    gen = services.generation_cancel(generation_id=awaiting.id, brand=cast.brand, now=now)
    assert gen.status == GenerationStatus.CANCELLED and gen.hold.status == "voided"
    assert gen.failure_code == ("cancelled_by_brand" if moment == "just_before" else "approval_expired")


@pytest.mark.parametrize("moment", MOMENTS)
def test_the_sweeper_uses_the_same_deadline(cast, awaiting, moment):
    now = awaiting.approval_expires_at + MOMENTS[moment]
    assert services.approvals_expire(now=now) == (0 if moment == "just_before" else 1)
    if moment != "just_before":
        assert_approval_expired(awaiting)


def test_a_late_approval_over_the_api_is_409_approval_expired_and_nothing_renders(cast, awaiting):
    """The issue's input: approved after the window was approved, rendered and charged."""
    Generation.objects.filter(id=awaiting.id).update(approval_expires_at=timezone.now() - timedelta(seconds=1))
    resp = cast.client("performer").post(f"/api/v1/generations/{awaiting.id}/approve")
    assert resp.status_code == 409, resp.content
    error = resp.json()["error"]
    assert error["code"] == "approval_expired" and error["status"] == "cancelled" and error["message"]
    assert error["generation"] == awaiting.id and error["approval_expires_at"]
    assert_approval_expired(awaiting)
    # Nothing to render: a claim (a stray task) does nothing.
    assert transitions.generation_claim(generation_id=awaiting.id, worker="w", lease_s=60,
                                        now=timezone.now()) is None
    body = cast.client("brand").get(f"/api/v1/generations/{awaiting.id}").json()
    assert body["status"] == "cancelled" and body["royalty"] is None
    # Answering again is an ordinary 409 invalid_state: it is no longer awaiting approval.
    again = cast.client("performer").post(f"/api/v1/generations/{awaiting.id}/approve")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_state"


# --- the hold's expires_at -----------------------------------------------------------------


def claim(gen: Generation, now) -> Generation | None:
    return transitions.generation_claim(generation_id=gen.id, worker="test:1", lease_s=600, now=now)


def deliver(gen_id: str, token: int, now):
    return transitions.generation_deliver(
        generation_id=gen_id, token=token, asset_path=f"{gen_id}-a{token}.mp4", sha256="ab" * 32, size=1234,
        duration_s=3.0, frames=75, timings={}, now=now)


def assert_hold_expired_failure(gen: Generation) -> None:
    gen.refresh_from_db()
    assert (gen.status, gen.failure_code) == (GenerationStatus.FAILED, "hold_expired")
    assert gen.hold.status == "voided" and gen.ledger_transaction is None
    assert events(gen) == ["generation.failed"]


@pytest.mark.parametrize("moment", MOMENTS)
def test_claim_checks_the_hold_deadline(cast, contract, moment):
    gen = request(cast, contract)
    claimed = claim(gen, gen.hold.expires_at + MOMENTS[moment])
    if moment == "just_before":
        assert claimed.status == GenerationStatus.RENDERING and claimed.attempts == 1
    else:
        assert claimed is None
        assert_hold_expired_failure(gen)


@pytest.mark.parametrize("moment", MOMENTS)
def test_signing_checks_the_hold_deadline(cast, contract, moment):
    gen = request(cast, contract)
    token = claim(gen, timezone.now()).attempts
    now = gen.hold.expires_at + MOMENTS[moment]
    if moment == "just_before":
        transitions.generation_signing(generation_id=gen.id, token=token, now=now)
        assert Generation.objects.get(id=gen.id).status == GenerationStatus.SIGNING
        return
    with pytest.raises(HoldExpired):
        transitions.generation_signing(generation_id=gen.id, token=token, now=now)
    gen.refresh_from_db()
    assert gen.status == GenerationStatus.RENDERING and gen.hold.status == "open"  # refused, nothing written


@pytest.mark.parametrize("moment", MOMENTS)
def test_deliver_checks_the_hold_deadline_and_never_charges_late(cast, contract, moment):
    gen = request(cast, contract)
    token = claim(gen, timezone.now()).attempts
    now = gen.hold.expires_at + MOMENTS[moment]
    if moment == "just_before":
        assert deliver(gen.id, token, now).allowed
        gen.refresh_from_db()
        assert gen.status == GenerationStatus.DELIVERED and gen.hold.status == "posted"
        return
    with pytest.raises(HoldExpired):
        deliver(gen.id, token, now)
    gen.refresh_from_db()
    assert gen.status == GenerationStatus.RENDERING and gen.ledger_transaction is None
    assert gen.hold.status == "open" and not Transaction.objects.filter(hold=gen.hold).exists()


@pytest.mark.parametrize("moment", MOMENTS)
def test_the_reconciler_fails_an_open_hold_past_its_deadline(cast, contract, moment):
    """It no longer waits for the ledger's sweeper to void the hold first."""
    gen = request(cast, contract)
    claim(gen, timezone.now())
    result = services.generations_reconcile(now=gen.hold.expires_at + MOMENTS[moment])
    assert result["failed"] == (0 if moment == "just_before" else 1)
    if moment != "just_before":
        assert_hold_expired_failure(gen)


class FakeResult:
    mp4, duration_s, frames, timings = b"\x00" * 64, 2.0, 50, {"render": 0.1}


def test_a_hold_that_expires_during_the_render_fails_the_pipeline_and_charges_nothing(cast, contract,
                                                                                      monkeypatch):
    gen = request(cast, contract)

    def slow_render(generation, token):
        # The render outlives the hold.
        Hold.objects.filter(id=generation.hold_id).update(expires_at=timezone.now() - timedelta(seconds=1))
        return FakeResult()

    monkeypatch.setattr(pipeline, "_render", slow_render)
    assert pipeline.generation_process(generation_id=gen.id) == GenerationStatus.FAILED
    assert_hold_expired_failure(gen)
    assert not [p for p in pipeline.assets_dir().iterdir() if p.name.startswith(gen.id)]


def test_a_hold_that_expires_while_signing_fails_at_delivery_and_leaves_no_file(cast, contract, monkeypatch):
    gen = request(cast, contract)
    monkeypatch.setattr(pipeline, "_render", lambda generation, token: FakeResult())

    def sign_slowly(**kwargs):
        Hold.objects.filter(id=gen.hold_id).update(expires_at=timezone.now() - timedelta(seconds=1))
        return b"signed mp4"

    monkeypatch.setattr(pipeline.c2pa_io, "sign_video", sign_slowly)
    assert pipeline.generation_process(generation_id=gen.id) == GenerationStatus.FAILED
    assert_hold_expired_failure(gen)
    assert not [p for p in pipeline.assets_dir().iterdir() if p.name.startswith(gen.id)]


def test_deadline_passed_is_exclusive():
    now = timezone.now()
    assert not transitions.deadline_passed(None, now)
    assert not transitions.deadline_passed(now + timedelta(microseconds=1), now)
    assert transitions.deadline_passed(now, now) and transitions.deadline_passed(now - timedelta(days=1), now)


def test_the_approval_error_is_documented_in_the_body_shape(cast, awaiting):
    Generation.objects.filter(id=awaiting.id).update(approval_expires_at=timezone.now())
    resp = cast.client("performer").post(f"/api/v1/generations/{awaiting.id}/reject",
                                         json.dumps({"reason": "too late"}), content_type="application/json")
    assert resp.status_code == 409 and resp["Content-Type"].startswith("application/json")
    assert set(resp.json()) == {"error"} and resp.json()["error"]["code"] == "approval_expired"
