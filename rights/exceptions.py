"""The rights app's errors: plain domain exceptions (``common.errors``), no HTTP."""

from __future__ import annotations

from common.errors import Forbidden, InvalidRequest, InvalidState, NotFound


class RightsError(Exception):
    """Mixin base: ``except RightsError`` catches every error the rights app raises on purpose."""


class PortraitUnusable(RightsError, InvalidRequest):
    """The portrait cannot be animated (no face, several faces, too small, not an image).
    ``reason`` in ``extra`` is the renderer's stable code."""


class ContractNotFound(RightsError, NotFound):
    """No such contract, or one the caller may not see."""


class ActionNotAllowed(RightsError, Forbidden):
    """The caller may see the contract but not take this action on it."""


class IllegalTransition(RightsError, InvalidState):
    """The contract's status does not allow this action (e.g. resuming an active contract)."""


class KeyLimitReached(RightsError, InvalidRequest):
    """The party holds the most active keys, or has been issued the most keys, allowed
    (``rights.services.MAX_ACTIVE_KEYS`` / ``MAX_KEYS_PER_PARTY``); ``limit`` in ``extra``."""


class TermsTampered(RightsError, InvalidState):
    """The stored terms no longer match their hash: consent is refused."""


__all__ = [
    "ActionNotAllowed", "ContractNotFound", "IllegalTransition", "KeyLimitReached", "PortraitUnusable",
    "RightsError", "TermsTampered",
]
