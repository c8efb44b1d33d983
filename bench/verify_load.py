#!/usr/bin/env python
"""/verify under abuse (issue 10 item 6): 8 clients loop POST /api/v1/verify on one key
while another client measures an ordinary API call (GET /api/v1/contracts).

    .venv/bin/python bench/verify_load.py [--seconds 20] [--clients 8]

gunicorn (2 workers × 4 threads) on the embedded SQLite default, a fresh data dir.
Prints the other call's latency alone and under the verify loop (p50 / p90, and the
ratio), and what the verify clients got (200 vs 429 with Retry-After): the per-party
rate limit (DOPPEL_VERIFY_RATE_LIMIT_PER_MINUTE) and the verification slots
(DOPPEL_VERIFY_MAX_CONCURRENT) are what keep the rest of the API responsive.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.provenance import synthetic  # noqa: E402  (the clip the memory test verifies too)

_spec = importlib.util.spec_from_file_location("bench_gateway", ROOT / "bench" / "gateway.py")
gw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gw)


def multipart(data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"clip.mp4\"\r\n"
            "Content-Type: video/mp4\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def timed_gets(port: int, key: str, stop: threading.Event, out: list[float], pause: float = 0.05) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while not stop.is_set():
        started = time.perf_counter()
        conn.request("GET", "/api/v1/contracts", headers={"Authorization": f"Bearer {key}"})
        resp = conn.getresponse()
        resp.read()
        out.append((time.perf_counter() - started) * 1000)
        assert resp.status == 200, resp.status
        time.sleep(pause)


def verify_loop(port: int, key: str, body: bytes, ctype: str, stop: threading.Event, statuses: Counter) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    while not stop.is_set():
        try:
            conn.request("POST", "/api/v1/verify", body=body,
                         headers={"Authorization": f"Bearer {key}", "Content-Type": ctype})
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException):
            # A refusal (429) may close the connection before the upload is read: reconnect.
            statuses["connection closed"] += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            continue
        statuses[resp.status] += 1
        if resp.status == 429:  # an abusive client retries at once; at most 0.5 s here
            time.sleep(min(float(resp.getheader("Retry-After") or 1), 0.5))


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 2 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    env = gw.fresh_env("sqlite")
    world = gw.run_child("seed", env, "1", "10")
    key = world["brand_key"]
    body, ctype = multipart(synthetic.pattern_clip(720, 1280, frames=125))  # 5 s
    port = 20000 + os.getpid() % 1000
    web = gw.start_gunicorn(env, port, 2, 4)
    try:
        alone: list[float] = []
        stop = threading.Event()
        t = threading.Thread(target=timed_gets, args=(port, key, stop, alone))
        t.start()
        time.sleep(min(args.seconds, 8))
        stop.set()
        t.join()
        loaded: list[float] = []
        statuses: Counter = Counter()
        stop = threading.Event()
        threads = [threading.Thread(target=verify_loop, args=(port, key, body, ctype, stop, statuses))
                   for _ in range(args.clients)]
        threads.append(threading.Thread(target=timed_gets, args=(port, key, stop, loaded)))
        for thread in threads:
            thread.start()
        time.sleep(args.seconds)
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        gw.stop(web)
    a50, a90, l50, l90 = pct(alone, 50), pct(alone, 90), pct(loaded, 50), pct(loaded, 90)
    print(f"### /verify abuse: {args.clients} clients on one key, {args.seconds:.0f} s, "
          f"{len(body) / 1e6:.1f} MB 720×1280 5 s clip — load {gw.load():.2f}\n")
    print("| GET /contracts | p50 | p90 | n |\n|---|---|---|---|")
    print(f"| alone | {a50:.1f} ms | {a90:.1f} ms | {len(alone)} |")
    print(f"| during the verify loop | {l50:.1f} ms | {l90:.1f} ms | {len(loaded)} |")
    print(f"| ratio | {l50 / a50:.1f}× | {l90 / a90:.1f}× | |\n")
    print(f"verify answers: {json.dumps({str(k): v for k, v in statuses.items()}, sort_keys=True)}")


if __name__ == "__main__":
    main()
