"""Script screening: does an ad script promote a product category the contract bans?

``screen(script, categories)`` reads the text the avatar will speak and reports
every *banned* category the script promotes, whatever category the brand
declared. It is a pure function (no Django, no ORM, no I/O after import) so the
policy engine can call it on every request and a worker can re-run it mid-flight.

How a script is read
--------------------
1. **Folding.** NFKD (full-width and compatibility letters, ligatures, math
   alphabets), accents dropped ("apuéstas" → "apuestas"), homoglyphs mapped to
   Latin (Cyrillic "о а е с р", Greek "ο α ν", small capitals…), zero-width
   characters and soft hyphens deleted, "ß" → "ss", ASCII case folded,
   apostrophes deleted ("you'll" → "youll"), every other punctuation or symbol
   a word break, except the leetspeak symbols ``@ $ ! |`` inside words.
2. **Tokens and their variants.** Whitespace-split tokens, plus: leetspeak
   readings of tokens that mix letters with digits or symbols ("c4s1n0",
   "v1agra", "a1cohol" via 1→i and 1→l, "c@sino"); the letter runs of such
   tokens ("casino2024" → "casino"); runs of ≥ 3 single characters glued back
   together ("p.o.t.e.n.c.y", "v-i-a-g-r-a", "p o t e n c y"), searched inside
   for strong terms (so "a v i a g r a" is found too); two adjacent tokens glued
   when the first is the start of a strong term and not an everyday word
   ("via gra", "cas ino").
3. **Matching.** Tokens are looked up in a dictionary of every inflected form
   of every term (built at import: plurals, verb endings, German case endings,
   umlaut spellings "ä"/"ae"), so matching is a set intersection. Compound
   markers let a term match inside a longer word (German "Sportwetten",
   "Onlinecasino"). Phrases are matched on the token sequence and also as one
   glued token (hashtags: "#onlinecasino"). Chinese, which has no spaces, is
   matched by substring over the text's CJK characters with separators removed
   ("博 彩" is "博彩"); each term is filed under its least common character, so
   a script only tests the terms filed under characters it contains.
4. **Scoring.** Each distinct term counts once per category: strong terms and
   phrases weigh enough to flag on their own; weak (ambiguous) terms such as
   "bet", "shot", "vote", "pill", "slim", "god", "campaign" only flag together
   with other evidence. *Allow* phrases ("wine red", "shot on iphone", "root
   beer", "酒红色") cancel the occurrences of a term they contain.

All languages' terms apply to every script: a Spanish brand name in an English
script is still found. ``screen`` does not know (or trust) the declared language.

Vocabulary format (``rights/data/screening.json``)
--------------------------------------------------
::

    {
      "version": "2025.1",                       # recorded with decisions
      "weights": {"strong": 3, "phrases": 3, "weak": 1},
      "threshold": 2,                            # score needed to flag a category
      "category_thresholds": {"political": 3},   # stricter where weak words are common
      "categories": {
        "<category>": {                          # a name from rights.vocab.CATEGORIES
          "<lang>": {                            # ISO 639-1: en, es, de, zh, ...
            "strong": ["viagra", "*wetten", "casino*", "=gin", ...],
            "weak":   ["pill", "lose weight", ...],
            "phrases": ["online casino", "ask your doctor if", ...]
          }
        }
      },
      "allow": {"<lang>": ["wine red", "shot on iphone", "weinrot", ...]}
    }

Term syntax, written as a person would write it (the loader folds it exactly
as it folds scripts):

- ``word``: the word and its inflections for the list's language (en: -s,
  -es, -ed, -ing, -er(s), y→ies, consonant doubling; es: -s, -es, o→a/as;
  de: -e, -en, -n, -er, -ern, -es, -s, -ens).
- ``=word``: that exact form only (no inflection).
- ``*word``: *also* as the end of a longer word (German compound head:
  "*wetten" finds "Sportwetten"); ``word*``: as the start of a longer word
  ("casino*" finds "Casinobonus"); ``*word*``: both. The marker adds compound
  matching only: list the bare word as well if it should count on its own.
  The longer word must have at least 3 more characters.
- several words: a phrase; every word is inflected, words must be adjacent.
- any term with CJK characters: matched as a substring, no inflection; at
  least two characters (a single character such as "酒" is in "酒店", hotel).
- ``allow`` entries: benign phrases (or single compound words) that contain
  a term; the occurrences they cover do not count. Each must contain a term.

Weights: a category is reported when the sum of the weights of its distinct
matched terms reaches its threshold (``category_thresholds`` or
``threshold``); ``phrases`` use the ``phrases`` weight, and multi-word entries
under ``weak`` are weak phrases. A weak phrase may not contain a single-word
term of its own category (it would count twice). A token counts once per
category, with its strongest entry. The loader raises ``ValueError`` on any
rule broken, so a bad vocabulary fails at import, not in production.
"""

from __future__ import annotations

import codecs
import json
import operator
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from confusable_homoglyphs import confusables

__all__ = ["CATEGORIES", "VOCABULARY_VERSION", "Hit", "normalize", "screen", "screen_all", "vocabulary_stats"]

VOCABULARY_PATH = Path(__file__).parent / "data" / "screening.json"


