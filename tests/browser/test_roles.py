"""The three roles' pages in a real browser (issue 12, "Tests"): Playwright driving
Debian's chromium against the live server, with real qcluster workers where a clip
must render (one render in this module).

* ``test_brand_proposes_performer_accepts_brand_plays_then_kill_switch_and_audit`` (slow):
  the brand proposes a contract on its form, the performer accepts it, the brand makes a
  clip and watches it render up to a ``<video>`` that loads and plays; a second brand
  gets a 404 on that generation; the performer suspends the contract (kill switch) and
  the brand's next request on the form is denied with the rule in words; the union's
  auditor sees that denial, drills into it and exports the denials CSV containing it.
* ``test_every_page_of_every_role_passes_axe`` — axe-core (no serious/critical
  violation) on every page of each role, the 2FA pages and password reset; desktop
  screenshots of the main pages.
* ``test_main_pages_on_a_phone`` — 375×812: no sideways scrolling, axe passes; phone
  screenshots.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from rights.models import Party, PartyKind
from tests.browser.conftest import check_axe, give_totp, make_person, screenshot, sign_in
from tests.e2e.test_end_to_end import SCRIPT, onboard
from tests.factories import make_cast, make_contract, make_party
from web.views.performer import KILL_SWITCH

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RENDER_TIMEOUT_MS = 300_000


def _id_from_url(page: Page, pattern: str) -> str:
    match = re.search(pattern, page.url)
    assert match, f"{page.url} does not match {pattern}"
    return match.group(1)


def propose_on_the_form(page: Page, performer_id: str, *, platforms=("Tiktok", "Youtube")) -> str:
    """The brand fills web:brand_contract_new; returns the new contract's id."""
    today = datetime.now(UTC).date()
    page.goto("/app/brand/contracts/new/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Propose a contract")
    page.get_by_label("Performer", exact=True).select_option(performer_id)
    for name in platforms:
        page.get_by_label(name, exact=True).check()
    page.get_by_label("Languages").fill("en")
    page.get_by_label("Territories").fill("US")
    page.get_by_label("Currency").select_option("USD")
    page.get_by_label("Royalty per render").fill("5.00")
    page.get_by_label("Royalty per second of video").fill("0.10")
    page.get_by_label("Maximum renders").fill("10")
    page.get_by_label("Valid from").fill(today.isoformat())
    page.get_by_label("Valid until").fill((today + timedelta(days=30)).isoformat())
    page.get_by_role("button", name="Propose the contract").click()
    expect(page.locator(".messages")).to_contain_text("Contract proposed to")
    return _id_from_url(page, r"/app/brand/contracts/([^/]+)/$")


def request_on_the_form(page: Page, contract_id: str, *, platform: str = "tiktok") -> str:
    """The brand fills web:brand_generation_new; returns the generation's id (its page)."""
    page.goto("/app/brand/generations/new/")
    page.get_by_label("Contract").select_option(contract_id)
    page.get_by_label("Platform").select_option(platform)
    page.get_by_label("Category").select_option("soft_drinks")
    page.get_by_label("Language").fill("en")
    page.get_by_label("Territory").fill("US")
    page.get_by_label("Script").fill(SCRIPT)
    page.get_by_role("button", name="Request the clip").click()
    page.wait_for_url(re.compile(r"/app/brand/generations/(?!new/)[^/]+/$"))
    return _id_from_url(page, r"/app/brand/generations/([^/]+)/$")


