"""End to end (issue 10 #12): a render that cannot finish within the queue's time limit
gets a bounded number of attempts with a real qcluster, then fails `render_timeout`,
its hold voided, and the brand's webhook is delivered.

The issue's input: DOPPEL_Q_TIMEOUT=10 and a 990-character script — killed and
re-queued every ~60 s without limit, `rendering` for 6 hours, no webhook.
"""

from __future__ import annotations

import time

import pytest

from gateway.models import Generation, WebhookDelivery
from ledger.models import Transaction
from rights.models import Contract
from tests.e2e.conftest import Http, wait_for
from tests.e2e.test_end_to_end import SCRIPT, TERMINAL, agree, generate, onboard
from tests.webhook_receiver import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ATTEMPTS = 2


def long_script(chars: int = 990) -> str:
    text = " ".join([SCRIPT] * (chars // len(SCRIPT) + 1))
    return text[:chars].rsplit(" ", 1)[0] + "."


def test_a_render_that_outlives_the_time_limit_fails_after_bounded_attempts(live_server, qcluster_factory,
                                                                            tmp_path, astronaut_jpeg, settings):
    settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE = True  # the receiver listens on loopback
    # Started first: its start-up (torch, the renderer's warm-up) overlaps the onboarding. Each
    # timed-out worker is replaced by django-q2 and warms up again (~13 s here) before the next
    # attempt: two attempts keep the test near 70 s.
    cluster = qcluster_factory(DOPPEL_Q_TIMEOUT="10", DOPPEL_Q_RETRY="11",
                               DOPPEL_RENDER_MAX_ATTEMPTS=str(ATTEMPTS))
    base = live_server.url
    world = onboard(tmp_path, astronaut_jpeg)
    contract_id = agree(base, world)
    brand = Http(base, world["brand"]["api_key"])
    receiver = Receiver([])
    try:
        status, hook = brand.post("/api/v1/webhooks", {"url": receiver.url, "events": ["generation.failed"]})
        assert status == 201, hook
        script = long_script()
        assert 980 <= len(script) <= 990
        started = time.monotonic()
        gen_id = generate(brand, contract_id, "e2e-timeout", script=script)

        def finished():
            _, state = brand.get(f"/api/v1/generations/{gen_id}")
            return state if state["status"] in TERMINAL else None

        final = wait_for(finished, timeout=150, interval=0.5, what="the generation to end", on_timeout=cluster.log)
        elapsed = time.monotonic() - started
        gen = Generation.objects.get(id=gen_id)
        print(f"failed {elapsed:.1f} s after the request; started {gen.started_at:%T.%f}, "
              f"attempts ended {[f['at'] for f in gen.attempt_failures]}")
        assert final["status"] == "failed", (final, cluster.log())
        assert final["failure"]["code"] == "render_timeout", (gen.attempt_failures, cluster.log())
        assert gen.attempts == ATTEMPTS
        assert [f["code"] for f in gen.attempt_failures] == ["render_timeout"] * ATTEMPTS
        assert f"{ATTEMPTS} attempt(s) used" in final["failure"]["message"]

        # Nothing charged: the hold is voided, the quota released, no royalty, no asset.
        assert gen.hold.status == "voided" and final["royalty"] is None and final["asset"] is None
        assert not Transaction.objects.filter(hold=gen.hold).exists()
        contract = Contract.objects.get(id=contract_id)
        assert (contract.renders_used, contract.renders_held) == (0, 0)

        # The webhook: recorded and delivered, signed.
        assert WebhookDelivery.objects.filter(generation_id=gen_id, event="generation.failed").exists()
        wait_for(lambda: any(h.get("Doppel-Event") == "generation.failed" for h, _ in receiver.received),
                 timeout=30, what="the failed webhook", on_timeout=cluster.log)
        from gateway.webhooks import verify_signature

        headers, body = next((h, b) for h, b in receiver.received if h.get("Doppel-Event") == "generation.failed")
        assert verify_signature(secret=hook["secret"], body=body, header=headers["Doppel-Signature"])
        assert gen_id.encode() in body and b"render_timeout" in body

        # No further attempt: the queue stays quiet about it.
        time.sleep(3)
        assert Generation.objects.get(id=gen_id).attempts == ATTEMPTS
    finally:
        receiver.close()