@dataclass(frozen=True, slots=True)
class Hit:
    """One banned category the script promotes, and the terms that showed it.

    ``terms`` are the folded vocabulary terms (sorted), for the human message;
    ``score`` is the sum of their weights, for diagnostics.
    """

    category: str
    terms: tuple[str, ...]
    score: int = 0


@dataclass(frozen=True, slots=True)
class _Entry:
    category: str
    term: str  # the folded term, as shown to people
    weight: int


# --------------------------------------------------------------------------- folding

# Apostrophes are deleted, like ASCII ' (so "you’ll" folds like "you'll").
_APOSTROPHES = {"’": "", "‘": "", "ʼ": "", "ʻ": "", "´": "", "`": ""}
# Latin letters whose ASCII reading is a spelling, not a shape (NFKD leaves them alone).
_TRANSLITERATION = {"ß": "ss", "ẞ": "ss", "þ": "th", "Þ": "th", "ð": "d", "Ð": "d"}
# Look-alikes that Unicode's confusables data does not list (their shapes differ in some
# fonts) but that evaders use: lowercase Cyrillic and Greek letters read as Latin ones.
_LOOKALIKES_BEYOND_UTS39 = {
    "з": "3", "и": "u", "й": "u", "п": "n", "ь": "b", "Ԁ": "d",
    "β": "b", "δ": "d", "ε": "e", "ζ": "z", "μ": "u", "ς": "s", "χ": "x", "ω": "w",
}
_LATIN_LETTER_NAME = re.compile(r"LATIN (?:SMALL |CAPITAL )?LETTER (?:SMALL CAPITAL )?([A-Z])(?: WITH .*)?$")
# Dash punctuation and middle dots: kept apart from other punctuation until the words
# split at them are glued back ("ca-si-no", "ca·si·no"); then a word break like the rest.
_DOTS = frozenset("·•‧∙⋅")


def _ascii_reading(chars: str) -> str | None:
    """The lowercase ASCII letters/digits ``chars`` stand for by themselves: ASCII, NFKD
    without marks, or a Latin letter's Unicode name ("LATIN LETTER SMALL CAPITAL N")."""
    if chars.isascii():
        return chars.lower() if chars.isalnum() else None
    stripped = "".join(c for c in unicodedata.normalize("NFKD", chars) if not unicodedata.combining(c))
    if stripped.isascii() and stripped.isalnum():
        return stripped.lower()
    if len(chars) == 1:
        match = _LATIN_LETTER_NAME.match(unicodedata.name(chars, ""))
        if match:
            return match.group(1).lower()
    return None


def _confusable_readings() -> dict[str, str]:
    """Non-ASCII character -> the ASCII letters it is confusable with, from Unicode's
    confusables data (UTS #39, as shipped by confusable-homoglyphs).

    The data pairs each character with its prototype (both ways). A character reads as
    its prototype's ASCII reading, or, when the prototype is not Latin-readable itself
    (Cyrillic "т" -> small capital "ᴛ"), as the reading of the prototype's own
    confusables (one more hop). Capital look-alikes of "I" fold to "i" (UTS #39 puts
    capital I with "l"; ASCII "I" is folded to "i" here). Characters that NFKD already
    turns into ASCII are left to NFKD.
    """
    data = confusables.confusables_data
    readings: dict[str, str] = {}
    for char, pairs in data.items():
        if len(char) != 1 or char.isascii():
            continue
        if unicodedata.normalize("NFKD", char).isascii():
            continue
        found: set[str] = set()
        for hop in ((p["c"] for p in pairs), (q["c"] for p in pairs for q in data.get(p["c"], ()))):
            found = {r for r in map(_ascii_reading, hop) if r}
            if found:
                break
        if not found and (own := _ascii_reading(char)):
            found = {own}
        if found:
            reading = min(found, key=lambda r: (len(r), not r.isalpha(), r))
            if reading == "l" and unicodedata.category(char) == "Lu" and _ascii_reading(char) != "l":
                reading = "i"
            readings[char] = reading
    readings.update(_LOOKALIKES_BEYOND_UTS39)
    return readings


_READINGS = _confusable_readings()


class _FoldTable(dict):
    """str.translate table for the non-ASCII characters left after NFKD.

    Apostrophes and invisible format characters (zero-width space/joiners, soft hyphen,
    BOM, bidi controls) and marks are deleted; confusables and other Latin-readable
    letters become their ASCII letters; dashes become "-" and middle dots "." (word
    breaks that screen() may glue across); anything else (CJK, quotes, emoji) becomes a
    word break. Filled lazily, and bounded so hostile input cannot grow it without limit.
    """

    def __missing__(self, code: int) -> str:
        char = chr(code)
        value = _APOSTROPHES.get(char) if char in _APOSTROPHES else (
            _TRANSLITERATION.get(char) or _READINGS.get(char) or _ascii_reading(char))
        if value is None:
            category = unicodedata.category(char)
            if category in ("Mn", "Me", "Mc", "Cf"):
                value = ""
            elif category == "Pd":
                value = "-"
            else:
                value = "." if char in _DOTS else " "
        if len(self) < 20_000:
            self[code] = value
        return value