@pytest.mark.slow
def test_brand_proposes_performer_accepts_brand_plays_then_kill_switch_and_audit(
        live_server, qcluster_factory, page_factory, tmp_path, astronaut_jpeg):
    world = onboard(tmp_path, astronaut_jpeg)  # Performers Guild, Ava Stone (portrait, English voice), Acme Cola
    cluster = qcluster_factory(DOPPEL_Q_TIMEOUT="300", DOPPEL_Q_RETRY="330")  # warms up while we click
    brand = Party.objects.get(pk=world["brand"]["id"])
    performer = Party.objects.get(pk=world["performer"]["id"])
    union = Party.objects.get(pk=world["union"]["id"])
    marketer = make_person(brand, admin=True, email="marketer@acme.example")
    ava = make_person(performer, email="ava@stone.example")
    auditor = make_person(union, email="auditor@guild.example")
    give_totp(auditor)
    other_brand, _ = make_party(PartyKind.BRAND, "Globex")
    outsider = make_person(other_brand, email="buyer@globex.example")

    # 1. The brand proposes on its form; the performer accepts on her contract page.
    bp = page_factory()
    sign_in(bp, marketer.email)
    contract_id = propose_on_the_form(bp, performer.id)
    expect(bp.locator("main")).to_contain_text("proposed")

    pp = page_factory()
    sign_in(pp, ava.email)
    pp.goto(f"/app/performer/contracts/{contract_id}/")
    expect(pp.get_by_role("heading", level=1)).to_have_text("Contract with Acme Cola")
    expect(pp.locator("dl.terms")).to_contain_text("TikTok, YouTube only")
    pp.get_by_role("button", name="Accept", exact=True).click()
    expect(pp.locator(".messages")).to_contain_text("Contract accepted")
    expect(pp.locator("main .status").first).to_have_text("active")

    # The brand makes a clip and watches it: the page polls status.json and reloads when done.
    gen_id = request_on_the_form(bp, contract_id)
    expect(bp.get_by_role("heading", level=1)).to_contain_text(gen_id)
    video = bp.locator("video")
    try:
        expect(video).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    except AssertionError:
        raise AssertionError(f"no clip on the page: {bp.locator('main').inner_text()[:800]}\n{cluster.log()}") \
            from None
    expect(bp.locator("main")).to_contain_text("Delivered: the signed clip is ready.")
    # The clip plays: the browser fetched it and read its duration.
    bp.wait_for_function("() => { const v = document.querySelector('video'); "
                         "return v && v.readyState >= 1 && v.duration > 0; }", timeout=60_000)
    duration = bp.evaluate("document.querySelector('video').duration")
    assert 1 < duration < 120, duration
    bp.evaluate("document.querySelector('video').muted = true")
    bp.evaluate("document.querySelector('video').play()")
    bp.wait_for_function("() => document.querySelector('video').currentTime > 0", timeout=30_000)
    expect(bp.get_by_role("link", name=re.compile(r"^Download the clip \(MP4"))).to_be_visible()
    check_axe(bp)
    screenshot(bp, "brand-generation")

    # A second brand: the first brand's generation (and its clip) is a 404 to its people.
    op = page_factory()
    sign_in(op, outsider.email)
    for path in (f"/app/brand/generations/{gen_id}/", f"/app/brand/generations/{gen_id}/video.mp4",
                 f"/app/brand/generations/{gen_id}/status.json", f"/app/brand/contracts/{contract_id}/"):
        response = op.goto(path)
        assert response is not None and response.status == 404, (path, response and response.status)

    # The performer sees the use, with the clip playable in her page.
    pp.goto("/app/performer/uses/")
    expect(pp.locator("main")).to_contain_text("Acme Cola")
    check_axe(pp)
    screenshot(pp, "performer-uses")

    # 2. The kill switch: the performer suspends; the page says what it does.
    bp.goto("/app/brand/generations/new/")  # the brand's form is open before the suspension
    pp.goto(f"/app/performer/contracts/{contract_id}/")
    pp.get_by_role("button", name="Suspend", exact=True).click()
    expect(pp.locator(".messages")).to_contain_text(f"Contract suspended. {KILL_SWITCH}")
    expect(pp.get_by_text("The kill switch:")).to_be_visible()
    expect(pp.locator("main .status").first).to_have_text("suspended")
    check_axe(pp)
    screenshot(pp, "performer-contract")

    # The brand's next request, on the form, is denied on the page with the rule in words.
    denied_id = request_on_the_form(bp, contract_id)
    assert denied_id != gen_id
    expect(bp.locator(".messages")).to_contain_text("The request was refused")
    expect(bp.get_by_role("heading", name="Why it was refused")).to_be_visible()
    reasons = bp.locator("ul.reasons")
    expect(reasons).to_contain_text("Contract not active")
    expect(reasons).to_contain_text("The contract is suspended, not active.")
    expect(bp.locator("video")).to_have_count(0)
    check_axe(bp)
    screenshot(bp, "brand-generation-denied")

    # 3. The union's auditor (password + TOTP) sees the denial, drills into it, exports it.
    up = page_factory()
    sign_in(up, auditor.email)
    up.goto("/app/union/denials/")
    row = up.locator("table tbody tr", has=up.get_by_role("link", name=f"Attempt {denied_id}"))
    expect(row).to_contain_text("Contract not active")
    expect(row).to_contain_text("Acme Cola")
    expect(row).to_contain_text("Ava Stone")
    check_axe(up)
    screenshot(up, "union-denials")
    row.get_by_role("link", name=f"Attempt {denied_id}").click()
    expect(up.get_by_role("heading", level=1)).to_have_text(f"Denied attempt {denied_id}")
    expect(up.locator("main")).to_contain_text("Contract not active")
    expect(up.locator("main")).to_contain_text("The contract is suspended, not active.")
    check_axe(up)
    screenshot(up, "union-denial")

    up.goto("/app/union/exports/")
    with up.expect_download() as download:
        up.get_by_role("button", name="Download denials.csv").click()
    assert re.fullmatch(r"doppel-denials-\d{4}-\d{2}-\d{2}\.csv", download.value.suggested_filename)
    text = open(download.value.path(), encoding="utf-8-sig").read()
    lines = text.splitlines()
    assert lines[0].startswith("generation,created_at,performer"), lines[0]
    denied_rows = [line for line in lines[1:] if line.startswith(denied_id + ",")]
    assert len(denied_rows) == 1 and "contract_not_active" in denied_rows[0], text[:1000]
    assert gen_id not in text  # the delivered clip is a use, not a denial
    with up.expect_download() as download:
        up.get_by_role("button", name="Download uses.csv").click()
    uses = open(download.value.path(), encoding="utf-8-sig").read()
    assert any(line.startswith(gen_id + ",") for line in uses.splitlines()), uses[:1000]


