"""A local fake Stripe server for tests and the demo — NOT Stripe, and not a Stripe emulator.

It answers the `stripe` 16.x SDK (``stripe.StripeClient(key, base_addresses={"api": url})``) with
only the fields Doppel's code reads. It is built on localstripe 1.15 (GPL-3.0, a test-only tool,
never shipped in the service): localstripe's ``Customer`` resource serves ``/v1/customers`` and
its ``unflatten_data`` decodes the SDK's form bodies (``a[b]=c``). Everything else is added here,
because localstripe lacks it or cannot do what we need:

* Connect accounts and account links, transfers and reversals, billing meters, meter events and
  event summaries, disputes: localstripe has none of them.
* Invoices: localstripe's ``/v1/invoices`` bills subscriptions, not meter usage, so its routes are
  NOT mounted; ``POST /_fake/billing/close`` makes an invoice from a customer's metered usage.
* Events and webhooks: localstripe keeps one global webhook list, signs with the event's creation
  time and does not retry; here each API key has its own endpoint, deliveries are signed at send
  time, in order, retried, pausable and recorded. localstripe's own ``customer.*`` events are
  routed into the same per-key event stream.
* ``Idempotency-Key``: localstripe ignores it; here every ``POST /v1/*`` honours it.
* State: localstripe keeps one global store pickled to ``/tmp`` on every write; here each API key
  (the Bearer ``sk_...``) has its own in-memory world, so tests with different keys never meet.

Choices where Stripe's behaviour is not reproduced exactly:

* A meter event whose ``identifier`` was already used for the same ``event_name`` is answered
  200 with the ORIGINAL event and is not counted again (Stripe dedupes such events for at least
  24 h; we keep them forever).
* Idempotency: a replay returns the first status and body with ``Idempotent-Replayed: true``.
  Like Stripe, results are saved only once the request passed parameter validation: a request
  refused for a malformed parameter (``param`` set, e.g. a bad ``amount``) is not saved, while one
  refused by state (unknown destination, inactive capability, ``fail_transfers``) is, and is
  replayed even after the state changes. Keys never expire.
* A transfer to an account whose ``transfers`` capability is inactive is refused with code
  ``account_invalid`` (real Stripe says ``insufficient_capabilities_for_transfer``); callers
  should not depend on the code.
* Closing billing with no unbilled usage makes a zero invoice that is immediately ``paid`` (and
  emits ``invoice.paid``), as Stripe does for zero-amount invoices.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import json
import secrets
import string
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import localstripe.resources as ls_resources
from aiohttp import web
from localstripe.errors import UserError
from localstripe.server import unflatten_data
from multidict import MultiDict

API_VERSION = "2025-01-27.acacia"
THREE_DECIMAL = {"bhd", "jod", "kwd", "omr", "tnd"}
REQUIREMENTS_DUE = ["external_account", "individual.dob.day", "individual.first_name", "tos_acceptance.date"]
RETRY_DELAYS = (0.1, 0.3, 1.0)  # seconds before the 2nd, 3rd and 4th delivery attempt
_ALNUM = string.ascii_letters + string.digits


class FakeError(Exception):
    """A Stripe-shaped error: ``{"error": {"type", "code", "message", "param"}}`` with ``status``.

    ``saved`` says whether an idempotent request that ends in this error has its result saved
    (False for malformed parameters, True for refusals by state)."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None,
                 type: str = "invalid_request_error", saved: bool = True) -> None:
        super().__init__(message)
        self.status, self.saved = status, saved
        self.body = {"error": {"type": type, "code": code, "message": message, "param": param}}


def _bad_param(param: str, message: str, code: str = "parameter_invalid") -> FakeError:
    return FakeError(400, message, code=code, param=param, saved=False)


def _missing(kind: str, id: str, param: str | None = None) -> FakeError:
    status = 400 if param else 404
    return FakeError(status, f"No such {kind}: '{id}'", code="resource_missing", param=param or "id")


def new_id(prefix: str, n: int = 16) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(n))


class LocalStore(ls_resources.Store):
    """localstripe's store without its pickle-to-/tmp on every write."""

    def __setitem__(self, key, value):
        dict.__setitem__(self, key, value)

    def __delitem__(self, key):
        dict.__delitem__(self, key)

    def dump_to_disk(self):
        pass


