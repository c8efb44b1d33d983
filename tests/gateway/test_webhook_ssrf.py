"""Webhooks cannot be turned against our own network (issue 10 #13): server-side request
forgery through address forms, redirects and DNS rebinding.

* Registration accepts only URLs whose every resolved address is globally routable
  (every form of the addresses the issue found accepted, and their neighbours), with
  a port in 1-65535 (port 0 was accepted, 99999 was a 500).
* Delivery connects to the address it checked (pinned), so a DNS answer that changes
  after registration cannot reach loopback; it never follows a redirect (the
  signature headers went along to an internal address); and the brand-readable log
  holds a status code and a generic error class, never "connection refused".
"""

from __future__ import annotations

import importlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateway import egress, webhooks
from gateway.models import WebhookDelivery, WebhookEndpoint

PUBLIC_V4 = "93.184.216.34"


# --- the address policy ------------------------------------------------------------------------

REFUSED = [
    # the inputs
    "100.100.100.200", "100.64.0.1", "fec0::1", "2002:7f00:1::",
    # their neighbours: the whole shared (CGNAT) block, site-local, other 6to4 and embedded forms
    "100.64.0.0", "100.127.255.255", "fec0::", "feff:ffff::1", "2002:7f00:1::1", "2002:a00:1::", "2002:c0a8:101::",
    "2002:808:808::",  # 6to4 even of a public address: a tunnel form webhooks never need
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1", "::10.0.0.1",
    "64:ff9b::7f00:1", "64:ff9b::808:808", "64:ff9b:1::a00:1",  # NAT64
    "2001:0:4136:e378:8000:63bf:80ff:fffe", "2001::1",  # Teredo
    # the classics
    "127.0.0.1", "127.255.255.254", "0.0.0.0", "::", "::1", "10.0.0.1", "172.16.0.1", "172.31.255.255",
    "192.168.1.1", "169.254.169.254", "fe80::1", "fd00:ec2::254", "fc00::1", "224.0.0.1", "239.255.255.250",
    "ff02::1", "ff0e::1", "255.255.255.255", "240.0.0.1", "192.0.0.9", "192.0.0.170", "192.0.2.1",
    "198.18.0.1", "198.51.100.1", "203.0.113.1", "192.88.99.1", "2001:db8::1", "3fff::1", "5f00::1",
]
ALLOWED = [PUBLIC_V4, "8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.0", "2606:4700:4700::1111",
           "2a00:1450:4001:81c::200e", "::ffff:8.8.8.8", "172.32.0.1", "192.0.1.1", "11.0.0.1"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_global_addresses_are_refused(address):
    assert not egress.address_allowed(address)


@pytest.mark.parametrize("address", ALLOWED)
def test_global_addresses_are_allowed(address):
    assert egress.address_allowed(address)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"])
def test_allow_private_still_allows_loopback(address):
    assert egress.address_allowed(address, allow_loopback=True)


@pytest.mark.parametrize("address", ["10.0.0.1", "100.100.100.200", "169.254.169.254", "2002:7f00:1::",
                                     "64:ff9b::7f00:1", "fec0::1", "0.0.0.0"])
def test_allow_private_allows_loopback_only(address):
    assert not egress.address_allowed(address, allow_loopback=True)


# --- registration ---------------------------------------------------------------------------------


@pytest.fixture
def fake_dns(monkeypatch):
    """Host names under .test resolve to what the test says, one answer per call in turn
    (the last one repeats); everything else resolves as usual. Counts the lookups."""
    real = socket.getaddrinfo
    answers: dict[str, list[str]] = {}
    lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".test"):
            lookups.append(host)
            if host not in answers:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            queue = answers[host]
            address = queue.pop(0) if len(queue) > 1 else queue[0]
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, int(port or 0), 0, 0) if family == socket.AF_INET6 else (address, int(port or 0))
            return [(family, socket.SOCK_STREAM, 6, "", sockaddr)]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


def register(cast, url):
    return cast.client("brand").post("/api/v1/webhooks", {"url": url}, format="json")


