#!/usr/bin/env python
"""Payout and reconciliation figures (issue 11), against the local fake Stripe server.
Prints markdown (the tables of bench/RESULTS.md).

    .venv/bin/python bench/payouts.py [--quick] [--database-url postgres://…/doppel_bench_payouts]
                                      [--payees 1000,10000] [--royalties 100000,10000]

* Every size runs in its own child process on its own fresh database: a SQLite file
  under a temporary directory by default; with ``--database-url`` a PostgreSQL
  database of that name plus a suffix per size (dropped and created; never point it
  at a database you care about). One fake Stripe server (``python -m fakestripe``)
  serves them all, each size with its own API key (its own Stripe world).
* Payouts: N performers, each with a ``PayeeAccount`` on its own Connect account
  (``stripe_account`` is unique, so N accounts are created and onboarded in the fake;
  not timed) and a payable balance funded by one ``adjustment`` transaction (not
  timed). Timed: ``payouts_run()`` alone (reserve, transfer, post per payee).
  Linearity: (time at the larger N / time at the smaller N) ÷ (the ratio of the Ns);
  1.0 = linear.
* Reconcile: R royalty transactions from ``hold_create`` + ``hold_post`` over 10
  contracts (10 brands), ``billing_sync()`` until every meter report is sent (not
  timed), then ``reconcile(repair=False)`` timed once plain and once under
  tracemalloc (peak of Python allocations); the RSS growth is the peak resident set
  during the plain run (sampled every 5 ms) minus the resident set before it.
  Streaming: the memory figures must not grow with R.
The load average is printed with each phase: on a shared 2-core machine the
figures move with it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

# The project's modules are imported inside functions, after ``setup_django()``
# (they define Django models, which need the configured settings first).
REPO = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- database --------------------------------------------------------------------------


def prepare_postgres(url: str) -> None:
    """Drop and create the database named by ``url``."""
    import psycopg

    match = re.match(r"^(postgres(?:ql)?://[^/]*)/([A-Za-z0-9_]+)$", url)
    if not match:
        raise SystemExit(f"--database-url must be postgres://user@host:port/dbname, got {url!r}")
    with psycopg.connect(match[1] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{match[2]}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{match[2]}"')


def setup_django(url: str, stripe_base: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["STRIPE_SECRET_KEY"] = "sk_test_bench" + os.urandom(8).hex()
    os.environ["DOPPEL_STRIPE_API_BASE"] = stripe_base
    os.environ["STRIPE_WEBHOOK_SECRET"] = "whsec_x"
    os.environ.setdefault("DOPPEL_LEDGER_SEQUENCE_NUDGE", "0")
    os.environ.setdefault("DOPPEL_DATA_DIR", str(REPO / "var" / "bench"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    sys.path.insert(0, str(REPO))
    import django
    from django.core.management import call_command

    django.setup()
    logging.getLogger("stripe").setLevel(logging.WARNING)  # one INFO line per request otherwise
    call_command("migrate", verbosity=0, skip_checks=True)


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


# --- phase: payouts --------------------------------------------------------------------


def fake_accounts(base: str, key: str, n: int) -> list[str]:
    """N onboarded Connect accounts in the fake (one keep-alive connection)."""
    import http.client
    import urllib.parse

    parsed = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-www-form-urlencoded"}

    def post(path: str, body: dict) -> dict:
        conn.request("POST", path, urllib.parse.urlencode(body), headers)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"POST {path} -> {resp.status}: {data[:300]!r}")
        return json.loads(data)

    ids = []
    for i in range(n):
        acct = post("/v1/accounts", {"type": "express", "email": f"payee{i}@bench.test"})["id"]
        post(f"/_fake/accounts/{acct}/complete_onboarding", {})
        ids.append(acct)
    conn.close()
    return ids


def phase_payouts(n: int, base: str) -> dict:
    from django.conf import settings
    from django.db import transaction

    from ledger import services as ledger
    from payments.models import PayeeAccount, Payout
    from payments.services.payouts import payouts_run
    from rights.models import Party

    start = time.perf_counter()
    accounts = fake_accounts(base, settings.STRIPE_SECRET_KEY, n)
    t_accounts = time.perf_counter() - start
    start = time.perf_counter()
    cash = ledger.account_get_or_create(party=None, purpose="stripe_cash", currency="USD")
    with transaction.atomic():
        parties = Party.objects.bulk_create(
            [Party(kind="performer", name=f"bench payee {i}") for i in range(n)], batch_size=1000)
        PayeeAccount.objects.bulk_create(
            [PayeeAccount(party=p, stripe_account=a, payouts_enabled=True, charges_enabled=True,
                          details_submitted=True) for p, a in zip(parties, accounts, strict=True)], batch_size=1000)
    for i, party in enumerate(parties):
        payable = ledger.account_get_or_create(party=party, purpose="payable", currency="USD")
        amount = 10_000 + i % 997 * 100  # $100.00 and up, minor units
        ledger.transaction_record(kind="adjustment", legs=[ledger.Leg(cash, "debit", amount, "USD"),
                                                           ledger.Leg(payable, "credit", amount, "USD")],
                                  idempotency_key=f"bench-fund-{i}")
    t_fund = time.perf_counter() - start
    say(f"  payouts N={n}: {t_accounts:.1f} s fake accounts, {t_fund:.1f} s funding; {load()}")
    load_before = load()
    start = time.perf_counter()
    run = payouts_run()
    elapsed = time.perf_counter() - start
    counts = run.summary["counts"]
    paid = Payout.objects.filter(status="paid").count()
    if paid != n or counts.get("paid") != n:
        raise RuntimeError(f"expected {n} paid payouts, got {paid} ({run.summary})")
    return {"n": n, "seconds": elapsed, "per_s": n / elapsed, "ms_each": elapsed / n * 1000, "load": load_before,
            "setup_accounts_s": t_accounts, "setup_fund_s": t_fund}


# --- phase: reconcile ------------------------------------------------------------------


def phase_reconcile(r: int) -> dict:
    from ledger import services as ledger
    from payments.models import MeterReport
    from payments.services.billing import billing_sync
    from payments.services.reconcile import reconcile
    from tests.ledger.factories import make_contract, make_party

    contracts = []
    for _ in range(10):
        union = make_party("union", pension_health_bps=850)
        contracts.append(make_contract(performer=make_party("performer", union=union), brand=make_party("brand"),
                                       max_renders=2_000_000_000))
    start = time.perf_counter()
    for i in range(r):
        hold = ledger.hold_create(contract=contracts[i % 10], reference=f"bench-r{i}", idempotency_key=f"bh-{i}",
                                  platform="tiktok")
        ledger.hold_post(hold=hold, duration_s=10.0 + i % 7, idempotency_key=f"bp-{i}")
    t_holds = time.perf_counter() - start
    say(f"  reconcile R={r}: {t_holds:.1f} s for {r} hold_create + hold_post ({r / t_holds:.0f}/s); {load()}")
    start = time.perf_counter()
    while True:
        result = billing_sync(limit=5000)
        if result["collected"] == 0 and result["sent"] == 0:
            break
        if result["failed"]:
            raise RuntimeError(f"billing_sync failed: {result}")
    t_sync = time.perf_counter() - start
    due = MeterReport.objects.filter(reported_at__isnull=True).count()
    total = MeterReport.objects.count()
    if due or total != r:
        raise RuntimeError(f"{total} meter reports ({due} unsent) for {r} royalties")
    say(f"  reconcile R={r}: {t_sync:.1f} s billing_sync ({r / t_sync:.0f} reports/s); {load()}")

    reconcile(repair=False)  # warm: imports, client, query plans (not counted)
    load_before = load()
    base_rss, peak = rss(), [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    run = reconcile(repair=False)
    elapsed = time.perf_counter() - start
    stop.set()
    sampler.join()
    peak[0] = max(peak[0], rss())
    if not run.ok:
        raise RuntimeError(f"reconcile found differences: {run.differences[:5]}")
    tracemalloc.start()
    start = time.perf_counter()
    run = reconcile(repair=False)
    traced = time.perf_counter() - start
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"r": r, "seconds": elapsed, "traced_seconds": traced, "tracemalloc_peak": traced_peak,
            "rss_growth": peak[0] - base_rss, "load": load_before, "setup_holds_s": t_holds,
            "setup_sync_s": t_sync, "counts": run.counts}


# --- parent ----------------------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    setup_django(args.child_db, args.child_stripe)
    result = phase_payouts(args.child_n, args.child_stripe) if args.child == "payouts" else \
        phase_reconcile(args.child_n)
    print(json.dumps(result), flush=True)


def run_child(kind: str, n: int, db_url: str, stripe_base: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, "--child-n", str(n), "--child-db", db_url,
                           "--child-stripe", stripe_base], cwd=REPO, stdout=subprocess.PIPE, text=True)
    if proc.returncode:
        raise SystemExit(f"{kind} N={n} failed (exit {proc.returncode}); see its traceback above")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="payees 200,1000 and royalties 2000,500 (a smoke run)")
    parser.add_argument("--database-url", help="postgres://…/name: one fresh database per size (name_<size>)")
    parser.add_argument("--payees", help="two payee counts, small,large (default 1000,10000)")
    parser.add_argument("--royalties", help="two royalty counts, large,small (default 100000,10000)")
    parser.add_argument("--skip-reconcile", action="store_true", help="the payout figures only")
    parser.add_argument("--child", choices=["payouts", "reconcile"], help=argparse.SUPPRESS)
    parser.add_argument("--child-n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-db", help=argparse.SUPPRESS)
    parser.add_argument("--child-stripe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    def pair(text: str | None, default: str) -> tuple[int, int]:
        values = [int(v.replace("_", "")) for v in (text or default).split(",")]
        if len(values) != 2 or min(values) <= 0:
            raise SystemExit(f"expected two positive counts like {default}, got {text!r}")
        return values[0], values[1]

    payees = pair(args.payees, "200,1000" if args.quick else "1000,10000")
    royalties = pair(args.royalties, "2000,500" if args.quick else "100000,10000")
    sys.path.insert(0, str(REPO))
    from tests.fakestripe_server import start_fake_stripe, stop_fake_stripe

    tmp = tempfile.mkdtemp(prefix="doppel-bench-payouts-")

    def db(label: str) -> str:
        if args.database_url:
            url = f"{args.database_url}_{label}"
            prepare_postgres(url)
            return url
        return f"sqlite:///{tmp}/{label}.sqlite3"

    start_load = load()
    say(f"start: {start_load}")
    server = start_fake_stripe()
    try:
        pay = [run_child("payouts", n, db(f"payouts_{n}"), server.url) for n in payees]
        rec = [] if args.skip_reconcile else \
            [run_child("reconcile", n, db(f"reconcile_{n}"), server.url) for n in royalties]
    finally:
        stop_fake_stripe(server)
    engine = "PostgreSQL" if args.database_url else "SQLite"
    small, large = pay
    linear = (large["seconds"] / small["seconds"]) / (large["n"] / small["n"])
    print(f"Load average at start: {start_load}. Database: {engine}, a fresh one per size. "
          f"Stripe: the local fake (`python -m fakestripe`), one Connect account per payee.\n")
    print("| payouts_run() | total | payouts/s | ms per payout | load at start of run | setup (not timed) |")
    print("|---|---|---|---|---|---|")
    for p in pay:
        print(f"| N = {p['n']:,} | {p['seconds']:.2f} s | {p['per_s']:,.0f} | {p['ms_each']:.2f} | {p['load']} | "
              f"{p['setup_accounts_s']:.0f} s accounts, {p['setup_fund_s']:.0f} s funding |")
    print(f"\nLinearity: (time at {large['n']:,} / time at {small['n']:,}) ÷ {large['n'] / small['n']:g} = "
          f"**{linear:.2f}** (1.00 = linear)\n")
    if not rec:
        return
    big, little = rec
    print("| reconcile(repair=False) | time | tracemalloc peak | RSS growth | time under tracemalloc | load at start |")
    print("|---|---|---|---|---|---|")
    for r in rec:
        print(f"| {r['r']:,} royalty transactions | {r['seconds']:.2f} s | {mib(r['tracemalloc_peak'])} | "
              f"{mib(r['rss_growth'])} | {r['traced_seconds']:.2f} s | {r['load']} |")
    print(f"\nRatios {big['r']:,} / {little['r']:,} ({big['r'] / little['r']:g}× the rows): time "
          f"{big['seconds'] / little['seconds']:.2f}×, tracemalloc peak "
          f"{big['tracemalloc_peak'] / little['tracemalloc_peak']:.2f}×. Setup (not timed): "
          + "; ".join(f"R={r['r']:,}: {r['setup_holds_s']:.0f} s hold_create+hold_post, "
                      f"{r['setup_sync_s']:.0f} s billing_sync" for r in rec) + ".")
    print(f"\nreconcile counts at {big['r']:,}: `{json.dumps(big['counts'])}`")


if __name__ == "__main__":
    main()
