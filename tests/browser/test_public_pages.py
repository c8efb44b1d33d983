"""Public pages in a real browser: axe-core at desktop and phone widths, sign-in and
sign-out through the forms, and an anonymous visitor verifying a stripped re-encode of
a clip Doppel really rendered, signed and delivered (live server + qcluster)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import check_axe, give_totp, make_person, screenshot, sign_in, sign_out
from tests.e2e.conftest import Http, wait_for
from tests.e2e.test_end_to_end import TERMINAL, agree, generate, onboard
from tests.factories import make_cast
from tests.provenance.synthetic import downscale

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PUBLIC = [("/", "Every use of a likeness, licensed and paid"), ("/accounts/login/", "Sign in"),
          ("/verify/", "Verify a clip")]


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_public_pages_pass_axe(page_factory, phone):
    page = page_factory(phone=phone)
    for path, heading in PUBLIC:
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        check_axe(page)
        if phone:  # nothing wider than the phone: no sideways scrolling
            assert page.evaluate("document.documentElement.scrollWidth") <= 375, path
    if not phone:
        page.goto("/")
        screenshot(page, "landing")


def test_a_bad_upload_is_a_message_on_the_page(page, tmp_path):
    notes = tmp_path / "notes.mp4"
    notes.write_bytes(b"these are my notes, not a video" * 50)
    page.goto("/verify/")
    page.get_by_label("The clip or a still frame").set_input_files(str(notes))
    page.get_by_role("button", name="Check this file").click()
    expect(page.locator("p.error")).to_contain_text("not a video or picture we can check")
    check_axe(page)


def test_sign_in_and_sign_out_through_the_forms(page_factory):
    cast = make_cast()
    brand_person = make_person(cast.brand, email="marketer@acme.example")
    page = page_factory()
    sign_in(page, brand_person.email)
    sign_out(page)
    page.goto("/app/")
    assert "/accounts/login" in page.url  # signed out: the app asks to sign in again

    auditor = make_person(cast.union, email="auditor@guild.example")
    give_totp(auditor)
    page = page_factory(phone=True)
    sign_in(page, auditor.email)  # password, then the TOTP step
    sign_out(page)


def test_wrong_password_is_refused_on_the_page(page):
    make_person(None, email="nobody@example.org")
    page.goto("/accounts/login/")
    page.get_by_label("E-mail").fill("nobody@example.org")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".errors, .error").first).to_be_visible()
    assert "/accounts/login" in page.url


@pytest.mark.slow
def test_anonymous_visitor_sees_a_stripped_reencode_traced(live_server, qcluster_factory, page, tmp_path,
                                                          astronaut_jpeg):
    world = onboard(tmp_path, astronaut_jpeg)
    contract_id = agree(live_server.url, world)  # TikTok and YouTube, English, US
    brand = Http(live_server.url, world["brand"]["api_key"])
    cluster = qcluster_factory(DOPPEL_Q_TIMEOUT="300", DOPPEL_Q_RETRY="330")
    gen_id = generate(brand, contract_id, "browser-verify")

    def finished():
        _, state = brand.get(f"/api/v1/generations/{gen_id}")
        return state if state["status"] in TERMINAL else None

    final = wait_for(finished, timeout=300, interval=0.5, what="the generation to finish", on_timeout=cluster.log)
    assert final["status"] == "delivered", (final.get("failure"), cluster.log())
    status, mp4 = brand.get(f"/api/v1/generations/{gen_id}/asset")
    assert status == 200
    stripped = tmp_path / "reupload.mp4"
    stripped.write_bytes(downscale(mp4, factor=0.75, crf=26))  # a re-upload: smaller, no manifest left

    page.goto("/verify/")
    page.get_by_label("The clip or a still frame").set_input_files(str(stripped))
    page.get_by_role("button", name="Check this file").click()
    result = page.locator("section.result")
    expect(result).to_contain_text("A trace, not proof", timeout=120_000)
    expect(result).to_contain_text("No: this file carries no Content Credentials")
    expect(result).to_contain_text("Yes: Doppel's watermark traces this picture to a licensed generation")
    expect(result).to_contain_text("Ava Stone")
    expect(result).to_contain_text("Acme Cola")
    expect(result).to_contain_text("This licence allowed TikTok and YouTube only.")
    expect(result).to_contain_text(gen_id)
    expect(result).not_to_contain_text("never delivered")
    check_axe(page)
    screenshot(page, "verify")