_FOLD = _FoldTable()
_CODEC_ERRORS = "doppel.screening.fold"


# Scripts with no Latin reading: one word break per run, without a lookup per character.
_NON_LATIN_RUN = re.compile(
    r"[\u0590-\u08ff\u0900-\u0dff\u0e00-\u0eff\u1100-\u11ff\u3000-\u303f\u3040-\u30ff"
    r"\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7af\uf900-\ufaff"
    r"\U00020000-\U0002ebef]+"
)


def _fold_unencodable(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    chunk = error.object[error.start:error.end]
    if len(chunk) > 4:
        chunk = _NON_LATIN_RUN.sub(" ", chunk)
    return chunk.translate(_FOLD), error.end


codecs.register_error(_CODEC_ERRORS, _fold_unencodable)


def _byte_table() -> bytes:
    table = bytearray(b" " * 256)
    for c in b"abcdefghijklmnopqrstuvwxyz0123456789@$!|":
        table[c] = c
    for c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        table[c] = c + 32
    return bytes(table)


_BYTES = _byte_table()
_DELETE = b"'`"
_LETTERS_AND_SPACE = b"abcdefghijklmnopqrstuvwxyz \t\n\r\x0b\x0c"
_LEET_SYMBOLS = b"@$!|"
_LEET_I = bytes.maketrans(b"0123456789@$!|", b"oizeasgtbgasil")
_LEET_L = bytes.maketrans(b"0123456789@$!|", b"olzeasbtbgasil")
_DIGITS_AND_SYMBOLS = b"0123456789@$!|"

# The most frequent Chinese characters, most frequent first: CJK terms are
# indexed by their rarest character (any character not listed counts as rare).
_CJK_COMMON = (
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可"
    "她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已"
    "老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力"
    "机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军"
    "产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常"
    "提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服"
    "毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言"
    "权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满"
    "式李息写呢识极令黄德收脸钱党倒未持音送始找朋友买送免费新品限时优惠包邮下单抢购全场直播福利"
)
_CJK_RANK = {ch: i for i, ch in enumerate(dict.fromkeys(_CJK_COMMON))}
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]+")


# "!" is leetspeak for "i" inside a word ("v!agra"), punctuation at its end ("now!").
_BANG_PUNCTUATION = re.compile(rb"!+(?![a-z0-9@$|])")


_CJK_SPLIT = re.compile(f"({_CJK_RUN.pattern})")


def _before_nfkd() -> dict[str, str]:
    """Confusables whose compatibility decomposition reads differently: "ϲ" (lunate sigma,
    looks like c) decomposes to "ς" (final sigma, read s). These are read before NFKD."""
    out = {}
    for char, reading in _READINGS.items():
        decomposed = unicodedata.normalize("NFKD", char)
        if decomposed == char:
            continue
        parts = (_READINGS.get(c) or _ascii_reading(c) or "" for c in decomposed if not unicodedata.combining(c))
        if "".join(parts) != reading:
            out[char] = reading
    return out


_BEFORE_NFKD = _before_nfkd()
_BEFORE_NFKD_CHARS = re.compile("[" + re.escape("".join(sorted(_BEFORE_NFKD))) + "]") if _BEFORE_NFKD else None


def _fold(text: str) -> tuple[bytes, str | None, bytes]:
    """The folded Latin view of ``text`` (ASCII bytes), its CJK characters (None if none),
    and the ASCII view before punctuation became word breaks (for split words).

    The CJK characters are glued together, whatever separated them ("博 彩"
    reads "博彩"); in the Latin view each run of them is a word break.
    """
    cjk = None
    if text.isascii():
        raw = text.encode("ascii")
    else:
        if any(char in text for char in _BEFORE_NFKD):  # 18 substring searches: faster than a regex
            text = _BEFORE_NFKD_CHARS.sub(lambda m: _BEFORE_NFKD[m.group()], text)
        nfkd = unicodedata.normalize("NFKD", text)
        parts = _CJK_SPLIT.split(nfkd)
        if len(parts) > 1:
            cjk = "".join(parts[1::2])
            nfkd = " ".join(parts[0::2])
        raw = nfkd.encode("ascii", _CODEC_ERRORS)
    folded = raw.translate(_BYTES, _DELETE)
    if b"!" in folded:
        folded = _BANG_PUNCTUATION.sub(b" ", folded)
    return folded, cjk, raw


def normalize(text: str) -> str:
    """The folded Latin reading of ``text``, tokens separated by single spaces."""
    return " ".join(_fold(text)[0].decode("ascii").split())


# --------------------------------------------------------------------------- vocabulary

_LANG_SUFFIXES = {
    "en": ("s", "es", "ed", "ing", "er", "ers"),
    "es": ("s", "es"),
    "de": ("e", "en", "n", "er", "ern", "es", "s", "ens"),
}
_VOWELS = "aeiou"


