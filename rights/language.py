"""Which language is a script written in? Read from the text, never from the brand's word.

``detect(text)`` is a pure function (no Django, no I/O once the model is loaded, once per
process) that whoever builds a policy request calls. The policy engine gets its result as
data (``GenerationRequest.detected``) and denies with ``language_not_allowed`` when every
language the contract allows is in ``LanguageGuess.excluded``: the languages the text is
*confidently not* written in. ``language_to_speak`` says which voice language to render in.

When unsure, the declared language is trusted: short scripts, scripts made of brand names
and scripts mixing languages exclude nothing they do not have to.

How a script is read
--------------------
1. **Writing system.** Letters are counted per Unicode script after NFKC (full-width
   letters are Latin); a Han, kana or Hangul character counts as two letters. A language
   is excluded when at least half of the script's letters (and at least two) are in
   writing systems it is not written in: Persian or Russian text is not English, however
   short. This is certain, not statistical. Languages whose writing system we do not know
   are never excluded this way.
2. **Evidence words.** Brand names, product names, places and people are what make short
   ad scripts look foreign ("Volkswagen Tiguan: Das Auto, reimagined"). The statistical
   test reads only *evidence words*: words without digits, not starting with a capital
   (capitalised words are names, sentence starts and German nouns; the test does not
   need them; nor do capitals inside a word: "iPhone", "eBay"), in one writing system (mixed-script words are evasion tricks), not a
   hashtag, handle, e-mail or web address. Scripts without letter case (Arabic, Han,
   ...) keep every word; Han and kana count one word per two characters. Fewer than
   ``MIN_EVIDENCE_WORDS`` words or ``MIN_EVIDENCE_LETTERS`` letters: no statistical
   exclusion at all.
3. **The identifier.** py3langid (97 languages; its naive-Bayes model ships in the wheel,
   nothing is downloaded) scores the evidence words. With D the likeliest language, a
   language L is excluded when the text reads much better as D than as L and few words
   read as well as L:

   - ``lead``: how much likelier the evidence is in D than in L (log-likelihood, nats);
   - ``support``: the share of evidence words that, on their own, read at least as well
     in L as in D (one vote per word: function words carry a language, "grab a croissant
     and a café au lait" is English around French loanwords);
   - excluded when ``lead >= 8`` and ``support < 20 %``, or ``lead >= 60`` and
     ``support < 60 %`` (``_EXCLUDE_WHEN``).

   The thresholds were chosen on our ad corpora (tests/rights/screening_corpus.json and
   tests/rights/language_corpus.json, every script and ~3,900 truncations of them) for
   zero false denials; ``bench/language.py`` prints the figures, bench/RESULTS.md keeps
   them, with the comparison that chose py3langid over lingua.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "CONFIDENT",
    "MIN_EVIDENCE_LETTERS",
    "MIN_EVIDENCE_WORDS",
    "LanguageGuess",
    "detect",
    "is_confidently_not",
    "language_to_speak",
    "writing_systems",
]

MIN_EVIDENCE_WORDS = 6
MIN_EVIDENCE_LETTERS = 20
# (lead at least, support below): either pair excludes a language.
_EXCLUDE_WHEN = ((8.0, 0.20), (60.0, 0.60))
# A language's writing systems are "not the script's" when at least this share of the
# letters (and at least MIN_FOREIGN_LETTERS) are in other writing systems.
FOREIGN_SCRIPT_SHARE = 0.5
MIN_FOREIGN_LETTERS = 2
# The identifier's probability above which the best guess is called confident (reported,
# and used by language_to_speak); exclusion itself uses lead and support.
CONFIDENT = 0.9


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    """What a script's text says about its language. Plain data, for the policy engine.

    ``language``: ISO 639-1 code of the likeliest language (None: no letters at all).
    ``confidence``: the identifier's probability for it, 0..1 (over-confident on short
    text: exclusion does not rest on it). ``excluded``: languages the text is confidently
    *not* written in (see the module docstring); never contains ``language``.
    ``evidence_words``: how many words the statistical test read. ``scripts``: letters per
    writing system ("Latin", "Cyrillic", "Han"...). ``ranked``: the five likeliest
    (language, probability) pairs.
    """

    language: str | None
    confidence: float = 0.0
    excluded: frozenset[str] = frozenset()
    evidence_words: int = 0
    scripts: dict[str, int] = field(default_factory=dict)
    ranked: tuple[tuple[str, float], ...] = ()

    def as_dict(self) -> dict:
        """JSON-serialisable summary, for decision details and logs."""
        return {"language": self.language, "confidence": round(self.confidence, 4),
                "evidence_words": self.evidence_words, "scripts": dict(self.scripts)}


# --------------------------------------------------------------------------- writing systems

# Unicode character-name prefixes whose writing system is not the prefix itself.
_SCRIPT_OF_NAME = {
    "CJK": "Han", "IDEOGRAPHIC": "Han", "KANGXI": "Han", "BOPOMOFO": "Han",
    "HIRAGANA": "Kana", "KATAKANA": "Kana", "HANGUL": "Hangul",
}

# Language -> the writing systems it is written in: the languages espeak-ng speaks here
# and py3langid identifies. A language not listed is never excluded for its script.
_WRITING: dict[str, frozenset[str]] = {
    code: frozenset({"Latin"}) for code in (
        "af an ay br bs ca cs cy da de en eo es et eu fi fo fr fy ga gd gl gn ha hr ht hu ia "
        "id ig io is it jv kl la lb lg lt lv mg mi ms mt nb nl nn no ny om oc pl pt qu rm ro "
        "rw se sk sl sm sn so sq st sv sw tk tl tn to tr vi vo wa wo xh yo zu"
    ).split()
}
_WRITING.update({code: frozenset({"Cyrillic"}) for code in "ba be bg cv kk ky mk mn ru tg tt uk".split()})
_WRITING.update({code: frozenset({"Arabic"}) for code in "ar fa ps sd ug ur".split()})
_WRITING.update({code: frozenset({"Devanagari"}) for code in "hi mr ne sa".split()})
_WRITING.update({
    "sr": frozenset({"Cyrillic", "Latin"}), "az": frozenset({"Latin", "Cyrillic"}),
    "uz": frozenset({"Latin", "Cyrillic"}), "ku": frozenset({"Latin", "Arabic"}),
    "el": frozenset({"Greek"}), "he": frozenset({"Hebrew"}), "yi": frozenset({"Hebrew"}),
    "zh": frozenset({"Han"}), "ja": frozenset({"Han", "Kana"}), "ko": frozenset({"Hangul", "Han"}),
    "bn": frozenset({"Bengali"}), "as": frozenset({"Bengali"}), "pa": frozenset({"Gurmukhi"}),
    "gu": frozenset({"Gujarati"}), "or": frozenset({"Oriya"}), "ta": frozenset({"Tamil"}),
    "te": frozenset({"Telugu"}), "kn": frozenset({"Kannada"}), "ml": frozenset({"Malayalam"}),
    "si": frozenset({"Sinhala"}), "th": frozenset({"Thai"}), "lo": frozenset({"Lao"}),
    "my": frozenset({"Myanmar"}), "ka": frozenset({"Georgian"}), "hy": frozenset({"Armenian"}),
    "am": frozenset({"Ethiopic"}), "ti": frozenset({"Ethiopic"}), "km": frozenset({"Khmer"}),
    "bo": frozenset({"Tibetan"}), "dz": frozenset({"Tibetan"}), "dv": frozenset({"Thaana"}),
})
# Writing systems with letter case: there, capitalised words are names or sentence starts.
_BICAMERAL = frozenset({"Latin", "Cyrillic", "Greek", "Armenian", "Georgian"})
_UNSPACED = frozenset({"Han", "Kana"})  # words are not separated by spaces
_DENSE = frozenset({"Han", "Kana", "Hangul"})  # one character ~ two or three Latin letters


def writing_systems(language: str) -> frozenset[str] | None:
    """The writing systems ``language`` is written in; None for a language we do not know."""
    return _WRITING.get(language)


_script_cache: dict[str, str | None] = {}


def _script(char: str) -> str | None:
    """The writing system of a letter; None for anything else."""
    try:
        return _script_cache[char]
    except KeyError:
        pass
    script: str | None = None
    if unicodedata.category(char)[0] == "L":
        name = unicodedata.name(char, "")
        if name.startswith("HALFWIDTH"):
            name = name.split(" ", 1)[1]
        head = name.split(" ", 1)[0]
        script = _SCRIPT_OF_NAME.get(head, head.capitalize() or None)
    if len(_script_cache) < 50_000:  # bounded: hostile input cannot grow it for ever
        _script_cache[char] = script
    return script


def _script_units(tokens: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for token in tokens:
        if token.isascii():
            letters = sum(map(str.isalpha, token))
            if letters:
                counts["Latin"] = counts.get("Latin", 0) + letters
            continue
        for char in token:
            if char.isalpha():
                script = _script(char)
                if script is not None:
                    counts[script] = counts.get(script, 0) + (2 if script in _DENSE else 1)
    return counts


_LANGUAGES_BY_WRITING: dict[frozenset[str], tuple[str, ...]] = {}
for _code, _systems in sorted(_WRITING.items()):
    _LANGUAGES_BY_WRITING[_systems] = (*_LANGUAGES_BY_WRITING.get(_systems, ()), _code)


def _excluded_by_script(scripts: dict[str, int]) -> set[str]:
    total = sum(scripts.values())
    out: set[str] = set()
    for systems, languages in _LANGUAGES_BY_WRITING.items():
        foreign = sum(n for script, n in scripts.items() if script not in systems)
        if foreign >= MIN_FOREIGN_LETTERS and foreign >= FOREIGN_SCRIPT_SHARE * total:
            out.update(languages)
    return out


# --------------------------------------------------------------------------- evidence words

_NOT_WORDS = re.compile(
    r"(?:https?://|www\.)\S+|\S+@\S+\.\S+|[#@]\w+|\b\w+\.(?:com|net|org|io|app|de|es|cn|co)\b",
    re.IGNORECASE,
)
_JOINERS = frozenset("'’-\u200c\u200d")  # apostrophes, hyphens; ZWNJ/ZWJ inside Persian and Indic words


def _tokens(text: str) -> list[str]:
    """Words: runs of letters, marks (vowel signs, nukta, harakat), digits and joiners."""
    return "".join(
        c if c in _JOINERS or unicodedata.category(c)[0] in "LMN" else " " for c in text
    ).split()


def _evidence(text: str) -> tuple[list[str], int, int]:
    """(evidence words, how many words they count as, their letters)."""
    kept: list[str] = []
    words = 0.0
    letters = 0
    for token in _tokens(_NOT_WORDS.sub(" ", text)):
        token = token.strip("'’-\u200c\u200d")
        if not token or any(unicodedata.category(c)[0] == "N" for c in token):
            continue  # digits: model numbers, prices, codes
        if token.isascii():
            script = "Latin"
        else:
            scripts = {_script(c) for c in token if c.isalpha()}
            scripts.discard(None)
            if len(scripts) != 1:
                continue
            (script,) = scripts
        if script in _BICAMERAL and not token.islower():
            continue  # capitals anywhere: names, sentence starts, nouns, "iPhone", "eBay"
        size = sum(c.isalpha() for c in token)
        kept.append(token)
        letters += size
        words += size / 2 if script in _UNSPACED else 1
    return kept, int(words), letters


# --------------------------------------------------------------------------- the identifier

_LOCK = threading.Lock()
_MODEL: tuple | None = None


def _model() -> tuple:
    """py3langid's model, loaded once per process: (classes, transitions, outputs,
    log P(feature | language) as (features, languages), log P(language))."""
    global _MODEL
    if _MODEL is None:
        with _LOCK:
            if _MODEL is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                model = LanguageIdentifier.from_pickled_model(MODEL_FILE)
                _MODEL = (list(model.nb_classes), model.tk_nextmove, model.tk_output,
                          np.ascontiguousarray(model.nb_ptc, dtype=np.float64),
                          np.asarray(model.nb_pc, dtype=np.float64))
    return _MODEL


def _log_likelihoods(pieces: list[str]) -> np.ndarray:
    """Log P(piece, language) for each piece: (pieces, languages).

    The same byte n-gram automaton and sums as py3langid's ``classify``, over the features
    a piece actually has (sparse) instead of a dense dot product: ~15x faster.
    """
    _, nextmove, output, ptc, prior = _model()
    out = np.empty((len(pieces), len(prior)))
    for row, piece in enumerate(pieces):
        state = 0
        features: list[int] = []
        for byte in piece.encode("utf-8", "surrogatepass"):
            state = nextmove[(state << 8) + byte]
            found = output.get(state)
            if found:
                features.extend(found)
        out[row] = ptc[features].sum(axis=0) + prior if features else prior
    return out


def detect(text: str) -> LanguageGuess:
    """The language ``text`` is written in, as far as the text itself shows it.

    Pure and deterministic; about 0.2 ms for a 300-character ad script on one core, plus
    ~0.4 s once per process to load the model. Never raises for any string.
    """
    text = unicodedata.normalize("NFKC", text or "")
    kept, words, letters = _evidence(text)
    # The writing systems of the evidence words (brand names left out), or, when there are
    # hardly any, of every word not in Latin script: a script in capitals is still
    # Cyrillic, but capitalised Latin words are names, and names are written in Latin
    # script in ads in every language ("Apple Watch Series 10，现已开售").
    if letters >= MIN_FOREIGN_LETTERS:
        scripts = _script_units(kept)
    else:
        scripts = _script_units(
            t for t in _tokens(text) if {_script(c) for c in t if c.isalpha()} - {"Latin", None}
        )
    if not scripts:
        return LanguageGuess(None)
    excluded = _excluded_by_script(scripts)
    classes = _model()[0]
    sample = f" {' '.join(kept)} " if kept else text
    if words >= MIN_EVIDENCE_WORDS and letters >= MIN_EVIDENCE_LETTERS:
        rows = _log_likelihoods([sample, *(f" {word} " for word in kept)])
    else:
        rows = _log_likelihoods([sample])
    whole = rows[0]
    best = int(np.argmax(whole))
    probs = np.exp(whole - whole[best])
    probs /= probs.sum()
    top = np.argsort(-probs)[:5]
    ranked = tuple((classes[i], float(probs[i])) for i in top)
    if len(rows) > 1:
        lead = whole[best] - whole
        # One vote per word: long loanwords must not outvote the short function words
        # that carry a sentence's language ("a croissant and a café au lait").
        per_word = rows[1:]
        support = (per_word >= per_word[:, best : best + 1]).mean(axis=0)
        mask = np.zeros(len(classes), dtype=bool)
        for min_lead, max_support in _EXCLUDE_WHEN:
            mask |= (lead >= min_lead) & (support < max_support)
        excluded.update(classes[i] for i in np.flatnonzero(mask))
    language = classes[best]
    if language in excluded:
        # The identifier's favourite is in a writing system the text is not written in
        # (it reads n-grams, not scripts): take the likeliest language that fits.
        fitting = [i for i in np.argsort(-whole) if classes[i] not in excluded]
        if fitting:
            language, best = classes[fitting[0]], fitting[0]
    excluded.discard(language)
    return LanguageGuess(language=language, confidence=float(probs[best]),
                         excluded=frozenset(excluded), evidence_words=words, scripts=scripts,
                         ranked=ranked)


def is_confidently_not(guess: LanguageGuess | None, allowed: Collection[str]) -> bool:
    """True when the text is confidently in none of ``allowed`` (the policy's test)."""
    return guess is not None and bool(allowed) and all(code in guess.excluded for code in allowed)


def language_to_speak(*, declared: str, guess: LanguageGuess | None, allowed: Collection[str],
                      speakable: Collection[str] | None = None) -> str:
    """The language to render an allowed script in (an ISO 639-1 code).

    The declared language, unless the text is confidently not in it: then the detected
    language when it is allowed (and speakable, when ``speakable`` is given), else the
    likeliest allowed language the text is not excluded from. Brand names and loanwords
    never switch the voice: only a confident reading does.
    """
    if guess is None or guess.language is None or declared not in guess.excluded:
        return declared

    def usable(code: str) -> bool:
        return (code in allowed and code not in guess.excluded
                and (speakable is None or code in speakable))

    if usable(guess.language):
        return guess.language
    for code, _ in guess.ranked:
        if usable(code):
            return code
    fitting = sorted(code for code in allowed if usable(code))
    return fitting[0] if fitting else declared
