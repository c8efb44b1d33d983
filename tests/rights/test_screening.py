"""Script screening: the ad corpus, each evasion technique, near misses, and the API contract.

The corpus (``screening_corpus.json``) holds ordinary ads that must flag
nothing, and ads that promote a banned category (often declaring another one),
many written with evasion tricks. ``confusion_matrix`` measures the screener
over it; ``bench/policy.py`` prints the same figures for bench/RESULTS.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rights import policy, screening

CORPUS_PATH = Path(__file__).with_name("screening_corpus.json")
SCREENED = (
    "sexual_health", "gambling", "alcohol", "tobacco_vaping", "weapons", "political", "religious",
    "adult", "crypto_investment", "pharmaceuticals", "weight_loss", "dating",
)
ALL = frozenset(SCREENED)


def load_corpus() -> dict:
    return json.loads(CORPUS_PATH.read_text(encoding="utf-8"))


CORPUS = load_corpus()


def flagged(script: str, categories: Iterable[str] = ALL) -> set[str]:
    return {hit.category for hit in screening.screen(script, categories)}


# --------------------------------------------------------------------------- measuring


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0


@dataclass
class Confusion:
    """Confusion matrix of a screener over the corpus.

    ``scripts``: benign vs violating, a script counting as flagged when the
    screener reports any category (for a violating one: its own category).
    ``per_category``: for each category, every corpus script is a case; it is
    positive when the script is labelled with that category. A category the
    script is listed as ``also`` promoting is neither a hit nor a false alarm.
    """

    scripts: Counts = field(default_factory=Counts)
    per_category: dict[str, Counts] = field(default_factory=dict)
    false_positives: list[tuple[str, list[str]]] = field(default_factory=list)
    misses: list[tuple[str, str]] = field(default_factory=list)
    cross_flags: list[tuple[str, str]] = field(default_factory=list)

    def table(self) -> str:
        lines = [f"{'category':<18}{'TP':>5}{'FP':>5}{'FN':>5}{'TN':>6}{'recall':>9}{'precision':>11}"]
        rows = [*sorted(self.per_category.items()), ("(scripts)", self.scripts)]
        for name, c in rows:
            lines.append(f"{name:<18}{c.tp:>5}{c.fp:>5}{c.fn:>5}{c.tn:>6}{c.recall:>9.1%}{c.precision:>11.1%}")
        return "\n".join(lines)


def confusion_matrix(
    corpus: dict,
    *,
    screen: Callable[[str, frozenset[str]], list] = screening.screen,
    categories: frozenset[str] = ALL,
) -> Confusion:
    out = Confusion(per_category={c: Counts() for c in sorted(categories)})
    for row in corpus["benign"]:
        found = {h.category for h in screen(row["script"], categories)}
        if found:
            out.scripts.fp += 1
            out.false_positives.append((row["id"], sorted(found)))
        else:
            out.scripts.tn += 1
        for category, counts in out.per_category.items():
            if category in found:
                counts.fp += 1
            else:
                counts.tn += 1
    for row in corpus["violating"]:
        found = {h.category for h in screen(row["script"], categories)}
        label = row["category"]
        also = set(row.get("also", ()))
        if label in found:
            out.scripts.tp += 1
        else:
            out.scripts.fn += 1
            out.misses.append((row["id"], label))
        for category, counts in out.per_category.items():
            if category == label:
                if category in found:
                    counts.tp += 1
                else:
                    counts.fn += 1
            elif category in also:
                continue
            elif category in found:
                counts.fp += 1
                out.cross_flags.append((row["id"], category))
            else:
                counts.tn += 1
    return out


def test_confusion_matrix_counts_a_known_case():
    corpus = {
        "benign": [{"id": "b1", "script": "x"}, {"id": "b2", "script": "flag-alcohol"}],
        "violating": [
            {"id": "v1", "category": "alcohol", "script": "flag-alcohol"},
            {"id": "v2", "category": "gambling", "script": "x"},
            {"id": "v3", "category": "gambling", "also": ["alcohol"], "script": "flag-alcohol flag-gambling"},
        ],
    }

    @dataclass
    class FakeHit:
        category: str

    def fake(script: str, categories: frozenset[str]) -> list[FakeHit]:
        return [FakeHit(w[5:]) for w in script.split() if w.startswith("flag-") and w[5:] in categories]

    m = confusion_matrix(corpus, screen=fake, categories=frozenset({"alcohol", "gambling"}))
    assert (m.scripts.tp, m.scripts.fp, m.scripts.fn, m.scripts.tn) == (2, 1, 1, 1)
    assert (m.per_category["alcohol"].tp, m.per_category["alcohol"].fp) == (1, 1)
    assert (m.per_category["alcohol"].fn, m.per_category["alcohol"].tn) == (0, 2)  # v3 is 'also': skipped
    assert (m.per_category["gambling"].tp, m.per_category["gambling"].fn) == (1, 1)
    assert m.false_positives == [("b2", ["alcohol"])]
    assert m.misses == [("v2", "gambling")]


def test_corpus_meets_the_targets(capsys):
    m = confusion_matrix(CORPUS)
    with capsys.disabled():
        print("\n" + m.table())
        print(f"misses: {m.misses}\ncross-category flags: {m.cross_flags}")
    assert m.scripts.fp == 0, m.false_positives
    assert m.scripts.recall >= 0.95, m.misses
    # The misses are exactly the scripts the corpus documents as known misses.
    assert {i for i, _ in m.misses} == {r["id"] for r in CORPUS["violating"] if "known_miss" in r}


# --------------------------------------------------------------------------- the corpus


def test_corpus_is_large_and_covers_every_category_in_four_languages():
    benign, violating = CORPUS["benign"], CORPUS["violating"]
    assert len(benign) >= 60 and len(violating) >= 60
    for lang in ("en", "es", "de", "zh"):
        assert sum(r["lang"] == lang for r in benign) >= 10
    for category in SCREENED:
        langs = {r["lang"] for r in violating if r["category"] == category}
        assert {"en", "es", "de", "zh"} <= langs, category
    declared_elsewhere = [r for r in violating if r["declared"] != r["category"]]
    assert len(declared_elsewhere) >= len(violating) * 0.8
    assert len({r["id"] for r in benign + violating}) == len(benign) + len(violating)


@pytest.mark.parametrize("row", CORPUS["benign"], ids=lambda r: r["id"])
def test_benign_script_flags_nothing(row):
    assert screening.screen(row["script"], ALL) == []


@pytest.mark.parametrize(
    "row", [r for r in CORPUS["violating"] if "known_miss" not in r], ids=lambda r: r["id"]
)
def test_violating_script_is_flagged_for_its_category(row):
    assert row["category"] in flagged(row["script"])
    # Banning only that category is enough.
    assert flagged(row["script"], {row["category"]}) == {row["category"]}


@pytest.mark.parametrize(
    "row", [r for r in CORPUS["violating"] if "known_miss" in r], ids=lambda r: r["id"]
)
def test_known_miss_is_still_missed(row):
    """Documented gaps. If one starts being caught, drop its known_miss note."""
    assert row["category"] not in flagged(row["script"]), "now detected: remove 'known_miss' from the corpus"


# --------------------------------------------------------------------------- evasion techniques


def test_case_is_ignored():
    assert flagged("ViAgRa for everyone") == {"sexual_health"}
    assert flagged("ONLINE CASINO NIGHT") == {"gambling"}


def test_diacritics_are_ignored():
    assert "gambling" in flagged("Apuéstas deportivas con las mejores cuotas")
    assert "sexual_health" in flagged("Vïâgrà, livraison rapide")
    assert "gambling" in flagged("Glücksspiel rund um die Uhr")


def test_fullwidth_and_compatibility_characters_are_folded():
    assert flagged("ｖｉａｇｒａ ｏｎｌｉｎｅ") == {"sexual_health"}
    assert flagged("\U0001d402\U0001d400\U0001d412\U0001d408\U0001d40d\U0001d40e tonight") == {"gambling"}  # math bold
    assert flagged("Ⓒⓐⓢⓘⓝⓞ tonight") == {"gambling"}  # circled letters
    assert screening.normalize("ﬁne Ｗｉｎｅ") == "fine wine"


@pytest.mark.parametrize("script", [
    "Boost your p.o.t.e.n.c.y tonight",
    "Boost your p o t e n c y tonight",
    "Get v-i-a-g-r-a shipped fast",
    "Get V_I_A_G_R_A shipped fast",
    "Get a v i a g r a prescription",  # the stray article is absorbed into the run
])
def test_spacing_and_punctuation_inside_words(script):
    assert "sexual_health" in flagged(script)


@pytest.mark.parametrize(("script", "category"), [
    ("Get via gra today", "sexual_health"),
    ("Royal cas ino nights", "gambling"),
    ("Stream it on bet 365", "gambling"),
])
def test_a_word_split_in_two(script, category):
    assert category in flagged(script)


@pytest.mark.parametrize(("script", "category"), [
    ("M4LE ENHANCEMENT that works", "sexual_health"),
    ("Order v1agra now", "sexual_health"),
    ("Place your b3ts on the big game", "gambling"),
    ("c4s1n0 royale", "gambling"),
    ("Join c@sino gold", "gambling"),
    ("Free $pins on all the $lots", "gambling"),  # two weak terms
    ("rou1ette every night", "gambling"),  # 1 read as l
    ("vodk4 delivered", "alcohol"),
    ("Buy B1TC0IN now", "crypto_investment"),
    ("v!agra, shipped", "sexual_health"),
])
def test_leetspeak(script, category):
    assert category in flagged(script)


def test_leetspeak_does_not_read_plain_numbers():
    assert flagged("Buy 2 get 1 free, 837 stores, 365 days a year") == set()
    assert flagged("iPhone 15, 5G, 4K video, H2O proof, 3D sound") == set()


@pytest.mark.parametrize(("script", "category"), [
    ("\u0441\u0430sin\u043e nights", "gambling"),  # Cyrillic с а о
    ("C\u0456\u0430l\u0456s", "sexual_health"),  # Cyrillic і а
    ("\u0412et365 live", "gambling"),  # Cyrillic В
    ("vi\u03b1gr\u03b1 today", "sexual_health"),  # Greek α
    ("\u03bdodka tonic", "alcohol"),  # Greek ν
    ("p\u043ern for free", "adult"),  # Cyrillic о
])
def test_homoglyphs(script, category):
    assert category in flagged(script)


def test_invisible_characters_are_removed():
    assert "sexual_health" in flagged("Vi\u200bagra")
    assert "sexual_health" in flagged("Via\u00adgra")  # soft hyphen
    assert "gambling" in flagged("cas\u2060ino")  # word joiner


@pytest.mark.parametrize(("script", "category"), [
    ("Gamblers welcome", "gambling"),
    ("The best casinos in town", "gambling"),
    ("Two beers for one", "alcohol"),
    ("Cheap cigarettes online", "tobacco_vaping"),
    ("Vaping made easy", "tobacco_vaping"),
    ("Zigaretten zum Bestpreis", "tobacco_vaping"),
    ("Las mejores cervezas", "alcohol"),
    ("Tragaperras y ruletas", "gambling"),
])
def test_inflections_and_plurals(script, category):
    assert category in flagged(script)


@pytest.mark.parametrize(("script", "category"), [
    ("Sportwetten mit Top-Quoten", "gambling"),
    ("Fußballwetten live", "gambling"),
    ("Dein Onlinecasino", "gambling"),
    ("Casinobonus sichern", "gambling"),
    ("Das kühle Weizenbier", "alcohol"),
    ("Der Biergarten ist offen", "alcohol"),
    ("Kautabak und Schnupftabak", "tobacco_vaping"),
    ("Kryptobörse für alle", "crypto_investment"),
])
def test_german_compounds(script, category):
    assert category in flagged(script)


def test_german_umlaut_transliteration():
    assert "gambling" in flagged("Gluecksspiel ohne Limit")
    assert "gambling" in flagged("Glücksspiel ohne Limit")


@pytest.mark.parametrize(("script", "category"), [
    ("真人荷官在线发牌", "gambling"),
    ("博 彩 娱乐", "gambling"),  # spaced out
    ("伟*哥正品", "sexual_health"),  # a symbol inside
    ("線上娛樂城", "gambling"),  # traditional characters
    ("Bet365体育", "gambling"),  # a Latin brand glued to Chinese
    ("一次性电子烟", "tobacco_vaping"),
    ("比特币合约交易", "crypto_investment"),
])
def test_chinese_substrings(script, category):
    assert category in flagged(script)


def test_hashtags_glue_phrases():
    assert "gambling" in flagged("#onlinecasino #freespins")
    assert "weight_loss" in flagged("#loseweightfast")


def test_brand_declared_another_category_is_irrelevant():
    """screen() reads the script, never the declared category."""
    script = "Summer refreshment from our craft beer range, ice cold"
    assert flagged(script) == {"alcohol"}


# --------------------------------------------------------------------------- near misses


@pytest.mark.parametrize("script", [
    "Bet you'll love it!",
    "Shot on iPhone.",
    "Vote for your favourite flavour.",
    "Our slim-fit jeans are back.",
    "Weekend breaks in Essex, Sussex and Middlesex.",
    "Unisex hoodies for everyone.",
    "Talk to a therapist today.",
    "Made with real grape juice.",
    "Sparkling water with a twist of lime.",
    "Capture the spirit of adventure.",
    "A wine-red dress for the party.",
    "Root beer and ginger ale on tap.",
    "Cocktail dresses under $80.",
    "The massage gun for sore muscles.",
    "Bullet points make it easy.",
    "Rifle through our bargain bin? No need, search online.",
    "Against all odds, we made it cheaper.",
    "Pick a delivery slot that suits you.",
    "Christian Dior, the new fragrance.",
    "Scunthorpe's favourite bakery.",
    "It's lots of fun for the whole family.",
    "Wine and dine your valentine at Luigi's.",
    "Beer-battered fish and chips, Fridays only.",
    "Therapist-approved, unisex, and made in Sussex.",
    "Wetten, dass du sie lieben wirst?",
    "Traumwetter an der Ostsee.",
    "Großer Wettbewerb: gewinne ein Fahrrad!",
    "Nutze dein volles Potenzial.",
    "Schweinebraten mit Knödeln.",
    "Insektenschutz für Kinder.",
    "Ein Schuss Milch in den Kaffee.",
    "Nuestra apuesta por la calidad.",
    "La mejor elección para tu casa.",
    "Pistola de silicona para manualidades.",
    "Aceite de oliva virgen extra.",
    "入住海景酒店",
    "夏日水枪大战",
    "护肤秘密武器",
    "全新床上用品",
    "香槟色连衣裙",
])
def test_near_misses_are_not_flagged(script):
    assert flagged(script) == set()


# --------------------------------------------------------------------------- scoring


def test_one_weak_term_alone_does_not_flag():
    assert flagged("Bet you can't eat just one") == set()
    assert flagged("Take one pill a day") == set()


def test_two_distinct_weak_terms_flag():
    assert flagged("Check the odds and place a wager") == {"gambling"}  # wager is strong anyway
    assert flagged("Better odds on every bet") == {"gambling"}  # two weak terms


def test_a_weak_term_repeated_counts_once():
    assert flagged("Bet big. Bet bold. Bet now? No, just bet on flavour.") <= {"gambling"}
    assert flagged("Bet big. Bet bold.") == set()


def test_strong_term_flags_alone_and_reports_terms():
    hits = screening.screen("Play poker tonight", ALL)
    assert [(h.category, h.terms) for h in hits] == [("gambling", ("poker",))]


def test_allow_phrases_cancel_only_the_occurrences_they_cover():
    assert flagged("Our wine-red scarf") == set()
    assert flagged("Our wine-red scarf, and a glass of wine with dinner") == {"alcohol"}


# --------------------------------------------------------------------------- the API


def test_only_requested_categories_are_reported():
    script = "Casino night with free vodka shots and cigarettes"
    assert flagged(script) == {"alcohol", "gambling", "tobacco_vaping"}
    assert flagged(script, {"gambling"}) == {"gambling"}
    assert flagged(script, {"dating", "weapons"}) == set()
    assert flagged(script, set()) == set()
    assert flagged(script, {"food", "soft_drinks"}) == set()  # not screened categories


@settings(max_examples=200, deadline=None)
@given(
    row=st.sampled_from(CORPUS["benign"] + CORPUS["violating"]),
    subset=st.frozensets(st.sampled_from(SCREENED + ("food", "finance"))),
)
def test_a_subset_reports_exactly_the_full_result_restricted(row, subset):
    full = screening.screen(row["script"], ALL)
    assert screening.screen(row["script"], subset) == [h for h in full if h.category in subset]


def test_results_are_deterministic_and_sorted_whatever_the_iterable():
    script = "Casino night with free vodka shots, cigarettes and bitcoin"
    expected = screening.screen(script, ALL)
    assert [h.category for h in expected] == sorted(h.category for h in expected)
    assert all(list(h.terms) == sorted(h.terms) for h in expected)
    assert screening.screen(script, list(SCREENED)) == expected
    assert screening.screen(script, set(reversed(SCREENED))) == expected
    assert screening.screen(script, (c for c in SCREENED)) == expected
    assert all(screening.screen(script, ALL) == expected for _ in range(5))


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=400), subset=st.frozensets(st.sampled_from(SCREENED)))
def test_any_text_is_screened_without_error(text, subset):
    hits = screening.screen(text, subset)
    assert all(isinstance(h, screening.Hit) and h.category in subset and h.terms for h in hits)


def test_degenerate_inputs():
    assert screening.screen("", ALL) == []
    assert screening.screen("!!! ... ---", ALL) == []
    assert screening.screen("x" * 10_000 + " casino", ALL)[0].category == "gambling"
    assert screening.screen("a " * 300 + "casino", ALL)[0].category == "gambling"


# --------------------------------------------------------------------------- the vocabulary


def test_vocabulary_covers_every_category_in_four_languages():
    assert screening.VOCABULARY_VERSION
    assert screening.CATEGORIES == ALL
    stats = screening.vocabulary_stats()
    for category in SCREENED:
        for lang in ("en", "es", "de", "zh"):
            counts = stats[category][lang]
            assert counts["strong"] >= 5, (category, lang)
            assert counts["strong"] + counts["weak"] + counts["phrases"] >= 10, (category, lang)


def _vocab(**overrides) -> dict:
    data = {
        "version": "t", "weights": {"strong": 3, "phrases": 3, "weak": 1}, "threshold": 2,
        "categories": {"gambling": {"en": {"strong": ["casino"], "weak": ["bet", "odds"], "phrases": []}}},
        "allow": {},
    }
    data.update(overrides)
    return data


def test_loader_accepts_a_minimal_vocabulary():
    assert screening._Vocabulary(_vocab()).stats == {"gambling": {"en": {"strong": 1, "weak": 2, "phrases": 0}}}


@pytest.mark.parametrize(("overrides", "message"), [
    ({"weights": {"strong": 1, "phrases": 3, "weak": 1}}, "flag on their own"),
    ({"categories": {"gambling": {"en": {"strong": [], "weak": ["bet", "bet now"]}}}}, "contains"),
    ({"categories": {"gambling": {"zh": {"strong": ["赌"]}}}}, "shorter than 2"),
    ({"allow": {"en": ["sparkling water"]}}, "contains no term"),
    ({"categories": {"gambling": {"en": {"strong": ["  "]}}}}, "empty term"),
])
def test_loader_rejects_a_broken_vocabulary(overrides, message):
    with pytest.raises(ValueError, match=message):
        screening._Vocabulary(_vocab(**overrides))


# --------------------------------------------------------------------------- through the policy engine


def test_policy_denies_a_script_promoting_a_banned_category():
    t0 = datetime(2026, 6, 1, tzinfo=UTC)
    terms = policy.ContractTerms(
        contract_id="ctr", brand_id="brand", status="active", valid_from=t0, valid_until=t0 + timedelta(days=30),
        platforms=frozenset({"tiktok"}), banned_categories=frozenset({"gambling", "alcohol"}),
        languages=frozenset({"de"}), territories=frozenset({"DE"}), max_renders=10,
        terms_hash="h", consent_terms_hash="h",
    )
    request = policy.GenerationRequest(
        brand_id="brand", script="Sportwetten mit den besten Quoten bei Tipico!", platform="tiktok",
        category="entertainment", language="de", territory="DE",
    )
    decision = policy.evaluate(terms, request, t0 + timedelta(days=1))
    assert decision.failed_rules == ["script_category_banned"]
    (check,) = decision.reasons
    assert check.detail == {"categories": ["gambling"], "terms": {"gambling": ["quoten", "sportwetten", "tipico"]}}


# --------------------------------------------------------------------------- issue 10 item 11


@pytest.mark.parametrize("script", [
    "\u03f2asino tonight",  # Greek lunate sigma ϲ (NFKD would make it a final sigma, read "s")
    "\u03f9asino tonight",  # capital lunate sigma Ϲ
    "\u217dasino tonight",  # small Roman numeral ⅽ
    "\u13dfasino tonight",  # Cherokee Ꮯ
    "\u0441\u0430\u0455\u0456\u0578\u043e tonight",  # Cyrillic с а ѕ і, Armenian ո, Cyrillic о
    "CAS\u0406NO tonight",  # Cyrillic capital І (UTS #39 reads it "l"; here it is an "i")
    "ca-si-no tonight", "ca.si.no tonight", "ca_si_no tonight", "ca\u2013si\u2013no tonight",
    "ca\u00b7si\u00b7no tonight", "ca\u2011si\u2011no tonight", "Ca - si - no tonight",
    "ca si no tonight", "cas i no tonight", "c4-s1-n0 tonight", "p.o.k.e.r night", "po-ker night",
])
def test_confusable_and_split_letters_are_screened(script):
    assert "gambling" in flagged(script)
    assert screening.normalize("\u03f2asino") == "casino"


def test_confusables_come_from_unicode_data_not_a_hand_list():
    # Hundreds of characters, read from the UTS #39 confusables data the package ships.
    assert len(screening._READINGS) > 900
    assert screening._READINGS["\u03f2"] == "c" and screening._READINGS["\u13df"] == "c"
    # Small capitals read through their Unicode names (ʙᴇᴛ → bet), not a table.
    assert screening.normalize("\u0299\u1d07\u1d1b \u0274\u1d0f\u1d21") == "bet now"


@pytest.mark.parametrize("script", [
    "Casa Sinonimo, tapas bar.",  # "ca si no" spread over real words
    "Cocina casera, sin nada más.",
    "Das Po-Kal-Finale im Stadion.",
    "Pick a slot: 9.30, 10.00 or 11.30.",
    "Use code CA-SI-2024 at checkout.",
    "Our e-bike has a 3.5-hour battery.",
])
def test_gluing_split_words_does_not_invent_terms(script):
    assert flagged(script) == set()


def test_the_spoken_reading_is_screened_too():
    """A term that only appears once the text is written out for speech ("Dr." -> doctor)."""
    written = "Ask your Dr. if our new formula is right for you."
    spoken = "Ask your Doctor if our new formula is right for you."
    assert flagged(written) == set()
    hits = screening.screen_all([written, spoken], ALL)
    assert [h.category for h in hits] == ["pharmaceuticals"]
    assert screening.screen_all([written, written], ALL) == []
    assert screening.screen_all([], ALL) == []
    t0 = datetime(2026, 6, 1, tzinfo=UTC)
    terms = policy.ContractTerms(
        contract_id="ctr", brand_id="brand", status="active", valid_from=t0, valid_until=t0 + timedelta(days=30),
        platforms=frozenset({"tiktok"}), banned_categories=frozenset({"pharmaceuticals"}),
        languages=frozenset({"en"}), territories=frozenset({"US"}), max_renders=10,
        terms_hash="h", consent_terms_hash="h",
    )
    request = policy.GenerationRequest(
        brand_id="brand", script=written, platform="tiktok", category="beauty", language="en",
        territory="US", spoken=spoken,
    )
    decision = policy.evaluate(terms, request, t0 + timedelta(days=1))
    assert decision.failed_rules == ["script_category_banned"]
