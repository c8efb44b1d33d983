"""Money rules: billed seconds, basis points, and how a royalty is split.

* Amounts are integer minor units of the contract's currency.
* A render's billed seconds: the duration is first rounded half-up to whole
  milliseconds (so float noise such as 5.0000000001 s does not bill a sixth
  second), then every started second counts: ``ceil(ms / 1000)``.
* performer = per_render + per_second × billed seconds.
* union P&H = performer × bps / 10,000, rounded half-up (only when the
  performer belongs to a union; the union's ``pension_health_bps``, else
  DOPPEL_DEFAULT_PH_BPS).
* platform fee = performer × bps / 10,000, rounded half-up (``PlatformFee`` for
  the hold's platform, else DOPPEL_PLATFORM_FEE_BPS).
* The brand's receivable is debited performer + P&H + fee: both are charged on
  top; the performer's amount is never reduced.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from common.errors import InvalidRequest
from ledger import conf
from ledger.exceptions import AmountLimitExceeded
from ledger.models import MAX_AMOUNT, PlatformFee
from rights.models import Contract

MAX_DURATION_S = 24 * 3600

__all__ = ["RoyaltyBreakdown", "billed_seconds", "bps_of", "duration_to_ms", "royalty_breakdown", "royalty_split"]


def duration_to_ms(duration_s: Any) -> int:
    """Seconds (int or float) → whole milliseconds, rounded half-up."""
    if isinstance(duration_s, bool) or not isinstance(duration_s, int | float | Decimal):
        raise InvalidRequest(fields={"duration_s": ["A number of seconds."]})
    try:
        value = Decimal(str(duration_s))
    except InvalidOperation:
        raise InvalidRequest(fields={"duration_s": ["A number of seconds."]}) from None
    if not value.is_finite() or value < 0 or value > MAX_DURATION_S:
        raise InvalidRequest(fields={"duration_s": [f"Between 0 and {MAX_DURATION_S} seconds."]})
    return int((value * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def billed_seconds(duration_ms: int) -> int:
    """Every started second counts."""
    return -(-duration_ms // 1000)


def bps_of(amount: int, bps: int) -> int:
    """``amount × bps / 10,000`` rounded half-up, in integers (amount, bps ≥ 0)."""
    return (amount * bps + 5000) // 10000


@dataclass(frozen=True)
class RoyaltyBreakdown:
    currency: str
    performer_amount: int
    union_amount: int
    fee_amount: int
    union_id: str | None
    ph_bps: int | None
    fee_bps: int

    @property
    def total(self) -> int:
        return self.performer_amount + self.union_amount + self.fee_amount


def _configured_fee_bps(platform: str | None) -> int | None:
    if not platform:
        return None
    return PlatformFee.objects.filter(platform=platform).values_list("fee_bps", flat=True).first()


def royalty_breakdown(
    *, contract: Contract, performer_amount: int, platform: str | None = None, fee_bps: int | None = None
) -> RoyaltyBreakdown:
    """Split what the brand pays for ``performer_amount``: P&H and fee come on top.
    ``fee_bps`` if known, else the fee configured for ``platform``."""
    union = contract.performer.union
    return royalty_split(
        currency=contract.currency, performer_amount=performer_amount, union_id=union.id if union else None,
        union_ph_bps=union.pension_health_bps if union else None,
        fee_bps=_configured_fee_bps(platform) if fee_bps is None else fee_bps,
    )


def royalty_split(*, currency: str, performer_amount: int, union_id: str | None, union_ph_bps: int | None,
                  fee_bps: int | None) -> RoyaltyBreakdown:
    """The split with the rates already looked up: ``union_ph_bps`` is the union's own
    rate and ``fee_bps`` the platform's, each None where none is set (then the
    configured default applies). Raises ``AmountLimitExceeded`` (422) when what the
    brand pays would pass ``MAX_AMOUNT`` (2^53 - 1 minor units)."""
    ph_bps = None
    if union_id:
        ph_bps = union_ph_bps if union_ph_bps is not None else conf.default_pension_health_bps()
    fee_bps = fee_bps if fee_bps is not None else conf.platform_fee_bps()
    breakdown = RoyaltyBreakdown(
        currency=currency, performer_amount=performer_amount,
        union_amount=bps_of(performer_amount, ph_bps) if union_id else 0,
        fee_amount=bps_of(performer_amount, fee_bps), union_id=union_id, ph_bps=ph_bps, fee_bps=fee_bps,
    )
    if breakdown.total > MAX_AMOUNT:
        raise AmountLimitExceeded(
            f"The royalty with P&H and fee ({breakdown.total} minor units) would exceed the ledger's limit of "
            f"{MAX_AMOUNT} (2^53 - 1) minor units per transaction; nothing was booked.",
            fields={"amount": [f"At most {MAX_AMOUNT} minor units in all."]}, limit=MAX_AMOUNT,
        )
    return breakdown
