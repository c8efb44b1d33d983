#!/usr/bin/env python
"""Ledger figures (issue 3), on PostgreSQL. Prints every figure with its goal and
its ratio to this machine's raw single-row INSERT rate.

    .venv/bin/python bench/ledger.py [--url postgres://…/doppel_bench] [--fresh] [--seconds 10]
                                     [--writers 8] [--skip-million]

* Uses DATABASE_URL, else postgres://postgres@127.0.0.1:5432/doppel_bench; creates
  and migrates that database itself (``--fresh`` drops it first). Never point it
  at a database you care about.
* Raw INSERT rate: psycopg, one row per INSERT in autocommit, from the same
  number of writer processes (and pgbench's figure when pgbench is installed).
* Royalty postings: ``ledger.services.hold_post`` from N writer processes over
  100 contracts, for ``--seconds``; a sequencer process appends to the Merkle log
  meanwhile (as a worker would; the writers' per-second nudges are off since
  that process does the work). Holds are bulk-created beforehand (not timed).
  "spread": 100 brands; "hot": one brand, so every posting hits its receivable.
* Latency of one hold_post: one writer, sequentially; plus the percentiles seen
  by the N writers above.
* 1,000,000 postings / leaves: bulk-loaded with COPY (triggers off for the load,
  as a superuser restore would; balance and leaf integrity re-checked after),
  then the real selectors are timed: a balance read of the account holding
  1,000,000 postings (with a backlog of unsequenced postings on top), and
  inclusion proofs at a 1,000,000-leaf tree.
The load average is printed around every phase: on a shared 2-core machine the
figures move with it.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import queue
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# The project's modules are imported inside functions, after ``setup_django()``:
# they define or load Django models, which need the configured settings and app
# registry first (not an import cycle; a forked writer inherits the setup).
REPO = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/doppel_bench"
GOALS = {"spread": 1000.0, "hot": 300.0, "p95_ms": 20.0, "balance_ms": 10.0, "proof_ms": 5.0}
MILLION = 1_000_000


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def say(message: str) -> None:
    print(message, flush=True)


# --- database ---------------------------------------------------------------------------


def prepare_database(url: str, *, fresh: bool) -> None:
    import psycopg

    match = re.match(r"^(postgres(?:ql)?://[^/]*)/([A-Za-z0-9_]+)$", url)
    if not match:
        raise SystemExit(f"--url must be postgres://user@host:port/dbname, got {url!r}")
    admin_url, name = match[1] + "/postgres", match[2]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    # A sequencer process runs beside the writers (as a qcluster schedule would);
    # the per-second "sequence soon" nudge would only enqueue tasks nobody runs.
    os.environ.setdefault("DOPPEL_LEDGER_SEQUENCE_NUDGE", "0")
    os.environ.setdefault("DOPPEL_DATA_DIR", str(REPO / "var" / "bench"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    sys.path.insert(0, str(REPO))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, skip_checks=True)


def close_connections() -> None:
    from django.db import connections

    connections.close_all()


# --- raw INSERT rate (the denominator) ----------------------------------------------------


def _raw_writer(url: str, seconds: float, barrier, out) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        barrier.wait()
        deadline, n = time.perf_counter() + seconds, 0
        while time.perf_counter() < deadline:
            conn.execute("INSERT INTO bench_raw_insert (account, amount) VALUES (%s, %s)", ["acc_bench", n])
            n += 1
    out.put(n)


def raw_insert_rate(url: str, writers: int, seconds: float) -> float:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw_insert")
        conn.execute("CREATE TABLE bench_raw_insert (id bigserial PRIMARY KEY, account text NOT NULL, "
                     "amount bigint NOT NULL, created_at timestamptz NOT NULL DEFAULT now())")
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(writers), ctx.Queue()
    procs = [ctx.Process(target=_raw_writer, args=(url, seconds, barrier, out)) for _ in range(writers)]
    for p in procs:
        p.start()
    total = sum(out.get() for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def pgbench_rate(url: str, writers: int, seconds: int) -> float | None:
    if not shutil.which("pgbench"):
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write("INSERT INTO bench_raw_insert (account, amount) VALUES ('acc_bench', 1);\n")
    try:
        result = subprocess.run(["pgbench", "-n", "-c", str(writers), "-j", "2", "-T", str(seconds), "-f",
                                 script.name, url], capture_output=True, text=True, timeout=seconds + 60)
    finally:
        os.unlink(script.name)
    match = re.search(r"tps = ([0-9.]+)", result.stdout)
    return float(match[1]) if match else None


# --- the cast ---------------------------------------------------------------------------


def make_contracts(label: str, *, hot: bool, count: int = 100) -> list[str]:
    from django.utils import timezone

    from rights.models import Contract, Party

    now = timezone.now()
    unions = [Party.objects.create(kind="union", name=f"{label} union {i}", pension_health_bps=850) for i in range(10)]
    brands = [Party.objects.create(kind="brand", name=f"{label} brand {i}") for i in range(1 if hot else count)]
    ids = []
    for i in range(count):
        performer = Party.objects.create(kind="performer", name=f"{label} performer {i}", union=unions[i % 10])
        contract = Contract.objects.create(
            performer=performer, brand=brands[i % len(brands)], platforms=["tiktok"], languages=["en"],
            territories=["US"], valid_from=now - timedelta(days=1), valid_until=now + timedelta(days=365),
            currency="USD", royalty_per_render=500, royalty_per_second=10, max_renders=2_000_000_000,
            terms_hash=f"bench-{label}-{i}", status="active", accepted_at=now,
        )
        ids.append(contract.id)
    return ids


def bulk_holds(contract_ids: list[str], per_writer: int, writers: int, label: str) -> list[list[str]]:
    """Open holds made directly (setup, not timed), spread round-robin over the contracts."""
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from ledger.models import Hold
    from rights.models import Contract

    now = timezone.now()
    plan: list[list[str]] = [[] for _ in range(writers)]
    rows, per_contract = [], {c: 0 for c in contract_ids}
    for w in range(writers):
        offset = random.randrange(len(contract_ids))
        for i in range(per_writer):
            contract_id = contract_ids[(offset + i) % len(contract_ids)]
            hold = Hold(contract_id=contract_id, reference=f"{label}-{w}-{i}", currency="USD", expected_amount=600,
                        meta={"platform": "tiktok"}, expires_at=now + timedelta(hours=6),
                        idempotency_key=f"{label}-hold-{w}-{i}", request_hash="bench", created_at=now)
            rows.append(hold)
            plan[w].append(hold.id)
            per_contract[contract_id] += 1
    with transaction.atomic():
        Hold.objects.bulk_create(rows, batch_size=2000)
        for contract_id, n in per_contract.items():
            Contract.objects.filter(pk=contract_id).update(renders_held=F("renders_held") + n)
    return plan


# --- timed writers ------------------------------------------------------------------------


def _reporting(worker):
    """Run a worker so that its failure reaches the parent instead of hanging it."""

    def run(*args) -> None:
        out = args[3]
        try:
            worker(*args)
        except BaseException:  # noqa: BLE001 - reported to the parent, which raises
            import traceback

            out.put(("error", traceback.format_exc()))

    return run


@_reporting
def _poster(hold_ids: list[str], seconds: float, barrier, out, label: str) -> None:
    from ledger import services

    close_connections()
    services.hold_post(hold=hold_ids[0], duration_s=10.0, idempotency_key=f"{label}-warm-{hold_ids[0]}")
    latencies = []
    barrier.wait(timeout=120)
    deadline = time.perf_counter() + seconds
    for hold_id in hold_ids[1:]:
        start = time.perf_counter()
        if start >= deadline:
            break
        services.hold_post(hold=hold_id, duration_s=10.0 + len(latencies) % 7, idempotency_key=f"{label}-post-{hold_id}")
        latencies.append(time.perf_counter() - start)
    else:
        out.put(("ran_out", latencies))
        return
    out.put(("ok", latencies))


@_reporting
def _cycler(contract_ids: list[str], seconds: float, barrier, out, label: str, writer: int) -> None:
    from ledger import services
    from rights.models import Contract

    close_connections()
    contracts = list(Contract.objects.filter(id__in=contract_ids))
    latencies = []
    barrier.wait(timeout=120)
    deadline, i = time.perf_counter() + seconds, 0
    while (start := time.perf_counter()) < deadline:
        contract = contracts[i % len(contracts)]
        hold = services.hold_create(contract=contract, reference=f"{label}-{writer}-{i}",
                                    idempotency_key=f"{label}-h-{writer}-{i}", expected_seconds=10,
                                    meta={"platform": "tiktok"})
        services.hold_post(hold=hold, duration_s=10.5, idempotency_key=f"{label}-p-{writer}-{i}")
        latencies.append(time.perf_counter() - start)
        i += 1
    out.put(("ok", latencies))


def _sequencer(stop, out) -> None:
    from ledger import services

    close_connections()
    appended = 0
    while not stop.is_set():
        n = services.log_sequence(max_batch=2000, max_batches=1, wait=False)
        appended += n
        if n == 0:
            time.sleep(0.05)
    out.put(appended)


def run_writers(target, args_per_writer: list[tuple], seconds: float, *, with_sequencer: bool = True) -> dict:
    from ledger.models import LogPending

    close_connections()
    ctx = mp.get_context("fork")
    barrier, out, seq_out, stop = ctx.Barrier(len(args_per_writer)), ctx.Queue(), ctx.Queue(), ctx.Event()
    sequencer = ctx.Process(target=_sequencer, args=(stop, seq_out)) if with_sequencer else None
    if sequencer:
        sequencer.start()
    procs = [ctx.Process(target=target, args=(*a[:1], seconds, barrier, out, *a[1:])) for a in args_per_writer]
    for p in procs:
        p.start()
    results = []
    while len(results) < len(procs):
        try:
            results.append(out.get(timeout=5))
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if dead and out.empty():
                stop.set()
                raise SystemExit(f"a writer process died (exit codes {dead}); killed by the OOM killer?") from None
    for p in procs:
        p.join()
    errors = [detail for status, detail in results if status == "error"]
    if errors:
        stop.set()
        raise SystemExit(f"a writer failed:\n{errors[0]}")
    stop.set()
    sequenced = seq_out.get() if sequencer else 0
    if sequencer:
        sequencer.join()
    latencies = [x for _, lat in results for x in lat]
    backlog = LogPending.objects.count()
    return {"count": len(latencies), "rate": len(latencies) / seconds, "latencies": latencies,
            "ran_out": sum(status == "ran_out" for status, _ in results), "sequenced": sequenced, "backlog": backlog}


def drain_log() -> tuple[int, float]:
    from ledger import services

    start = time.perf_counter()
    n = services.log_sequence(max_batch=5000, max_batches=10_000)
    return n, time.perf_counter() - start


def check_books(label: str) -> None:
    """After a run: every brand balance equals a full scan of its postings."""
    from django.db.models import Case, IntegerField, Sum, When

    from ledger import selectors
    from ledger.models import Account, Posting

    for account in Account.objects.filter(purpose="receivable", party__name__startswith=label)[:3]:
        row = selectors.balances_for_party(party=account.party)[0]
        scan = Posting.objects.filter(account=account).aggregate(
            d=Sum(Case(When(side="debit", then="amount"), default=0, output_field=IntegerField())))
        assert row["debits"] == (scan["d"] or 0), (row, scan)


# --- 1,000,000 postings and leaves ---------------------------------------------------------


def bulk_load_million(url: str, n: int) -> dict:
    """n transactions, each: brand receivable debit / performer payable credit, so the
    brand's receivable holds n postings and the log n more leaves. COPY with triggers
    off (a restore); then integrity, leaves, nodes and checkpoints are rebuilt and checked."""
    import psycopg
    from django.utils import timezone

    from ledger import selectors, services
    from ledger.log import merkle
    from ledger.log.leaf import format_timestamp, leaf_document, leaf_hash_of_text, leaf_text
    from ledger.log.sequencer import tree_head_sign
    from ledger.models import LogNode, LogState, Posting, node_key
    from rights.models import Party

    brand = Party.objects.filter(name="bulk brand").first()
    if brand is not None:
        loaded = Posting.objects.filter(account__party=brand, transaction__kind="adjustment",
                                        transaction__reference="bulk").count()
        if loaded != n:
            raise SystemExit(f"the database holds a bulk load of {loaded:,}, not {n:,}; rerun with --fresh")
        return {"brand": brand, "loaded": 0, "seconds": 0.0}
    drain_log()
    started = time.perf_counter()
    union = Party.objects.create(kind="union", name="bulk union", pension_health_bps=850)
    brand = Party.objects.create(kind="brand", name="bulk brand")
    performers = [Party.objects.create(kind="performer", name=f"bulk performer {i}", union=union) for i in range(100)]
    receivable = services.account_get_or_create(party=brand, purpose="receivable", currency="USD")
    payables = [services.account_get_or_create(party=p, purpose="payable", currency="USD") for p in performers]
    purposes = {receivable.id: (brand.id, "receivable")} | {a.id: (a.party_id, "payable") for a in payables}

    state = LogState.objects.get(pk=1)
    size0 = state.size
    frontier_nodes = merkle.perfect_subtrees(0, size0) if size0 else []
    stored = dict(LogNode.objects.filter(id__in=[node_key(*x) for x in frontier_nodes]).values_list("id", "hash"))
    tree = merkle.CompactRange(size0, [bytes.fromhex(stored[node_key(*x)]) for x in frontier_nodes])
    base = timezone.now() - timedelta(days=30)
    rng = random.Random(1)
    close_connections()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        chunk = 100_000
        for start in range(0, n, chunk):
            txns, postings, leaves, nodes = [], [], [], []
            for i in range(start, min(n, start + chunk)):
                txn_id = f"txn_bulk{i:012d}"
                created = base + timedelta(microseconds=i * 2_000_000)
                amount = rng.randint(100, 10_000)
                payable = payables[i % 100]
                legs = [(receivable.id, "debit"), (payable.id, "credit")]
                txns.append((txn_id, "adjustment", None, None, None, "bulk", "{}", 2, f"bulk:{i}", "bulk", created))
                for account_id, side in legs:
                    postings.append((txn_id, account_id, side, amount, "USD", created))
                document = leaf_document(
                    id=txn_id, kind="adjustment", created_at=format_timestamp(created), contract=None, hold=None,
                    reverses=None, reference="bulk", meta={},
                    postings=[{"account": a, "party": purposes[a][0], "purpose": purposes[a][1], "side": s,
                               "amount": amount, "currency": "USD"} for a, s in legs],
                )
                leaves.append((tree.size, txn_id))
                for level, index, digest in tree.append(leaf_hash_of_text(leaf_text(document))):
                    nodes.append((node_key(level, index), digest.hex()))
            for table, columns, rows in (
                ("ledger_transaction", "id, kind, contract_id, hold_id, reverses_id, reference, meta, posting_count, "
                                       "idempotency_key, request_hash, created_at", txns),
                ("ledger_posting", "transaction_id, account_id, side, amount, currency, created_at", postings),
                ("ledger_logleaf", '"index", transaction_id', leaves),
                ("ledger_lognode", "id, hash", nodes),
            ):
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            conn.commit()
            say(f"    loaded {min(n, start + chunk):>9,} transactions ({time.perf_counter() - started:.0f} s)")
        cur.execute(
            """INSERT INTO ledger_balancecheckpoint (account_id, debits, credits, log_size, updated_at)
               SELECT account_id, SUM(CASE WHEN side = 'debit' THEN amount ELSE 0 END),
                      SUM(CASE WHEN side = 'credit' THEN amount ELSE 0 END), %s, now()
               FROM ledger_posting WHERE transaction_id LIKE 'txn_bulk%%' GROUP BY account_id""",
            [tree.size],
        )
        cur.execute("UPDATE ledger_logstate SET size = %s, root_hash = %s, updated_at = now() WHERE id = 1",
                    [tree.size, tree.root().hex()])
        cur.execute("SET session_replication_role = DEFAULT")
        conn.commit()
        # The load bypassed the triggers: check what they would have checked.
        cur.execute("""SELECT count(*) FROM (SELECT transaction_id FROM ledger_posting
                       WHERE transaction_id LIKE 'txn_bulk%%' GROUP BY transaction_id
                       HAVING sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END) <> 0
                           OR count(*) <> 2) AS bad""")
        assert cur.fetchone()[0] == 0, "bulk load produced unbalanced transactions"
        conn.execute("ANALYZE")
    tree_head_sign(size=tree.size, root=tree.root())
    sample = rng.randrange(size0, tree.size)
    leaf_hash, path = selectors.log_inclusion(index=sample, tree_size=tree.size)
    merkle.verify_inclusion(leaf_hash, sample, tree.size, path, tree.root())
    txn_id = f"txn_bulk{sample - size0:012d}"
    assert leaf_hash == merkle.leaf_hash(selectors.leaf_text_of(txn_id).encode()), "stored leaf ≠ rebuilt leaf"
    return {"brand": brand, "loaded": n, "seconds": time.perf_counter() - started}


def time_calls(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def ms(values: list[float]) -> str:
    return (f"p50 {pct(values, 50) * 1000:.2f} ms, p95 {pct(values, 95) * 1000:.2f} ms, "
            f"max {max(values) * 1000:.2f} ms (n={len(values)})")


# --- main ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("DATABASE_URL") or DEFAULT_URL)
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the bench database first")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--holds-per-writer", type=int, default=6000)
    parser.add_argument("--million", type=int, default=MILLION, help="postings/leaves for the read figures")
    parser.add_argument("--skip-million", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if not args.url.startswith("postgres"):
        raise SystemExit("bench/ledger.py measures PostgreSQL; give a postgres:// URL")

    figures: dict[str, float | int | str | None] = {}
    say(f"# bench/ledger.py — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, {load()}")
    prepare_database(args.url, fresh=args.fresh)
    setup_django(args.url)
    from django.db import connection

    from ledger import selectors, services
    from ledger.log import merkle
    from ledger.models import LogPending, TreeHead

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        say(f"PostgreSQL {cursor.fetchone()[0]}, synchronous_commit as configured, database {args.url.rsplit('/', 1)[1]}")

    # 1. The denominator.
    say(f"\n## Raw single-row INSERT (autocommit, psycopg) — {load()}")
    raw = raw_insert_rate(args.url, args.writers, args.seconds)
    raw1 = raw_insert_rate(args.url, 1, min(args.seconds, 5))
    bench = pgbench_rate(args.url, args.writers, int(args.seconds))
    figures.update(raw_insert_per_s=raw, raw_insert_1_writer_per_s=raw1, pgbench_tps=bench)
    say(f"  {args.writers} writers: {raw:,.0f} rows/s; 1 writer: {raw1:,.0f} rows/s"
        + (f"; pgbench -c {args.writers}: {bench:,.0f} tps" if bench else ""))

    # 2. Royalty postings per second.
    for label, hot in (("spread", False), ("hot", True)):
        tag = f"{label}{int(time.time())}"
        contracts = make_contracts(tag, hot=hot)
        plan = bulk_holds(contracts, args.holds_per_writer, args.writers, tag)
        say(f"\n## hold_post, {args.writers} writers, 100 contracts, {'one brand' if hot else '100 brands'} "
            f"({args.seconds:.0f} s) — {load()}")
        run = run_writers(_poster, [(ids, tag) for ids in plan], args.seconds)
        drained, drain_s = drain_log()
        check_books(tag)
        goal = GOALS[label]
        figures[f"{label}_posts_per_s"] = run["rate"]
        figures[f"{label}_p50_ms"] = pct(run["latencies"], 50) * 1000
        figures[f"{label}_p95_ms"] = pct(run["latencies"], 95) * 1000
        say(f"  {run['rate']:,.0f} royalty transactions/s ({run['rate'] * 4:,.0f} posting rows/s) — goal ≥ {goal:,.0f}: "
            f"{run['rate'] / goal:.2f}× goal; {run['rate'] / raw:.2f}× the raw INSERT rate")
        say(f"  latency under load: {ms(run['latencies'])}")
        rate_alone = f" ({drained / drain_s:,.0f} leaves/s alone)" if drained >= 100 else ""
        say(f"  sequencer appended {run['sequenced']:,} leaves meanwhile; backlog at the end {run['backlog']:,}, "
            f"drained in {drain_s:.2f} s{rate_alone}"
            + ("; WARNING: a writer ran out of holds" if run["ran_out"] else ""))

    # 3. One hold_post, alone.
    tag = f"lat{int(time.time())}"
    contracts = make_contracts(tag, hot=False, count=10)
    (ids,) = bulk_holds(contracts, 1200, 1, tag)
    say(f"\n## One hold_post at a time (1 writer, no other ledger load) — {load()}")
    for i in range(200):
        services.hold_post(hold=ids[i], duration_s=10, idempotency_key=f"{tag}-warm-{i}")
    single = []
    for hold_id in ids[200:1200]:
        start = time.perf_counter()
        services.hold_post(hold=hold_id, duration_s=10, idempotency_key=f"{tag}-{hold_id}")
        single.append(time.perf_counter() - start)
    figures.update(single_p50_ms=pct(single, 50) * 1000, single_p95_ms=pct(single, 95) * 1000)
    say(f"  {ms(single)} — goal p95 ≤ {GOALS['p95_ms']:.0f} ms: {'met' if pct(single, 95) * 1000 <= GOALS['p95_ms'] else 'MISSED'}")

    # 4. Full cycle (hold_create + hold_post), for context.
    tag = f"cyc{int(time.time())}"
    contracts = make_contracts(tag, hot=False)
    say(f"\n## hold_create + hold_post cycle, {args.writers} writers ({args.seconds:.0f} s) — {load()}")
    run = run_writers(_cycler, [(contracts, tag, w) for w in range(args.writers)], args.seconds)
    drain_log()
    figures["cycle_per_s"] = run["rate"]
    say(f"  {run['rate']:,.0f} renders metered/s (hold + post); {ms(run['latencies'])}")

    if not args.skip_million:
        say(f"\n## {args.million:,} postings on one account / {args.million:,} more leaves — {load()}")
        loaded = bulk_load_million(args.url, args.million)
        if loaded["loaded"]:
            say(f"  bulk-loaded in {loaded['seconds']:.0f} s")
        brand = loaded["brand"]
        from django.db.models import Sum

        from ledger.models import Account

        receivable = Account.objects.get(party=brand, purpose="receivable")
        payable = Account.objects.filter(party__name="bulk performer 0", purpose="payable").first()
        backlog = 500
        for i in range(backlog):  # unsequenced postings on the same account, through the real path
            services.transaction_record(kind="adjustment", legs=[services.Leg(receivable, "debit", 7, "USD"),
                                                                 services.Leg(payable, "credit", 7, "USD")],
                                        idempotency_key=f"backlog-{time.time()}-{i}")
        pending = LogPending.objects.count()
        say(f"  {load()}; the account holds {receivable.postings.count():,} postings, {pending:,} not yet sequenced")
        balances = time_calls(lambda: selectors.balances_for_party(party=brand), 300)
        row = selectors.balances_for_party(party=brand)[0]
        scan = time_calls(lambda: list(receivable.postings.values("side").order_by().annotate(s=Sum("amount"))), 3)
        figures.update(balance_p50_ms=pct(balances, 50) * 1000, balance_p95_ms=pct(balances, 95) * 1000,
                       full_scan_ms=statistics.median(scan) * 1000)
        say(f"  balance read (checkpoint + pending): {ms(balances)} — goal ≤ {GOALS['balance_ms']:.0f} ms: "
            f"{pct(balances, 95) * 1000 / GOALS['balance_ms']:.2f}× of the budget at p95")
        say(f"  (a full scan of the same account takes {statistics.median(scan) * 1000:,.0f} ms; balance "
            f"{row['balance']:,} minor units)")
        services.log_sequence()
        head = TreeHead.objects.order_by("-size").first()
        size, root = head.size, bytes.fromhex(head.root_hash)
        rng = random.Random(2)
        indices = [rng.randrange(size) for _ in range(1000)]
        proofs = []
        for index in indices:
            start = time.perf_counter()
            leaf, path = selectors.log_inclusion(index=index, tree_size=size)
            proofs.append(time.perf_counter() - start)
        for index in indices[:50]:
            leaf, path = selectors.log_inclusion(index=index, tree_size=size)
            merkle.verify_inclusion(leaf, index, size, path, root)
        figures.update(proof_p50_ms=pct(proofs, 50) * 1000, proof_p95_ms=pct(proofs, 95) * 1000, tree_size=size)
        say(f"  inclusion proof at {size:,} leaves ({len(path)} hashes): {ms(proofs)} — goal ≤ "
            f"{GOALS['proof_ms']:.0f} ms: {pct(proofs, 95) * 1000 / GOALS['proof_ms']:.2f}× of the budget at p95")
        from rest_framework.test import APIClient

        from rights.auth import generate_key, hash_key
        from rights.models import ApiKey

        prefix, raw_key = generate_key()
        ApiKey.objects.create(party=brand, prefix=prefix, hashed=hash_key(raw_key))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        http = []
        for index in indices[:200]:
            txn_id = f"txn_bulk{(index % args.million):012d}"
            start = time.perf_counter()
            response = client.get("/api/v1/ledger/proofs/inclusion", {"transaction": txn_id}, SERVER_NAME="localhost")
            http.append(time.perf_counter() - start)
            assert response.status_code == 200, response.content
        figures.update(proof_http_p50_ms=pct(http, 50) * 1000, proof_http_p95_ms=pct(http, 95) * 1000)
        say(f"  the same through GET /api/v1/ledger/proofs/inclusion (auth, scope check, leaf rebuilt): {ms(http)}")
        cons = time_calls(lambda: selectors.log_consistency_proof(first=size // 3 + 1, second=size), 200)
        say(f"  consistency proof {size // 3 + 1:,} → {size:,}: {ms(cons)}")

    say(f"\n# done — {load()}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
