"""python manage.py demo [--port 8000] [--no-serve]

The README's first command ends here: it creates the demo world, starts the
web server (gunicorn) and a django-q2 cluster, then walks one generation
through the real system over HTTP — request, policy, render, watermark, C2PA
signing, royalty — verifies the clip (also with its manifest stripped), shows
a denial, the union's audit view and the performer's balance; then the money
moves — the performer and union connect Stripe (the local fake Stripe server,
started here, unless STRIPE_SECRET_KEY points at real Stripe), the brand is
billed through a meter, a payout run transfers the balances, the statement and
reconcile show it — and keeps the service running until Ctrl-C.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import av
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

ROOT = Path(settings.BASE_DIR)


def _free_port(preferred: int) -> int:
    for port in [preferred, *range(preferred + 1, preferred + 50)]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise CommandError(f"no free port near {preferred}")


def _private_log(path: Path):
    """Open a log for appending, readable by the service account only (0600, also
    when an older run left it world-readable): logs name keys, ids and errors."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab")


def _post_form(url: str, key: str) -> None:
    req = urllib.request.Request(url, data=b"", method="POST")
    req.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(req, timeout=30):
        pass


class Api:
    def __init__(self, base: str):
        self.base = base

    def call(self, method: str, path: str, key: str, body=None, headers=None, raw: bytes | None = None,
             content_type: str = "application/json"):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {key}")
        if data is not None:
            req.add_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                payload = resp.read()
                ctype = resp.headers.get("Content-Type", "")
                return resp.status, (json.loads(payload) if "json" in ctype else payload)
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            try:
                return exc.code, json.loads(payload)
            except ValueError:
                return exc.code, payload


def _multipart(field: str, filename: str, data: bytes, mime: str) -> tuple[bytes, str]:
    boundary = "doppel" + secrets.token_hex(8)
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: {mime}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _strip_and_reencode(mp4: bytes) -> bytes:
    """What a re-uploader does: decode, downscale to 50 %, re-encode at CRF 30 — the manifest is gone."""
    src = av.open(io.BytesIO(mp4))
    out_buf = io.BytesIO()
    dst = av.open(out_buf, mode="w", format="mp4")
    vin = src.streams.video[0]
    vout = dst.add_stream("libx264", rate=int(vin.average_rate or 25))
    vout.width, vout.height = vin.width // 2 // 2 * 2, vin.height // 2 // 2 * 2
    vout.pix_fmt = "yuv420p"
    vout.options = {"crf": "30", "preset": "veryfast"}
    for frame in src.decode(vin):
        img = frame.to_ndarray(format="rgb24")
        small = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(width=vout.width, height=vout.height)
        for packet in vout.encode(small):
            dst.mux(packet)
    for packet in vout.encode():
        dst.mux(packet)
    dst.close()
    src.close()
    return out_buf.getvalue()