def _inflect(word: str, lang: str) -> set[str]:
    forms = {word}
    if not word.isalpha() or len(word) < 3:
        return forms
    forms.update(word + s for s in _LANG_SUFFIXES.get(lang, ()))
    if lang == "en":
        if word.endswith("e"):
            forms.update((word[:-1] + "ing", word + "d", word + "r", word + "rs"))
        if word.endswith("y") and word[-2] not in _VOWELS:
            forms.update((word[:-1] + "ies", word[:-1] + "ied"))
        if word[-1] in "bdgmnprt" and word[-2] in _VOWELS and word[-3] not in _VOWELS:
            forms.update((word + word[-1] + "ing", word + word[-1] + "ed"))
    elif lang == "es":
        if word.endswith("o"):
            forms.update((word[:-1] + "a", word[:-1] + "as"))
        elif word.endswith("z"):
            forms.add(word[:-1] + "ces")
        elif word[-1] not in _VOWELS:
            forms.update((word + "a", word + "as"))
    return forms


def _spellings(term: str, lang: str) -> set[str]:
    """German umlauts are also written ae/oe/ue; fold both spellings."""
    spellings = {term}
    if lang == "de" and any(c in term for c in "äöüÄÖÜß"):
        spellings.add(term.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
                      .replace("Ä", "Ae").replace("Ö", "Oe").replace("Ü", "Ue"))
    return spellings


def _has_cjk(text: str) -> bool:
    return _CJK_RUN.search(text) is not None


@dataclass(slots=True)
class _Phrase:
    words: tuple[frozenset[bytes], ...]  # the accepted forms of each word, in order
    entry: _Entry
    anchor: int = 0  # the word looked up first: the longest
    others: tuple[frozenset[bytes], ...] = ()  # the other words, longest first

    def plausible(self, tokens: set[bytes]) -> bool:
        """Every other word has some form among ``tokens`` (set operations only)."""
        for forms in self.others:
            if tokens.isdisjoint(forms):
                return False
        return True

    def occurs_in(self, words: list[bytes], tokens: set[bytes]) -> bool:
        size = len(self.words)
        for form in self.words[self.anchor] & tokens:
            i = words.index(form)
            while True:
                start = i - self.anchor
                if 0 <= start and start + size <= len(words) and all(
                    words[start + k] in forms for k, forms in enumerate(self.words)
                ):
                    return True
                try:
                    i = words.index(form, i + 1)
                except ValueError:
                    break
        return False