class Collection:
    """Objects in creation order with an id → position index, so a page costs O(limit)."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self.pos: dict[str, int] = {}

    def add(self, obj: dict) -> dict:
        self.pos[obj["id"]] = len(self.items)
        self.items.append(obj)
        return obj

    def get(self, id: str) -> dict | None:
        i = self.pos.get(id)
        return None if i is None else self.items[i]

    def __len__(self) -> int:
        return len(self.items)

    def newest_first(self, starting_after: str | None = None) -> Iterator[dict]:
        start = len(self.items) - 1
        if starting_after is not None:
            if starting_after not in self.pos:
                raise _bad_param("starting_after", f"No such object: '{starting_after}'", "resource_missing")
            start = self.pos[starting_after] - 1
        for i in range(start, -1, -1):
            yield self.items[i]


def page(url: str, source: Iterator[dict], limit: int, keep: Callable[[dict], bool] = lambda o: True,
         stop: Callable[[dict], bool] = lambda o: False) -> dict:
    """A Stripe list object of at most ``limit`` objects from ``source`` (newest first)."""
    data: list[dict] = []
    has_more = False
    for obj in source:
        if stop(obj):
            break
        if not keep(obj):
            continue
        if len(data) == limit:
            has_more = True
            break
        data.append(obj)
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def _limit(q: dict) -> int:
    raw = q.get("limit", "10")
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        raise _bad_param("limit", f"Invalid integer: {raw}", "parameter_invalid_integer") from None
    if not 1 <= limit <= 100:
        raise _bad_param("limit", "This value must be between 1 and 100.", "parameter_invalid_integer")
    return limit


def _int(data: dict, name: str, *, required: bool = True, minimum: int | None = None) -> int | None:
    raw = data.get(name)
    if raw is None or raw == "":
        if required:
            raise _bad_param(name, f"Missing required param: {name}.", "parameter_missing")
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, str)) or not str(raw).lstrip("-").isdigit():
        raise _bad_param(name, f"Invalid integer: {raw}", "parameter_invalid_integer")
    value = int(raw)
    if minimum is not None and value < minimum:
        raise _bad_param(name, f"This value must be greater than or equal to {minimum}.",
                         "parameter_invalid_integer")
    return value


def _str(data: dict, name: str, *, required: bool = True, max_len: int = 5000) -> str | None:
    raw = data.get(name)
    if raw is None or raw == "":
        if required:
            raise _bad_param(name, f"Missing required param: {name}.", "parameter_missing")
        return None
    if not isinstance(raw, str) or len(raw) > max_len:
        raise _bad_param(name, f"Invalid string: {name} (at most {max_len} characters).")
    return raw


def _metadata(data: dict) -> dict:
    md = data.get("metadata") or {}
    if not isinstance(md, dict) or not all(isinstance(v, str) for v in md.values()):
        raise _bad_param("metadata", "Invalid metadata: a hash of string keys and string values.")
    return dict(md)


def _currency(data: dict) -> str:
    ccy = _str(data, "currency").lower()
    if len(ccy) != 3 or not ccy.isalpha() or not ccy.isascii():
        raise _bad_param("currency", f"Invalid currency: {ccy}.", "invalid_currency")
    return ccy


def _bool(value: Any) -> bool:
    return value in (True, "true", "True", "1", 1, "on", "yes")


def snapshot(obj: dict) -> dict:
    return json.loads(json.dumps(obj))


class World:
    """Everything one API key sees."""

    def __init__(self, key: str, server: FakeStripe) -> None:
        self.key, self.server = key, server
        self.store = LocalStore()  # localstripe's resources (customers) live here
        self.accounts, self.transfers, self.reversals = Collection(), Collection(), Collection()
        self.meters, self.invoices, self.charges = Collection(), Collection(), Collection()
        self.disputes, self.events = Collection(), Collection()
        self.meter_by_event: dict[str, dict] = {}
        self.meter_events: dict[tuple[str, str], dict] = {}
        self.unbilled: dict[str, list[tuple[dict, dict]]] = {}  # customer → [(meter, event)]
        self.usage: dict[tuple[str, str], list[tuple[int, int]]] = {}  # (meter, cus) → [(ts, value)]
        self.idempotency: dict[str, tuple[str, int, bytes]] = {}
        self.counters = {"transfers": 0, "transfer_reversals": 0, "meter_events": 0,
                         "idempotent_replays": 0, "requests": 0}
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.paused = False
        self.queue: deque[dict] = deque()
        self.wake = asyncio.Event()
        self.deliveries: list[dict] = []
        self.in_flight = 0
        self.worker: asyncio.Task | None = None

    # -- events and webhooks ------------------------------------------------------------
    def emit(self, type: str, obj: dict) -> dict:
        event = {"id": new_id("evt_", 24), "object": "event", "type": type, "created": int(time.time()),
                 "api_version": API_VERSION, "data": {"object": snapshot(obj)}, "livemode": False,
                 "pending_webhooks": 1 if self.endpoint()[0] else 0, "request": {"id": None}}
        self.events.add(event)
        self.enqueue(event)
        return event

    def endpoint(self) -> tuple[str | None, str | None]:
        if self.webhook_url:
            return self.webhook_url, self.webhook_secret
        return self.server.default_webhook

    def enqueue(self, event: dict) -> None:
        if self.endpoint()[0] is None:
            return
        self.queue.append(event)
        if self.worker is None or self.worker.done():
            self.worker = asyncio.get_running_loop().create_task(self._deliver_loop())
        self.wake.set()

    async def _deliver_loop(self) -> None:
        while True:
            if self.paused or not self.queue:
                self.wake.clear()
                await self.wake.wait()
                continue
            event = self.queue[0]
            self.in_flight = 1
            try:
                await self._deliver(event)
            finally:
                self.queue.popleft()
                self.in_flight = 0

    async def _deliver(self, event: dict) -> None:
        payload = json.dumps(event, indent=2)
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS), start=1):
            if delay:
                await asyncio.sleep(delay)
            url, secret = self.endpoint()
            if url is None:
                return
            ts = int(time.time())
            sig = hmac.new((secret or "").encode(), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
            record = {"event": event["id"], "type": event["type"], "url": url, "attempt": attempt,
                      "status": None, "error": None, "at": time.time()}
            try:
                async with self.server.http.post(url, data=payload.encode(), headers={
                        "Content-Type": "application/json; charset=utf-8",
                        "Stripe-Signature": f"t={ts},v1={sig}",
                        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks) fakestripe"}) as r:
                    record["status"] = r.status
                    await r.read()
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                record["error"] = f"{type(e).__name__}: {e}"
            self.deliveries.append(record)
            if record["status"] is not None and 200 <= record["status"] < 300:
                return

    # -- localstripe bridge -------------------------------------------------------------
    def localstripe(self, fn: Callable[[], Any]) -> Any:
        """Run a localstripe call against this world's store (synchronous: no other request
        runs in between, so swapping localstripe's global store is safe)."""
        saved = ls_resources.store
        ls_resources.store = self.store
        self.server.current = self
        try:
            return fn()
        except UserError as e:
            err = e.body["error"]
            raise FakeError(e.code, err.get("message", "Bad request"), code=err.get("code"),
                            param=err.get("param"), saved=e.code != 400) from None
        finally:
            ls_resources.store = saved
            self.server.current = None