def _cast_with_people():
    """A union, a member performer, a brand with an accepted contract with her, one
    person each (the auditor with TOTP), and a second union person for the phone (each
    TOTP code is accepted once)."""
    cast = make_cast()
    cast.contract = make_contract(cast.brand, cast.performer)
    people = {
        "brand": make_person(cast.brand, admin=True, email="marketer@acme.example"),
        "performer": make_person(cast.performer, admin=True, email="ava@stone.example"),
        "union": make_person(cast.union, admin=True, email="auditor@guild.example"),
        "union_phone": make_person(cast.union, email="steward@guild.example"),
    }
    give_totp(people["union"])
    give_totp(people["union_phone"])
    return cast, people


def _visit(page: Page, path: str, heading: str | re.Pattern | None = None) -> None:
    response = page.goto(path)
    assert response is not None and response.status == 200, (path, response and response.status)
    if heading is not None:
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    check_axe(page)


def test_every_page_of_every_role_passes_axe(page_factory):
    cast, people = _cast_with_people()
    c = cast.contract.id

    # The brand: every page (a proposed contract and a denied attempt made on the forms).
    bp = page_factory()
    sign_in(bp, people["brand"].email)
    _visit(bp, "/app/brand/", "Acme Cola")
    screenshot(bp, "brand-home")
    _visit(bp, "/app/brand/contracts/new/", "Propose a contract")
    bp.get_by_role("button", name="Propose the contract").click()  # empty: errors next to the fields
    expect(bp.locator("p.error").first).to_be_visible()
    check_axe(bp)
    proposed = propose_on_the_form(bp, cast.performer.id)
    check_axe(bp)
    _visit(bp, f"/app/brand/contracts/{c}/")
    screenshot(bp, "brand-contract")
    _visit(bp, "/app/brand/generations/new/", "Make a clip")
    screenshot(bp, "brand-generation-new")
    denied = request_on_the_form(bp, c, platform="instagram")  # not in the contract: denied at once
    expect(bp.locator("ul.reasons")).to_contain_text("Platform not allowed")
    _visit(bp, f"/app/brand/generations/{denied}/")
    _visit(bp, "/app/brand/generations/")
    _visit(bp, "/app/brand/keys/", "API keys")
    _visit(bp, "/app/brand/webhooks/", "Webhook endpoints")
    _visit(bp, "/app/colleagues/", "Colleagues at Acme Cola")
    _visit(bp, "/accounts/2fa/")
    _visit(bp, "/accounts/2fa/totp/activate/")

    # The performer: every page.
    pp = page_factory()
    sign_in(pp, people["performer"].email)
    _visit(pp, "/app/performer/", "Earnings of Ava Stone")
    screenshot(pp, "performer-home")
    _visit(pp, "/app/performer/uses/")
    _visit(pp, "/app/performer/approvals/")
    _visit(pp, "/app/performer/contracts/")
    screenshot(pp, "performer-contracts")
    _visit(pp, f"/app/performer/contracts/{proposed}/", "Contract with Acme Cola")
    expect(pp.get_by_role("button", name="Accept", exact=True)).to_be_visible()
    _visit(pp, f"/app/performer/contracts/{c}/", "Contract with Acme Cola")
    _visit(pp, "/app/performer/denials/")
    expect(pp.locator("main")).to_contain_text("Platform not allowed")
    _visit(pp, "/app/colleagues/")

    # The union's auditor: every page.
    up = page_factory()
    sign_in(up, people["union"].email)
    _visit(up, "/app/union/", "Performers Guild: members")
    screenshot(up, "union-home")
    _visit(up, "/app/union/denials/", "Denied attempts against members' contracts")
    _visit(up, f"/app/union/denials/{denied}/", f"Denied attempt {denied}")
    _visit(up, "/app/union/contracts/")
    screenshot(up, "union-contracts")
    _visit(up, "/app/union/ledger/")
    screenshot(up, "union-ledger")
    _visit(up, "/app/union/exports/", "CSV exports")
    _visit(up, "/app/colleagues/")
    _visit(up, "/accounts/2fa/")

    # Password reset (signed out).
    anon = page_factory()
    _visit(anon, "/accounts/password/reset/")
    anon.locator("input[type=email]").fill("ava@stone.example")
    anon.locator("main form button[type=submit]").click()
    anon.wait_for_load_state()
    check_axe(anon)


def test_main_pages_on_a_phone(page_factory):
    cast, people = _cast_with_people()
    for role, email, path, name in (
            ("performer", people["performer"].email, "/app/performer/", "performer-home-phone"),
            ("brand", people["brand"].email, "/app/brand/", "brand-home-phone"),
            ("union", people["union_phone"].email, "/app/union/", "union-home-phone")):
        page = page_factory(phone=True)
        sign_in(page, email)
        _visit(page, path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{role}'s {path} scrolls sideways on a phone: {width}px wide"
        screenshot(page, name)
    # And the clip page of a brand on a phone: the denied attempt's reasons fit too.
    page = page_factory(phone=True)
    sign_in(page, people["brand"].email)
    request_on_the_form(page, cast.contract.id, platform="instagram")
    check_axe(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
