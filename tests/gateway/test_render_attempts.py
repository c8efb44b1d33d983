"""A render gets a bounded number of attempts (issue 10 #12), and a brand may cancel in
any open status.

The issue's input: with DOPPEL_Q_TIMEOUT=10 and a 990-character script the task was
killed and re-queued every ~60 s without limit, stayed `rendering` with no webhook
until the hold expired, and `cancel` answered 409. Here the attempts are simulated
(the real transitions, the real pipeline with the render replaced); tests/e2e runs
the same with a real qcluster and a render that cannot finish in time.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.exceptions import TimeoutException
from django_q.models import OrmQ

from gateway import pipeline, services, transitions
from gateway.inputs import GenerationInput
from gateway.models import Generation, GenerationStatus, WebhookDelivery, WebhookEndpoint
from gateway.transitions import Fenced
from ledger.models import Transaction
from tests.factories import make_contract


def request(cast, contract) -> Generation:
    data = GenerationInput(contract_id=contract.id, script="Crack open an ice-cold Fizzly and taste the summer.",
                           platform="tiktok", category="soft_drinks", language="en", territory="US",
                           profile="vertical_720x1280", captions=True)
    outcome = services.generation_request(brand=cast.brand, idempotency_key=str(uuid.uuid4()), fingerprint="f",
                                          data=data)
    return Generation.objects.get(id=outcome.generation_id)


def events(gen: Generation) -> list[str]:
    return sorted(WebhookDelivery.objects.filter(generation=gen).values_list("event", flat=True))


def claim(gen: Generation, now, lease_s: int = 10) -> Generation | None:
    return transitions.generation_claim(generation_id=gen.id, worker="test:1", lease_s=lease_s, now=now)


@pytest.fixture(autouse=True)
def endpoint(cast):
    return WebhookEndpoint.objects.create(brand=cast.brand, url="http://127.0.0.1:9/hook", secret="whsec_t")


@pytest.fixture
def contract(cast):
    return make_contract(cast.brand, cast.performer)


@pytest.fixture(autouse=True)
def three_attempts(settings):
    settings.DOPPEL_RENDER_MAX_ATTEMPTS = 3


def assert_failed_without_charge(gen: Generation, code: str, attempts: int) -> None:
    gen.refresh_from_db()
    assert (gen.status, gen.failure_code) == (GenerationStatus.FAILED, code)
    assert gen.attempts == attempts and f"{attempts} attempt(s) used of 3" in gen.failure_message
    assert gen.hold.status == "voided" and gen.ledger_transaction is None and gen.lease_until is None
    assert events(gen) == ["generation.failed"]
    gen.contract.refresh_from_db()
    assert (gen.contract.renders_held, gen.contract.renders_used) == (0, 0)


# --- render_timeout: the queue's time limit interrupts the attempt --------------------------------


def test_timed_out_attempts_are_bounded_then_render_timeout(cast, contract):
    gen = request(cast, contract)
    tasks = OrmQ.objects.count()
    now = timezone.now()
    for attempt in (1, 2, 3):
        claimed = claim(gen, now)
        assert claimed.attempts == attempt and claimed.status == GenerationStatus.RENDERING
        status = transitions.generation_attempt_timed_out(generation_id=gen.id, token=attempt, now=now)
        if attempt < 3:
            assert status == GenerationStatus.QUEUED  # queued again, with its task
            assert OrmQ.objects.count() == tasks + attempt
        now += timedelta(seconds=11)
    assert status == GenerationStatus.FAILED
    assert_failed_without_charge(gen, "render_timeout", 3)
    assert [f["code"] for f in gen.attempt_failures] == ["render_timeout"] * 3
    assert [f["attempt"] for f in gen.attempt_failures] == [1, 2, 3]
    assert claim(gen, now) is None  # a stray task does not render again


def test_the_pipeline_records_a_timeout_and_lets_the_queue_replace_the_worker(cast, contract, monkeypatch):
    """django-q2 raises TimeoutException (a SystemExit) in the task at DOPPEL_Q_TIMEOUT."""
    gen = request(cast, contract)

    def overruns(generation, token):
        raise TimeoutException("Task exceeded maximum timeout value (10 seconds)")

    monkeypatch.setattr(pipeline, "_render", overruns)
    for attempt in (1, 2, 3):
        with pytest.raises(TimeoutException):
            pipeline.generation_process(generation_id=gen.id)
        gen.refresh_from_db()
        assert gen.attempts == attempt
        assert gen.status == (GenerationStatus.QUEUED if attempt < 3 else GenerationStatus.FAILED)
    assert_failed_without_charge(gen, "render_timeout", 3)
    assert pipeline.generation_process(generation_id=gen.id) == GenerationStatus.FAILED  # no fourth render


def test_a_timeout_reported_by_a_fenced_out_worker_changes_nothing(cast, contract):
    gen = request(cast, contract)
    now = timezone.now()
    claim(gen, now)
    fresh = claim(gen, now + timedelta(seconds=11))  # the first lease ran out; another worker took over
    with pytest.raises(Fenced):
        transitions.generation_attempt_timed_out(generation_id=gen.id, token=1, now=now + timedelta(seconds=12))
    gen.refresh_from_db()
    assert gen.status == GenerationStatus.RENDERING and gen.attempts == fresh.attempts == 2


# --- worker_lost: the worker died (OOM, native crash, SIGKILL) ---------------------------------


def test_abandoned_attempts_are_bounded_then_worker_lost(cast, contract):
    """The broker re-delivers the task of a dead worker; each claim sees the lapsed lease."""
    gen = request(cast, contract)
    now = timezone.now()
    for attempt in (1, 2, 3):
        assert claim(gen, now).attempts == attempt
        now += timedelta(seconds=11)  # the worker dies; its lease lapses
    assert claim(gen, now) is None  # the fourth delivery fails it instead of rendering
    assert_failed_without_charge(gen, "worker_lost", 3)
    assert [f["code"] for f in gen.attempt_failures] == ["worker_lost"] * 3


def test_the_sweeper_no_longer_requeues_a_dying_render_forever(cast, contract):
    """The loop of the issue: reconcile → claim → the worker dies → reconcile … every minute."""
    gen = request(cast, contract)
    now = timezone.now()
    rounds = []
    for _ in range(10):
        claimed = claim(gen, now)
        rounds.append(claimed.attempts if claimed else None)
        now += timedelta(minutes=1)
        services.generations_reconcile(now=now)
        gen.refresh_from_db()
        if gen.status == GenerationStatus.FAILED:
            break
    assert rounds == [1, 2, 3]
    assert_failed_without_charge(gen, "worker_lost", 3)


def test_the_reconciler_requeues_an_abandoned_attempt_once_and_spares_a_fresh_one(cast, contract):
    gen = request(cast, contract)
    now = timezone.now()
    claim(gen, now, lease_s=10)
    # Within the grace after the lease: the queue may still be killing the worker.
    assert services.generations_reconcile(now=now + timedelta(seconds=15)) == {"failed": 0, "requeued": 0}
    assert services.generations_reconcile(now=now + timedelta(seconds=25)) == {"failed": 0, "requeued": 1}
    gen.refresh_from_db()
    assert gen.status == GenerationStatus.QUEUED and gen.lease_until is None and gen.hold.status == "open"
    assert [f["code"] for f in gen.attempt_failures] == ["worker_lost"]
    # The claim that follows counts a new attempt, without recording the old one twice.
    assert claim(gen, now + timedelta(seconds=26)).attempts == 2
    gen.refresh_from_db()
    assert len(gen.attempt_failures) == 1


def test_the_last_attempt_code_names_the_failure(cast, contract):
    gen = request(cast, contract)
    now = timezone.now()
    claim(gen, now)
    transitions.generation_attempt_timed_out(generation_id=gen.id, token=1, now=now)  # 1: timeout
    claim(gen, now)
    now += timedelta(seconds=11)  # 2: lost
    claim(gen, now)
    transitions.generation_attempt_timed_out(generation_id=gen.id, token=3, now=now)  # 3: timeout
    gen.refresh_from_db()
    assert gen.failure_code == "render_timeout"
    assert "1: render_timeout, 2: worker_lost, 3: render_timeout" in gen.failure_message


def test_one_attempt_when_configured(cast, contract, settings):
    settings.DOPPEL_RENDER_MAX_ATTEMPTS = 1
    gen = request(cast, contract)
    claim(gen, timezone.now())
    transitions.generation_attempt_timed_out(generation_id=gen.id, token=1, now=timezone.now())
    gen.refresh_from_db()
    assert (gen.status, gen.failure_code) == (GenerationStatus.FAILED, "render_timeout")


# --- cancel works in any open status ---------------------------------------------------------------


def _to(status: str, cast, contract) -> Generation:
    if status == "awaiting_approval":
        return request(cast, make_contract(cast.brand, cast.performer, requires_approval=True))
    gen = request(cast, contract)
    if status in ("rendering", "signing"):
        claim(gen, timezone.now(), lease_s=600)
    if status == "signing":
        transitions.generation_signing(generation_id=gen.id, token=1, now=timezone.now())
    gen.refresh_from_db()
    assert gen.status == status
    return gen


@pytest.mark.parametrize("status", ["queued", "awaiting_approval", "rendering", "signing"])
def test_cancel_works_in_every_open_status(cast, contract, status):
    gen = _to(status, cast, contract)
    resp = cast.client("brand").post(f"/api/v1/generations/{gen.id}/cancel")
    assert resp.status_code == 200, resp.content
    assert resp.json()["status"] == "cancelled"
    gen.refresh_from_db()
    assert (gen.status, gen.failure_code) == (GenerationStatus.CANCELLED, "cancelled_by_brand")
    assert gen.hold.status == "voided" and gen.lease_until is None
    assert events(gen) == ["generation.cancelled"]
    if status in ("rendering", "signing"):
        # The running worker is fenced out at its next step: nothing it does is kept or charged.
        with pytest.raises(Fenced):
            transitions.generation_progress(generation_id=gen.id, token=1, progress=0.5, now=timezone.now())
        with pytest.raises(Fenced):
            transitions.generation_deliver(generation_id=gen.id, token=1, asset_path="x.mp4", sha256="ab" * 32,
                                           size=1, duration_s=1.0, frames=25, timings={}, now=timezone.now())
        gen.refresh_from_db()
        assert gen.status == GenerationStatus.CANCELLED and gen.ledger_transaction is None
        assert not Transaction.objects.filter(hold=gen.hold).exists()


def test_cancel_during_a_real_pipeline_run_discards_the_result(cast, contract, monkeypatch):
    gen = request(cast, contract)

    class Result:
        mp4, duration_s, frames, timings = b"\x00" * 64, 2.0, 50, {}

    def render_then_cancelled(generation, token):
        services.generation_cancel(generation_id=generation.id, brand=cast.brand)
        return Result()

    monkeypatch.setattr(pipeline, "_render", render_then_cancelled)
    assert pipeline.generation_process(generation_id=gen.id) == "fenced"
    gen.refresh_from_db()
    assert gen.status == GenerationStatus.CANCELLED and gen.ledger_transaction is None
    assert not [p for p in pipeline.assets_dir().iterdir() if p.name.startswith(gen.id)]


@pytest.mark.parametrize("status", ["failed", "denied", "rejected", "cancelled"])
def test_a_finished_generation_cannot_be_cancelled(cast, contract, status):
    gen = request(cast, contract)
    Generation.objects.filter(id=gen.id).update(status=status)
    resp = cast.client("brand").post(f"/api/v1/generations/{gen.id}/cancel")
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "invalid_state"


def test_a_delivered_generation_cannot_be_cancelled(cast, contract):
    gen = request(cast, contract)
    claim(gen, timezone.now(), lease_s=600)
    transitions.generation_deliver(generation_id=gen.id, token=1, asset_path="x.mp4", sha256="ab" * 32, size=1,
                                   duration_s=1.0, frames=25, timings={}, now=timezone.now())
    resp = cast.client("brand").post(f"/api/v1/generations/{gen.id}/cancel")
    assert resp.status_code == 409 and resp.json()["error"]["status"] == "delivered"
    gen.refresh_from_db()
    assert gen.hold.status == "posted"


@pytest.mark.parametrize("who", ["performer", "union", "other_brand"])
def test_only_the_brand_cancels(cast, contract, who):
    gen = request(cast, contract)
    resp = cast.client(who).post(f"/api/v1/generations/{gen.id}/cancel")
    assert resp.status_code in (403, 404)
    assert Generation.objects.get(id=gen.id).status == GenerationStatus.QUEUED
