"""The performer's pages: earnings and statements, uses with their clips, approvals,
contracts and their kill switch, denials. Real rows through the real services."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from gateway import services as gateway_services
from gateway import transitions
from gateway.inputs import GenerationInput
from gateway.models import Generation, GenerationStatus
from gateway.pipeline import assets_dir
from rights import services as rights_services
from rights.models import Contract
from tests.factories import make_contract
from tests.web.conftest import give_totp, make_person, signed_in

SCRIPT = "Crack open an ice-cold Fizzly and taste the summer."


def ask(contract, brand, **overrides) -> Generation:
    fields = {"contract_id": contract.id, "script": SCRIPT, "platform": "tiktok", "category": "soft_drinks",
              "language": "en", "territory": "US", "profile": "vertical_720x1280", "captions": True, **overrides}
    outcome = gateway_services.generation_request(brand=brand, idempotency_key=str(uuid.uuid4()), fingerprint="f",
                                                  data=GenerationInput(**fields))
    return Generation.objects.get(id=outcome.generation_id)


def delivered(contract, brand, *, with_file: bool = False) -> Generation:
    """A generation claimed and delivered as the worker does it (the hold posted: a royalty)."""
    gen = ask(contract, brand)
    claimed = transitions.generation_claim(generation_id=gen.id, worker="test:1", lease_s=60, now=timezone.now())
    asset = f"{gen.id}.mp4"
    if with_file:
        (assets_dir() / asset).write_bytes(b"\x00\x00\x00\x18ftypmp42fake-clip")
    decision = transitions.generation_deliver(
        generation_id=gen.id, token=claimed.attempts, asset_path=asset, sha256="ab" * 32, size=20,
        duration_s=3.0, frames=75, timings={}, now=timezone.now())
    assert decision.allowed
    return Generation.objects.select_related("ledger_transaction").get(id=gen.id)


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path


@pytest.fixture
def me(cast):
    return signed_in(make_person(cast.performer))


@pytest.fixture
def other(cast):
    return signed_in(make_person(cast.other_performer))


PAGES = ["web:performer_home", "web:performer_uses", "web:performer_approvals", "web:performer_contracts",
         "web:performer_denials"]


@pytest.mark.parametrize("name", PAGES)
def test_each_page_renders_for_a_performer_and_is_refused_to_others(cast, me, name):
    url = reverse(name)
    assert me.get(url).status_code == 200
    assert signed_in(make_person(cast.brand)).get(url).status_code == 403
    union_person = make_person(cast.union)
    give_totp(union_person)
    assert signed_in(union_person).get(url).status_code == 403
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]


def test_home_shows_balance_chart_payouts_and_statement_links(cast, me, data_dir):
    delivered(cast.contract, cast.brand)
    delivered(cast.contract, cast.brand)
    page = me.get(reverse("web:performer_home")).content.decode()
    # 500 per clip + 10 per second × 3 s = 530 cents each; the union takes its P&H share out of it.
    from ledger.selectors import balances_for_party
    balance = next(b["balance"] for b in balances_for_party(party=cast.performer) if b["purpose"] == "payable")
    assert balance > 0
    dollars = f"${balance // 100:,}.{balance % 100:02d}"
    assert dollars in page
    assert "<svg" in page and "Earnings per month in USD" in page
    month = timezone.now().strftime("%Y-%m")
    assert reverse("web:performer_statement", kwargs={"month": month, "fmt": "pdf"}) in page
    assert "Connect Stripe to get paid" in page and "No payouts yet." in page


def test_statement_csv_and_pdf_for_the_signed_in_performer(cast, me, data_dir):
    gen = delivered(cast.contract, cast.brand)
    month = timezone.now().strftime("%Y-%m")
    resp = me.get(reverse("web:performer_statement", kwargs={"month": month, "fmt": "csv"}))
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/csv")
    body = b"".join(resp.streaming_content).decode()
    assert gen.ledger_transaction_id in body and cast.performer.id in resp["Content-Disposition"]
    pdf = me.get(reverse("web:performer_statement", kwargs={"month": month, "fmt": "pdf"}))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "0000-01", "9999-01", "2026-1", "abcd-ef", "2026-01-01"])
def test_a_bad_month_in_a_statement_url_is_a_404(me, month):
    assert me.get(f"/app/performer/statements/{month}.pdf").status_code == 404
    assert me.get(f"/app/performer/statements/{month}.csv").status_code == 404


def test_a_bad_statement_format_is_a_404(me):
    assert me.get("/app/performer/statements/2026-01.xlsx").status_code == 404


def test_connect_stripe_without_stripe_configured_says_so(cast, me, settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.DOPPEL_STRIPE_API_BASE = ""
    resp = me.post(reverse("web:performer_payouts_connect"), follow=True)
    assert resp.status_code == 200
    assert "Payouts are not set up on this Doppel yet" in resp.content.decode()


def test_connect_stripe_redirects_to_the_onboarding_link(cast, me, fake_stripe, settings):
    settings.STRIPE_SECRET_KEY = fake_stripe.api_key
    settings.DOPPEL_STRIPE_API_BASE = fake_stripe.url
    resp = me.post(reverse("web:performer_payouts_connect"))
    assert resp.status_code == 302 and resp["Location"].startswith("http")
    from payments.models import PayeeAccount
    assert PayeeAccount.objects.filter(party=cast.performer).exists()


def test_connect_stripe_is_a_post(me):
    assert me.get(reverse("web:performer_payouts_connect")).status_code == 405


def test_uses_list_brand_platform_script_earned_and_a_playable_clip(cast, me, data_dir):
    gen = delivered(cast.contract, cast.brand, with_file=True)
    page = me.get(reverse("web:performer_uses")).content.decode()
    video_url = reverse("web:performer_use_video", args=[gen.id])
    assert f'src="{video_url}"' in page and "<video controls" in page
    assert "Acme Cola" in page and "tiktok" in page and SCRIPT in page
    from ledger.selectors import royalty_summary
    earned = royalty_summary(gen.ledger_transaction)["performer_amount"]
    assert f"${earned // 100}.{earned % 100:02d}" in page
    clip = me.get(video_url)
    assert clip.status_code == 200 and clip["Content-Type"] == "video/mp4"
    assert b"".join(clip.streaming_content).endswith(b"fake-clip")


def test_another_performer_cannot_see_my_clip_nor_my_contract(cast, me, other, data_dir):
    gen = delivered(cast.contract, cast.brand, with_file=True)
    assert other.get(reverse("web:performer_use_video", args=[gen.id])).status_code == 404
    assert other.get(reverse("web:performer_contract", args=[cast.contract.id])).status_code == 404
    assert gen.id not in other.get(reverse("web:performer_uses")).content.decode()
    resp = other.post(reverse("web:performer_contract_action", args=[cast.contract.id, "suspend"]))
    assert resp.status_code == 404
    assert Contract.objects.get(id=cast.contract.id).status == "active"
    assert me.get(reverse("web:performer_use_video", args=["gen_nope"])).status_code == 404


def test_a_clip_whose_file_is_missing_is_a_404(cast, me, data_dir):
    gen = delivered(cast.contract, cast.brand, with_file=False)
    assert me.get(reverse("web:performer_use_video", args=[gen.id])).status_code == 404


def test_uses_query_count_does_not_grow_with_rows(cast, me, data_dir):
    for _ in range(2):
        delivered(cast.contract, cast.brand)
    url = reverse("web:performer_uses")
    with CaptureQueriesContext(connection) as few:
        assert me.get(url).status_code == 200
    for _ in range(28):
        delivered(cast.contract, cast.brand)
    with CaptureQueriesContext(connection) as many:
        page = me.get(url)
    assert page.status_code == 200 and page.content.decode().count("<video controls") == 30
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_home_query_count_does_not_grow_with_rows(cast, me, data_dir):
    delivered(cast.contract, cast.brand)
    url = reverse("web:performer_home")
    with CaptureQueriesContext(connection) as few:
        me.get(url)
    for _ in range(10):
        delivered(cast.contract, cast.brand)
    with CaptureQueriesContext(connection) as many:
        me.get(url)
    assert len(many) == len(few) and len(many) < 20


def test_uses_paginate_by_fifty(cast, me, data_dir):
    contract = make_contract(cast.brand, cast.performer, max_renders=200)
    for _ in range(51):
        delivered(contract, cast.brand)
    first = me.get(reverse("web:performer_uses")).content.decode()
    assert first.count("<video controls") == 50 and "Page 1 of 2" in first
    second = me.get(reverse("web:performer_uses") + "?page=2").content.decode()
    assert second.count("<video controls") == 1
    assert me.get(reverse("web:performer_uses") + "?page=zzz").status_code == 200


@pytest.fixture
def awaiting(cast):
    contract = make_contract(cast.brand, cast.performer, requires_approval=True)
    gen = ask(contract, cast.brand, script="Say hello to the new lemon Fizzly.")
    assert gen.status == GenerationStatus.AWAITING_APPROVAL
    return gen


def test_approvals_show_script_and_brand_and_approve_queues_it(cast, me, awaiting):
    page = me.get(reverse("web:performer_approvals")).content.decode()
    assert "Say hello to the new lemon Fizzly." in page and "Acme Cola" in page
    resp = me.post(reverse("web:performer_approve", args=[awaiting.id]), follow=True)
    assert "Approved" in resp.content.decode()
    assert Generation.objects.get(id=awaiting.id).status == GenerationStatus.QUEUED


def test_reject_records_the_reason(cast, me, awaiting):
    me.post(reverse("web:performer_reject", args=[awaiting.id]), {"reason": "Not my style"})
    gen = Generation.objects.get(id=awaiting.id)
    assert gen.status == GenerationStatus.REJECTED


def test_answering_twice_is_a_message_not_a_500(cast, me, awaiting):
    me.post(reverse("web:performer_reject", args=[awaiting.id]))
    resp = me.post(reverse("web:performer_approve", args=[awaiting.id]), follow=True)
    assert resp.status_code == 200 and "Cannot approve a generation that is rejected" in resp.content.decode()
    assert Generation.objects.get(id=awaiting.id).status == GenerationStatus.REJECTED


def test_another_performer_cannot_answer_my_approval(cast, other, awaiting):
    assert other.post(reverse("web:performer_approve", args=[awaiting.id])).status_code == 404
    assert other.post(reverse("web:performer_reject", args=[awaiting.id])).status_code == 404
    assert Generation.objects.get(id=awaiting.id).status == GenerationStatus.AWAITING_APPROVAL


def test_forms_are_csrf_protected(cast, awaiting):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_person(cast.performer), backend="django.contrib.auth.backends.ModelBackend")
    assert client.post(reverse("web:performer_approve", args=[awaiting.id])).status_code == 403
    assert client.post(reverse("web:performer_contract_action", args=[cast.contract.id, "suspend"])).status_code == 403
    assert Generation.objects.get(id=awaiting.id).status == GenerationStatus.AWAITING_APPROVAL
    page = client.get(reverse("web:performer_approvals"))
    token = page.cookies["csrftoken"].value
    assert 'name="csrfmiddlewaretoken"' in page.content.decode()
    ok = client.post(reverse("web:performer_approve", args=[awaiting.id]), {"csrfmiddlewaretoken": token})
    assert ok.status_code == 302
    assert Generation.objects.get(id=awaiting.id).status == GenerationStatus.QUEUED


def test_contract_terms_in_plain_words(cast, me):
    page = me.get(reverse("web:performer_contract", args=[cast.contract.id])).content.decode()
    for words in ("TikTok, YouTube only", "English only", "Canada, United States only", "Gambling, Sexual health", "$5.00 per clip", "$0.10 per second",
                  "0 clips made", "100 left of 100", "Not needed", "The next request is denied and anything queued "
                  "or rendering is cancelled"):
        assert words in page, words
    assert ">Suspend<" in page and ">Terminate<" in page and ">Resume<" not in page and ">Accept<" not in page
    assert cast.brand.name in me.get(reverse("web:performer_contracts")).content.decode()


def test_accept_a_proposal(cast, me):
    proposal = make_contract(cast.brand, cast.performer, accept=False)
    page = me.get(reverse("web:performer_contract", args=[proposal.id])).content.decode()
    assert ">Accept<" in page
    me.post(reverse("web:performer_contract_action", args=[proposal.id, "accept"]))
    assert Contract.objects.get(id=proposal.id).status == "active"


def test_suspend_then_resume_and_the_next_request_is_denied(cast, me):
    resp = me.post(reverse("web:performer_contract_action", args=[cast.contract.id, "suspend"]), follow=True)
    assert "The next request is denied" in resp.content.decode()
    assert Contract.objects.get(id=cast.contract.id).status == "suspended"
    assert ask(cast.contract, cast.brand).status == GenerationStatus.DENIED
    page = me.get(reverse("web:performer_contract", args=[cast.contract.id])).content.decode()
    assert "You suspended this contract" in page and ">Resume<" in page
    me.post(reverse("web:performer_contract_action", args=[cast.contract.id, "resume"]))
    assert Contract.objects.get(id=cast.contract.id).status == "active"


def test_a_union_strike_can_only_be_lifted_by_the_union(cast, me):
    rights_services.contract_transition(contract_id=cast.contract.id, action="suspend", actor=cast.union)
    page = me.get(reverse("web:performer_contract", args=[cast.contract.id])).content.decode()
    assert "Only the union can lift a strike" in page and ">Resume<" not in page
    assert "(union strike)" in me.get(reverse("web:performer_contracts")).content.decode()
    resp = me.post(reverse("web:performer_contract_action", args=[cast.contract.id, "resume"]), follow=True)
    assert resp.status_code == 200 and "only whoever suspended it can lift that suspension" in resp.content.decode()
    assert Contract.objects.get(id=cast.contract.id).status == "suspended"


def test_terminate_and_an_unknown_action(cast, me):
    assert me.post(reverse("web:performer_contract_action", args=[cast.contract.id, "explode"])).status_code == 404
    assert me.get(reverse("web:performer_contract_action", args=[cast.contract.id, "terminate"])).status_code == 405
    me.post(reverse("web:performer_contract_action", args=[cast.contract.id, "terminate"]))
    assert Contract.objects.get(id=cast.contract.id).status == "terminated"
    page = me.get(reverse("web:performer_contract", args=[cast.contract.id])).content.decode()
    assert ">Terminate<" not in page


def test_denials_show_the_rules_in_words_and_the_brand(cast, me, other):
    ask(cast.contract, cast.brand, platform="instagram", territory="FR")
    page = me.get(reverse("web:performer_denials")).content.decode()
    assert "Platform not allowed" in page and "Territory not allowed" in page and "Acme Cola" in page
    assert "Platform not allowed" not in other.get(reverse("web:performer_denials")).content.decode()


def test_denials_query_count_does_not_grow(cast, me):
    ask(cast.contract, cast.brand, platform="instagram")
    url = reverse("web:performer_denials")
    with CaptureQueriesContext(connection) as few:
        me.get(url)
    for _ in range(20):
        ask(cast.contract, cast.brand, platform="instagram")
    with CaptureQueriesContext(connection) as many:
        me.get(url)
    assert len(many) == len(few)


def test_hostile_input_is_escaped_and_cut_to_size(cast, me):
    contract = make_contract(cast.brand, cast.performer, requires_approval=True)
    gen = ask(contract, cast.brand, script="<script>alert(1)</script> Buy Fizzly.")
    page = me.get(reverse("web:performer_approvals")).content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    resp = me.post(reverse("web:performer_reject", args=[gen.id]), {"reason": "<b>no</b>" * 2000})
    assert resp.status_code == 302
    assert Generation.objects.get(id=gen.id).status == GenerationStatus.REJECTED
