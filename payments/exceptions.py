"""The payments app's domain errors (mapped to the API's error shape by common.api)."""

from common.errors import (
    InvalidRequest,
    InvalidState,
    NotFound,
    PaymentRequired,
    ServiceUnavailable,
)


class StripeNotConfigured(ServiceUnavailable):
    code = "payments_not_configured"
    default_message = ("Payouts and billing are not configured on this deployment "
                       "(set STRIPE_SECRET_KEY, or DOPPEL_STRIPE_API_BASE for the local fake).")


class StripeUnavailable(ServiceUnavailable):
    code = "stripe_unavailable"
    default_message = "Stripe could not be reached; try again shortly."


class NotAPayee(InvalidRequest):
    default_message = "Only performers and unions are paid out."


class PayeeAccountNotFound(NotFound):
    default_message = "No Stripe account is connected yet: POST /api/v1/payouts/account to connect one."


class CreditLimitExceeded(PaymentRequired):
    default_message = "The brand's unpaid receivable plus open holds would pass its credit limit."


class BrandFlagged(PaymentRequired):
    default_message = "The brand's billing is on hold (a failed payment or a dispute); settle it first."


class WebhookRejected(InvalidRequest):
    default_message = "Not a valid Stripe event."


class PayoutNotPending(InvalidState):
    default_message = "The payout is not pending."