class _Vocabulary:
    """Everything ``screen`` needs, precompiled from the JSON vocabulary."""

    def __init__(self, data: dict) -> None:
        self.version = str(data["version"])
        weights = data["weights"]
        self.threshold = int(data["threshold"])
        self.thresholds = {c: int(t) for c, t in data.get("category_thresholds", {}).items()}
        if min(int(weights["strong"]), int(weights["phrases"])) < max([self.threshold, *self.thresholds.values()]):
            raise ValueError("strong terms and phrases must flag on their own")
        self.stats: dict[str, dict[str, dict[str, int]]] = {}
        self.forms: dict[bytes, list[_Entry]] = {}
        self.strong_forms: set[bytes] = set()
        self.strong_words: set[bytes] = set()  # strong single-word terms as written, uninflected
        self.suffixes: dict[bytes, list[_Entry]] = {}
        self.prefixes: dict[bytes, list[_Entry]] = {}
        self.phrases: list[_Phrase] = []
        self.anchors: dict[bytes, list[int]] = {}
        self.cjk: dict[str, list[_Entry]] = {}
        self.category_names = frozenset(data["categories"])
        self._weak_phrases: list[tuple[list[str], str, str]] = []

        for category, by_lang in sorted(data["categories"].items()):
            self.stats[category] = {}
            for lang, lists in sorted(by_lang.items()):
                counts = {}
                for kind in ("strong", "weak", "phrases"):
                    terms = lists.get(kind, [])
                    counts[kind] = len(terms)
                    for term in terms:
                        self._add(term, lang=lang, category=category, weight=int(weights[kind]))
                self.stats[category][lang] = counts

        for words, category, raw in self._weak_phrases:
            for word in words:
                if any(e.category == category for e in self.forms.get(word.encode(), ())):
                    raise ValueError(f"weak phrase {raw!r} contains the {category} term {word!r}")
        self.allow_latin: dict[bytes, list[bytes]] = {}
        self.allow_tokens: set[bytes] = set()
        self.allow_cjk: dict[str, list[str]] = {}
        for lang, phrases in sorted(data.get("allow", {}).items()):
            for phrase in phrases:
                self._add_allow(phrase, lang=lang)

        self._index_phrases()
        self.form_keys = frozenset(self.forms)
        self.strong_keys = frozenset(self.strong_forms)
        self.strong_lengths = tuple(sorted({len(f) for f in self.strong_forms if len(f) >= 4}))
        # First parts of strong words split in two ("via gra", "bet 365"); common
        # words are left out, or every script would pay for the pair check.
        self.fragments = frozenset(
            w[:i] for w in self.strong_words if len(w) >= 5 for i in range(3, len(w) - 1)
        ) - _COMMON_WORDS - self.forms.keys()
        # Words split into short pieces by spaces ("ca si no", "v ia gra"): a piece of one
        # to three letters that starts a strong form (not an everyday word, not a lone
        # vowel, not a number, not a term itself) starts a walk that glues the following pieces while they still spell the
        # start of a strong form.
        self.strong_prefixes = frozenset(
            f[:i] for f in self.strong_forms if len(f) >= 4 for i in range(1, len(f))
        )
        self.chain_starts = frozenset(
            p for p in self.strong_prefixes
            if len(p) <= 3 and p not in b"aeiouy" and not p.isdigit() and p not in self.forms
        ) - _COMMON_WORDS
        self.suffix_lengths = tuple(sorted({len(f) for f in self.suffixes}))
        self.prefix_lengths = tuple(sorted({len(f) for f in self.prefixes}))
        # A token can only contain an affix term if its last (first) 4 letters
        # end (start) one: a one-lookup filter before trying every length.
        self.suffix_tails = frozenset(f[-4:] for f in self.suffixes)
        self.prefix_heads = frozenset(f[:4] for f in self.prefixes)
        self.min_compound = min((*self.suffix_lengths, *self.prefix_lengths), default=99) + 3
        self.anchor_keys = frozenset(self.anchors)
        self.allow_keys = frozenset(self.allow_latin)
        # Each CJK term is filed under its least common character; a script only
        # checks the terms filed under the characters it contains.
        self.cjk_by_char: dict[str, list[str]] = {}
        for term in sorted(self.cjk):
            key = max(term, key=lambda ch: _CJK_RANK.get(ch, len(_CJK_COMMON)))
            self.cjk_by_char.setdefault(key, []).append(term)
        self.cjk_index = (
            re.compile("[" + "".join(sorted(self.cjk_by_char)) + "]") if self.cjk_by_char else None
        )

    # -- building

    def _add(self, raw: str, *, lang: str, category: str, weight: int) -> None:
        raw = raw.strip()
        if not raw:
            raise ValueError(f"empty term in {category}/{lang}")
        exact = raw.startswith("=")
        head = raw.startswith("*") or raw.startswith("=*")
        modifier = raw.endswith("*")
        text = raw.strip("=*")
        if _has_cjk(text):
            folded = "".join(_CJK_RUN.findall(unicodedata.normalize("NFKD", text)))
            if len(folded) < 2:
                raise ValueError(f"CJK term {raw!r} in {category}/{lang} is shorter than 2 characters")
            self._merge(self.cjk.setdefault(folded, []), _Entry(category, folded, weight))
            return
        for spelling in _spellings(text, lang):
            words = _fold(spelling)[0].decode("ascii").split()
            if not words:
                raise ValueError(f"term {raw!r} in {category}/{lang} folds to nothing")
            entry = _Entry(category, " ".join(_fold(text)[0].decode("ascii").split()), weight)
            if len(words) == 1:
                word = words[0]
                forms = {word} if exact else _inflect(word, lang)
                if head or modifier:
                    if head:
                        for form in forms:
                            self._merge(self.suffixes.setdefault(form.encode(), []), entry)
                    if modifier:
                        self._merge(self.prefixes.setdefault(word.encode(), []), entry)
                    continue
                for form in forms:
                    self._add_form(form.encode(), entry)
                if weight >= self.threshold:
                    self.strong_words.add(word.encode())
            else:
                if weight < self.threshold:
                    self._weak_phrases.append((words, category, raw))
                self._add_phrase(words, lang=lang, entry=entry, exact=exact)

    @staticmethod
    def _merge(entries: list[_Entry], entry: _Entry) -> None:
        """One entry per category: the strongest (then the first) wins."""
        for i, existing in enumerate(entries):
            if existing.category == entry.category:
                if entry.weight > existing.weight:
                    entries[i] = entry
                return
        entries.append(entry)

    def _add_form(self, form: bytes, entry: _Entry) -> None:
        self._merge(self.forms.setdefault(form, []), entry)
        if entry.weight >= self.threshold:
            self.strong_forms.add(form)

    def _add_phrase(self, words: list[str], *, lang: str, entry: _Entry, exact: bool) -> None:
        word_forms = [{w} if exact else _inflect(w, lang) for w in words]
        self.phrases.append(_Phrase(tuple(frozenset(f.encode() for f in forms) for forms in word_forms), entry))
        # The same phrase written as one word: hashtags, "#onlinecasino". Only
        # from words of 3+ letters: "treat ed" must not become "treated".
        if len(words) <= 3 and all(len(w) >= 3 for w in words):
            stem = "".join(words[:-1])
            for form in word_forms[-1]:
                self._add_form((stem + form).encode(), entry)

    def _add_allow(self, phrase: str, *, lang: str) -> None:
        if _has_cjk(phrase):
            folded = "".join(_CJK_RUN.findall(unicodedata.normalize("NFKD", phrase)))
            covered = [term for term in self.cjk if term in folded]
            if not covered:
                raise ValueError(f"allow phrase {phrase!r} ({lang}) contains no term")
            for term in covered:
                self.allow_cjk.setdefault(term, []).append(folded)
            return
        words = _fold(phrase)[0].split()
        covered_forms = [w for w in words if w in self.forms]
        if len(words) == 1 and not covered_forms:
            if not self._compound_entries(words[0]):
                raise ValueError(f"allow word {phrase!r} ({lang}) matches no compound term")
            self.allow_tokens.add(words[0])
            return
        if not covered_forms:
            raise ValueError(f"allow phrase {phrase!r} ({lang}) contains no term")
        padded = b" " + b" ".join(words) + b" "
        for form in covered_forms:
            self.allow_latin.setdefault(form, []).append(padded)

    def _index_phrases(self) -> None:
        """Anchor each phrase on its longest word (long words are rare words), then its least shared."""
        shared: dict[frozenset[bytes], int] = {}
        for phrase in self.phrases:
            for forms in set(phrase.words):
                shared[forms] = shared.get(forms, 0) + 1
        for index, phrase in enumerate(self.phrases):
            phrase.anchor = min(
                range(len(phrase.words)),
                key=lambda i, p=phrase: (-min(map(len, p.words[i])), shared[p.words[i]], i),
            )
            phrase.others = tuple(sorted(
                {forms for i, forms in enumerate(phrase.words) if i != phrase.anchor},
                key=lambda forms: (-min(map(len, forms)), sorted(forms)),
            ))
            for form in phrase.words[phrase.anchor]:
                self.anchors.setdefault(form, []).append(index)

    # -- matching helpers

    def _compound_entries(self, token: bytes) -> list[_Entry]:
        found: list[_Entry] = []
        size = len(token)
        if token[-4:] in self.suffix_tails:
            for k in self.suffix_lengths:
                if k > size - 3:
                    break
                entries = self.suffixes.get(token[-k:])
                if entries:
                    found.extend(entries)
        if token[:4] in self.prefix_heads:
            for k in self.prefix_lengths:
                if k > size - 3:
                    break
                entries = self.prefixes.get(token[:k])
                if entries:
                    found.extend(entries)
        return found


