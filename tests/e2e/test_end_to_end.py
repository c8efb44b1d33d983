"""End to end: real HTTP server, real qcluster processes, the real renderer on CPU,
real C2PA signing, the real ledger — on SQLite and on PostgreSQL (CI runs both)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from gateway.models import Generation
from ledger.models import Transaction
from rights.models import Contract
from tests.e2e.conftest import ROOT, Http, multipart, wait_for
from tests.webhook_receiver import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TERMINAL = {"delivered", "failed", "denied", "rejected", "cancelled"}
SCRIPT = ("Hi, I'm Ava. Crack open an ice-cold Fizzly and taste the summer. "
          "Zero sugar, all the fun. Find it in the cooler aisle today!")


def cli(*args) -> dict:
    out = io.StringIO()
    call_command(*args, "--json", stdout=out)
    return json.loads(out.getvalue())


def onboard(tmp_path: Path, portrait: bytes) -> dict:
    face = tmp_path / "face.jpg"
    face.write_bytes(portrait)
    union = cli("create_party", "union", "Performers Guild", "--pension-health-bps", "1500")
    performer = cli("create_party", "performer", "Ava Stone", "--portrait", str(face), "--union", union["id"],
                    "--voice", "en")
    brand = cli("create_party", "brand", "Acme Cola")
    return {"union": union, "performer": performer, "brand": brand}


def agree(base: str, world: dict, **terms) -> str:
    brand = Http(base, world["brand"]["api_key"])
    now = timezone.now()
    body = {"performer": world["performer"]["id"], "platforms": ["tiktok", "youtube"],
            "banned_categories": ["gambling", "alcohol"], "languages": ["en"], "territories": ["US"],
            "valid_from": (now - timedelta(minutes=1)).isoformat(),
            "valid_until": (now + timedelta(days=30)).isoformat(),
            "royalty": {"currency": "USD", "per_render": 500, "per_second": 10}, "max_renders": 50, **terms}
    status, contract = brand.post("/api/v1/contracts", body)
    assert status == 201, contract
    status, accepted = Http(base, world["performer"]["api_key"]).post(f"/api/v1/contracts/{contract['id']}/accept")
    assert status == 200 and accepted["status"] == "active"
    return contract["id"]


def generate(brand: Http, contract_id: str, key: str, script: str = SCRIPT) -> str:
    status, gen = brand.post("/api/v1/generations", {
        "contract": contract_id, "script": script, "platform": "tiktok", "category": "soft_drinks",
        "language": "en", "territory": "US"}, headers={"Idempotency-Key": key})
    assert status == 202, gen
    return gen["id"]


def test_a_brand_gets_a_paid_signed_clip_the_union_can_audit(live_server, qcluster_factory, tmp_path,
                                                             astronaut_jpeg, settings):
    settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE = True  # the receiver listens on loopback
    base = live_server.url
    world = onboard(tmp_path, astronaut_jpeg)
    contract_id = agree(base, world)
    brand, union = Http(base, world["brand"]["api_key"]), Http(base, world["union"]["api_key"])
    performer = Http(base, world["performer"]["api_key"])
    receiver = Receiver([])
    status, hook = brand.post("/api/v1/webhooks", {"url": receiver.url})
    assert status == 201
    _, before = performer.get(f"/api/v1/ledger/balances?party={world['performer']['id']}")

    cluster = qcluster_factory(DOPPEL_Q_TIMEOUT="300", DOPPEL_Q_RETRY="330")
    gen_id = generate(brand, contract_id, "e2e-first")
    seen = []

    def finished():
        _, state = brand.get(f"/api/v1/generations/{gen_id}")
        seen.append((state["status"], state["progress"]))
        return state if state["status"] in TERMINAL else None

    final = wait_for(finished, timeout=300, interval=0.3, what="the generation to finish", on_timeout=cluster.log)
    assert final["status"] == "delivered", (final["failure"], cluster.log())
    progresses = [p for _, p in seen]
    assert progresses == sorted(progresses), "progress never goes backwards"
    assert any(0 < p < 1 for _, p in seen) or len(seen) < 3, seen

    # The clip: stored, served to the brand, verifiable by anyone with a key.
    status, mp4 = brand.get(f"/api/v1/generations/{gen_id}/asset")
    assert status == 200 and len(mp4) == final["asset"]["bytes"]
    raw, ctype = multipart("file", "clip.mp4", mp4, "video/mp4")
    status, report = union.request("POST", "/api/v1/verify", raw=raw, ctype=ctype)
    assert status == 200, report
    assert report["c2pa"]["state"] == "Trusted", report["c2pa"]
    assert report["c2pa"]["license"]["generation"] == gen_id
    assert report["watermark"]["found"] and report["watermark"]["generation"] == gen_id
    assert report["generation"]["id"] == gen_id and report["generation"]["contract"] == contract_id

    # The royalty: in the ledger, visible to the union, and the performer's balance grew by it.
    royalty = final["royalty"]
    status, txns = union.get("/api/v1/ledger/transactions")
    assert royalty["transaction"] in [t["id"] for t in txns["results"]]
    _, after = performer.get(f"/api/v1/ledger/balances?party={world['performer']['id']}")

    def payable(balances):
        return sum(b["balance"] for b in balances["balances"] if b["purpose"] == "payable")

    assert payable(after) - payable(before) == royalty["performer_amount"] > 0
    assert royalty["union_amount"] == (royalty["performer_amount"] * 1500 + 5000) // 10000  # half-up

    # The webhook arrived, signed.
    wait_for(lambda: any(h.get("Doppel-Event") == "generation.delivered" for h, _ in receiver.received),
             timeout=60, what="the delivered webhook", on_timeout=cluster.log)
    from gateway.webhooks import verify_signature

    headers, body = next((h, b) for h, b in receiver.received if h.get("Doppel-Event") == "generation.delivered")
    assert verify_signature(secret=hook["secret"], body=body, header=headers["Doppel-Signature"])
    receiver.close()

    # The union's auditor verifies the signed log and the inclusion of what it sees.
    wait_for(lambda: union.get("/api/v1/ledger/tree-head")[1].get("size", 0) >= 1, timeout=90,
             what="the log to sequence the royalty", on_timeout=cluster.log)
    audit = subprocess.run([sys.executable, "-m", "ledger.audit", "--url", base, "--key",
                            world["union"]["api_key"], "--state", str(tmp_path / "audit.json")],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_a_worker_killed_mid_render_delivers_exactly_once(live_server, qcluster_factory, tmp_path,
                                                          astronaut_jpeg):
    base = live_server.url
    world = onboard(tmp_path, astronaut_jpeg)
    contract_id = agree(base, world)
    brand = Http(base, world["brand"]["api_key"])
    timing = {"DOPPEL_Q_TIMEOUT": "40", "DOPPEL_Q_RETRY": "45"}
    first = qcluster_factory(**timing)
    long_script = " ".join([SCRIPT] * 3)
    gen_id = generate(brand, contract_id, "e2e-kill", script=long_script)

    def rendering():
        gen = Generation.objects.filter(id=gen_id).values("status", "progress").first()
        return gen["status"] == "rendering" and gen["progress"] >= 0.1

    wait_for(rendering, timeout=180, interval=0.1, what="the render to be under way", on_timeout=first.log)
    first.kill()  # SIGKILL the whole qcluster: no cleanup, no acknowledgement
    gen = Generation.objects.get(id=gen_id)
    assert gen.status == "rendering" and gen.attempts == 1

    second = qcluster_factory(**timing)  # the broker re-delivers the unacknowledged task after `retry`
    wait_for(lambda: Generation.objects.get(id=gen_id).status in TERMINAL, timeout=300,
             what="re-delivery and completion", on_timeout=second.log)
    gen = Generation.objects.get(id=gen_id)
    assert gen.status == "delivered", (gen.failure_code, gen.failure_message, second.log())
    assert gen.attempts == 2
    assert Transaction.objects.filter(hold=gen.hold).count() == 1
    assets = sorted(p.name for p in (Path(settings.DATA_DIR) / "assets").iterdir() if p.name.startswith(gen_id))
    assert assets == [gen.asset_path]  # the killed attempt never got as far as writing one
    contract = Contract.objects.get(id=contract_id)
    assert (contract.renders_used, contract.renders_held) == (1, 0)


def _redis_up() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("broker", ["orm", "redis"])
def test_two_worker_processes_share_the_queue(broker, web_server_factory, qcluster_factory, tmp_path,
                                              astronaut_jpeg):
    if broker == "redis" and not _redis_up():
        pytest.skip("Redis is not running on 127.0.0.1:6379 (the ORM-broker variant still runs)")
    env = {"DOPPEL_Q_BROKER": "orm" if broker == "orm" else "redis://127.0.0.1:6379/0",
           "DOPPEL_Q_NAME": f"doppel-test-{os.getpid()}-{broker}", "DOPPEL_Q_TIMEOUT": "300",
           "DOPPEL_Q_RETRY": "330"}
    server = web_server_factory(**env)
    world = onboard(tmp_path, astronaut_jpeg)
    contract_id = agree(server.url, world)
    brand = Http(server.url, world["brand"]["api_key"])
    ids = [generate(brand, contract_id, f"two-workers-{i}", script=f"Fizzly number {i}. Taste the summer!")
           for i in range(6)]
    workers = [qcluster_factory(**env), qcluster_factory(**env)]

    def all_done():
        return Generation.objects.filter(id__in=ids, status__in=TERMINAL).count() == len(ids)

    wait_for(all_done, timeout=600, interval=1, what="all six generations",
             on_timeout=lambda: workers[0].log() + workers[1].log())
    gens = list(Generation.objects.filter(id__in=ids))
    assert {g.status for g in gens} == {"delivered"}, [(g.id, g.failure_message) for g in gens]
    assert all(g.attempts == 1 for g in gens), "no generation was rendered twice"
    assert Transaction.objects.filter(hold__in=[g.hold_id for g in gens]).count() == len(ids)
    assert len({g.asset_sha256 for g in gens}) == len(ids)
    print("rendered by:", sorted({g.worker for g in gens}))
