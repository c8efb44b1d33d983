"""The script's own language (rights/language.py) and the policy's language rule.

Issue 10 item 8: a Persian, Russian or German script declared "en" on an English-only
contract was accepted. The text decides now; short, mixed and brand-name-heavy scripts
keep the declared language. ``bench/language.py`` prints the same figures.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rights import language, policy

HERE = Path(__file__).parent
SCREENING = json.loads((HERE / "screening_corpus.json").read_text(encoding="utf-8"))
CORPUS = json.loads((HERE / "language_corpus.json").read_text(encoding="utf-8"))
# Every script written in its own language: ordinary ads, violating ads, and the short,
# mixed and brand-name-heavy ones written for this test.
BENIGN = [(r["id"], r["lang"], r["script"]) for r in SCREENING["benign"] + SCREENING["violating"]] + [
    (r["id"], r["lang"], r["script"]) for r in CORPUS["benign"]
]
FOREIGN = [(r["id"], r["lang"], r["declared"], r["script"]) for r in CORPUS["foreign"]]

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def truncations(script: str) -> list[str]:
    """The script, its sentences, its first sentences, and its first 3..15 words: the
    short scripts a brand might send."""
    out = {script}
    sentences = [s.strip() for s in re.split(r"(?<=[.!?。！？])\s*", script) if s.strip()]
    out.update(sentences)
    out.update(" ".join(sentences[:i]) for i in range(1, len(sentences)))
    words = script.split()
    out.update(" ".join(words[:n]) for n in range(3, min(len(words), 16)))
    return sorted(x for x in out if x)


def terms(languages: set[str]) -> policy.ContractTerms:
    return policy.ContractTerms(
        contract_id="ctr", brand_id="brand", status="active", valid_from=T0, valid_until=T0 + timedelta(days=30),
        platforms=frozenset({"tiktok"}), banned_categories=frozenset(), languages=frozenset(languages),
        territories=frozenset({"US"}), max_renders=10, terms_hash="h", consent_terms_hash="h",
    )


def decide(script: str, *, declared: str, allowed: set[str]) -> policy.Decision:
    request = policy.GenerationRequest(
        brand_id="brand", script=script, platform="tiktok", category="food", language=declared,
        territory="US", detected=language.detect(script),
    )
    return policy.evaluate(terms(allowed), request, T0 + timedelta(days=1))


# --------------------------------------------------------------------------- the inputs


@pytest.mark.parametrize(("script", "actual"), [
    ("محصول جدید ما را امروز امتحان کنید. طعمی تازه برای روزهای گرم تابستان.", "fa"),
    ("Попробуйте наш новый лимонад сегодня. Свежий вкус лета в каждом глотке.", "ru"),
    ("Probieren Sie noch heute unsere neue Limonade. Der frische Geschmack des Sommers in jedem "
     "Schluck, nur in ausgewählten Geschäften.", "de"),
    # neighbours: other writing systems, other Latin-script languages, very short ones
    ("Привет, друзья!", None),
    ("ЗАКАЖИТЕ СЕЙЧАС", None),
    ("سلام دوستان!", None),
    ("今天就来尝尝我们的新柠檬水。", None),
    ("נסו היום את הלימונדה החדשה שלנו.", None),
    ("Essayez dès aujourd'hui notre nouvelle limonade. Le goût frais de l'été dans chaque gorgée.", "fr"),
    ("Prueba hoy nuestra nueva limonada. El sabor fresco del verano en cada sorbo.", "es"),
])
def test_declared_language_is_checked_against_the_text(script, actual):
    decision = decide(script, declared="en", allowed={"en"})
    assert decision.failed_rules == ["language_not_allowed"]
    (check,) = decision.reasons
    assert check.detail["declared"] == "en"
    assert check.detail["detected"] != "en"
    if actual:
        assert check.detail["detected"] == actual
    assert "declared 'en'" in check.message and "allowed: en" in check.message
    # the same script is fine on a contract that allows the language it is written in
    if actual:
        assert decide(script, declared="en", allowed={"en", actual}).allowed


def test_the_declared_language_is_still_checked_first():
    decision = decide("Hello, try our new lemonade today!", declared="de", allowed={"en"})
    assert decision.failed_rules == ["language_not_allowed"]
    assert decision.reasons[0].message == "Language 'de' is not allowed (allowed: en)."


def test_without_a_detection_only_the_declared_language_is_checked():
    request = policy.GenerationRequest(brand_id="brand", script="Привет, друзья!", platform="tiktok",
                                       category="food", language="en", territory="US")
    assert policy.evaluate(terms({"en"}), request, T0 + timedelta(days=1)).allowed


# --------------------------------------------------------------------------- no false denials


@pytest.mark.parametrize(("script", "declared"), [
    ("Hi!", "en"), ("Buy now.", "en"), ("Bon appétit!", "en"),
    ("Volkswagen Tiguan Allspace: Das Auto, reimagined.", "en"),
    ("Ristorante Da Vinci: pizza margherita, tiramisù, espresso.", "en"),
    ("Our chef's paella valenciana, gazpacho andaluz and tortilla española are back on the menu.", "en"),
    ("Try our matcha 抹茶 latte at Blue Bottle.", "en"),
    ("Earn 20% APY on your сrурtо. Join 2 million savers today.", "en"),  # Cyrillic look-alikes
    ("ＣＩＡＬＩＳ daily: be ready whenever the moment is right.", "en"),  # full-width letters
    ("Nike、Adidas、Puma，天猫双十一全场五折。", "zh"),
    ("Dein Workout, dein Style. Adidas Ultraboost Light.", "de"),
    ("Tu smartphone, tu estilo. Xiaomi Redmi Note 14.", "es"),
])
def test_short_mixed_and_brand_name_heavy_scripts_keep_their_declared_language(script, declared):
    assert decide(script, declared=declared, allowed={declared}).allowed


def test_no_false_denials_on_the_benign_corpus_and_its_truncations(capsys):
    """Every script written in its language, and every short prefix of it, on a contract
    that allows only that language: none may be denied."""
    checked, denied = 0, []
    for sid, lang, script in BENIGN:
        for text in truncations(script):
            checked += 1
            if language.is_confidently_not(language.detect(text), {lang}):
                denied.append((sid, text))
    with capsys.disabled():
        print(f"\nlanguage rule: {len(denied)} false denials in {checked} benign scripts and truncations")
    assert checked > 3000
    assert denied == []


def test_foreign_scripts_are_caught():
    caught = [sid for sid, _, declared, script in FOREIGN
              if language.is_confidently_not(language.detect(script), {declared})]
    assert len(caught) >= 0.85 * len(FOREIGN), sorted({s for s, *_ in FOREIGN} - set(caught))
    # Every script in another writing system is caught, however short.
    for sid, actual, declared, _script in FOREIGN:
        if language.writing_systems(actual) != language.writing_systems(declared):
            assert sid in caught, sid


# --------------------------------------------------------------------------- the guess itself


def test_detect_reports_language_confidence_and_evidence():
    guess = language.detect("Probieren Sie noch heute unsere neue Limonade, frisch und kühl für den Sommer.")
    assert guess.language == "de" and guess.confidence > 0.9
    assert "en" in guess.excluded and "de" not in guess.excluded
    assert guess.evidence_words >= 8
    assert guess.scripts == {"Latin": guess.scripts["Latin"]}
    assert guess.as_dict()["language"] == "de"
    assert language.detect("Volkswagen Tiguan").excluded.isdisjoint({"en", "de", "es"})
    assert language.detect("").language is None
    assert language.detect("!!! 123 ...").excluded == frozenset()


def test_languages_we_do_not_know_are_never_excluded():
    guess = language.detect("Попробуйте наш новый лимонад сегодня.")
    assert "xx" not in guess.excluded
    assert not language.is_confidently_not(guess, {"en", "xx"})
    assert not language.is_confidently_not(guess, set())


def test_the_language_to_speak():
    spanish = language.detect("Prueba hoy nuestra nueva limonada. El sabor fresco del verano en cada sorbo.")
    assert language.language_to_speak(declared="en", guess=spanish, allowed={"en", "es"}) == "es"
    # not speakable here, or not allowed: the declared language (the policy denies the latter)
    assert language.language_to_speak(declared="en", guess=spanish, allowed={"en", "es"}, speakable={"en"}) == "en"
    assert language.language_to_speak(declared="en", guess=spanish, allowed={"en"}) == "en"
    # brand names and loanwords never switch the voice
    brands = language.detect("Ristorante Da Vinci: pizza margherita, tiramisù, espresso.")
    assert language.language_to_speak(declared="en", guess=brands, allowed={"en", "it"}) == "en"
    # a short Cyrillic script on an English-and-Russian contract is read in Russian
    short = language.detect("Привет, друзья!")
    assert language.language_to_speak(declared="en", guess=short, allowed={"en", "ru"}) == "ru"
    assert language.language_to_speak(declared="en", guess=None, allowed={"en"}) == "en"


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300))
def test_any_text_is_read_without_error(text):
    guess = language.detect(text)
    assert guess.language is None or guess.language not in guess.excluded
    assert 0.0 <= guess.confidence <= 1.0