# Everyday words (en, es, de) that must not trigger the split-word check
# (see _Vocabulary.fragments): it runs only when a script has a fragment.
_COMMON_WORDS = frozenset(b"""
a about after all also and any app are as at be best big book but buy by can code day do for free
from fun get go good got great had has have her here his hot how in is it its just let life like
live love made make man me men more most my new next night no not now of off on one online only or
our out over own play plus pre pro real save see she shop so star sun that the their them then there
they this time to top try two up us use was way we what when who why will win with year you your
al con de del el en es la las lo los mas mi muy para pero por que se sin sol su sus tu un una y ya
dia san gratis hoy am an auf aus bei das dem den der des die dein du ein eine einem einen einer
fur im ist ja jetzt mit nach nicht noch nur oder sie und uns vom von vor wie wir zu zum zur
""".split())


def _load() -> _Vocabulary:
    with VOCABULARY_PATH.open(encoding="utf-8") as handle:
        return _Vocabulary(json.load(handle))


_V = _load()
_SINGLE_CHARS = frozenset(bytes([c]) for c in b"abcdefghijklmnopqrstuvwxyz0123456789@$!|")
_TAIL = operator.itemgetter(slice(-4, None))
_HEAD = operator.itemgetter(slice(0, 4))

VOCABULARY_VERSION: str = _V.version
CATEGORIES: frozenset[str] = _V.category_names


def vocabulary_stats() -> dict[str, dict[str, dict[str, int]]]:
    """Number of strong terms, weak terms and phrases per category and language."""
    return {cat: {lang: dict(counts) for lang, counts in langs.items()} for cat, langs in _V.stats.items()}


# --------------------------------------------------------------------------- screening

def _variants(tokens: Iterable[bytes]) -> set[bytes]:
    """Leetspeak readings and letter runs of tokens mixing letters with digits or symbols."""
    out: set[bytes] = set()
    for token in tokens:
        if token.isalpha() or token.isdigit():
            continue
        stripped = token.strip(_LEET_SYMBOLS)
        letters = token.translate(None, _DIGITS_AND_SYMBOLS)
        if not letters:
            continue
        out.add(stripped)
        for candidate in {token, stripped}:
            out.add(candidate.translate(_LEET_I))
            out.add(candidate.translate(_LEET_L))
        out.update(part for part in re.split(rb"[0-9@$!|]+", token) if len(part) >= 3)
    return out


def _spelled_runs(words: list[bytes]) -> list[bytes]:
    """Runs of >= 3 single-character tokens glued together ("v i a g r a")."""
    try:
        lengths = bytes(map(len, words))
    except ValueError:  # a token longer than 255 characters
        lengths = bytes(min(len(w), 255) for w in words)
    runs = []
    start = lengths.find(b"\x01\x01\x01")
    while start >= 0:
        end = start
        while end < len(lengths) and lengths[end] == 1:
            end += 1
        runs.append(b"".join(words[start:end]))
        start = lengths.find(b"\x01\x01\x01", end)
    return runs


def _inside(run: bytes) -> set[bytes]:
    """Strong forms found anywhere inside a glued run (absorbs a stray "a" or "x")."""
    found = set()
    size = len(run)
    for k in _V.strong_lengths:
        if k > size:
            break
        for i in range(size - k + 1):
            piece = run[i:i + k]
            if piece in _V.strong_keys:
                found.add(piece)
    return found


# Words split by hyphens, dots or underscores ("ca-si-no", "c.a.s.i.n.o", "via_gra"):
# whitespace-separated chunks of the ASCII view with a separator inside, cut into pieces.
_CHUNK_EDGES = b"\"'()[]{}<>,;:?*#%&+=/\\~^"


