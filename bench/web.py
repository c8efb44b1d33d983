"""Server time of the web pages with a few hundred rows (issue 12 "Quality bar": under 150 ms).

    .venv/bin/python bench/web.py [--rows 300] [--repeat 20] [--database-url postgres://…/name]

Builds one world on a fresh SQLite file (or the given PostgreSQL database, dropped
and recreated): a brand, a performer in a union, an accepted contract, ``--rows``
delivered generations (each with its ledger royalty) and ``--rows`` denials. Then
renders each main page in process with Django's test client signed in as each
role (server time: URL resolution, middleware, queries, templates — no network),
``--repeat`` times after one warm-up, and prints the median and p95 in ms with
the number of queries, as markdown.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOAL_MS = 150.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="doppel-bench-web-"))
    os.environ.update({"DOPPEL_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "config.settings",
                       "DOPPEL_HTTPS": "0", "DOPPEL_LEDGER_SEQUENCE_NUDGE": "0", "DOPPEL_LOG_LEVEL": "WARNING"})
    if args.database_url:
        _recreate(args.database_url)
        os.environ["DATABASE_URL"] = args.database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    world = build(args.rows)
    print(f"## web pages, {args.rows} uses + {args.rows} denials, "
          f"{'PostgreSQL' if args.database_url else 'SQLite'} — load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print("| page | role | median ms | p95 ms | queries | goal ≤ 150 ms |")
    print("|---|---|---|---|---|---|")
    for role, url in pages(world):
        median, p95, queries = measure(world[role], url, args.repeat)
        print(f"| `{url}` | {role} | {median:.1f} | {p95:.1f} | {queries} | {'✅' if p95 <= GOAL_MS else '❌'} |")


def _recreate(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def build(rows: int) -> dict:
    from django.test import Client
    from django.utils import timezone

    from gateway import services as gateway_services
    from gateway import transitions
    from gateway.inputs import GenerationInput
    from gateway.models import Generation
    from tests.factories import make_cast, make_contract
    from tests.web.conftest import give_totp, make_person

    cast = make_cast()
    contract = make_contract(cast.brand, cast.performer, max_renders=rows * 3)

    def ask(**overrides):
        fields = {"contract_id": contract.id, "script": "Crack open an ice-cold Fizzly and taste the summer.",
                  "platform": "tiktok", "category": "soft_drinks", "language": "en", "territory": "US",
                  "profile": "vertical_720x1280", "captions": True, **overrides}
        outcome = gateway_services.generation_request(brand=cast.brand, idempotency_key=str(uuid.uuid4()),
                                                      fingerprint="f", data=GenerationInput(**fields))
        return outcome.generation_id

    started = time.monotonic()
    for _ in range(rows):
        gen_id = ask()
        claimed = transitions.generation_claim(generation_id=gen_id, worker="bench:1", lease_s=60,
                                               now=timezone.now())
        transitions.generation_deliver(generation_id=gen_id, token=claimed.attempts, asset_path=f"{gen_id}.mp4",
                                       sha256="ab" * 32, size=20, duration_s=3.0, frames=75, timings={},
                                       now=timezone.now())
        ask(platform="x")  # denied: platform not allowed
    print(f"(setup: {rows} deliveries + {rows} denials in {time.monotonic() - started:.1f} s)", file=sys.stderr)
    assert Generation.objects.filter(status="delivered").count() == rows
    clients = {}
    for role, party in (("performer", cast.performer), ("brand", cast.brand), ("union", cast.union)):
        user = make_person(party, admin=True)
        if role == "union":
            give_totp(user)
        client = Client()
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        clients[role] = client
    denied = Generation.objects.filter(status="denied").values_list("id", flat=True).first()
    delivered = Generation.objects.filter(status="delivered").values_list("id", flat=True).first()
    return {**clients, "contract": contract.id, "denied": denied, "delivered": delivered}


def pages(world: dict) -> list[tuple[str, str]]:
    return [
        ("performer", "/app/performer/"), ("performer", "/app/performer/uses/"),
        ("performer", "/app/performer/contracts/"), ("performer", f"/app/performer/contracts/{world['contract']}/"),
        ("performer", "/app/performer/denials/"),
        ("brand", "/app/brand/"), ("brand", "/app/brand/generations/"),
        ("brand", f"/app/brand/generations/{world['delivered']}/"), ("brand", "/app/brand/generations/new/"),
        ("brand", "/app/brand/contracts/new/"),
        ("union", "/app/union/"), ("union", "/app/union/denials/"), ("union", f"/app/union/denials/{world['denied']}/"),
        ("union", "/app/union/contracts/"), ("union", "/app/union/ledger/"),
    ]


def measure(client, url: str, repeat: int) -> tuple[float, float, int]:
    from django.db import connection

    first = client.get(url)
    if first.status_code != 200:
        raise SystemExit(f"{url}: {first.status_code}")
    queries = []  # counted by a wrapper: Django resets its own query log at each request's start

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        client.get(url)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))], len(queries)


if __name__ == "__main__":
    main()
