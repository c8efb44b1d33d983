"""The gateway reads the script itself (issue 10 items 8-10): the language its text is in,
what the voice will say, and whether there is anything to say at all."""

from __future__ import annotations

import json
import uuid

import pytest

from gateway.inputs import GenerationInput
from gateway.models import Generation
from ledger.models import Hold
from tests.factories import make_contract

URL = "/api/v1/generations"

FOREIGN_ON_ENGLISH = {
    "fa": "این نوشیدنی خنک را امروز امتحان کنید و طعم تابستان را بچشید، بدون شکر و پر از شادی.",
    "ru": "Попробуйте этот холодный напиток сегодня и почувствуйте вкус лета, без сахара и с радостью.",
    "de": "Probieren Sie heute dieses kalte Getränk und schmecken Sie den Sommer, ganz ohne Zucker und voller Freude.",
    "uk": "Спробуйте цей холодний напій сьогодні й відчуйте смак літа, без цукру та з радістю.",
}


def post(client, body):
    return client.post(URL, data=json.dumps(body), content_type="application/json",
                       HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))


@pytest.mark.parametrize("lang", sorted(FOREIGN_ON_ENGLISH))
def test_declared_language_is_checked_against_the_text(cast, gen_body, lang):
    """A foreign script declared "en" on an English-only contract is denied and recorded."""
    resp = post(cast.client("brand"), gen_body(script=FOREIGN_ON_ENGLISH[lang]))
    assert resp.status_code == 403, resp.content
    rules = {r["rule"] for r in resp.json()["error"]["reasons"]}
    assert "language_not_allowed" in rules
    gen = Generation.objects.get(id=resp.json()["error"]["generation"])
    assert gen.status == "denied" and Hold.objects.count() == 0


@pytest.mark.parametrize("script", [
    "Grab a Fizzly at Walmart, Target or 7-Eleven today!",
    "Fizzly x Coca-Cola Zero: summer 2026 edition. #Fizzly #SummerVibes",
    "Nike Air Max, Adidas Ultraboost, New Balance 990v6: shop the drop.",
    "Try it now!",
])
def test_short_and_brand_heavy_english_scripts_are_not_falsely_denied(cast, gen_body, script):
    assert post(cast.client("brand"), gen_body(script=script)).status_code == 202


@pytest.mark.parametrize("script", ["..", "!!! ???", "🏳️‍🌈👨‍👩‍👧", " . , ; ", "——"])
def test_unspeakable_script_is_refused_at_request_time(cast, gen_body, script):
    resp = post(cast.client("brand"), gen_body(script=script))
    assert resp.status_code == 400, resp.content
    assert "script" in resp.json()["error"]["fields"]
    assert Generation.objects.count() == 0 and Hold.objects.count() == 0


def test_the_voice_speaks_the_allowed_language_the_text_is_in(cast):
    contract = make_contract(cast.other_brand, cast.performer, languages=["en", "es"])
    asked = GenerationInput(contract_id=contract.id, platform="tiktok", category="soft_drinks", language="en",
                            territory="US", profile="vertical", captions=True,
                            script="Prueba hoy esta bebida fría y siente el sabor del verano, sin azúcar y con alegría.")
    reading = asked.reading(allowed_languages=contract.languages)
    assert reading.language == "es"
    english = GenerationInput(**{**{f: getattr(asked, f) for f in asked.__slots__},
                                 "script": "Try it today and taste the summer, no sugar and all the fun."})
    assert english.reading(allowed_languages=contract.languages).language == "en"


def test_the_policy_screens_what_the_voice_will_say(cast):
    """Numbers, money and dates are judged as they will be spoken, not only as written."""
    asked = GenerationInput(contract_id="ctr_x", platform="tiktok", category="soft_drinks", language="en",
                            territory="US", profile="vertical", captions=True,
                            script="Mr. Lee paid $500 on 03/04/2025 for World War II.")
    reading = asked.reading(allowed_languages=["en"])
    assert "five hundred dollars" in reading.spoken and "$" not in reading.spoken
    request = asked.policy_request(brand_id="pty_x", reading=reading)
    assert request.spoken == reading.spoken and request.detected is reading.guess
