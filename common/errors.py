"""Domain errors: plain exceptions that know nothing of HTTP or DRF.

Services raise them; ``common.api.exceptions.exception_handler`` maps each
class to a status code and the error body of shared/API.md
(``{"error": {"code", "message", ...extra}}``); commands print ``message``.
Each app subclasses them in its own ``exceptions.py`` (as django-hordak's
``hordak/exceptions.py`` does), so a caller can catch the app's errors without
importing anything of the web layer.

Every error carries a stable ``code`` (the API's ``error.code``), a human
``message``, and ``extra`` — JSON-serialisable details that the API adds to
the error body (``fields`` for per-field messages, ``retry_after`` seconds…).
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every Doppel domain error."""

    code = "invalid_request"
    default_message = "The request cannot be carried out."

    def __init__(self, message: str | None = None, *, code: str | None = None, **extra: Any):
        self.message = message or self.default_message
        self.code = code or self.code
        self.extra = extra
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class InvalidRequest(DomainError):
    """The input is malformed or out of range. ``fields`` maps a field to its messages."""

    code = "invalid_request"
    default_message = "The request is invalid."

    def __init__(self, message: str | None = None, *, fields: dict | None = None, **extra: Any):
        super().__init__(message, fields=fields or {}, **extra)

    @property
    def fields(self) -> dict:
        return self.extra.get("fields", {})


class NotFound(DomainError):
    """No such object, or one the caller may not see (the two are indistinguishable)."""

    code = "not_found"
    default_message = "Not found."


class Forbidden(DomainError):
    """The caller may see the object but not do this to it."""

    code = "forbidden"
    default_message = "This operation is not allowed."


class PaymentRequired(DomainError):
    """The brand's unpaid receivable plus open holds would pass its credit limit (402)."""

    code = "payment_required"
    default_message = "Payment is required before more can be charged to this account."


class ServiceUnavailable(DomainError):
    """A dependency (Stripe) is not configured or not reachable now (503)."""

    code = "service_unavailable"
    default_message = "The service is not available now."


class InvalidState(DomainError):
    """The object is not in a state that allows this (an illegal transition)."""

    code = "invalid_state"
    default_message = "The object is not in a state that allows this."


class Conflict(DomainError):
    """The request conflicts with an earlier one (e.g. an idempotency key reused with another body)."""

    code = "conflict"
    default_message = "The request conflicts with an earlier one."


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    default_message = "This idempotency key was used for a different request."


class PayloadTooLarge(DomainError):
    """An input is larger than its documented limit (``limit`` in ``extra``)."""

    code = "payload_too_large"
    default_message = "The input is too large."


class RateLimited(DomainError):
    """Too many requests; ``retry_after`` (seconds) in ``extra``."""

    code = "rate_limited"
    default_message = "Too many requests; retry later."


__all__ = [
    "Conflict", "DomainError", "Forbidden", "IdempotencyConflict", "InvalidRequest", "InvalidState",
    "NotFound", "PayloadTooLarge", "RateLimited",
]
