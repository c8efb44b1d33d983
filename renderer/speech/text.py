"""Script text handling: normalisation, limits, sentences and caption tokens.

All offsets are character offsets into the *normalised* script, which is what the speech
engines are given, so word timings from any engine map straight onto caption tokens.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ..errors import ScriptError

MAX_SCRIPT_CHARS = 1000

_SENTENCE_END = re.compile(r"[.!?…。！？]+[\"'”’)\]」』）]*(?:\s+|$)|[。！？]+")
_WORD = re.compile(r"\S+")


def is_wide(char: str) -> bool:
    """Characters written without spaces between words (Han, kana, CJK punctuation)."""
    code = ord(char)
    return (
        0x2E80 <= code <= 0x9FFF  # CJK radicals, kana, CJK symbols and punctuation, Han
        or 0xF900 <= code <= 0xFAFF  # CJK compatibility ideographs
        or 0xFF00 <= code <= 0xFF60  # full-width forms
        or 0x20000 <= code <= 0x3FFFF  # Han extensions
    )


def normalize_script(script: str) -> str:
    """NFC, control characters removed, whitespace collapsed; raises ScriptError."""
    if not isinstance(script, str):
        raise ScriptError("The script must be text.")
    text = unicodedata.normalize("NFC", script)
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)
    text = "".join(c for c in text if unicodedata.category(c) not in ("Cf", "Co", "Cs"))
    text = re.sub(r"\s+", " ", text).strip()
    if not any(unicodedata.category(c)[0] in "LN" for c in text):
        raise ScriptError("The script is empty: give the words the performer should say.")
    if len(text) > MAX_SCRIPT_CHARS:
        raise ScriptError(
            f"The script has {len(text)} characters; the limit is {MAX_SCRIPT_CHARS}."
        )
    return text


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences in a normalised script."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if text[start:end].strip():
            spans.append((start, end))
        start = end
    if text[start:].strip():
        spans.append((start, len(text)))
    # Trim the whitespace that separates sentences from each span.
    trimmed = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if any(unicodedata.category(c)[0] in "LN" for c in text[a:b]):
            trimmed.append((a, b))
        elif trimmed:  # punctuation-only remainder: attach to the previous sentence
            trimmed[-1] = (trimmed[-1][0], b)
    return trimmed


@dataclass(frozen=True)
class Token:
    """A caption unit: a word, or one wide (CJK) character with its trailing punctuation."""

    text: str
    start: int  # character offsets in the normalised script
    end: int
    wide: bool  # written without a space before it

    @property
    def speakable(self) -> bool:
        return any(unicodedata.category(c)[0] in "LN" for c in self.text)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    for match in _WORD.finditer(text):
        word, base = match.group(), match.start()
        i = 0
        while i < len(word):
            if is_wide(word[i]):
                j = i + 1
                # Attach following punctuation (、。！ etc.) to this character.
                while j < len(word) and unicodedata.category(word[j])[0] == "P":
                    j += 1
                if (
                    tokens
                    and tokens[-1].wide
                    and not any(unicodedata.category(c)[0] in "LN" for c in word[i:j])
                ):
                    last = tokens.pop()
                    tokens.append(Token(last.text + word[i:j], last.start, base + j, True))
                else:
                    tokens.append(Token(word[i:j], base + i, base + j, True))
                i = j
            else:
                j = i
                while j < len(word) and not is_wide(word[j]):
                    j += 1
                tokens.append(Token(word[i:j], base + i, base + j, False))
                i = j
    return tokens
