"""Pytest fixtures for the local fake Stripe server (``python -m fakestripe``, docs/fakestripe.md).

``fake_stripe_server`` (session) starts one real server process on a free loopback port;
``fake_stripe`` (per test) gives the test its own world on it: a fresh API key, a fresh webhook
secret, an SDK client pointed at the server, and helpers for the ``/_fake/*`` control endpoints.
"""

from __future__ import annotations

import json
import secrets
import selectors
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import stripe

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class FakeStripeServer:
    url: str
    process: subprocess.Popen


def start_fake_stripe(*args: str, timeout: float = 20.0) -> FakeStripeServer:
    """Start ``python -m fakestripe --port 0 *args``; fail loudly (with its stderr) if it does not
    print its URL within ``timeout`` seconds."""
    proc = subprocess.Popen([sys.executable, "-m", "fakestripe", "--host", "127.0.0.1", "--port", "0", *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    while time.monotonic() < deadline:
        if sel.select(timeout=0.2):
            line = proc.stdout.readline()
            if line:
                return FakeStripeServer(url=json.loads(line)["url"], process=proc)
        if proc.poll() is not None:
            break
    proc.kill()
    _, err = proc.communicate(timeout=5)
    raise RuntimeError(f"fakestripe did not start within {timeout} s (exit {proc.returncode}):\n{err}")


def stop_fake_stripe(server: FakeStripeServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@dataclass
class FakeStripe:
    """One test's world on the fake server. ``client`` is a real ``stripe.StripeClient``."""

    url: str
    api_key: str = field(default_factory=lambda: "sk_test_" + secrets.token_hex(12))
    webhook_secret: str = field(default_factory=lambda: "whsec_" + secrets.token_hex(16))

    def __post_init__(self) -> None:
        self.client = stripe.StripeClient(self.api_key, base_addresses={"api": self.url}, max_network_retries=0)

    def control(self, method: str, path: str, data: dict | None = None) -> Any:
        """Call a control endpoint; returns the decoded JSON body, raises on a non-2xx answer."""
        body = urllib.parse.urlencode(data or {}).encode() if method == "POST" else None
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers={"Authorization": f"Bearer {self.api_key}"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{method} {path} -> {e.code}: {e.read().decode()}") from None

    def complete_onboarding(self, acct: str) -> dict:
        return self.control("POST", f"/_fake/accounts/{acct}/complete_onboarding")

    def restrict(self, acct: str) -> dict:
        return self.control("POST", f"/_fake/accounts/{acct}/restrict")

    def fail_transfers(self, acct: str, on: bool = True) -> dict:
        return self.control("POST", f"/_fake/accounts/{acct}/fail_transfers", {"on": "true" if on else "false"})

    def close_billing(self, customer: str, currency: str) -> dict:
        return self.control("POST", "/_fake/billing/close", {"customer": customer, "currency": currency})

    def pay_invoice(self, invoice_id: str) -> dict:
        return self.control("POST", f"/_fake/invoices/{invoice_id}/pay")

    def fail_invoice(self, invoice_id: str) -> dict:
        return self.control("POST", f"/_fake/invoices/{invoice_id}/fail")

    def dispute(self, customer: str, amount: int, currency: str) -> dict:
        """Returns ``{"charge": {...}, "dispute": {...}}``."""
        return self.control("POST", "/_fake/disputes", {"customer": customer, "amount": amount, "currency": currency})

    def set_webhook(self, url: str, secret: str | None = None) -> dict:
        return self.control("POST", "/_fake/webhook", {"url": url, "secret": secret or self.webhook_secret})

    def pause_webhooks(self) -> dict:
        return self.control("POST", "/_fake/webhook/pause")

    def resume_webhooks(self) -> dict:
        return self.control("POST", "/_fake/webhook/resume")

    def redeliver(self, event_id: str) -> dict:
        return self.control("POST", f"/_fake/events/{event_id}/redeliver")

    def deliveries(self) -> list[dict]:
        """Every delivery attempt, oldest first: {event, type, url, attempt, status, error, at}."""
        return self.control("GET", "/_fake/deliveries")["data"]

    def wait_webhooks(self, timeout: float = 10.0) -> None:
        """Wait until no event waits for delivery (fails after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while self.control("GET", "/_fake/webhook")["pending"]:
            if time.monotonic() > deadline:
                raise AssertionError(f"webhooks still pending after {timeout} s")
            time.sleep(0.02)

    def stats(self) -> dict:
        return self.control("GET", "/_fake/stats")

    def events(self, type: str | None = None) -> list[dict]:
        """Every event of this world (optionally of one type), newest first, as plain dicts."""
        out, after = [], None
        while True:
            q = {"limit": 100, **({"type": type} if type else {}), **({"starting_after": after} if after else {})}
            page = self.control("GET", "/v1/events?" + urllib.parse.urlencode(q))
            out += page["data"]
            if not page["has_more"]:
                return out
            after = page["data"][-1]["id"]


@pytest.fixture(scope="session")
def fake_stripe_server():
    server = start_fake_stripe()
    yield server
    stop_fake_stripe(server)


@pytest.fixture
def fake_stripe(fake_stripe_server) -> FakeStripe:
    return FakeStripe(url=fake_stripe_server.url)
