"""Outbound HTTP to URLs a brand chose (webhooks): only to globally routable
addresses, to the very address that was checked, never following a redirect.

Three rules close the server-side request forgery holes (issue 10 #13):

1. **The address policy** (``address_allowed``): an address is allowed only if it
   is globally routable — Python's ``is_global`` tightened where CPython 3.11's
   tables are loose (multicast, site-local ``fec0::/10``, the IETF protocol
   block ``192.0.0.0/24`` read as global there), plus every range
   ``requests-hardened`` blocks (CGNAT ``100.64.0.0/10`` — cloud metadata lives
   at ``100.100.100.200`` —, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``, …). An
   address that embeds an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``,
   IPv4-compatible ``::a.b.c.d``, 6to4, NAT64, Teredo) is judged by that IPv4
   address too. ``allow_loopback`` (``DOPPEL_WEBHOOK_ALLOW_PRIVATE``, tests and
   development) also allows loopback.
2. **Resolve once, connect to what was checked.** ``requests-hardened``
   (Saleor's maintained hardening of ``requests``) resolves the host in its
   transport adapter and pins the connection to that IP (the URL's host name
   stays in ``Host`` and in TLS SNI/certificate checks); ``PinnedAddressAdapter``
   applies the policy above to the pinned address itself. A DNS answer that
   changes between registration and delivery (rebinding) is therefore judged
   at delivery, on the address actually connected to.
3. **No redirects, no environment proxies** (``never_redirect``, ``trust_env``
   off): a 3xx is an answer, recorded as such, never followed.

What a delivery attempt records for the brand (``Outcome``) is only the HTTP
status code and one of ``ERROR_CLASSES`` — never an exception text ("connection
refused" turned the delivery log into a port scanner) nor the response body
(never read).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import EXTRA_BLOCKED_NET_RANGES, InvalidIPAddress
from requests_hardened.ip_filter_adapter import IPFilterAdapter

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Ranges refused on top of is_global and requests-hardened's list. 192.0.0.0/24 and
# 192.88.99.0/24 (6to4 relay anycast) read as global in CPython 3.11; fec0::/10 is
# deprecated site-local space that 3.11 also reads as global.
_REFUSED = (
    ipaddress.ip_network("192.0.0.0/24"),
    ipaddress.ip_network("192.88.99.0/24"),
    ipaddress.ip_network("fec0::/10"),
    *EXTRA_BLOCKED_NET_RANGES,
)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

#: What the delivery log may say about a failed attempt (besides the status code).
ERROR_CLASSES = {
    "address_not_allowed": "the host resolved to an address webhooks may not reach",
    "connection_failed": "no connection (refused, reset, unreachable, or the host does not resolve)",
    "timeout": "no answer within DOPPEL_WEBHOOK_TIMEOUT_S",
    "tls_error": "the TLS handshake or certificate check failed",
    "http_error": "the endpoint answered with a status other than 2xx or 3xx",
    "redirect_not_followed": "the endpoint answered with a redirect (3xx), which is never followed",
    "secret_unreadable": "the endpoint's signing secret could not be decrypted (key changed)",
}


class AddressNotAllowed(InvalidIPAddress):
    """The address a URL resolves to is not one webhooks may reach."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, 6to4, NAT64, Teredo)."""
    found = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _IPV4_COMPATIBLE:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if any(ip in net for net in _NAT64):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.teredo is not None:
        found.extend(ip.teredo)  # (server, client)
    return found


def _globally_routable(ip: IPAddress) -> bool:
    if not ip.is_global or any(ip in net for net in _REFUSED):
        return False
    return not (ip.is_multicast or ip.is_private or ip.is_reserved or ip.is_loopback or ip.is_link_local
                or ip.is_unspecified)


def address_allowed(ip: IPAddress | str, *, allow_loopback: bool = False) -> bool:
    """Whether webhooks may connect to ``ip``: globally routable, and so is every IPv4
    address it embeds; with ``allow_loopback``, loopback too (127.0.0.0/8, ::1, and
    their IPv4-mapped forms)."""
    ip = ipaddress.ip_address(ip)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # the IPv4 host it is: judged as such (loopback included)
    if allow_loopback and ip.is_loopback:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        if not all(_globally_routable(v4) for v4 in _embedded_ipv4(ip)):
            return False
    return _globally_routable(ip)


def url_port(url: str) -> int | None:
    """The URL's port (its scheme's default when absent); None if out of range (1-65535)
    or malformed."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    if port is None:
        return 443 if parts.scheme == "https" else 80
    return port if 1 <= port <= 65535 else None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (raises socket.gaierror when it does not)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


class PinnedAddressAdapter(IPFilterAdapter):
    """requests-hardened's adapter (resolve once, pin the connection to that IP, keep
    the host name for ``Host`` and TLS) with Doppel's address policy applied to the
    pinned address — the one the socket will connect to."""

    def __init__(self, *, is_https_proto: bool, allow_loopback: bool):
        super().__init__(is_https_proto=is_https_proto, allow_loopback=allow_loopback)
        self._doppel_allow_loopback = allow_loopback

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        pinned = host_params["host"].strip("[]")
        if not address_allowed(pinned, allow_loopback=self._doppel_allow_loopback):
            raise AddressNotAllowed(pinned)
        return host_params, pool_kwargs


def session(*, timeout_s: float, allow_loopback: bool) -> requests.Session:
    """A session for one delivery: pinned, policy-checked, redirect-free, no proxies
    from the environment, ``timeout_s`` to connect and to read."""
    sess = HTTPSession(Config(ip_filter_enable=False, ip_filter_allow_loopback_ips=allow_loopback,
                              never_redirect=True, default_timeout=(timeout_s, timeout_s),
                              user_agent_override="Doppel-Webhooks/1"))
    sess.trust_env = False
    for scheme in ("http://", "https://"):
        sess.mount(scheme, PinnedAddressAdapter(is_https_proto=scheme == "https://",
                                                allow_loopback=allow_loopback))
    return sess


@dataclass(frozen=True)
class Outcome:
    """What one POST came to: the status code (None without an answer) and, unless it
    was a 2xx, one of ``ERROR_CLASSES``."""

    status_code: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(*, url: str, body: bytes, headers: dict[str, str], timeout_s: float, allow_loopback: bool) -> Outcome:
    """POST ``body`` to ``url`` once under the rules above; never raises for network
    trouble (it becomes the Outcome's error class); the response body is not read."""
    with session(timeout_s=timeout_s, allow_loopback=allow_loopback) as sess:
        try:
            with sess.post(url, data=body, headers=headers, stream=True, allow_redirects=False) as resp:
                status = resp.status_code
        except InvalidIPAddress:  # requests-hardened's refusal, or ours (a subclass)
            return Outcome(None, "address_not_allowed")
        except requests.exceptions.SSLError:
            return Outcome(None, "tls_error")
        except requests.exceptions.Timeout:
            return Outcome(None, "timeout")
        except (requests.RequestException, OSError):
            return Outcome(None, "connection_failed")
    if 200 <= status < 300:
        return Outcome(status)
    return Outcome(status, "redirect_not_followed" if 300 <= status < 400 else "http_error")
