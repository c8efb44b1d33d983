#!/usr/bin/env python
"""Gateway figures (issue 6), printed as a markdown table for bench/RESULTS.md.

    .venv/bin/python bench/gateway.py                 # everything
    .venv/bin/python bench/gateway.py --only overhead  # or: throughput, e2e
    .venv/bin/python bench/gateway.py --quick

1. **Overhead per generation, rendering excluded** — request handling
   (validation, policy, idempotency, hold, DB writes, enqueue) through the full
   Django stack in-process, the worker's claim (re-check + lease), and delivery
   (re-check, C2PA signing of a real 10 s 720×1280 clip, asset write, ledger
   post). One real clip is rendered once and reused. p50/p95 on SQLite and on
   PostgreSQL. Goal p95 ≤ 15 ms.
2. **Accepted POSTs/s, 32 concurrent clients, gunicorn on PostgreSQL** — one
   brand, 10 contracts; 10 % of requests replay an earlier Idempotency-Key.
   Checks afterwards: no duplicate generation per key, holds = accepted, quota
   never exceeded; plus a race of 32 clients for the last 100 units of one
   contract. Goal ≥ 200 req/s.
3. **End-to-end latency** POST → delivered for a 10 s English clip with one
   warm qcluster worker (SQLite, the embedded default).

Each part runs in its own data dir and database (PostgreSQL:
``postgres://postgres@127.0.0.1:5432/doppel_bench_gateway``, recreated).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgres://postgres@127.0.0.1:5432/doppel_bench_gateway"
TEN_SECOND_SCRIPT = ("Hi, I'm Ava. Crack open an ice-cold Fizzly and taste the summer. Zero sugar, all the fun, "
                     "and a splash of real lime. Find it in the cooler aisle today!")


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def load():
    return os.getloadavg()[0]


# --- environment helpers ----------------------------------------------------------------


def fresh_env(db: str) -> dict:
    data_dir = tempfile.mkdtemp(prefix=f"doppel-bench-{db}-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOPPEL_") and k != "DATABASE_URL"}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "DOPPEL_DATA_DIR": data_dir,
                "DOPPEL_HTTPS": "0",  # gunicorn on loopback speaks plain HTTP
                "DOPPEL_RATE_LIMIT_PER_MINUTE": "100000000", "DOPPEL_MAX_INFLIGHT_PER_BRAND": "100000000",
                "DOPPEL_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})
    if db == "postgres":
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS doppel_bench_gateway WITH (FORCE)")
            conn.execute("CREATE DATABASE doppel_bench_gateway")
        env["DATABASE_URL"] = PG_URL
    return env


def run_child(part: str, env: dict, *args: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", part, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"{part} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- child side (Django configured by env) ---------------------------------------------------


def django_setup():
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_world(n_contracts: int, max_renders: int) -> dict:
    from datetime import timedelta

    from django.core.files.base import ContentFile
    from django.utils import timezone

    from rights import services
    from rights.management.commands.demo_world import astronaut_jpeg
    from rights.models import Party

    portrait = astronaut_jpeg()
    union, union_key = services.party_create(kind="union", name="Guild", pension_health_bps=1000)
    brand, brand_key = services.party_create(kind="brand", name="Acme Cola")
    contracts = []
    landmarks = None
    for i in range(n_contracts):
        if landmarks is None:
            performer, _ = services.party_create(kind="performer", name=f"Performer {i}", union=union,
                                                 portrait=portrait)
            landmarks = performer.landmarks
        else:  # same photo, analysed once: onboarding is not what is measured here
            performer = Party.objects.create(kind="performer", name=f"Performer {i}", union=union,
                                             landmarks=landmarks)
            performer.portrait.save(f"p{i}.jpg", ContentFile(portrait))
        now = timezone.now()
        c = services.contract_propose(
            brand=brand, performer=performer, platforms=["tiktok", "youtube"], banned_categories=["gambling"],
            languages=["en"], territories=["US"], valid_from=now - timedelta(minutes=1),
            valid_until=now + timedelta(days=30), currency="USD", per_render=500, per_second=10,
            max_renders=max_renders)
        services.contract_transition(contract_id=c.id, action="accept", actor=performer)
        contracts.append(c.id)
    return {"brand_key": brand_key.raw, "contracts": contracts}


def child_overhead(n: int) -> dict:
    django_setup()
    from django.db import connection
    from django.test import Client

    from gateway import pipeline
    from provenance import c2pa_io, watermark

    world = make_world(1, n + 10)
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {world['brand_key']}"}
    body = json.dumps({"contract": world["contracts"][0], "script": TEN_SECOND_SCRIPT, "platform": "tiktok",
                       "category": "soft_drinks", "language": "en", "territory": "US"})

    def post():
        return client.post("/api/v1/generations", body, content_type="application/json",
                           HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()), **auth)

    first = post().json()["id"]
    gen, token = pipeline._claim(first)
    t = time.perf_counter()
    clip = pipeline._render(gen, token)
    render_s = time.perf_counter() - t
    pipeline._finish(gen, token, clip)
    for _ in range(5):
        g, tok = pipeline._claim(post().json()["id"])
        pipeline._finish(g, tok, clip)

    stages = {"request": [], "claim": [], "deliver": [], "sign": [], "total": []}
    for _ in range(n):
        t0 = time.perf_counter()
        resp = post()
        t1 = time.perf_counter()
        assert resp.status_code == 202, resp.content
        g, tok = pipeline._claim(resp.json()["id"])
        t2 = time.perf_counter()
        assert pipeline._finish(g, tok, clip) == "delivered"
        t3 = time.perf_counter()
        stages["request"].append((t1 - t0) * 1000)
        stages["claim"].append((t2 - t1) * 1000)
        stages["deliver"].append((t3 - t2) * 1000)
        stages["total"].append((t3 - t0) * 1000)
    # Signing alone, to show what share of "deliver" it is.
    for _ in range(min(n, 50)):
        t = time.perf_counter()
        c2pa_io.sign_video(data=clip.mp4, mime="video/mp4", license={
            "performer": "pty_x", "brand": "pty_y", "contract": "ctr_z", "generation": "gen_x",
            "platform": "tiktok", "category": "food", "language": "en", "territory": "US"},
            watermark=watermark.soft_binding(1))
        stages["sign"].append((time.perf_counter() - t) * 1000)
    return {"vendor": connection.vendor, "n": n, "render_s": render_s, "clip_s": clip.duration_s,
            "clip_bytes": len(clip.mp4),
            "stages": {k: {"p50": statistics.median(v), "p95": pct(v, 95)} for k, v in stages.items()},
            "load": load()}


def child_seed(n_contracts: int, max_renders: int) -> dict:
    django_setup()
    return make_world(n_contracts, max_renders)


def child_check(contracts: str) -> dict:
    django_setup()
    from django.db.models import Count

    from gateway.models import Generation, IdempotencyRecord
    from ledger.models import Hold
    from rights.models import Contract

    ids = contracts.split(",")
    rows = list(Contract.objects.filter(id__in=ids).values("id", "max_renders", "renders_held", "renders_used"))
    dup_keys = (IdempotencyRecord.objects.values("brand", "key").annotate(n=Count("id")).filter(n__gt=1).count())
    accepted = Generation.objects.filter(contract_id__in=ids).exclude(status="denied").count()
    return {
        "contracts": rows,
        "over_quota": [r["id"] for r in rows if r["renders_held"] + r["renders_used"] > r["max_renders"]],
        "accepted_generations": accepted,
        "holds": Hold.objects.filter(contract_id__in=ids).count(),
        "denied": Generation.objects.filter(contract_id__in=ids, status="denied").count(),
        "idempotency_records": IdempotencyRecord.objects.count(),
        "duplicate_keys": dup_keys,
    }


# --- parent side --------------------------------------------------------------------------


def overhead(args) -> list[str]:
    lines = ["### Gateway overhead per generation, rendering excluded", "",
             "| database | n | request p50 / p95 | claim p50 / p95 | deliver (incl. C2PA sign) p50 / p95 | "
             "**total p50 / p95** | sign alone p50 | goal p95 ≤ 15 ms | load |",
             "|---|---|---|---|---|---|---|---|---|"]
    for db in args.dbs:
        r = run_child("overhead", fresh_env(db), str(args.n))
        s = r["stages"]

        def f(k, s=s):
            return f"{s[k]['p50']:.1f} / {s[k]['p95']:.1f} ms"

        ok = "✅" if s["total"]["p95"] <= 15 else "❌"
        lines.append(f"| {r['vendor']} | {r['n']} | {f('request')} | {f('claim')} | {f('deliver')} | "
                     f"**{f('total')}** | {s['sign']['p50']:.1f} ms | {ok} {s['total']['p95'] / 15:.2f}× | "
                     f"{r['load']:.2f} |")
        lines.append(f"<!-- {db}: reused clip {r['clip_s']:.2f} s, {r['clip_bytes']:,} bytes, rendered in "
                     f"{r['render_s']:.2f} s -->")
    return lines


class Load:
    """N client threads with keep-alive connections POSTing generations."""

    def __init__(self, port: int, key: str, contracts: list[str], clients: int, replay_share: float):
        self.port, self.key, self.contracts = port, key, contracts
        self.clients, self.replay_share = clients, replay_share
        self.lock = threading.Lock()
        self.sent_keys: list[tuple[str, str]] = []
        self.status: dict[int, int] = {}
        self.replayed = 0
        self.latencies: list[float] = []
        self.replay_mismatch = 0
        self.first_response: dict[str, tuple[int, str]] = {}

    def body(self, contract: str) -> str:
        return json.dumps({"contract": contract, "script": TEN_SECOND_SCRIPT, "platform": "tiktok",
                           "category": "soft_drinks", "language": "en", "territory": "US"})

    def worker(self, stop_at: float, seed: int):
        rnd = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        while time.monotonic() < stop_at:
            with self.lock:
                replay = bool(self.sent_keys) and rnd.random() < self.replay_share
                key, contract = rnd.choice(self.sent_keys) if replay else (str(uuid.uuid4()),
                                                                            rnd.choice(self.contracts))
            t = time.perf_counter()
            try:
                conn.request("POST", "/api/v1/generations", body=self.body(contract), headers={
                    "Authorization": f"Bearer {self.key}", "Content-Type": "application/json",
                    "Idempotency-Key": key})
                resp = conn.getresponse()
                payload = resp.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                with self.lock:
                    self.status[-1] = self.status.get(-1, 0) + 1
                continue
            elapsed = time.perf_counter() - t
            with self.lock:
                if replay:
                    self.replayed += 1
                else:
                    self.status[resp.status] = self.status.get(resp.status, 0) + 1
                self.latencies.append(elapsed)
                if not replay:
                    self.sent_keys.append((key, contract))
                    if resp.status in (202, 403):
                        gen = json.loads(payload).get("id") or json.loads(payload)["error"].get("generation")
                        self.first_response[key] = (resp.status, gen)
                elif key in self.first_response and resp.status in (202, 403):
                    data = json.loads(payload)
                    gen = data.get("id") or data["error"].get("generation")
                    if (resp.status, gen) != self.first_response[key]:
                        self.replay_mismatch += 1
        conn.close()

    def run(self, seconds: float) -> float:
        stop_at = time.monotonic() + seconds
        threads = [threading.Thread(target=self.worker, args=(stop_at, i)) for i in range(self.clients)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.monotonic() - started


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process group, then SIGKILL after a short grace (qcluster can linger)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def start_gunicorn(env: dict, port: int, workers: int, threads: int) -> subprocess.Popen:
    log = open(Path(env["DOPPEL_DATA_DIR"]) / "gunicorn.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-b", f"127.0.0.1:{port}",
         "-w", str(workers), "-k", "gthread", "--threads", str(threads), "--timeout", "120",
         "--backlog", "2048"], cwd=ROOT, env={**env, "DOPPEL_DB_CONN_MAX_AGE": "600"}, start_new_session=True,
        stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/schema/")
            conn.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.3)
    raise SystemExit("gunicorn did not start")


def throughput(args) -> list[str]:
    env = fresh_env("postgres")
    seeded = run_child("seed", env, "10", "1000000")
    port = 18000 + os.getpid() % 1000
    lines = ["### POST /api/v1/generations under load (gunicorn, PostgreSQL)", "",
             f"32 concurrent keep-alive clients (threads in one Python process on the same 2 cores), "
             f"{args.seconds:.0f} s per run, one brand, 10 contracts; "
             f"{int(args.replay * 100)} % of requests replay an earlier Idempotency-Key.", "",
             "| gunicorn | accepted/s (new requests) | all responses/s (incl. replays) | p50 / p95 latency | "
             "replays answered identically | "
             "duplicate generations | over quota | goal ≥ 200/s | load |", "|---|---|---|---|---|---|---|---|---|"]
    for workers, threads in args.gunicorn:
        proc = start_gunicorn(env, port, workers, threads)
        try:
            bench_load = Load(port, seeded["brand_key"], seeded["contracts"], args.clients, args.replay)
            bench_load.run(3)  # warm-up (connections, caches)
            bench_load.status, bench_load.latencies, bench_load.replayed = {}, [], 0
            elapsed = bench_load.run(args.seconds)
            check = run_child("check", env, ",".join(seeded["contracts"]))
        finally:
            stop(proc)
        accepted = bench_load.status.get(202, 0)  # new requests only; replays are counted apart
        total = sum(v for k, v in bench_load.status.items() if k > 0) + bench_load.replayed
        unique = len(bench_load.first_response)
        ok = "✅" if accepted / elapsed >= 200 else "❌"
        lat = bench_load.latencies
        lines.append(
            f"| {workers} workers × {threads} threads | **{accepted / elapsed:.0f}** | {total / elapsed:.0f} | "
            f"{statistics.median(lat) * 1000:.0f} / {pct(lat, 95) * 1000:.0f} ms | "
            f"{'yes' if bench_load.replay_mismatch == 0 else f'NO ({bench_load.replay_mismatch} differ)'} | "
            f"{check['duplicate_keys']} keys twice | {len(check['over_quota'])} | {ok} {accepted / elapsed / 200:.2f}× | "
            f"{load():.2f} |")
        lines.append(f"<!-- new-request statuses {bench_load.status}, replays {bench_load.replayed}; holds "
                     f"{check['holds']} = accepted generations {check['accepted_generations']}; keys {unique} -->")
        if check["holds"] != check["accepted_generations"] or check["over_quota"]:
            raise SystemExit(f"INVARIANT BROKEN: {check}")

    # The race for the last units: 32 clients, one contract with 100 renders left.
    env = fresh_env("postgres")
    seeded = run_child("seed", env, "1", "100")
    proc = start_gunicorn(env, port, *args.gunicorn[0])
    try:
        race = Load(port, seeded["brand_key"], seeded["contracts"], args.clients, 0.0)
        race.run(5)
        check = run_child("check", env, seeded["contracts"][0])
    finally:
        stop(proc)
    row = check["contracts"][0]
    lines += ["", f"Quota race: 32 clients for one contract with max_renders=100 → {race.status.get(202, 0)} accepted, "
              f"{race.status.get(403, 0)} denied (`quota_exceeded`); contract held {row['renders_held']} of "
              f"{row['max_renders']}; holds in the ledger {check['holds']}; over quota: "
              f"{'none' if not check['over_quota'] else check['over_quota']}."]
    if race.status.get(202, 0) != 100 or check["holds"] != 100:
        raise SystemExit(f"QUOTA RACE BROKEN: {race.status} {check}")
    return lines


def e2e(args) -> list[str]:
    env = fresh_env("sqlite")
    seeded = run_child("seed", env, "1", "100")
    port = 19000 + os.getpid() % 1000
    web = start_gunicorn(env, port, 2, 4)
    qlog = open(Path(env["DOPPEL_DATA_DIR"]) / "qcluster.log", "ab")
    worker = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT,
                              env={**env, "DOPPEL_Q_WORKERS": "1"}, start_new_session=True, stdout=qlog,
                              stderr=subprocess.STDOUT)
    results = []
    try:
        for i in range(args.e2e_runs + 1):  # the first run warms the worker (models load once)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            headers = {"Authorization": f"Bearer {seeded['brand_key']}", "Content-Type": "application/json",
                       "Idempotency-Key": str(uuid.uuid4())}
            body = json.dumps({"contract": seeded["contracts"][0], "script": TEN_SECOND_SCRIPT,
                               "platform": "tiktok", "category": "soft_drinks", "language": "en",
                               "territory": "US"})
            t0 = time.perf_counter()
            conn.request("POST", "/api/v1/generations", body=body, headers=headers)
            gen = json.loads(conn.getresponse().read())
            while True:
                conn.request("GET", f"/api/v1/generations/{gen['id']}", headers=headers)
                state = json.loads(conn.getresponse().read())
                if state["status"] in ("delivered", "failed", "cancelled"):
                    break
                time.sleep(0.05)
            elapsed = time.perf_counter() - t0
            if state["status"] != "delivered":
                raise SystemExit(f"e2e generation {state['status']}: {state['failure']}")
            if i:
                results.append((elapsed, state["asset"]["duration_s"]))
    finally:
        for p in (worker, web):
            stop(p)
    med = statistics.median(r[0] for r in results)
    clip = statistics.median(r[1] for r in results)
    return ["### End-to-end latency, POST → delivered (one warm qcluster worker, SQLite, CPU)", "",
            "| clip | runs | median latency | min / max | latency ÷ clip duration | load |", "|---|---|---|---|---|---|",
            f"| {clip:.1f} s English, 720×1280 | {len(results)} | **{med:.2f} s** | "
            f"{min(r[0] for r in results):.2f} / {max(r[0] for r in results):.2f} s | {med / clip:.2f} | {load():.2f} |"]


def main():
    if "--child" in sys.argv:
        part, *rest = sys.argv[sys.argv.index("--child") + 1:]
        fn = {"overhead": lambda: child_overhead(int(rest[0])),
              "seed": lambda: child_seed(int(rest[0]), int(rest[1])),
              "check": lambda: child_check(rest[0])}[part]
        print(json.dumps(fn(), default=str))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["overhead", "throughput", "e2e"], action="append")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n", type=int, default=200, help="generations for the overhead figure")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--replay", type=float, default=0.10)
    parser.add_argument("--e2e-runs", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--gunicorn", default="4x4,2x8",
                        help="comma-separated WORKERSxTHREADS shapes to measure (first one runs the quota race)")
    args = parser.parse_args()
    args.dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    args.gunicorn = [tuple(int(n) for n in shape.split("x")) for shape in args.gunicorn.split(",")]
    if args.quick:
        args.n, args.seconds, args.e2e_runs = 40, 8, 1
    parts = args.only or ["overhead", "throughput", "e2e"]
    print(f"# bench/gateway.py — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, "
          f"load {load():.2f} at start\n")
    for part in parts:
        lines = {"overhead": overhead, "throughput": throughput, "e2e": e2e}[part](args)
        print("\n".join(lines) + "\n", flush=True)
    for path in Path(tempfile.gettempdir()).glob("doppel-bench-*"):
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