class FakeStripe:
    """The server: worlds by API key, onboarding links, the shared HTTP client for webhooks."""

    def __init__(self, default_webhook: tuple[str | None, str | None] = (None, None)) -> None:
        self.worlds: dict[str, World] = {}
        self.links: dict[str, tuple[World, str, str | None]] = {}
        self.default_webhook = default_webhook
        self.current: World | None = None
        self.http: aiohttp.ClientSession

    def world(self, key: str) -> World:
        if key not in self.worlds:
            self.worlds[key] = World(key, self)
        return self.worlds[key]


def _localstripe_event(event: ls_resources.Event) -> None:
    """localstripe's ``schedule_webhook``, rerouted into the current world's event stream."""
    server = _SERVER
    if server is not None and server.current is not None:
        server.current.emit(event.type, event.data["object"])


_SERVER: FakeStripe | None = None
ls_resources.schedule_webhook = _localstripe_event


# ---- request plumbing ---------------------------------------------------------------------

def _api_key(request: web.Request) -> str:
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if not auth:
        raise FakeError(401, "You did not provide an API key. Provide it in the Authorization header "
                        "(Authorization: Bearer YOUR_SECRET_KEY).")
    if scheme == "Basic":
        try:
            value = base64.b64decode(value).decode().split(":")[0]
        except (ValueError, UnicodeDecodeError):
            value = ""
    elif scheme != "Bearer":
        value = ""
    if not value.startswith("sk_") or len(value) < 8:
        raise FakeError(401, f"Invalid API Key provided: {value[:12]}***", code="api_key_invalid")
    return value


async def _read_params(request: web.Request) -> tuple[dict, bytes]:
    body = await request.read()
    if request.method == "GET":
        return unflatten_data(MultiDict(request.query)), body
    ctype = request.headers.get("Content-Type", "")
    if "json" in ctype and body:
        try:
            data = json.loads(body)
        except ValueError:
            raise FakeError(400, "Invalid JSON body.", saved=False) from None
        if not isinstance(data, dict):
            raise FakeError(400, "The JSON body must be an object.", saved=False)
    else:
        data = unflatten_data(MultiDict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True)))
    data.pop("expand", None)
    for k, v in request.query.items():
        data.setdefault(k, v)
    return data, body


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(obj).encode(), status=status, content_type="application/json")


@web.middleware
async def fake_middleware(request: web.Request, handler) -> web.StreamResponse:
    server: FakeStripe = request.app["fake"]
    try:
        if request.path.startswith("/_fake/onboarding/"):
            return await handler(request)
        world = server.world(_api_key(request))
        world.counters["requests"] += 1
        data, _ = await _read_params(request)
        request["world"], request["data"] = world, data
        key = request.headers.get("Idempotency-Key")
        if not (key and request.method == "POST" and request.path.startswith("/v1/")):
            return await handler(request)
        fingerprint = hashlib.sha256(json.dumps([request.path, data], sort_keys=True).encode()).hexdigest()
        saved = world.idempotency.get(key)
        if saved is not None:
            if saved[0] != fingerprint:
                raise FakeError(400, "Keys for idempotent requests can only be used with the same "
                                f"parameters they were first used with. Try using a key other than "
                                f"'{key}' if you meant to execute a different request.",
                                type="idempotency_error", saved=False)
            world.counters["idempotent_replays"] += 1
            return web.Response(body=saved[2], status=saved[1], content_type="application/json",
                                headers={"Idempotent-Replayed": "true", "Idempotency-Key": key})
        try:
            response = await handler(request)
        except FakeError as e:
            if e.saved:
                world.idempotency[key] = (fingerprint, e.status, json.dumps(e.body).encode())
            raise
        world.idempotency[key] = (fingerprint, response.status, response.body)
        response.headers["Idempotency-Key"] = key
        return response
    except FakeError as e:
        return _json(e.body, e.status)


def _world(request: web.Request) -> tuple[World, dict]:
    return request["world"], request["data"]


