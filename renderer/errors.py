"""Errors the renderer raises. Every one carries a stable ``code`` and a human ``message``.

The gateway maps ``code`` onto its API error body; ``str(error)`` is the message.
"""

from __future__ import annotations


class RenderError(Exception):
    """Base class: something about the request or this installation prevents a render."""

    code: str = "render_failed"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class PortraitError(RenderError):
    """The portrait cannot be used: ``not_an_image``, ``no_face``, ``multiple_faces``,
    ``face_too_small``, ``image_too_large`` (or ``invalid_landmarks`` at render time)."""

    code = "invalid_portrait"


class LanguageUnavailable(RenderError):
    """The language (or the voice asked for) cannot be spoken on this installation."""

    code = "language_unavailable"


class ScriptError(RenderError):
    """The script is empty, too long, or would speak for longer than the clip cap."""

    code = "invalid_script"