def host_of(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@pytest.mark.parametrize("address", REFUSED)
def test_registration_refuses_every_non_global_address(cast, settings, address):
    settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE = False
    resp = register(cast, f"http://{host_of(address)}/hook")
    assert resp.status_code == 400, (address, resp.content)
    assert "url" in resp.json()["error"]["fields"]
    assert WebhookEndpoint.objects.count() == 0


@pytest.mark.parametrize("url", [
    "http://127.1/hook", "http://2130706433/hook", "http://0x7f000001/hook", "http://0177.0.0.1/hook",
    "http://localhost/hook", "http://[::ffff:7f00:1]/hook", "http://[0:0:0:0:0:ffff:127.0.0.1]/hook",
    "http://100.100.100.200:80/latest/meta-data/", "http://[::]/hook",
])
def test_registration_refuses_other_spellings_of_internal_addresses(cast, settings, url):
    settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE = False
    resp = register(cast, url)
    assert resp.status_code == 400, (url, resp.content)
    assert WebhookEndpoint.objects.count() == 0


def test_registration_refuses_a_name_with_any_internal_answer(cast, settings, fake_dns):
    settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE = False
    answers, _ = fake_dns
    answers["metadata.test"] = ["100.100.100.200"]
    answers["public.test"] = [PUBLIC_V4]
    assert register(cast, "https://metadata.test/hook").status_code == 400
    assert register(cast, "https://nowhere.test/hook").status_code == 400  # does not resolve
    assert register(cast, "https://public.test/hook").status_code == 201


@pytest.mark.parametrize("port", ["0", "99999", "65536", "100000", "-1", "00"])
def test_registration_refuses_ports_out_of_range(cast, settings, port):
    """Port 0 was accepted; port 99999 was a 500."""
    settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE = False
    resp = register(cast, f"http://{PUBLIC_V4}:{port}/hook")
    assert resp.status_code == 400, (port, resp.content)
    assert resp.json()["error"]["code"] == "invalid_request"
    assert WebhookEndpoint.objects.count() == 0


@pytest.mark.parametrize("port", ["1", "80", "443", "8443", "65535"])
def test_registration_accepts_ports_in_range(cast, settings, port):
    settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE = False
    assert register(cast, f"https://{PUBLIC_V4}:{port}/hook").status_code == 201


def test_registration_accepts_global_addresses(cast, settings):
    settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE = False
    assert register(cast, "https://[2606:4700:4700::1111]/hook").status_code == 201
    assert register(cast, f"http://{PUBLIC_V4}/hook").status_code == 201


# --- delivery -------------------------------------------------------------------------------------


class Endpoint:
    """A loopback HTTP server answering every POST with ``status`` (and ``location``, ``body``)."""

    def __init__(self, status=200, location=None, body=b"", host="127.0.0.1"):
        self.requests: list[tuple[str, dict, bytes]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                endpoint.requests.append((self.path, dict(self.headers), self.rfile.read(length)))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoints():
    made = []

    def make(**kwargs):
        e = Endpoint(**kwargs)
        made.append(e)
        return e

    yield make
    for e in made:
        e.close()


def a_delivery(cast, url: str) -> WebhookDelivery:
    """An endpoint for ``url`` (created directly: the test decides what it resolves to) and one event for it."""
    endpoint = WebhookEndpoint.objects.create(brand=cast.brand, url=url, secret="whsec_test")
    return WebhookDelivery.objects.create(endpoint=endpoint, event="generation.denied",
                                          payload={"id": "evt", "type": "generation.denied"})


def log_of(delivery: WebhookDelivery) -> list[dict]:
    delivery.refresh_from_db()
    return delivery.log


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_loopback_is_not_followed(cast, settings, endpoints, status):
    settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE = True  # the receiver itself is on loopback
    internal = endpoints()
    redirector = endpoints(status=status, location=internal.url.replace("/hook", "/admin/steal"))
    delivery = a_delivery(cast, redirector.url)
    assert webhooks.delivery_attempt(delivery_id=delivery.id) == "pending"  # not delivered: retried later
    assert len(redirector.requests) == 1 and internal.requests == []  # the signed POST went nowhere else
    [entry] = log_of(delivery)
    assert (entry["status_code"], entry["error"]) == (status, "redirect_not_followed")


def test_dns_rebinding_to_loopback_is_refused_at_delivery(cast, settings, endpoints, fake_dns):
    """The resolver answers public at registration, loopback at delivery."""
    settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE = False
    internal = endpoints()
    answers, _ = fake_dns
    answers["rebind.test"] = [PUBLIC_V4, "127.0.0.1"]
    resp = register(cast, f"http://rebind.test:{internal.port}/hook")
    assert resp.status_code == 201, resp.content
    delivery = WebhookDelivery.objects.create(endpoint_id=resp.json()["id"], event="generation.denied",
                                              payload={"id": "evt"})
    assert webhooks.delivery_attempt(delivery_id=delivery.id) == "pending"
    assert internal.requests == []
    [entry] = log_of(delivery)
    assert (entry["status_code"], entry["error"]) == (None, "address_not_allowed")
    assert delivery.last_error == "address_not_allowed"


@pytest.mark.parametrize("internal_answer", ["10.0.0.1", "100.100.100.200", "169.254.169.254", "::1",
                                             "::ffff:127.0.0.1", "2002:7f00:1::"])
def test_delivery_refuses_a_host_that_now_resolves_internally(cast, settings, fake_dns, internal_answer):
    settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE = False
    answers, _ = fake_dns
    answers["moved.test"] = [internal_answer]
    delivery = a_delivery(cast, "http://moved.test:8080/hook")
    assert webhooks.delivery_attempt(delivery_id=delivery.id) == "pending"
    assert log_of(delivery)[0]["error"] == "address_not_allowed"


def test_delivery_connects_to_the_address_it_checked(cast, settings, endpoints, fake_dns):
    """One lookup per delivery; the socket goes to that address; the name stays in Host."""
    settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE = True
    receiver = endpoints()
    answers, lookups = fake_dns
    answers["pinned.test"] = ["127.0.0.1", "10.9.9.9"]  # a second lookup would get an unreachable address
    delivery = a_delivery(cast, f"http://pinned.test:{receiver.port}/hook")
    assert webhooks.delivery_attempt(delivery_id=delivery.id) == "delivered"
    assert lookups == ["pinned.test"]
    [(path, headers, body)] = receiver.requests
    assert headers["Host"] == f"pinned.test:{receiver.port}" and path == "/hook"
    assert webhooks.verify_signature(secret="whsec_test", body=body, header=headers["Doppel-Signature"])


def test_the_log_holds_no_connection_detail_and_no_response_body(cast, settings, endpoints):
    settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE = True
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    refused = a_delivery(cast, f"http://127.0.0.1:{closed_port}/hook")
    webhooks.delivery_attempt(delivery_id=refused.id)
    leaky = endpoints(status=500, body=b"Traceback: internal secret db=10.0.0.5")
    failing = a_delivery(cast, leaky.url)
    webhooks.delivery_attempt(delivery_id=failing.id)
    assert log_of(refused)[0]["error"] == "connection_failed" and refused.last_status_code is None
    assert (log_of(failing)[0]["status_code"], failing.last_error) == (500, "http_error")
    listed = cast.client("brand").get("/api/v1/webhooks/deliveries").content.decode()
    for leak in ("refused", "Errno", "111", "Traceback", "10.0.0.5", "URLError", "ConnectionError"):
        assert leak not in listed, leak
    assert set(json.loads(listed)["results"][0]["log"][0]) == {"at", "attempt", "status_code", "error", "ms"}


def test_a_silent_endpoint_is_a_timeout(cast, settings):
    settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE = True
    settings.DOPPEL_WEBHOOK_TIMEOUT_S = 1
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        delivery = a_delivery(cast, f"http://127.0.0.1:{silent.getsockname()[1]}/hook")
        started = time.monotonic()
        webhooks.delivery_attempt(delivery_id=delivery.id)
        assert time.monotonic() - started < 5
    assert log_of(delivery)[0]["error"] == "timeout"


def test_environment_proxies_are_ignored(cast, settings, endpoints, monkeypatch):
    settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE = True
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    receiver = endpoints()
    delivery = a_delivery(cast, receiver.url)
    assert webhooks.delivery_attempt(delivery_id=delivery.id) == "delivered"


def test_old_log_entries_are_scrubbed_by_the_migration():
    migration = importlib.import_module("gateway.migrations.0004_delivery_log_generic_errors")
    assert migration._generic("URLError: [Errno 111] Connection refused", None) == "connection_failed"
    assert migration._generic("HTTP 500", 500) == "http_error"
    assert migration._generic("TimeoutError: timed out", None) == "timeout"
    assert migration._generic("", 200) == ""
    assert migration._generic("address_not_allowed", None) == "address_not_allowed"


def test_every_error_class_is_documented():
    assert set(egress.ERROR_CLASSES) >= {"address_not_allowed", "connection_failed", "timeout", "tls_error",
                                         "http_error", "redirect_not_followed"}
    assert egress.Outcome(204).ok and not egress.Outcome(302, "redirect_not_followed").ok
