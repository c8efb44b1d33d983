"""The three ways an upload is refused before decoding, each with a stable ``code``.

The codes are the ones the API already uses for ``/verify`` (shared/API.md), and
the gateway maps them onto HTTP statuses: ``payload_too_large`` 413,
``unsupported_media`` 415, ``unreadable_media`` 422.
"""

from __future__ import annotations


class MediaError(ValueError):
    """Base class. ``code`` is stable; ``message`` is a sentence for a person."""

    code = "invalid_media"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UnsupportedMedia(MediaError):
    """Not a format this path accepts (suggested HTTP status: 415)."""

    code = "unsupported_media"


class UnreadableMedia(MediaError):
    """A recognised format whose structure is broken or forged (suggested HTTP status: 422)."""

    code = "unreadable_media"


class MediaTooLarge(MediaError):
    """Over a budget: bytes, pixels, frames × pixels, duration, structures (HTTP 413)."""

    code = "payload_too_large"
