"""One currency table for moving money through Stripe: exponent, Stripe's amount rule, minimums.

Sources (maintained upstream, not typed in by us):

* **Exponent** of the ledger's minor unit: CLDR's currency data via Babel
  (``babel.numbers.get_currency_precision``; CLDR follows ISO 4217 and records
  where practice differs, e.g. HUF, ISK, UGX without minor units).
* **Stripe's rules** (https://docs.stripe.com/currencies, "Zero-decimal",
  "Three-decimal" and "Special cases"): Stripe's API amount is in the currency's
  smallest unit *as Stripe defines it*; zero-decimal currencies are sent as is;
  for the three-decimal ones (BHD, JOD, KWD, OMR, TND) the last digit must be 0
  (a multiple of 10); ISK is zero-decimal but represented with two decimals
  (amounts divisible by 100); HUF and TWD transfers and payouts must be
  divisible by 100.
* **Minimums**: Stripe's minimum charge amounts (same page, "Minimum and maximum
  charge amounts"), which are each currency's equivalent of USD 0.50. The payout
  minimum defaults to 20 of them — "the equivalent of 10.00" — and the brand
  credit limit to 20,000 (the equivalent of 10,000.00). Currencies Stripe lists
  no minimum for (KRW, KWD…) use 0.50 major units, so 10.00 major units for a
  payout — for a currency worth far less than a dollar, set
  ``DOPPEL_PAYOUT_MINIMUMS`` (e.g. ``KRW=13000``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from babel.core import get_global
from babel.numbers import get_currency_precision

# docs.stripe.com/currencies: "Zero-decimal currencies".
STRIPE_ZERO_DECIMAL = frozenset({"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND",
                                 "VUV", "XAF", "XOF", "XPF"})
# "Three-decimal currencies": the amount must be rounded to the nearest ten.
STRIPE_THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
# "Special cases": Stripe uses two decimals, amounts divisible by 100 (ISK charges, HUF and TWD payouts).
STRIPE_TWO_DECIMAL_WHOLE = frozenset({"ISK", "HUF", "TWD"})
# "Minimum and maximum charge amounts", in major units (each ≈ USD 0.50).
STRIPE_MINIMUM_CHARGE = {
    "USD": "0.50", "AED": "2.00", "AUD": "0.50", "BGN": "1.00", "BRL": "0.50", "CAD": "0.50", "CHF": "0.50",
    "CZK": "15.00", "DKK": "2.50", "EUR": "0.50", "GBP": "0.30", "HKD": "4.00", "HUF": "175.00", "INR": "0.50",
    "JPY": "50", "MXN": "10", "MYR": "2", "NOK": "3.00", "NZD": "0.50", "PLN": "2.00", "RON": "2.00",
    "SEK": "3.00", "SGD": "0.50", "THB": "10",
}
PAYOUT_MINIMUM_CHARGES = 20  # 20 × ≈0.50 USD: the equivalent of 10.00
CREDIT_LIMIT_CHARGES = 20_000  # the equivalent of 10,000.00


class UnsupportedCurrency(ValueError):
    """Not an ISO 4217 currency CLDR knows."""


@dataclass(frozen=True)
class Currency:
    """How one currency's ledger amounts become Stripe amounts.

    ``exponent``: digits of the ledger's minor unit. ``stripe_exponent``: digits of
    Stripe's amount unit. ``step``: a Stripe amount must be a multiple of it.
    ``minimum_charge_major``: Stripe's minimum charge, in major units."""

    code: str
    exponent: int
    stripe_exponent: int
    step: int
    minimum_charge_major: Decimal

    @property
    def minimum_charge(self) -> int:
        """Stripe's minimum charge in ledger minor units (at least 1)."""
        return max(1, self.major(self.minimum_charge_major))
    @property
    def factor(self) -> int:
        """Stripe units per ledger minor unit (1, or 100 for ISK and HUF)."""
        return 10 ** (self.stripe_exponent - self.exponent)

    def to_stripe(self, amount: int) -> tuple[int, int]:
        """(Stripe amount, ledger remainder): the largest sendable part of ``amount``
        (ledger minor units) and what is left in the balance. Never rounds up."""
        stripe_amount = amount * self.factor
        sendable = stripe_amount - stripe_amount % self.step
        sendable -= sendable % self.factor  # whole ledger units only (the table's steps are multiples)
        return sendable, amount - sendable // self.factor

    def from_stripe(self, stripe_amount: int) -> int:
        """Ledger minor units of a Stripe amount (exact for amounts we sent)."""
        return stripe_amount // self.factor

    def major(self, times: int | str | Decimal) -> int:
        """``times`` major units in ledger minor units."""
        return int(Decimal(times) * 10 ** self.exponent)

    @property
    def payout_minimum(self) -> int:
        """The default payout minimum, ledger minor units: the equivalent of 10.00."""
        return self.major(self.minimum_charge_major * PAYOUT_MINIMUM_CHARGES)

    @property
    def credit_limit(self) -> int:
        """The default brand credit limit, ledger minor units: the equivalent of 10,000.00."""
        return self.major(self.minimum_charge_major * CREDIT_LIMIT_CHARGES)


@cache
def currency(code: str) -> Currency:
    """The table row for ``code`` (ISO 4217, upper case). Raises UnsupportedCurrency."""
    if not isinstance(code, str) or len(code) != 3 or not code.isalpha() or not code.isupper():
        raise UnsupportedCurrency(f"{code!r} is not an ISO 4217 currency code.")
    if code not in get_global("currency_fractions") and code not in _cldr_currencies():
        raise UnsupportedCurrency(f"{code} is not a currency CLDR knows.")
    exponent = get_currency_precision(code)
    if code in STRIPE_ZERO_DECIMAL:
        stripe_exponent, step = 0, 1
    elif code in STRIPE_THREE_DECIMAL:
        stripe_exponent, step = 3, 10
    elif code in STRIPE_TWO_DECIMAL_WHOLE:
        stripe_exponent, step = 2, 100
    else:
        stripe_exponent, step = max(exponent, 2), 1
    # No Stripe figure: 0.50 major units (so 10.00 for a payout); DOPPEL_PAYOUT_MINIMUMS overrides.
    return Currency(code=code, exponent=exponent, stripe_exponent=stripe_exponent, step=step,
                    minimum_charge_major=Decimal(STRIPE_MINIMUM_CHARGE.get(code, "0.50")))


@cache
def _cldr_currencies() -> frozenset[str]:
    from babel import Locale

    return frozenset(Locale("en").currencies)
