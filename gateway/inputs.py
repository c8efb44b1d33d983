"""What a brand asks for: the one value a generation request is carried in.

The API builds it from validated input; the policy engine, the generation row,
the ledger hold and the C2PA licence each take what they need from it, so the
request's fields are listed here once.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import renderer
from gateway.models import Generation
from rights import language, policy
from rights.language import LanguageGuess


@dataclass(frozen=True, slots=True)
class Reading:
    """How a script will be read aloud (``GenerationInput.reading``)."""

    guess: LanguageGuess  # the language the text itself is in, as far as it shows
    language: str  # the voice's language (ISO 639-1)
    spoken: str | None  # what the voice will say; None when the script is not speakable
    unspeakable: str | None = None  # why not (``renderer.ScriptError``'s message), for the 400


@dataclass(frozen=True, slots=True)
class GenerationInput:
    contract_id: str
    script: str
    platform: str
    category: str
    language: str
    territory: str
    profile: str
    captions: bool

    @classmethod
    def from_generation(cls, generation: Generation) -> GenerationInput:
        """The request a stored generation was made with."""
        return cls(contract_id=generation.contract_id, script=generation.script, platform=generation.platform,
                   category=generation.category, language=generation.language, territory=generation.territory,
                   profile=generation.profile, captions=generation.captions)

    def reading(self, *, allowed_languages: Collection[str]) -> Reading:
        """How the script will be read: the language its text is in (``rights.language``),
        the voice's language (the declared one unless the text is confidently in another
        allowed, speakable language) and what that voice will say (numbers, dates and
        money written out: ``renderer.check_script``). Deterministic: the request, the
        worker's re-checks and the render all derive the same reading from the stored
        script."""
        guess = language.detect(self.script)
        speak_in = language.language_to_speak(declared=self.language, guess=guess, allowed=allowed_languages,
                                              speakable=renderer.available_languages())
        try:
            spoken, unspeakable = renderer.check_script(self.script, speak_in, territory=self.territory).spoken, None
        except (renderer.ScriptError, renderer.LanguageUnavailable) as exc:
            spoken, unspeakable = None, exc.message
        return Reading(guess=guess, language=speak_in, spoken=spoken, unspeakable=unspeakable)

    def policy_request(self, *, brand_id: str, reading: Reading | None = None) -> policy.GenerationRequest:
        """What the policy engine judges: this use, asked by ``brand_id``, with the
        script's ``reading`` (its detected language and its spoken form) when known."""
        return policy.GenerationRequest(brand_id=brand_id, script=self.script, platform=self.platform,
                                        category=self.category, language=self.language, territory=self.territory,
                                        detected=reading.guess if reading else None,
                                        spoken=reading.spoken if reading else None)

    def generation_fields(self) -> dict:
        """The ``Generation`` columns this request fills (the contract is passed as the row itself)."""
        return {"script": self.script, **self.usage(), "profile": self.profile, "captions": self.captions}

    def usage(self) -> dict[str, str]:
        """Where and how the likeness is used: what the ledger hold and the C2PA licence record."""
        return {"platform": self.platform, "category": self.category, "language": self.language,
                "territory": self.territory}
