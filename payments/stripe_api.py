"""The one place that builds a Stripe client (the real ``stripe`` SDK) and sorts its errors.

Real Stripe: ``STRIPE_SECRET_KEY`` only. The local fake of tests and the demo:
``DOPPEL_STRIPE_API_BASE`` too (docs/fakestripe.md). Every write we send carries an
idempotency key derived from a ledger record; the SDK's own network retries reuse it.
"""

from __future__ import annotations

from functools import cache

import stripe
from django.conf import settings

from payments.exceptions import StripeNotConfigured

IDEMPOTENCY_PREFIX = "doppel"


@cache
def _client(key: str, base: str | None, timeout: int) -> stripe.StripeClient:
    return stripe.StripeClient(
        key, base_addresses={"api": base} if base else None, max_network_retries=2,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def client() -> stripe.StripeClient:
    """The Stripe client for the settings in force. Raises StripeNotConfigured."""
    if not settings.STRIPE_SECRET_KEY:
        raise StripeNotConfigured()
    return _client(settings.STRIPE_SECRET_KEY, settings.DOPPEL_STRIPE_API_BASE, settings.DOPPEL_STRIPE_TIMEOUT_S)


def key(*parts: str) -> dict:
    """Request options with the idempotency key ``doppel-<parts…>``."""
    return {"idempotency_key": "-".join((IDEMPOTENCY_PREFIX, *parts))}


def refused(exc: Exception) -> bool:
    """Whether Stripe answered and refused (4xx other than 409/429): retrying the same
    request cannot succeed. Network errors, 409, 429 and 5xx leave the outcome unknown
    or temporary: retry later with the same idempotency key."""
    if not isinstance(exc, stripe.StripeError):
        return False
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError | stripe.IdempotencyError):
        return False
    status = exc.http_status or 0
    return 400 <= status < 500 and status not in (409, 429)


def describe(exc: Exception) -> tuple[str, str]:
    """(code, message) of a Stripe error, for the record."""
    if isinstance(exc, stripe.StripeError):
        return (exc.code or type(exc).__name__)[:64], (exc.user_message or str(exc) or type(exc).__name__)[:500]
    return type(exc).__name__[:64], str(exc)[:500]


def plain(obj) -> dict:
    """A Stripe object (SDK 16: not a dict) or an event's JSON object, as a plain dict."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
