"""The gateway's errors: plain domain exceptions (``common.errors``), no HTTP."""

from __future__ import annotations

from common.errors import Forbidden, IdempotencyConflict, InvalidState, NotFound, RateLimited


class GatewayError(Exception):
    """Mixin base: ``except GatewayError`` catches every error the gateway raises on purpose."""


class GenerationNotFound(GatewayError, NotFound):
    """No such generation or contract, or one the caller may not see."""


class GenerationForbidden(GatewayError, Forbidden):
    """The caller's role may not do this (e.g. a brand approving a script)."""


class GenerationStateError(GatewayError, InvalidState):
    """The generation's status does not allow this (``status`` in ``extra``)."""


class ApprovalExpired(GenerationStateError):
    """The performer answered after ``approval_expires_at``: the generation was cancelled
    (``approval_expired``, hold voided) instead. 409 ``approval_expired``."""

    code = "approval_expired"
    default_message = "The approval window has closed; the generation was cancelled."


class HoldExpired(GenerationStateError):
    """The ledger hold's ``expires_at`` passed before this step: nothing may be charged.
    Raised by the pipeline's steps (the pipeline then fails the generation ``hold_expired``)."""

    code = "hold_expired"
    default_message = "The quota hold expired before the render was delivered; nothing was charged."


class RequestReplayConflict(GatewayError, IdempotencyConflict):
    """The Idempotency-Key was used with a different request body."""


class LimitExceeded(GatewayError, RateLimited):
    """A per-brand rate or in-flight limit; ``retry_after`` seconds in ``extra``."""


__all__ = [
    "ApprovalExpired", "GatewayError", "GenerationForbidden", "GenerationNotFound", "GenerationStateError",
    "HoldExpired", "LimitExceeded", "RequestReplayConflict",
]
