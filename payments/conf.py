"""The payments app's settings (read once from the environment by config/settings.py),
checked when the app starts (``PaymentsConfig.ready``)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from payments.currencies import UnsupportedCurrency, currency


def stripe_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def payout_minimums() -> dict[str, int]:
    """DOPPEL_PAYOUT_MINIMUMS as {currency: ledger minor units}."""
    out: dict[str, int] = {}
    for item in settings.DOPPEL_PAYOUT_MINIMUMS:
        code, sep, value = item.partition("=")
        code = code.strip().upper()
        try:
            currency(code)
            amount = int(value)
        except (UnsupportedCurrency, ValueError):
            raise ImproperlyConfigured(
                f"DOPPEL_PAYOUT_MINIMUMS: {item!r} is not CUR=amount (ISO 4217 code, minor units)") from None
        if not sep or amount < 1:
            raise ImproperlyConfigured(f"DOPPEL_PAYOUT_MINIMUMS: {item!r}: the amount must be a positive integer")
        out[code] = amount
    return out


def payout_minimum(code: str) -> int:
    """The smallest balance paid out in ``code`` (ledger minor units)."""
    return payout_minimums().get(code) or currency(code).payout_minimum


def check() -> None:
    payout_minimums()
    if len(settings.DOPPEL_STRIPE_CONNECT_COUNTRY) != 2 or not settings.DOPPEL_STRIPE_CONNECT_COUNTRY.isalpha():
        raise ImproperlyConfigured("DOPPEL_STRIPE_CONNECT_COUNTRY must be a two-letter country code")
