"""The generation state machine (gateway.transitions), one transition at a time, without rendering:
each one's effect on the status, the ledger hold and the webhooks it emits."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from gateway import services, transitions
from gateway.inputs import GenerationInput
from gateway.models import (
    Generation,
    GenerationStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from gateway.transitions import Fenced
from ledger import services as ledger
from ledger.models import Hold
from rights import policy
from rights import services as rights_services
from tests.factories import make_contract


def ask(contract, **overrides) -> GenerationInput:
    fields = {"contract_id": contract.id, "script": "Crack open an ice-cold Fizzly and taste the summer.",
              "platform": "tiktok", "category": "soft_drinks", "language": "en", "territory": "US",
              "profile": "vertical_720x1280", "captions": True, **overrides}
    return GenerationInput(**fields)


def request(cast, contract, **overrides) -> Generation:
    outcome = services.generation_request(brand=cast.brand, idempotency_key=str(uuid.uuid4()),
                                          fingerprint="f", data=ask(contract, **overrides))
    return Generation.objects.get(id=outcome.generation_id)


def events(gen: Generation) -> list[str]:
    return sorted(WebhookDelivery.objects.filter(generation=gen).values_list("event", flat=True))


def claim(gen: Generation) -> Generation:
    claimed = transitions.generation_claim(generation_id=gen.id, worker="test:1", lease_s=60, now=timezone.now())
    assert claimed is not None
    return claimed


@pytest.fixture
def contract(cast):
    return make_contract(cast.brand, cast.performer)


@pytest.fixture(autouse=True)
def endpoint(cast):
    """A brand endpoint subscribed to every event, so each emitted webhook leaves a delivery row."""
    return WebhookEndpoint.objects.create(brand=cast.brand, url="http://127.0.0.1:9/hook", secret="whsec_t")


def test_every_webhook_event_belongs_to_one_status():
    assert sorted(transitions.WEBHOOK_EVENTS.values()) == sorted(WebhookEvent.values)


def test_one_value_carries_the_request(cast, contract):
    data = ask(contract)
    gen = request(cast, contract)
    assert GenerationInput.from_generation(gen) == data
    assert data.policy_request(brand_id=cast.brand.id) == policy.GenerationRequest(
        brand_id=cast.brand.id, script=data.script, platform="tiktok", category="soft_drinks", language="en",
        territory="US")
    assert gen.hold.meta == {"generation": gen.id, **data.usage(), "script_chars": len(data.script),
                             "script_excerpt": " ".join(data.script.split())[:80]}
    assert "\n" not in gen.hold.meta["script_excerpt"] and len(gen.hold.meta["script_excerpt"]) <= 80


# --- before the render ----------------------------------------------------------------------


def test_deny_records_the_reasons_and_emits_denied(cast, contract):
    gen = request(cast, contract, platform="instagram")
    assert gen.status == GenerationStatus.DENIED and gen.failure_code == "policy_denied"
    assert "instagram" in gen.failure_message and gen.hold is None
    assert gen.decision["allowed"] is False
    assert events(gen) == ["generation.denied"]


def test_queue_enqueues_the_render_and_emits_nothing(cast, contract):
    gen = request(cast, contract)
    assert gen.status == GenerationStatus.QUEUED and gen.hold.status == "open"
    assert OrmQ.objects.count() == 1 and events(gen) == []


def test_await_approval_sets_the_window_and_enqueues_nothing(cast, settings):
    contract = make_contract(cast.brand, cast.performer, requires_approval=True)
    gen = request(cast, contract)
    assert gen.status == GenerationStatus.AWAITING_APPROVAL
    assert gen.approval_expires_at == gen.created_at + timedelta(seconds=settings.DOPPEL_APPROVAL_TTL_S)
    assert OrmQ.objects.count() == 0 and events(gen) == []


def test_lost_quota_race_is_a_denial_on_quota(cast, monkeypatch):
    contract = make_contract(cast.brand, cast.performer, max_renders=1)

    def taken(**kwargs):
        raise ledger.QuotaExceeded("taken")

    monkeypatch.setattr(ledger, "hold_create", taken)
    gen = request(cast, contract)
    assert gen.status == GenerationStatus.DENIED
    assert [c["rule"] for c in gen.decision["checks"] if not c["passed"]] == ["quota_exceeded"]
    assert gen.failure_message == policy.QUOTA_TAKEN_MESSAGE
    assert events(gen) == ["generation.denied"]


# --- release: never delivered, nothing charged ---------------------------------------------------


@pytest.mark.parametrize("status", [GenerationStatus.FAILED, GenerationStatus.REJECTED,
                                    GenerationStatus.CANCELLED])
def test_release_voids_the_hold_and_emits_its_status(cast, contract, status):
    gen = request(cast, contract)
    gen.lease_until = timezone.now() + timedelta(minutes=1)
    now = timezone.now()
    transitions.generation_release(generation=gen, status=status, code="x" * 70, message="m" * 3000, now=now)
    gen.refresh_from_db()
    assert gen.status == status and gen.updated_at == now and gen.lease_until is None
    assert gen.failure_code == "x" * 64 and len(gen.failure_message) == 2000
    assert gen.hold.status == "voided" and gen.ledger_transaction is None
    contract.refresh_from_db()
    assert (contract.renders_held, contract.renders_used) == (0, 0)
    assert events(gen) == [f"generation.{status}"]


def test_release_of_a_generation_without_a_hold(cast, contract):
    gen = Generation.objects.create(contract=contract, brand=cast.brand, performer=cast.performer,
                                    **ask(contract).generation_fields(), status=GenerationStatus.QUEUED)
    holds = Hold.objects.count()
    transitions.generation_release(generation=gen, status=GenerationStatus.CANCELLED, code="cancelled_by_brand",
                                   message="The brand cancelled the request.", now=timezone.now())
    gen.refresh_from_db()
    assert gen.status == GenerationStatus.CANCELLED and gen.hold is None
    assert Hold.objects.count() == holds
    assert events(gen) == ["generation.cancelled"]


@pytest.mark.parametrize("status", [GenerationStatus.DELIVERED, GenerationStatus.QUEUED, GenerationStatus.DENIED])
def test_release_only_ends_in_failed_rejected_or_cancelled(cast, contract, status):
    gen = request(cast, contract)
    with pytest.raises(ValueError):
        transitions.generation_release(generation=gen, status=status, code="c", message="m", now=timezone.now())
    gen.refresh_from_db()
    assert gen.status == GenerationStatus.QUEUED and gen.hold.status == "open"


def test_fail(cast, contract):
    gen = request(cast, contract)
    transitions.generation_fail(generation=gen, code="render_failed", message="boom", now=timezone.now())
    gen.refresh_from_db()
    assert (gen.status, gen.failure_code, gen.failure_message) == ("failed", "render_failed", "boom")
    assert gen.hold.status == "voided" and events(gen) == ["generation.failed"]


def test_cancel_for_policy_records_the_decision(cast, contract):
    gen = request(cast, contract)
    decision = policy.Decision(False, (policy.Check("contract_not_active", False, "The contract is suspended."),
                                       policy.Check("quota_exceeded", True, "Reserved.")))
    transitions.generation_cancel_for_policy(generation=gen, decision=decision, now=timezone.now())
    gen.refresh_from_db()
    assert (gen.status, gen.failure_code) == ("cancelled", "policy_changed")
    assert gen.failure_message == "The contract is suspended." and gen.decision == decision.as_dict()
    assert gen.hold.status == "voided" and events(gen) == ["generation.cancelled"]


# --- the pipeline's steps --------------------------------------------------------------------


def test_claim_leases_and_counts_the_attempt(cast, contract):
    gen = request(cast, contract)
    now = timezone.now()
    claimed = transitions.generation_claim(generation_id=gen.id, worker="host:42", lease_s=60, now=now)
    assert claimed.status == GenerationStatus.RENDERING and claimed.attempts == 1
    assert claimed.lease_until == now + timedelta(seconds=60) and claimed.worker == "host:42"
    assert claimed.started_at == claimed.updated_at == now and claimed.progress == 0
    # A live lease is respected; an expired one is taken over with the next token.
    assert transitions.generation_claim(generation_id=gen.id, worker="other:1", lease_s=60, now=now) is None
    later = now + timedelta(seconds=61)
    again = transitions.generation_claim(generation_id=gen.id, worker="other:1", lease_s=60, now=later)
    assert again.attempts == 2 and again.started_at == now
    assert events(gen) == []


def test_claim_skips_what_is_not_to_render(cast, contract):
    assert transitions.generation_claim(generation_id="gen_missing", worker="w", lease_s=60,
                                        now=timezone.now()) is None
    denied = request(cast, contract, platform="instagram")
    assert transitions.generation_claim(generation_id=denied.id, worker="w", lease_s=60, now=timezone.now()) is None
    awaiting = request(cast, make_contract(cast.brand, cast.performer, requires_approval=True))
    assert transitions.generation_claim(generation_id=awaiting.id, worker="w", lease_s=60,
                                        now=timezone.now()) is None
    assert Generation.objects.get(id=awaiting.id).attempts == 0


def test_claim_after_a_revocation_cancels_for_policy(cast, contract):
    gen = request(cast, contract)
    rights_services.contract_transition(contract_id=contract.id, action="terminate", actor=cast.performer,
                                        reason="I withdraw my consent")
    assert transitions.generation_claim(generation_id=gen.id, worker="w", lease_s=60, now=timezone.now()) is None
    gen.refresh_from_db()
    assert (gen.status, gen.failure_code) == ("cancelled", "policy_changed") and gen.hold.status == "voided"
    assert events(gen) == ["generation.cancelled"]


def test_progress_and_signing_are_fenced(cast, contract):
    gen = claim(request(cast, contract))
    now = timezone.now()
    transitions.generation_progress(generation_id=gen.id, token=gen.attempts, progress=0.5, now=now)
    with pytest.raises(Fenced):
        transitions.generation_progress(generation_id=gen.id, token=gen.attempts + 1, progress=0.6, now=now)
    with pytest.raises(Fenced):
        transitions.generation_signing(generation_id=gen.id, token=gen.attempts - 1, now=now)
    transitions.generation_signing(generation_id=gen.id, token=gen.attempts, now=now)
    gen.refresh_from_db()
    assert gen.status == GenerationStatus.SIGNING and gen.progress == transitions.SIGNING_PROGRESS


def deliver(gen: Generation, token: int) -> policy.Decision:
    return transitions.generation_deliver(
        generation_id=gen.id, token=token, asset_path=f"{gen.id}-a{token}.mp4", sha256="ab" * 32, size=1234,
        duration_s=3.14159, frames=79, timings={"render": 1.234567}, now=timezone.now())


def test_deliver_posts_the_hold_and_emits_delivered(cast, contract):
    gen = claim(request(cast, contract))
    assert deliver(gen, gen.attempts).allowed
    gen.refresh_from_db()
    assert gen.status == GenerationStatus.DELIVERED and gen.progress == 1.0 and gen.lease_until is None
    assert gen.hold.status == "posted" and gen.ledger_transaction_id
    assert (gen.asset_sha256, gen.asset_bytes, gen.duration_s, gen.frames) == ("ab" * 32, 1234, 3.142, 79)
    assert gen.render_timings == {"render": 1.2346} and gen.delivered_at == gen.updated_at
    contract.refresh_from_db()
    assert (contract.renders_held, contract.renders_used) == (0, 1)
    assert events(gen) == ["generation.delivered"]


def test_a_fenced_deliver_is_refused_and_writes_nothing(cast, contract):
    stale = claim(request(cast, contract))
    Generation.objects.filter(id=stale.id).update(lease_until=timezone.now() - timedelta(seconds=1))
    fresh = claim(stale)
    with pytest.raises(Fenced):
        deliver(stale, stale.attempts)
    gen = Generation.objects.get(id=stale.id)
    assert gen.status == GenerationStatus.RENDERING and gen.attempts == fresh.attempts
    assert gen.hold.status == "open" and gen.ledger_transaction is None and not gen.asset_sha256
    assert events(gen) == []
    with pytest.raises(Fenced):  # a finished generation is fenced too
        transitions.generation_lock_fenced(generation_id=request(cast, contract, platform="instagram").id, token=0)


def test_deliver_after_a_revocation_cancels_instead_of_charging(cast, contract):
    gen = claim(request(cast, contract))
    rights_services.contract_transition(contract_id=contract.id, action="terminate", actor=cast.performer,
                                        reason="I withdraw my consent")
    assert not deliver(gen, gen.attempts).allowed
    gen.refresh_from_db()
    assert (gen.status, gen.failure_code) == ("cancelled", "policy_changed")
    assert gen.hold.status == "voided" and gen.ledger_transaction is None
    assert events(gen) == ["generation.cancelled"]


# --- the sweeper goes through the same transitions -------------------------------------------------


def test_the_reconciler_fails_an_expired_hold_through_generation_fail(cast, contract, monkeypatch):
    gen = request(cast, contract)
    assert ledger.holds_sweep(now=gen.hold.expires_at + timedelta(seconds=1)) == 1
    calls = []
    real = services.generation_fail

    def spy(**kwargs):
        calls.append(kwargs)
        real(**kwargs)

    monkeypatch.setattr(services, "generation_fail", spy)
    assert services.generations_reconcile() == {"failed": 1, "requeued": 0}
    assert [(c["generation"].id, c["code"]) for c in calls] == [(gen.id, "hold_expired")]
    gen.refresh_from_db()
    assert gen.status == GenerationStatus.FAILED and gen.hold.status == "voided"
    assert gen.hold.void_reason == "expired"  # the sweeper's void stands; the release voids nothing twice
    assert events(gen) == ["generation.failed"]
    assert services.generations_reconcile()["failed"] == 0


def test_the_reconciler_requeues_a_lost_task(cast, contract):
    gen = request(cast, contract)
    later = timezone.now() + timedelta(minutes=5)
    assert services.generations_reconcile(now=later) == {"failed": 0, "requeued": 1}
    assert OrmQ.objects.count() == 2
    gen.refresh_from_db()
    assert gen.status == GenerationStatus.QUEUED and gen.updated_at == later
