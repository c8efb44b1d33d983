"""One text-preparation step for every engine: what is spoken, and what is shown.

``prepare_script(script, language)`` returns a ``PreparedScript``:

- ``shown``: what captions show: the script as the brand wrote it (NFC, control characters
  and invisible formatting removed, whitespace collapsed). Emoji stay here; the caption
  stage draws them only with a font that has them, and otherwise leaves them out.
- ``spoken``: what the voice says, derived from ``shown``:
  * **emoji** (pictographs, ZWJ sequences such as 🏳️‍🌈, flags, keycaps, skin tones) are not
    spoken (engines read them as their parts' names: "white flag rainbow");
  * **numbers, money, dates, times, percentages, ordinals, abbreviations, Roman
    numerals** are written out in words (renderer/speech/normalize.py), for the
    languages num2words has;
  * **Hebrew points** (niqqud and cantillation marks) are removed (engines read them as
    mark names, "dagesh"); unpointed Hebrew is what espeak-ng reads;
  * **words in another writing system** than the voice's language ("Nike" inside a
    Hebrew sentence, "抹茶" inside an English one) are marked with a language that is
    written in that system (``Piece.language``): espeak-ng switches to that voice for
    them; piper (English only) leaves them out of the speech. Runs with no voice
    installed for their writing system are left out. They stay in the captions.
- ``pieces``: the alignment: each piece ties a span of ``shown`` to a span of ``spoken``,
  so caption words are timed by the speech of the words they stand for.
- ``speakable``: whether anything is left to say (letters or digits). A script with
  nothing speakable (``..``, only emoji) is refused at request time:
  ``check_script``/``script_speakable``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass

import regex

from ..errors import ScriptError
from .normalize import normalize_spans
from .text import MAX_SCRIPT_CHARS

__all__ = [
    "Piece",
    "PreparedScript",
    "check_script",
    "prepare_script",
    "script_speakable",
    "writing_system",
]

# Writing systems of the languages whose voices read more than Latin script; every other
# language is written in Latin. And for a run in a writing system, the language whose
# voice reads it.
_LANGUAGE_SCRIPTS: dict[str, frozenset[str]] = {
    **{code: frozenset({"Cyrillic"}) for code in "ba be bg cv kk ky mk mn ru tg tt uk".split()},
    **{code: frozenset({"Arabic"}) for code in "ar fa ps sd ug ur".split()},
    **{code: frozenset({"Devanagari"}) for code in "hi mr ne sa".split()},
    "sr": frozenset({"Cyrillic", "Latin"}), "az": frozenset({"Latin", "Cyrillic"}),
    "uz": frozenset({"Latin", "Cyrillic"}), "ku": frozenset({"Latin", "Arabic"}),
    "el": frozenset({"Greek"}), "he": frozenset({"Hebrew"}), "yi": frozenset({"Hebrew"}),
    "zh": frozenset({"Han"}), "ja": frozenset({"Han", "Kana"}), "ko": frozenset({"Hangul", "Han"}),
    "bn": frozenset({"Bengali"}), "as": frozenset({"Bengali"}), "pa": frozenset({"Gurmukhi"}),
    "gu": frozenset({"Gujarati"}), "or": frozenset({"Oriya"}), "ta": frozenset({"Tamil"}),
    "te": frozenset({"Telugu"}), "kn": frozenset({"Kannada"}), "ml": frozenset({"Malayalam"}),
    "si": frozenset({"Sinhala"}), "th": frozenset({"Thai"}), "lo": frozenset({"Lao"}),
    "my": frozenset({"Myanmar"}), "ka": frozenset({"Georgian"}), "hy": frozenset({"Armenian"}),
    "am": frozenset({"Ethiopic"}), "km": frozenset({"Khmer"}),
}
_LATIN = frozenset({"Latin"})
_SCRIPT_VOICE = {
    "Latin": "en", "Cyrillic": "ru", "Greek": "el", "Arabic": "ar", "Hebrew": "he", "Han": "zh",
    "Kana": "ja", "Hangul": "ko", "Devanagari": "hi", "Bengali": "bn", "Gurmukhi": "pa",
    "Gujarati": "gu", "Oriya": "or", "Tamil": "ta", "Telugu": "te", "Kannada": "kn",
    "Malayalam": "ml", "Sinhala": "si", "Thai": "th", "Lao": "lo", "Myanmar": "my",
    "Georgian": "ka", "Armenian": "hy", "Ethiopic": "am", "Khmer": "km",
}
_NAME_SCRIPTS = {"CJK": "Han", "IDEOGRAPHIC": "Han", "KANGXI": "Han", "BOPOMOFO": "Han",
                 "HIRAGANA": "Kana", "KATAKANA": "Kana", "HANGUL": "Hangul"}

# Invisible characters that carry meaning and are kept in ``shown``: joiners (emoji ZWJ
# sequences, Persian and Indic words) and emoji tag characters (subdivision flags).
_KEPT_FORMAT = re.compile("[\u200c\u200d\U000e0020-\U000e007f]")
_HEBREW_POINTS = re.compile("[\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7]")
_SPOKEN_INVISIBLE = re.compile("[\u200d\ufe0e\ufe0f\U000e0020-\U000e007f]")
_CLUSTER = regex.compile(r"\X")
_EMOJI_CHAR = regex.compile(
    r"\p{Extended_Pictographic}|\p{Regional_Indicator}|\p{Emoji_Modifier}|\u20e3"
)
_EMOJI_PRESENTATION = regex.compile(r"\p{Emoji_Presentation}|\ufe0f|\u20e3|\p{Regional_Indicator}|\u200d")
_WORD = re.compile(r"\S+")


def writing_system(char: str) -> str | None:
    """The writing system of a letter ("Latin", "Cyrillic", "Han", ...); None otherwise."""
    if unicodedata.category(char)[0] != "L":
        return None
    name = unicodedata.name(char, "")
    if name.startswith("HALFWIDTH") or name.startswith("FULLWIDTH"):
        name = name.split(" ", 1)[1]
    head = name.split(" ", 1)[0]
    return _NAME_SCRIPTS.get(head, head.capitalize() or None)


def language_scripts(language: str) -> frozenset[str]:
    """The writing systems ``language`` is written in (Latin for languages not listed)."""
    return _LANGUAGE_SCRIPTS.get(language, _LATIN)


def is_emoji(cluster: str) -> bool:
    """Is this grapheme cluster an emoji (shown as a picture), not a text symbol like ©?"""
    if not _EMOJI_CHAR.search(cluster):
        return False
    return bool(_EMOJI_PRESENTATION.search(cluster)) or len(cluster) > 1


@dataclass(frozen=True)
class Piece:
    """``shown[shown_start:shown_end]`` is spoken as ``spoken[spoken_start:spoken_end]``.

    ``language``: another voice language for this piece (a word in another writing
    system); None for the script's own voice.
    """

    shown_start: int
    shown_end: int
    spoken_start: int
    spoken_end: int
    language: str | None = None


@dataclass(frozen=True)
class PreparedScript:
    language: str
    shown: str
    spoken: str
    pieces: tuple[Piece, ...]
    speakable: bool

    def spoken_span(self, start: int, end: int) -> tuple[int, int] | None:
        """The spoken span of ``shown[start:end]`` (None if nothing of it is spoken).

        Inside a piece whose shown and spoken text have the same length, offsets map one
        to one (so each Han character keeps its own timing); otherwise the whole piece.
        """
        lo = hi = None
        for piece in self.pieces:
            if piece.shown_end <= start or piece.shown_start >= end:
                continue
            if piece.spoken_end == piece.spoken_start:
                continue
            a, b = piece.spoken_start, piece.spoken_end
            if piece.shown_end - piece.shown_start == b - a:
                a += max(0, start - piece.shown_start)
                b -= max(0, piece.shown_end - end)
            lo = a if lo is None else min(lo, a)
            hi = b if hi is None else max(hi, b)
        return None if lo is None or hi <= lo else (lo, hi)

    def switches(self) -> list[tuple[int, int, str]]:
        """(spoken start, end, language) of the runs spoken by another voice, merged."""
        runs: list[tuple[int, int, str]] = []
        for piece in self.pieces:
            if piece.language is None or piece.spoken_end == piece.spoken_start:
                continue
            if runs and runs[-1][2] == piece.language and not self.spoken[runs[-1][1]:piece.spoken_start].strip():
                runs[-1] = (runs[-1][0], piece.spoken_end, piece.language)
            else:
                runs.append((piece.spoken_start, piece.spoken_end, piece.language))
        return runs


def clean_script(script: str) -> str:
    """NFC, control characters and invisible formatting removed, whitespace collapsed.

    Raises ScriptError for a non-string or a script over MAX_SCRIPT_CHARS characters.
    """
    if not isinstance(script, str):
        raise ScriptError("The script must be text.")
    text = unicodedata.normalize("NFC", script)
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)
    text = "".join(
        c for c in text
        if unicodedata.category(c) not in ("Cf", "Co", "Cs") or _KEPT_FORMAT.match(c)
    )
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > MAX_SCRIPT_CHARS:
        raise ScriptError(f"The script has {len(text)} characters; the limit is {MAX_SCRIPT_CHARS}.")
    return text


def _speakable(text: str) -> bool:
    return any(unicodedata.category(c)[0] in "LN" for c in text)


def prepare_script(
    script: str,
    language: str,
    *,
    territory: str | None = None,
    voices: Collection[str] | None = None,
    engine: str = "espeak",
) -> PreparedScript:
    """Decide what is spoken and what is shown (module docstring).

    ``language``: the voice's language (ISO 639-1). ``territory``: ISO 3166 alpha-2, for
    ambiguous dates and "$". ``voices``: the languages this installation can speak (for
    words in another writing system; None: any). ``engine``: "piper" leaves such words
    out of the speech, "espeak" switches voice for them. Raises ScriptError only for a
    non-string or an over-long script; an unspeakable one has ``speakable=False``.
    """
    shown = clean_script(script)
    own_scripts = language_scripts(language)
    replacements = normalize_spans(shown, language, territory)
    pieces: list[Piece] = []
    spoken_parts: list[str] = []
    cursor = 0  # in spoken

    def emit(a: int, b: int, text: str, foreign: str | None = None) -> None:
        nonlocal cursor
        spoken_parts.append(text)
        pieces.append(Piece(a, b, cursor, cursor + len(text), foreign))
        cursor += len(text)

    def plain(a: int, b: int) -> None:
        """Shown text kept as it is, except emoji, Hebrew points and foreign-script words."""
        segment = shown[a:b]
        position = a
        for match in _WORD.finditer(segment):
            ws, we = a + match.start(), a + match.end()
            if ws > position:
                emit(position, ws, shown[position:ws])
            word(ws, we)
            position = we
        if position < b:
            emit(position, b, shown[position:b])

    def word(a: int, b: int) -> None:
        text = shown[a:b]
        if not text.isascii():
            clusters = [(m.start(), m.end()) for m in _CLUSTER.finditer(text)]
            if any(is_emoji(text[s:e]) for s, e in clusters):
                # Split the word at its emoji: each emoji is a silent piece.
                start = 0
                for s, e in clusters:
                    if is_emoji(text[s:e]):
                        if s > start:
                            word(a + start, a + s)
                        emit(a + s, a + e, " ")
                        start = e
                if start < len(text):
                    word(a + start, b)
                return
            text = _SPOKEN_INVISIBLE.sub("", _HEBREW_POINTS.sub("", text))
            text = text.replace("\u05be", " ")  # maqaf: a word joiner, spoken as a break
        systems = {writing_system(c) for c in text} - {None}
        foreign = systems - own_scripts
        if foreign and not (systems & own_scripts):
            other = _SCRIPT_VOICE.get(sorted(foreign)[0])
            if engine == "piper" or other is None or (voices is not None and other not in voices):
                emit(a, b, " " * len(text) if text.strip() else text)  # left out, timing kept
                return
            emit(a, b, text, other)
            return
        emit(a, b, text)

    position = 0
    for start, end, words in replacements:
        if start > position:
            plain(position, start)
        emit(start, end, words)
        position = end
    if position < len(shown):
        plain(position, len(shown))
    spoken = "".join(spoken_parts)
    return PreparedScript(language=language, shown=shown, spoken=spoken, pieces=tuple(pieces),
                          speakable=_speakable(spoken))


def check_script(script: str, language: str, **options) -> PreparedScript:
    """``prepare_script``, raising ScriptError("invalid_script") when nothing is speakable."""
    prepared = prepare_script(script, language, **options)
    if not prepared.shown or not prepared.speakable:
        raise ScriptError(
            "The script has nothing to speak: give the words the performer should say "
            "(punctuation, emoji and symbols alone are not spoken)."
        )
    return prepared


def script_speakable(script: str, language: str, **options) -> bool:
    """True when ``script`` has something to speak in ``language`` (a pure check for input
    validation: no engine is loaded)."""
    try:
        return check_script(script, language, **options).speakable
    except ScriptError:
        return False