_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@$!|")
_SPACE_BYTES = frozenset(b" \t\n\r\x0b\x0c")


def _split_words(raw: bytes) -> list[list[bytes]]:
    """The pieces of each whitespace-separated chunk that has a hyphen, dot or underscore
    between two letters or digits. Finds separators with bytes.find (memchr) rather than
    looking at every chunk: a typical script has a handful of them, at sentence ends."""
    spans: set[tuple[int, int]] = set()
    last = len(raw) - 1
    for separator in b"-._":
        i = raw.find(separator, 1)
        while 0 < i < last:
            if raw[i - 1] in _WORD_BYTES and raw[i + 1] in _WORD_BYTES:
                a = i
                while a > 0 and raw[a - 1] not in _SPACE_BYTES:
                    a -= 1
                b = i
                while b <= last and raw[b] not in _SPACE_BYTES:
                    b += 1
                spans.add((a, b))
                i = raw.find(separator, b)
            else:
                i = raw.find(separator, i + 1)
    out = []
    for a, b in sorted(spans):
        chunk = raw[a:b].strip(_CHUNK_EDGES).rstrip(b"!").strip(b".-_")
        pieces = [p for p in chunk.replace(b".", b"-").replace(b"_", b"-").split(b"-") if p]
        if len(pieces) > 1:
            out.append([p.lower().strip(_CHUNK_EDGES) for p in pieces])
    return out


def _glued(pieces: list[bytes]) -> set[bytes]:
    """Strong forms spelled by two to six adjacent pieces of a hyphen/dot/underscore-split
    word ("ca-si-no", "on.line.ca.si.no", "c4-s1-n0" through leetspeak)."""
    found = set()
    strong = _V.strong_keys
    count = len(pieces)
    for i in range(count - 1):
        for j in range(i + 2, min(count, i + 6) + 1):
            glued = b"".join(pieces[i:j])
            if glued in strong:
                found.add(glued)
            elif not glued.isalpha() and not glued.isdigit():
                found.update(r for r in (glued.translate(_LEET_I), glued.translate(_LEET_L)) if r in strong)
    return found