class Command(BaseCommand):
    help = "Run the service with the demo world and walk one generation through it."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("DOPPEL_PORT", "8000")))
        parser.add_argument("--no-serve", action="store_true", help="Exit after the walkthrough")
        parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")

    def say(self, text: str = "") -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def handle(self, *args, **opts):
        call_command("migrate", verbosity=0)
        out = io.StringIO()
        call_command("demo_world", "--json", stdout=out)
        world = json.loads(out.getvalue())
        admin_password = self._admin_user()
        people_password = self._people(world)
        port = _free_port(opts["port"])
        base = f"http://127.0.0.1:{port}"
        # The demo serves plain HTTP on loopback: no HTTPS redirect, HSTS or Secure-only
        # cookies there (README "Configuration": DOPPEL_HTTPS).
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "DOPPEL_HTTPS": "0"}
        logs = settings.DATA_DIR / "logs"
        logs.mkdir(mode=0o700, exist_ok=True)
        logs.chmod(0o700)
        procs: list[subprocess.Popen] = []

        def stop(*_):
            for p in procs:
                if p.poll() is None:
                    try:
                        os.killpg(p.pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
            for p in procs:
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)

        signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
        try:
            stripe_note = self._stripe(env, base, logs, procs)
            procs.append(subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, start_new_session=True,
                stdout=_private_log(logs / "qcluster.log"), stderr=subprocess.STDOUT))
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-b", f"127.0.0.1:{port}",
                 "-w", str(opts["workers"]), "-k", "gthread", "--threads", "4", "--timeout", "120"],
                cwd=ROOT, env=env, start_new_session=True,
                stdout=_private_log(logs / "web.log"), stderr=subprocess.STDOUT))
            api = Api(base)
            self._wait_ready(api, world["brand"]["api_key"], procs)
            self.say("")
            self.say(self.style.SUCCESS("Doppel is running"))
            self.say(f"  Web + API     {base}/")
            self.say(f"  API docs      {base}/api/docs/   (OpenAPI: {base}/api/schema/)")
            self.say(f"  Admin         {base}/admin/   user 'admin@demo.doppel.local', password '{admin_password}' (two-factor set-up on first sign-in)")
            self.say(f"  Logs          {logs}/web.log, {logs}/qcluster.log")
            self.say(f"  Stripe        {stripe_note}")
            self.say("")
            self.say("Demo API keys (Authorization: Bearer <key>):")
            for role in ("brand", "performer", "union", "other_brand"):
                p = world[role]
                self.say(f"  {role:<12} {p['name']:<16} {p['id']}  {p['api_key']}")
            self.say(f"  contract     {world['contract']} (active)")
            self.say("")
            self.say(f"Web sign-in at /accounts/login/, password '{people_password}':")
            for role in ("performer", "brand", "union"):
                self.say(f"  {role:<12} {role}@demo.doppel.local"
                         + ("   (union auditors set up two-factor sign-in first)" if role == "union" else ""))
            self.say("")
            self._walkthrough(api, world, base)
            self._money(api, world)
            if opts["no_serve"]:
                return
            self.say("")
            self.say("The service keeps running. Try:")
            self.say(f"  curl -H 'Authorization: Bearer {world['brand']['api_key']}' {base}/api/v1/generations")
            self.say("Press Ctrl-C to stop.")
            while all(p.poll() is None for p in procs):
                time.sleep(1)
            raise CommandError("a service process exited; see the logs in " + str(logs))
        except KeyboardInterrupt:
            self.say("\nstopping…")
        finally:
            stop()

    def _stripe(self, env: dict, base: str, logs: Path, procs: list) -> str:
        """Real Stripe when STRIPE_SECRET_KEY is set; else start the local fake Stripe server
        (python -m fakestripe: a test/demo fake, docs/fakestripe.md) and point the service at it."""
        if settings.STRIPE_SECRET_KEY and not settings.DOPPEL_STRIPE_API_BASE:
            return "real Stripe (STRIPE_SECRET_KEY)"
        secret = "whsec_demo" + secrets.token_hex(12)
        fake = subprocess.Popen(
            [sys.executable, "-m", "fakestripe", "--host", "127.0.0.1", "--port", "0",
             "--webhook-url", f"{base}/stripe/webhook", "--webhook-secret", secret],
            cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.PIPE,
            stderr=_private_log(logs / "fakestripe.log"), text=True)
        procs.append(fake)
        line = fake.stdout.readline()
        if not line:
            raise CommandError("the fake Stripe server did not start; see var/logs/fakestripe.log")
        url = json.loads(line)["url"]
        values = {"STRIPE_SECRET_KEY": "sk_test_demo" + secrets.token_hex(8), "STRIPE_WEBHOOK_SECRET": secret,
                  "DOPPEL_STRIPE_API_BASE": url,
                  # The demo's one clip earns a few dollars: pay out from 1.00.
                  "DOPPEL_PAYOUT_MINIMUMS": "USD=100"}
        env.update(values)
        self._forget_previous_fake()
        for name, value in values.items():  # this process runs the payout itself
            setattr(settings, name, [value] if name == "DOPPEL_PAYOUT_MINIMUMS" else value)
        return f"local fake Stripe server {url} (test/demo fake; set STRIPE_SECRET_KEY for real Stripe)"

    def _forget_previous_fake(self) -> None:
        """The fake keeps its world in memory only: a new demo run meets a fresh one. Forget
        the Stripe ids an earlier run stored (accounts, customers, meters) so they are made
        again, and let the meter reports be sent again; earlier payouts keep their history."""
        from payments.models import (
            BrandBilling,
            MeterReport,
            PayeeAccount,
            Payout,
            StripeInvoice,
            StripeMeter,
        )

        PayeeAccount.objects.all().delete()
        StripeMeter.objects.all().delete()
        StripeInvoice.objects.all().delete()
        BrandBilling.objects.update(stripe_customer=None)
        MeterReport.objects.update(reported_at=None)
        self._earlier_payouts = set(Payout.objects.values_list("id", flat=True))

    def _money(self, api: Api, world: dict) -> None:
        """Step 5: the performer and union connect Stripe, the brand is billed, the money moves."""
        from payments.services import billing, payouts, reconcile

        fake = bool(settings.DOPPEL_STRIPE_API_BASE)
        self.say(self.style.MIGRATE_HEADING("5. The money moves (Stripe Connect)"))
        for role in ("performer", "union"):
            status, acct = api.call("POST", "/api/v1/payouts/account", world[role]["api_key"])
            if status != 200:
                raise CommandError(f"connecting the {role}'s Stripe account failed: {status} {acct}")
            self.say(f"  {role} connects Stripe: {acct['account']}, onboarding at {acct['onboarding_url']}")
            if fake:  # the payee fills Stripe's form: here, the fake's control endpoint
                _post_form(f"{settings.DOPPEL_STRIPE_API_BASE}/_fake/accounts/{acct['account']}/complete_onboarding",
                           settings.STRIPE_SECRET_KEY)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = [api.call("GET", "/api/v1/payouts/account", world[r]["api_key"])[1] for r in ("performer", "union")]
            if all(isinstance(s, dict) and s.get("payouts_enabled") for s in states):
                break
            time.sleep(0.5)
        else:
            self.say("  onboarding not complete yet (no account.updated received): balances wait")
            return
        self.say("  account.updated received: payouts enabled for both")
        sync = billing.billing_sync()
        self.say(f"  brand billed: {sync['sent']} meter event(s) sent to Stripe Billing")
        run = payouts.payouts_run(trigger="demo")
        for po in run.payouts.all().order_by("created_at"):
            self.say(f"  payout {po.id}: {po.amount} {po.currency} → {po.destination} {po.status}, "
                     f"transfer {po.transfer} (ledger {po.paid_transaction_id})")
        status, listing = api.call("GET", "/api/v1/payouts", world["performer"]["api_key"])
        self.say(f"  GET /api/v1/payouts (performer): {len(listing['results'])} payout(s), "
                 f"latest {listing['results'][0]['status'] if listing['results'] else '-'}")
        status, balances = api.call("GET", f"/api/v1/ledger/balances?party={world['performer']['id']}",
                                    world["performer"]["api_key"])
        for row in balances.get("balances", []):
            self.say(f"  performer {row['purpose']} balance now {row['balance']} {row['currency']}")
        month = time.strftime("%Y-%m", time.gmtime())
        status, statement = api.call("GET", f"/api/v1/ledger/statements?month={month}", world["performer"]["api_key"])
        if status == 200:
            for row in statement.get("currencies", []):
                self.say(f"  statement {month}: royalties {row['royalties']}, payouts {row['payouts']}, "
                         f"closing balance {row['closing_balance']} {row['currency']}")
        result = reconcile.reconcile(trigger="demo")
        earlier = getattr(self, "_earlier_payouts", set())
        left = [d for d in result.differences if d.get("payout") not in earlier]
        self.say(f"  reconcile: {'ledger and Stripe agree' if not left else left}"
                 + (f" (payouts of earlier demo runs went to an earlier fake Stripe: {len(result.differences)})"
                    if len(left) < len(result.differences) else ""))


    def _people(self, world: dict) -> str:
        """One web sign-in per demo party (web's demo_people command; the password is kept
        in the data dir, readable by the service account only, like the admin's)."""
        path = settings.DATA_DIR / "demo_people_password"
        password = path.read_text().strip() if path.exists() else secrets.token_urlsafe(12)
        call_command("demo_people", "--performer", world["performer"]["id"], "--brand", world["brand"]["id"],
                     "--union", world["union"]["id"], "--password", password, stdout=io.StringIO())
        if not path.exists():
            path.write_text(password)
            path.chmod(0o600)
        return password

    def _admin_user(self) -> str:
        path = settings.DATA_DIR / "demo_admin_password"
        User = get_user_model()
        email = "admin@demo.doppel.local"  # the admin signs in through allauth, by e-mail (then sets up TOTP)
        if path.exists() and User.objects.filter(username="admin", email=email).exists():
            return path.read_text().strip()
        password = secrets.token_urlsafe(12)
        user, _ = User.objects.get_or_create(username="admin", defaults={"is_staff": True, "is_superuser": True})
        user.is_staff = user.is_superuser = True
        user.email = email
        user.set_password(password)
        user.save()
        from allauth.account.models import EmailAddress

        EmailAddress.objects.get_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
        path.write_text(password)
        path.chmod(0o600)
        return password

    def _wait_ready(self, api: Api, key: str, procs) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                raise CommandError("the web server or the qcluster exited at start; see var/logs")
            try:
                status, _ = api.call("GET", "/api/v1/parties/me", key)
                if status == 200:
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.5)
        raise CommandError("the web server did not start within 90 s")

    def _walkthrough(self, api: Api, world: dict, base: str) -> None:
        brand_key = world["brand"]["api_key"]
        script = ("Hi, I'm Ava. Crack open an ice-cold Fizzly and taste the summer. "
                  "Zero sugar, all the fun. Find it in the cooler aisle today!")
        body = {"contract": world["contract"], "script": script, "platform": "tiktok",
                "category": "soft_drinks", "language": "en", "territory": "US"}
        self.say(self.style.MIGRATE_HEADING("1. A brand requests a generation"))
        started = time.monotonic()
        status, gen = api.call("POST", "/api/v1/generations", brand_key, body,
                               headers={"Idempotency-Key": str(uuid.uuid4())})
        if status != 202:
            raise CommandError(f"generation request failed: {status} {gen}")
        checks = ", ".join(c["rule"] for c in gen["decision"]["checks"])
        self.say(f"  POST /api/v1/generations → 202 {gen['status']}  ({gen['id']})")
        self.say(f"  policy: allowed; {len(gen['decision']['checks'])} rules checked ({checks})")
        last = None
        while True:
            status, state = api.call("GET", f"/api/v1/generations/{gen['id']}", brand_key)
            line = f"  {state['status']:<10} {state['progress'] * 100:5.1f} %"
            if line != last:
                self.say(line)
                last = line
            if state["status"] in ("delivered", "failed", "cancelled", "rejected", "denied"):
                break
            if time.monotonic() - started > 600:
                raise CommandError("the render did not finish within 10 minutes; see var/logs/qcluster.log")
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        if state["status"] != "delivered":
            raise CommandError(f"generation ended {state['status']}: {state['failure']}")
        asset, royalty = state["asset"], state["royalty"]
        self.say(f"  delivered in {elapsed:.1f} s: {asset['duration_s']:.1f} s clip, {asset['bytes']:,} bytes, "
                 f"sha256 {asset['sha256'][:16]}…")
        status, mp4 = api.call("GET", f"/api/v1/generations/{gen['id']}/asset", brand_key)
        demo_dir = settings.DATA_DIR / "demo"
        demo_dir.mkdir(exist_ok=True)
        clip = demo_dir / f"{gen['id']}.mp4"
        clip.write_bytes(mp4)
        self.say(f"  saved {clip}")
        cur = royalty["currency"]
        self.say(f"  royalty ({cur} minor units): performer {royalty['performer_amount']}, union P&H "
                 f"{royalty['union_amount']}, platform fee {royalty['fee_amount']}, brand pays {royalty['total']} "
                 f"(ledger transaction {royalty['transaction']})")

        self.say(self.style.MIGRATE_HEADING("2. Anyone verifies the clip"))
        for label, data in (("signed clip", mp4), ("re-encoded at 50 %, CRF 30, manifest stripped",
                                                    _strip_and_reencode(mp4))):
            raw, ctype = _multipart("file", "clip.mp4", data, "video/mp4")
            status, report = api.call("POST", "/api/v1/verify", world["other_brand"]["api_key"], raw=raw,
                                      content_type=ctype)
            wm = report["watermark"]
            self.say(f"  {label}: C2PA {report['c2pa']['state']}; watermark "
                     f"{'found' if wm['found'] else 'not found'} (confidence {wm['confidence']:.2f}) → "
                     f"{(report['generation'] or {}).get('id')}")

        self.say(self.style.MIGRATE_HEADING("3. A use the contract forbids is denied and recorded"))
        bad = {**body, "script": "Feeling lucky? Spin the roulette at Globex Casino, first bet on us!",
               "category": "entertainment", "platform": "x"}
        status, denial = api.call("POST", "/api/v1/generations", brand_key, bad,
                                  headers={"Idempotency-Key": str(uuid.uuid4())})
        reasons = ", ".join(r["rule"] for r in denial["error"]["reasons"])
        self.say(f"  → {status} {denial['error']['code']}: {reasons}")
        status, audit = api.call("GET", "/api/v1/generations?status=denied", world["union"]["api_key"])
        self.say(f"  the union sees {len(audit['results'])} denial(s) for its members")

        self.say(self.style.MIGRATE_HEADING("4. The performer's balance and the public log"))
        status, balances = api.call("GET", f"/api/v1/ledger/balances?party={world['performer']['id']}",
                                    world["performer"]["api_key"])
        for row in balances.get("balances", []):
            self.say(f"  {row['purpose']:<8} {row['balance']:>8} {row['currency']} (minor units)")
        status, head = api.call("GET", "/api/v1/ledger/tree-head", world["union"]["api_key"])
        if status == 200:
            self.say(f"  signed tree head: size {head['size']}, root {head['root_hash'][:16]}…")