def _get(coll: Collection, id: str, kind: str) -> dict:
    obj = coll.get(id)
    if obj is None:
        raise _missing(kind, id)
    return obj


# ---- Connect accounts and onboarding ------------------------------------------------------

async def account_create(request: web.Request) -> web.Response:
    w, d = _world(request)
    type_ = _str(d, "type", required=False) or "express"
    if type_ not in ("express", "standard", "custom"):
        raise _bad_param("type", f"Invalid type: {type_}.")
    acct = {"id": new_id("acct_"), "object": "account", "type": type_, "created": int(time.time()),
            "email": _str(d, "email", required=False), "country": (_str(d, "country", required=False) or "US").upper(),
            "metadata": _metadata(d), "charges_enabled": False, "payouts_enabled": False,
            "details_submitted": False, "capabilities": {"transfers": "inactive"},
            "requirements": {"currently_due": list(REQUIREMENTS_DUE), "disabled_reason": "requirements.past_due"},
            "_fail_transfers": False}
    w.accounts.add(acct)
    return _json(_public(acct))


def _public(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


async def account_retrieve(request: web.Request) -> web.Response:
    w, _ = _world(request)
    return _json(_public(_get(w.accounts, request.match_info["id"], "account")))


async def account_list(request: web.Request) -> web.Response:
    w, d = _world(request)
    result = page("/v1/accounts", w.accounts.newest_first(d.get("starting_after")), _limit(d))
    result["data"] = [_public(a) for a in result["data"]]
    return _json(result)


def _complete(w: World, acct: dict) -> None:
    acct.update(payouts_enabled=True, charges_enabled=True, details_submitted=True,
                capabilities={"transfers": "active"},
                requirements={"currently_due": [], "disabled_reason": None})
    w.emit("account.updated", _public(acct))


async def account_link_create(request: web.Request) -> web.Response:
    w, d = _world(request)
    acct_id = _str(d, "account")
    acct = w.accounts.get(acct_id)
    if acct is None:
        raise _missing("account", acct_id, "account")
    link_type = _str(d, "type")
    if link_type not in ("account_onboarding", "account_update"):
        raise _bad_param("type", f"Invalid type: {link_type}.")
    _str(d, "refresh_url", required=False)
    return_url = _str(d, "return_url", required=False)
    token = secrets.token_urlsafe(16)
    w.server.links[token] = (w, acct_id, return_url)
    created = int(time.time())
    query = urllib.parse.urlencode({"link": token})
    return _json({"object": "account_link", "created": created, "expires_at": created + 300,
                  "url": f"{request.url.origin()}/_fake/onboarding/{acct_id}?{query}"})


def _link(request: web.Request) -> tuple[World, dict, str | None]:
    found = request.app["fake"].links.get(request.query.get("link", ""))
    if found is None or found[1] != request.match_info["id"]:
        raise FakeError(404, "Unknown or expired onboarding link.", code="resource_missing")
    w, acct_id, return_url = found
    return w, w.accounts.get(acct_id), return_url


async def onboarding_page(request: web.Request) -> web.Response:
    try:
        _, acct, _ = _link(request)
    except FakeError as e:
        return web.Response(text=e.body["error"]["message"], status=404)
    action = html.escape(str(request.rel_url))
    body = (f"<!doctype html><html><head><title>Fake Stripe onboarding</title></head><body>"
            f"<h1>Fake Stripe onboarding (test/demo only)</h1><p>Account {html.escape(acct['id'])}"
            f" ({html.escape(acct['email'] or '')})</p><form method='post' action='{action}'>"
            f"<button type='submit'>Complete onboarding</button></form></body></html>")
    return web.Response(text=body, content_type="text/html")


async def onboarding_submit(request: web.Request) -> web.Response:
    try:
        w, acct, return_url = _link(request)
    except FakeError as e:
        return web.Response(text=e.body["error"]["message"], status=404)
    _complete(w, acct)
    if return_url:
        raise web.HTTPSeeOther(return_url)
    return web.Response(text="Onboarding complete.", content_type="text/plain")


# ---- transfers and reversals ---------------------------------------------------------------

async def transfer_create(request: web.Request) -> web.Response:
    w, d = _world(request)
    amount = _int(d, "amount", minimum=1)
    currency = _currency(d)
    if currency in THREE_DECIMAL and amount % 10:
        raise _bad_param("amount", f"Amounts in {currency.upper()} must be a multiple of 10 (the last "
                         "digit must be 0).", "parameter_invalid_integer")
    dest_id = _str(d, "destination")
    group = _str(d, "transfer_group", required=False)
    description = _str(d, "description", required=False)
    metadata = _metadata(d)
    dest = w.accounts.get(dest_id)
    if dest is None:
        raise _missing("destination", dest_id, "destination")
    if dest["capabilities"].get("transfers") != "active" or not dest["payouts_enabled"]:
        raise FakeError(400, "Your destination account needs to have at least one of the following "
                        "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                        code="account_invalid", param="destination")
    if dest["_fail_transfers"]:
        raise FakeError(400, f"Transfers to {dest_id} are not allowed (fake control flag).",
                        code="transfers_not_allowed", param="destination")
    tr = {"id": new_id("tr_", 24), "object": "transfer", "amount": amount, "currency": currency,
          "destination": dest_id, "description": description, "metadata": metadata, "transfer_group": group,
          "created": int(time.time()), "reversed": False, "amount_reversed": 0, "livemode": False}
    tr["reversals"] = {"object": "list", "data": [], "has_more": False, "url": f"/v1/transfers/{tr['id']}/reversals"}
    w.transfers.add(tr)
    w.counters["transfers"] += 1
    w.emit("transfer.created", tr)
    return _json(tr)


async def transfer_retrieve(request: web.Request) -> web.Response:
    w, _ = _world(request)
    return _json(_get(w.transfers, request.match_info["id"], "transfer"))


async def transfer_list(request: web.Request) -> web.Response:
    w, d = _world(request)
    filters: list[Callable[[dict], bool]] = []
    if d.get("destination"):
        filters.append(lambda t, v=d["destination"]: t["destination"] == v)
    if d.get("transfer_group"):
        filters.append(lambda t, v=d["transfer_group"]: t["transfer_group"] == v)
    created = d.get("created")
    gte = lt = None
    if isinstance(created, dict):
        gte = _int(created, "gte", required=False)
        lt = _int(created, "lt", required=False)
        gt, lte = _int(created, "gt", required=False), _int(created, "lte", required=False)
        gte = max(x for x in (gte, None if gt is None else gt + 1, -1) if x is not None)
        lt = min(x for x in (lt, None if lte is None else lte + 1, 2**62) if x is not None)
    elif created is not None:
        gte = _int(d, "created")
        lt = gte + 1
    if lt is not None:
        filters.append(lambda t: t["created"] < lt)
    stop = (lambda t: t["created"] < gte) if gte is not None else (lambda t: False)
    return _json(page("/v1/transfers", w.transfers.newest_first(d.get("starting_after")), _limit(d),
                      keep=lambda t: all(f(t) for f in filters), stop=stop))


async def reversal_create(request: web.Request) -> web.Response:
    w, d = _world(request)
    tr = _get(w.transfers, request.match_info["id"], "transfer")
    left = tr["amount"] - tr["amount_reversed"]
    amount = _int(d, "amount", required=False, minimum=1)
    metadata = _metadata(d)
    amount = left if amount is None else amount
    if amount > left or left == 0:
        raise FakeError(400, f"Transfer {tr['id']} has {left} left to reverse; {amount} requested.",
                        code="amount_too_large", param="amount")
    rev = {"id": new_id("trr_", 24), "object": "transfer_reversal", "amount": amount,
           "currency": tr["currency"], "transfer": tr["id"], "created": int(time.time()), "metadata": metadata}
    w.reversals.add(rev)
    tr["amount_reversed"] += amount
    tr["reversed"] = tr["amount_reversed"] == tr["amount"]
    tr["reversals"]["data"].insert(0, rev)
    w.counters["transfer_reversals"] += 1
    w.emit("transfer.reversed", tr)
    return _json(rev)


async def reversal_list(request: web.Request) -> web.Response:
    w, d = _world(request)
    tr = _get(w.transfers, request.match_info["id"], "transfer")
    return _json({"object": "list", "data": tr["reversals"]["data"][:_limit(d)],
                  "has_more": len(tr["reversals"]["data"]) > _limit(d), "url": tr["reversals"]["url"]})


# ---- customers (localstripe) -----------------------------------------------------------------

def _customer_out(w: World, cus: Any) -> dict:
    return w.localstripe(lambda: cus._export())


async def customer_create(request: web.Request) -> web.Response:
    w, d = _world(request)
    d = {k: v for k, v in d.items() if k in ("name", "email", "metadata", "description", "phone", "address")}
    cus = w.localstripe(lambda: ls_resources.Customer._api_create(**d))
    return _json(_customer_out(w, cus))


async def customer_retrieve(request: web.Request) -> web.Response:
    w, _ = _world(request)
    id = request.match_info["id"]
    cus = w.store.get("customer:" + id)
    if cus is None:
        raise _missing("customer", id)
    return _json(_customer_out(w, cus))


async def customer_update(request: web.Request) -> web.Response:
    w, d = _world(request)
    id = request.match_info["id"]
    if w.store.get("customer:" + id) is None:
        raise _missing("customer", id)
    cus = w.localstripe(lambda: ls_resources.Customer._api_update(id, **d))
    return _json(_customer_out(w, cus))


async def customer_list(request: web.Request) -> web.Response:
    # localstripe lists oldest first by scanning its store; customers are few, so O(n) is fine.
    w, d = _world(request)
    customers = [v for k, v in w.store.items() if k.startswith("customer:")][::-1]
    after = d.get("starting_after")
    if after:
        ids = [c.id for c in customers]
        if after not in ids:
            raise _bad_param("starting_after", f"No such customer: '{after}'", "resource_missing")
        customers = customers[ids.index(after) + 1:]
    email = d.get("email")
    result = page("/v1/customers", iter(customers), _limit(d), keep=lambda c: email is None or c.email == email)
    result["data"] = [_customer_out(w, c) for c in result["data"]]
    return _json(result)


# ---- billing meters and meter events ---------------------------------------------------------

async def meter_create(request: web.Request) -> web.Response:
    w, d = _world(request)
    display_name = _str(d, "display_name")
    event_name = _str(d, "event_name", max_len=100)
    agg = d.get("default_aggregation") or {}
    formula = agg.get("formula") if isinstance(agg, dict) else None
    if formula not in ("sum", "count", "last"):
        raise _bad_param("default_aggregation[formula]", "default_aggregation[formula] must be sum, count or last.")
    mapping = d.get("customer_mapping") or {"event_payload_key": "stripe_customer_id", "type": "by_id"}
    value_settings = d.get("value_settings") or {"event_payload_key": "value"}
    if not isinstance(mapping, dict) or mapping.get("type", "by_id") != "by_id":
        raise _bad_param("customer_mapping[type]", "customer_mapping[type] must be by_id.")
    if not isinstance(value_settings, dict):
        raise _bad_param("value_settings", "value_settings must be a hash.")
    if event_name in w.meter_by_event:
        raise FakeError(400, f"An active meter with event_name '{event_name}' already exists.",
                        code="resource_already_exists", param="event_name")
    meter = {"id": new_id("mtr_", 24), "object": "billing.meter", "created": int(time.time()),
             "display_name": display_name, "event_name": event_name, "status": "active",
             "default_aggregation": {"formula": formula},
             "customer_mapping": {"event_payload_key": mapping.get("event_payload_key", "stripe_customer_id"),
                                  "type": "by_id"},
             "value_settings": {"event_payload_key": value_settings.get("event_payload_key", "value")},
             "event_time_window": None, "livemode": False}
    w.meters.add(meter)
    w.meter_by_event[event_name] = meter
    return _json(meter)


async def meter_retrieve(request: web.Request) -> web.Response:
    w, _ = _world(request)
    return _json(_get(w.meters, request.match_info["id"], "billing.meter"))


async def meter_list(request: web.Request) -> web.Response:
    w, d = _world(request)
    status = d.get("status")
    return _json(page("/v1/billing/meters", w.meters.newest_first(d.get("starting_after")), _limit(d),
                      keep=lambda m: status is None or m["status"] == status))


async def meter_event_create(request: web.Request) -> web.Response:
    w, d = _world(request)
    event_name = _str(d, "event_name", max_len=100)
    identifier = _str(d, "identifier", required=False, max_len=100) or new_id("", 24)
    timestamp = _int(d, "timestamp", required=False, minimum=0)
    timestamp = int(time.time()) if timestamp is None else timestamp
    payload = d.get("payload")
    if not isinstance(payload, dict):
        raise _bad_param("payload", "Missing required param: payload.", "parameter_missing")
    meter = w.meter_by_event.get(event_name)
    if meter is None:
        raise FakeError(400, f"No active meter was found for event_name '{event_name}'.",
                        code="resource_missing", param="event_name")
    cus_key, value_key = meter["customer_mapping"]["event_payload_key"], meter["value_settings"]["event_payload_key"]
    cus_id = payload.get(cus_key)
    if not isinstance(cus_id, str) or w.store.get("customer:" + cus_id) is None:
        raise FakeError(400, f"No such customer: '{cus_id}'", code="resource_missing", param=f"payload[{cus_key}]")
    raw = payload.get(value_key, "1" if meter["default_aggregation"]["formula"] == "count" else None)
    if not isinstance(raw, (str, int)) or isinstance(raw, bool) or not str(raw).lstrip("-").isdigit():
        raise _bad_param(f"payload[{value_key}]", f"payload[{value_key}] must be a whole number; got {raw!r}.",
                         "parameter_invalid_integer")
    old = w.meter_events.get((event_name, identifier))
    if old is not None:
        return _json(old)  # a repeated identifier is not counted again (see the module docstring)
    event = {"object": "billing.meter_event", "event_name": event_name, "identifier": identifier,
             "payload": {k: str(v) for k, v in payload.items()}, "timestamp": timestamp,
             "created": int(time.time()), "livemode": False}
    w.meter_events[(event_name, identifier)] = event
    w.usage.setdefault((meter["id"], cus_id), []).append((timestamp, int(raw)))
    w.unbilled.setdefault(cus_id, []).append((meter, event))
    w.counters["meter_events"] += 1
    return _json(event)


async def meter_event_summaries(request: web.Request) -> web.Response:
    w, d = _world(request)
    meter = _get(w.meters, request.match_info["id"], "billing.meter")
    cus = _str(d, "customer")
    start, end = _int(d, "start_time"), _int(d, "end_time")
    if end <= start:
        raise _bad_param("end_time", "end_time must be after start_time.")
    values = [v for ts, v in w.usage.get((meter["id"], cus), []) if start <= ts < end]
    formula = meter["default_aggregation"]["formula"]
    agg = len(values) if formula == "count" else (values[-1] if values and formula == "last" else sum(values))
    summary = {"id": new_id("mtrusg_", 24), "object": "billing.meter_event_summary", "aggregated_value": agg,
               "start_time": start, "end_time": end, "meter": meter["id"], "livemode": False}
    return _json({"object": "list", "data": [summary], "has_more": False,
                  "url": f"/v1/billing/meters/{meter['id']}/event_summaries"})


# ---- invoices from metered usage (replaces localstripe's subscription invoices) ---------------

async def billing_close(request: web.Request) -> web.Response:
    w, d = _world(request)
    cus = _str(d, "customer")
    if w.store.get("customer:" + cus) is None:
        raise _missing("customer", cus, "customer")
    ccy = _currency(d)
    pending = w.unbilled.get(cus, [])
    billed = [(m, e) for m, e in pending if m["event_name"].endswith("_" + ccy)]
    w.unbilled[cus] = [(m, e) for m, e in pending if not m["event_name"].endswith("_" + ccy)]
    value_key = {m["id"]: m["value_settings"]["event_payload_key"] for m, _ in billed}
    lines = [{"id": new_id("il_", 24), "object": "line_item", "amount": int(e["payload"][value_key[m["id"]]]),
              "currency": ccy, "meter": m["id"], "event_name": e["event_name"], "identifier": e["identifier"],
              "timestamp": e["timestamp"]} for m, e in billed]
    amount = sum(line["amount"] for line in lines)
    inv = {"id": new_id("in_", 24), "object": "invoice", "customer": cus, "currency": ccy,
           "amount_due": amount, "amount_paid": 0, "amount_remaining": amount, "status": "open",
           "attempt_count": 0, "created": int(time.time()), "metadata": _metadata(d), "livemode": False,
           "lines": {"object": "list", "data": lines, "has_more": False, "total_count": len(lines),
                     "url": "/v1/invoices/lines"}}
    inv["lines"]["url"] = f"/v1/invoices/{inv['id']}/lines"
    w.invoices.add(inv)
    if amount == 0:
        _pay(w, inv)
    return _json(inv)


def _pay(w: World, inv: dict) -> None:
    inv.update(status="paid", amount_paid=inv["amount_due"], amount_remaining=0)
    inv["attempt_count"] += 1
    w.emit("invoice.paid", inv)


async def invoice_pay(request: web.Request) -> web.Response:
    w, _ = _world(request)
    inv = _get(w.invoices, request.match_info["id"], "invoice")
    if inv["status"] != "open":
        raise FakeError(400, f"Invoice is {inv['status']}, not open.", code="invoice_not_open")
    _pay(w, inv)
    return _json(inv)


async def invoice_fail(request: web.Request) -> web.Response:
    w, _ = _world(request)
    inv = _get(w.invoices, request.match_info["id"], "invoice")
    if inv["status"] != "open":
        raise FakeError(400, f"Invoice is {inv['status']}, not open.", code="invoice_not_open")
    inv["attempt_count"] += 1
    w.emit("invoice.payment_failed", inv)
    return _json(inv)


async def invoice_retrieve(request: web.Request) -> web.Response:
    w, _ = _world(request)
    return _json(_get(w.invoices, request.match_info["id"], "invoice"))


async def invoice_list(request: web.Request) -> web.Response:
    w, d = _world(request)
    cus, status = d.get("customer"), d.get("status")
    return _json(page("/v1/invoices", w.invoices.newest_first(d.get("starting_after")), _limit(d),
                      keep=lambda i: (cus is None or i["customer"] == cus)
                      and (status is None or i["status"] == status)))


# ---- disputes ------------------------------------------------------------------------------

async def dispute_create(request: web.Request) -> web.Response:
    w, d = _world(request)
    cus = _str(d, "customer")
    if w.store.get("customer:" + cus) is None:
        raise _missing("customer", cus, "customer")
    amount, ccy = _int(d, "amount", minimum=1), _currency(d)
    now = int(time.time())
    charge = {"id": new_id("ch_", 24), "object": "charge", "customer": cus, "amount": amount, "currency": ccy,
              "created": now, "disputed": True, "paid": True, "status": "succeeded", "livemode": False}
    dispute = {"id": new_id("dp_", 24), "object": "dispute", "charge": charge["id"], "amount": amount,
               "currency": ccy, "status": "needs_response", "reason": "fraudulent", "created": now,
               "livemode": False}
    w.charges.add(charge)
    w.disputes.add(dispute)
    w.emit("charge.dispute.created", dispute)
    return _json({"charge": charge, "dispute": dispute})


async def charge_retrieve(request: web.Request) -> web.Response:
    w, _ = _world(request)
    return _json(_get(w.charges, request.match_info["id"], "charge"))


async def dispute_retrieve(request: web.Request) -> web.Response:
    w, _ = _world(request)
    return _json(_get(w.disputes, request.match_info["id"], "dispute"))


# ---- events and webhook control ---------------------------------------------------------------

async def event_retrieve(request: web.Request) -> web.Response:
    w, _ = _world(request)
    return _json(_get(w.events, request.match_info["id"], "event"))


async def event_list(request: web.Request) -> web.Response:
    w, d = _world(request)
    type_ = d.get("type")
    return _json(page("/v1/events", w.events.newest_first(d.get("starting_after")), _limit(d),
                      keep=lambda e: type_ is None or e["type"] == type_))


async def webhook_set(request: web.Request) -> web.Response:
    w, d = _world(request)
    url = _str(d, "url")
    if not url.startswith(("http://", "https://")):
        raise _bad_param("url", "url must be an http(s) URL.")
    w.webhook_url, w.webhook_secret = url, _str(d, "secret")
    return _json(_webhook_state(w))


def _webhook_state(w: World) -> dict:
    url, _ = w.endpoint()
    return {"url": url, "paused": w.paused, "pending": len(w.queue)}


async def webhook_get(request: web.Request) -> web.Response:
    return _json(_webhook_state(request["world"]))


async def webhook_pause(request: web.Request) -> web.Response:
    w = request["world"]
    w.paused = True
    return _json(_webhook_state(w))


async def webhook_resume(request: web.Request) -> web.Response:
    w = request["world"]
    w.paused = False
    w.wake.set()
    return _json(_webhook_state(w))


async def event_redeliver(request: web.Request) -> web.Response:
    w, _ = _world(request)
    event = _get(w.events, request.match_info["id"], "event")
    if w.endpoint()[0] is None:
        raise FakeError(400, "No webhook endpoint is configured for this API key.", code="no_webhook")
    w.enqueue(event)
    return _json(_webhook_state(w))


async def deliveries(request: web.Request) -> web.Response:
    return _json({"object": "list", "data": request["world"].deliveries})


async def account_control(request: web.Request) -> web.Response:
    w, d = _world(request)
    acct = _get(w.accounts, request.match_info["id"], "account")
    action = request.match_info["action"]
    if action == "complete_onboarding":
        _complete(w, acct)
    elif action == "restrict":
        acct.update(payouts_enabled=False, charges_enabled=False, capabilities={"transfers": "inactive"},
                    requirements={"currently_due": list(REQUIREMENTS_DUE), "disabled_reason": "requirements.past_due"})
        w.emit("account.updated", _public(acct))
    elif action == "fail_transfers":
        acct["_fail_transfers"] = _bool(d.get("on", True))
    else:
        raise FakeError(404, f"Unknown control action: {action}", code="resource_missing")
    return _json(_public(acct) | {"fail_transfers": acct["_fail_transfers"]})


async def stats(request: web.Request) -> web.Response:
    return _json(dict(request["world"].counters))


# ---- the application ------------------------------------------------------------------------

def make_app(default_webhook: tuple[str | None, str | None] = (None, None)) -> web.Application:
    """The aiohttp application. ``default_webhook`` = (url, secret) used by every API key that has
    not configured its own with ``POST /_fake/webhook``."""
    global _SERVER
    server = FakeStripe(default_webhook)
    _SERVER = server
    app = web.Application(middlewares=[fake_middleware], client_max_size=4 * 1024 * 1024)
    app["fake"] = server

    async def start_http(app: web.Application) -> None:
        server.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def stop_http(app: web.Application) -> None:
        for w in server.worlds.values():
            if w.worker is not None:
                w.worker.cancel()
        await server.http.close()

    app.on_startup.append(start_http)
    app.on_cleanup.append(stop_http)
    r = app.router
    r.add_post("/v1/accounts", account_create)
    r.add_get("/v1/accounts", account_list)
    r.add_get("/v1/accounts/{id}", account_retrieve)
    r.add_post("/v1/account_links", account_link_create)
    r.add_get("/_fake/onboarding/{id}", onboarding_page)
    r.add_post("/_fake/onboarding/{id}", onboarding_submit)
    r.add_post("/v1/transfers", transfer_create)
    r.add_get("/v1/transfers", transfer_list)
    r.add_get("/v1/transfers/{id}", transfer_retrieve)
    r.add_post("/v1/transfers/{id}/reversals", reversal_create)
    r.add_get("/v1/transfers/{id}/reversals", reversal_list)
    r.add_post("/v1/customers", customer_create)
    r.add_get("/v1/customers", customer_list)
    r.add_get("/v1/customers/{id}", customer_retrieve)
    r.add_post("/v1/customers/{id}", customer_update)
    r.add_post("/v1/billing/meters", meter_create)
    r.add_get("/v1/billing/meters", meter_list)
    r.add_get("/v1/billing/meters/{id}", meter_retrieve)
    r.add_get("/v1/billing/meters/{id}/event_summaries", meter_event_summaries)
    r.add_post("/v1/billing/meter_events", meter_event_create)
    r.add_get("/v1/invoices", invoice_list)
    r.add_get("/v1/invoices/{id}", invoice_retrieve)
    r.add_get("/v1/charges/{id}", charge_retrieve)
    r.add_get("/v1/disputes/{id}", dispute_retrieve)
    r.add_get("/v1/events", event_list)
    r.add_get("/v1/events/{id}", event_retrieve)
    r.add_post("/_fake/billing/close", billing_close)
    r.add_post("/_fake/invoices/{id}/pay", invoice_pay)
    r.add_post("/_fake/invoices/{id}/fail", invoice_fail)
    r.add_post("/_fake/disputes", dispute_create)
    r.add_get("/_fake/webhook", webhook_get)
    r.add_post("/_fake/webhook", webhook_set)
    r.add_post("/_fake/webhook/pause", webhook_pause)
    r.add_post("/_fake/webhook/resume", webhook_resume)
    r.add_post("/_fake/events/{id}/redeliver", event_redeliver)
    r.add_get("/_fake/deliveries", deliveries)
    r.add_post("/_fake/accounts/{id}/{action}", account_control)
    r.add_get("/_fake/stats", stats)
    return app