def _common_prefix(a: str, b: str) -> int:
    """Length of the common start of ``a`` and ``b`` (binary search on slices: C speed)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _common_suffix(a: str, b: str, limit: int) -> int:
    low, high = 0, min(len(a), len(b), limit)
    while low < high:
        middle = (low + high + 1) // 2
        if a[len(a) - middle:] == b[len(b) - middle:]:
            low = middle
        else:
            high = middle - 1
    return low


# Words of context kept on each side of a change: longer than any vocabulary phrase.
_WINDOW_WORDS = 6


def _changed_window(base: str, other: str) -> str:
    """The part of ``other`` that differs from ``base`` (common start and end cut off),
    with ``_WINDOW_WORDS`` words of context on each side, so a phrase that spans the change
    is still found and a second reading costs only what it changed."""
    if base == other:
        return ""
    start = _common_prefix(base, other)
    end = len(other) - _common_suffix(base, other, min(len(base), len(other)) - start)
    left = start
    for _ in range(_WINDOW_WORDS):
        left = other.rfind(" ", 0, left)
        if left <= 0:
            left = 0
            break
    right = end
    for _ in range(_WINDOW_WORDS):
        right = other.find(" ", right + 1)
        if right < 0:
            right = len(other)
            break
    return other[left:right]


def screen_all(texts: Iterable[str], categories: frozenset[str] | Iterable[str]) -> list[Hit]:
    """``screen`` over several readings of one script, merged.

    The first text is what the brand wrote; the others are other readings of it (what the
    voice will say: numbers and abbreviations written out), screened where they differ
    from the first (with six words of context on each side of the changes). A category is reported when any
    reading promotes it, with the terms of every reading that showed it; sorted by category.
    """
    wanted = categories if isinstance(categories, (frozenset, set)) else frozenset(categories)
    texts = list(texts)
    if not texts:
        return []
    merged = {hit.category: hit for hit in screen(texts[0], wanted)}
    for text in texts[1:]:
        window = _changed_window(texts[0], text)
        if not window:
            continue
        for hit in screen(window, wanted):
            seen = merged.get(hit.category)
            merged[hit.category] = hit if seen is None else Hit(
                hit.category, tuple(sorted(set(seen.terms) | set(hit.terms))), max(seen.score, hit.score))
    return [merged[c] for c in sorted(merged)]


def screen(script: str, categories: frozenset[str] | Iterable[str]) -> list[Hit]:
    """Banned categories that ``script`` promotes, sorted by category.

    Only categories in ``categories`` are reported; categories without a
    vocabulary (``CATEGORIES`` lists those that have one) are never reported.
    """
    wanted = categories if isinstance(categories, (frozenset, set)) else frozenset(categories)
    if not script or _V.category_names.isdisjoint(wanted):
        return []
    latin, cjk, raw = _fold(script)
    words = latin.split()
    plain = tokens = set(words)
    extra: set[bytes] = set()

    if len(tokens & _SINGLE_CHARS) >= 3:
        for run in _spelled_runs(words):
            extra.add(run)
            extra |= _inside(run)
            if not run.isdigit():
                extra |= _variants((run,))
                extra |= _inside(run.translate(_LEET_I)) | _inside(run.translate(_LEET_L))
    mixed = False
    if latin.translate(None, _LETTERS_AND_SPACE):  # digits or leetspeak symbols somewhere
        odd = tokens.difference(filter(bytes.isalpha, tokens))
        leet = _variants(odd)
        if leet:
            extra |= leet
            mixed = True
    fragments = tokens & _V.fragments
    if fragments:
        strong = _V.strong_keys
        last = len(words) - 1
        for fragment in fragments:
            i = words.index(fragment)
            while i < last:
                if (glued := fragment + words[i + 1]) in strong:
                    extra.add(glued)
                try:
                    i = words.index(fragment, i + 1)
                except ValueError:
                    break
    if b"-" in raw or b"_" in raw or (b"." in raw and raw.count(b".") > raw.count(b". ") + raw.endswith(b".")):
        for pieces in _split_words(raw):  # noqa: SIM102 - the test above is the cheap filter
            extra |= _glued(pieces)
    starts = tokens & _V.chain_starts
    if starts:
        strong, prefixes = _V.strong_keys, _V.strong_prefixes
        size = len(words)
        for start in starts:
            i = words.index(start)
            while True:
                glued = start
                for j in range(i + 1, min(size, i + 7)):
                    glued += words[j]
                    if glued in strong:
                        extra.add(glued)
                    if glued not in prefixes:
                        break
                try:
                    i = words.index(start, i + 1)
                except ValueError:
                    break
    if extra:
        tokens = plain | extra

    evidence: dict[str, dict[str, int]] = {}

    def note(entry: _Entry) -> None:
        if entry.category in wanted:
            terms = evidence.setdefault(entry.category, {})
            if terms.get(entry.term, 0) < entry.weight:
                terms[entry.term] = entry.weight

    found = tokens & _V.form_keys
    # Forms that an allow phrase may cancel ("wine" in "wine red") are settled
    # last, and only for a category they could tip over its threshold.
    allowable = found & _V.allow_keys
    if allowable:
        found -= allowable
    for form in found:
        for entry in _V.forms[form]:
            note(entry)

    tails = _V.suffix_tails.intersection(map(_TAIL, tokens))
    heads = _V.prefix_heads.intersection(map(_HEAD, tokens))
    if tails or heads:
        min_compound = _V.min_compound
        for token in tokens:
            if (len(token) >= min_compound and (token[-4:] in tails or token[:4] in heads)
                    and token not in _V.form_keys and token not in _V.allow_tokens):
                for entry in _V._compound_entries(token):
                    note(entry)

    anchors = tokens & _V.anchor_keys
    if anchors:
        leet_readings: list[tuple[list[bytes], set[bytes]]] | None = None
        phrases = _V.phrases
        for index in {i for form in anchors for i in _V.anchors[form]}:
            phrase = phrases[index]
            if not phrase.plausible(tokens) or phrase.entry.category not in wanted:
                continue
            if phrase.occurs_in(words, plain):
                note(phrase.entry)
            elif mixed:
                # Phrases read through leetspeak too ("hot s1ngles" is "hot singles").
                if leet_readings is None:
                    leet_readings = []
                    for table in (_LEET_I, _LEET_L):
                        reading = [w if w.isalpha() else w.translate(table) for w in words]
                        leet_readings.append((reading, set(reading)))
                if any(phrase.occurs_in(r, s) for r, s in leet_readings):
                    note(phrase.entry)

    if cjk is not None and _V.cjk_index is not None:
        for key in set(_V.cjk_index.findall(cjk)):
            for term in _V.cjk_by_char[key]:
                if term not in cjk:
                    continue
                allows = _V.allow_cjk.get(term)
                if allows and sum(cjk.count(a) for a in allows) >= cjk.count(term):
                    continue
                for entry in _V.cjk[term]:
                    note(entry)

    pending: dict[str, list[tuple[bytes, _Entry]]] = {}
    for form in allowable:
        for entry in _V.forms[form]:
            if entry.category in wanted:
                pending.setdefault(entry.category, []).append((form, entry))
    padded = b""

    def is_covered(form: bytes) -> bool:
        nonlocal padded
        seen = words.count(form)  # 0: the form came from a variant, never cancelled
        if not seen:
            return False
        padded = padded or b" " + b" ".join(words) + b" "
        return sum(padded.count(a) for a in _V.allow_latin[form]) >= seen

    hits = []
    for category in sorted(evidence.keys() | pending.keys()):
        terms = evidence.setdefault(category, {})
        threshold = _V.thresholds.get(category, _V.threshold)
        candidates = pending.get(category, ())
        if candidates and sum(terms.values()) + sum(e.weight for _, e in candidates) >= threshold:
            for form, entry in sorted(candidates, key=lambda c: c[0]):
                if not is_covered(form) and terms.get(entry.term, 0) < entry.weight:
                    terms[entry.term] = entry.weight
        score = sum(terms.values())
        if score >= threshold:
            hits.append(Hit(category=category, terms=tuple(sorted(terms)), score=score))
    return hits
