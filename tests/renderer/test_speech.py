"""Speech: what this installation can speak, determinism, timings."""

from __future__ import annotations

import numpy as np
import pytest

from renderer import LanguageUnavailable, ScriptError, available_languages
from renderer.speech import available_voices, resolve_voice, synthesize
from renderer.speech.text import MAX_SCRIPT_CHARS, normalize_script, split_sentences, tokenize

REQUIRED = ("en", "es", "de", "fr", "zh")


def test_required_languages_are_available() -> None:
    languages = available_languages()
    for code in REQUIRED:
        assert code in languages, code
    assert "piper" in languages["en"]
    assert "espeak-ng" in languages["zh"] and "Mandarin" in languages["zh"]
    assert all(len(code) == 2 for code in languages)


def test_unknown_language_and_voice_are_refused() -> None:
    with pytest.raises(LanguageUnavailable) as caught:
        resolve_voice(language="xx", voice=None)
    assert caught.value.code == "language_unavailable"
    with pytest.raises(LanguageUnavailable):
        resolve_voice(language="en", voice="no-such-voice")


def test_voices_can_be_chosen_by_name() -> None:
    assert resolve_voice(language="en", voice=None).engine == "piper"
    assert resolve_voice(language="en", voice="espeak:en-us").engine == "espeak"
    assert resolve_voice(language="es", voice="es-419").engine_voice.endswith("es-419")
    assert [v.name for v in available_voices()["zh"]][0] == "cmn-latn-pinyin"


def test_piper_speech_is_deterministic_per_seed() -> None:
    voice = resolve_voice(language="en", voice=None)
    a = synthesize(script="Bubbly pop, maybe.", voice=voice, seed=11)
    b = synthesize(script="Bubbly pop, maybe.", voice=voice, seed=11)
    c = synthesize(script="Bubbly pop, maybe.", voice=voice, seed=12)
    assert np.array_equal(a.samples, b.samples)
    assert [p.symbol for p in a.phones] == [p.symbol for p in b.phones]
    assert not (len(a.samples) == len(c.samples) and np.array_equal(a.samples, c.samples))


def _check_timings(speech, words: int) -> None:
    assert speech.sample_rate == 22050
    assert speech.duration_s > 0.5
    assert np.abs(speech.samples).max() > 0.3
    starts = [p.start_s for p in speech.phones]
    assert starts == sorted(starts)
    assert all(0 <= p.start_s < p.end_s <= speech.duration_s + 1e-6 for p in speech.phones)
    assert len(speech.words) == words
    assert [w.start_s for w in speech.words] == sorted(w.start_s for w in speech.words)
    # speech is audible where the words are, silent in the lead-in
    rate = speech.sample_rate
    first = speech.words[0]
    lead = speech.samples[: int(first.start_s * rate) - 200]
    spoken = speech.samples[int(first.start_s * rate) : int(speech.words[-1].end_s * rate)]
    assert np.sqrt(np.mean(lead**2)) < 0.01 < np.sqrt(np.mean(spoken**2))


def test_english_phonemes_and_words() -> None:
    speech = synthesize(
        script="Hello there! Maybe Bob will come.", voice=resolve_voice(language="en", voice=None)
    )
    _check_timings(speech, words=6)
    assert speech.text[speech.words[3].start : speech.words[3].end] == "Bob"
    assert {"b", "m"} <= {p.symbol for p in speech.phones}


@pytest.mark.parametrize(
    ("language", "script", "words"),
    [
        ("es", "Hola, ¿cómo estás? Me llamo Ana.", 6),
        ("de", "Guten Tag, meine Damen und Herren.", 6),
        ("fr", "Bonjour, je m'appelle Marie.", 4),
        ("zh", "你好，我是安娜。", 6),
    ],
)
def test_espeak_languages_speak_with_timings(language: str, script: str, words: int) -> None:
    speech = synthesize(script=script, voice=resolve_voice(language=language, voice=None))
    _check_timings(speech, words=words)


def test_script_limits() -> None:
    with pytest.raises(ScriptError) as caught:
        normalize_script("   \n\t ")
    assert caught.value.code == "invalid_script"
    with pytest.raises(ScriptError):
        normalize_script("... !!! ???")
    with pytest.raises(ScriptError):
        normalize_script("word " * (MAX_SCRIPT_CHARS // 5 + 1))
    assert normalize_script("  Hello\n\nworld\u200b! ") == "Hello world!"


def test_speech_longer_than_the_clip_cap_is_refused() -> None:
    # 60 fifteen-digit numbers: under 1,000 characters but minutes of speech.
    script = " ".join(["987654321987654."] * 58)
    assert len(script) <= MAX_SCRIPT_CHARS
    with pytest.raises(ScriptError) as caught:
        synthesize(script=script, voice=resolve_voice(language="es", voice=None))
    assert "limited" in caught.value.message


def test_sentences_and_tokens() -> None:
    text = "Hi there. 你好，世界！Bye"
    assert [text[a:b] for a, b in split_sentences(text)] == ["Hi there.", "你好，世界！", "Bye"]
    assert [t.text for t in tokenize(text)] == ["Hi", "there.", "你", "好，", "世", "界！", "Bye"]
