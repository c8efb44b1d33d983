"""Accounts and sign-in (issue 12 item 1): invitations, set-password, sign-in and
sign-out, password reset by e-mail, login throttling, CSRF, TOTP two-factor sign-in
(required for union auditors and staff)."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from tests.web.conftest import PASSWORD, give_totp, make_person, signed_in, totp_code
from web import services
from web.models import Invitation, PartyMember

pytestmark = pytest.mark.django_db


def _invite_link(party, email="new@example.org", **kw) -> str:
    out = io.StringIO()
    call_command("invite", party.id, email, "--base-url", "http://testserver", stdout=out, **kw)
    return re.search(r"http://testserver(/invitations/\S+/)", out.getvalue()).group(1)


def test_landing_page_is_public_and_points_to_sign_in_verify_and_docs():
    response = Client().get("/")
    assert response.status_code == 200
    html = response.content.decode()
    for target in ('href="/accounts/login/"', 'href="/verify/"', 'href="/api/docs/"'):
        assert target in html
    assert "<script" in html and "unsafe-inline" not in response.headers.get("Content-Security-Policy", "")


def test_an_invitation_makes_a_member_who_signs_in_and_out(cast):
    path = _invite_link(cast.performer)
    assert len(mail.outbox) == 1 and path in mail.outbox[0].body  # the link is e-mailed too
    client = Client()
    page = client.get(path)
    assert page.status_code == 200 and b"new@example.org" in page.content
    weak = client.post(path, {"password": "123", "password2": "123"})
    assert weak.status_code == 200 and b"too short" in weak.content.lower()
    mismatch = client.post(path, {"password": PASSWORD, "password2": PASSWORD + "x"})
    assert b"The two passwords differ." in mismatch.content
    done = client.post(path, {"name": "Ava", "password": PASSWORD, "password2": PASSWORD})
    assert done.status_code == 302
    member = PartyMember.objects.get(user__email="new@example.org")
    assert member.party == cast.performer and not member.is_admin
    assert Client().get(path).status_code == 404  # single use
    client.post("/accounts/logout/")
    assert client.get("/app/").status_code == 302  # signed out: back to sign-in
    again = Client()
    signin = again.post("/accounts/login/", {"login": "new@example.org", "password": PASSWORD})
    assert signin.status_code == 302 and again.get("/app/").status_code in (200, 302)


@pytest.mark.parametrize("args", [("pty_nope", "a@example.org"), (None, "not-an-email"), (None, "dup@example.org")])
def test_invite_command_refuses_bad_input(cast, args):
    make_person(cast.brand, email="dup@example.org")
    party, email = args
    with pytest.raises(CommandError):
        call_command("invite", party or cast.brand.id, email, stdout=io.StringIO())
    assert not Invitation.objects.exists()


def test_invitation_tokens_forged_expired_or_revoked_are_404(cast):
    invitation, token = services.invitation_create(party=cast.brand, email="x@example.org")
    assert Client().get("/invitations/forged-token-forged-token-forged/").status_code == 404
    assert Client().get("/invitations/" + "a" * 500 + "/").status_code == 404
    assert Client().get(f"/invitations/{token}/").status_code == 200
    past = invitation.created_at - timedelta(days=30)
    Invitation.objects.filter(pk=invitation.pk).update(created_at=past, expires_at=past + timedelta(days=7))
    assert Client().get(f"/invitations/{token}/").status_code == 404  # expired
    revoked, token2 = services.invitation_create(party=cast.brand, email="y@example.org")
    Invitation.objects.filter(pk=revoked.pk).update(revoked_at=revoked.created_at)
    assert Client().post(f"/invitations/{token2}/", {"password": PASSWORD, "password2": PASSWORD}).status_code == 404
    assert not PartyMember.objects.exists()


def test_a_party_admin_invites_colleagues_others_cannot(cast):
    admin = signed_in(make_person(cast.brand, admin=True))
    page = admin.get("/app/colleagues/")
    assert page.status_code == 200
    bad = admin.post("/app/colleagues/", {"email": "nope"})
    assert bad.status_code == 200 and b"Enter a valid email address." in bad.content
    sent = admin.post("/app/colleagues/", {"email": "colleague@example.org"})
    assert b"/invitations/" in sent.content and Invitation.objects.filter(party=cast.brand).count() == 1
    member = signed_in(make_person(cast.brand))
    assert member.get("/app/colleagues/").status_code == 403


def test_sign_in_is_throttled_after_repeated_failures(cast, settings):
    settings.AXES_FAILURE_LIMIT = 3
    make_person(cast.brand, email="t@example.org")
    client = Client()
    codes = [client.post("/accounts/login/", {"login": "t@example.org", "password": "wrong"}).status_code
             for _ in range(4)]
    assert codes[-1] == 429, codes
    locked = client.post("/accounts/login/", {"login": "t@example.org", "password": PASSWORD})
    assert locked.status_code == 429  # even the right password, until the cool-off


def test_csrf_is_enforced_on_sign_in_and_forms(cast):
    user = make_person(cast.brand, admin=True)
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/accounts/login/", {"login": user.email, "password": PASSWORD}).status_code == 403
    strict.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    assert strict.post("/app/colleagues/", {"email": "c@example.org"}).status_code == 403


def test_password_reset_by_email(cast):
    make_person(cast.performer, email="forgot@example.org")
    response = Client().post("/accounts/password/reset/", {"email": "forgot@example.org"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and "/accounts/password/reset/key/" in mail.outbox[0].body


def test_union_auditors_and_staff_must_set_up_totp_others_may(cast):
    auditor = make_person(cast.union)
    client = signed_in(auditor)
    forced = client.get("/app/")
    assert forced.status_code == 302 and forced["Location"].startswith("/accounts/2fa/totp/activate")
    staff = signed_in(make_person(None, staff=True))
    assert staff.get("/app/").status_code == 302
    assert staff.get("/app/")["Location"].startswith("/accounts/2fa/totp/activate")
    give_totp(auditor)
    assert client.get("/app/").status_code != 302 or "/2fa/" not in client.get("/app/")["Location"]
    performer = signed_in(make_person(cast.performer))
    page = performer.get("/app/")
    assert page.status_code in (200, 302) and "/2fa/" not in page.get("Location", "")


def test_totp_is_asked_at_sign_in_once_set_up(cast):
    user = make_person(cast.performer, email="two@example.org")
    totp = give_totp(user)
    client = Client()
    first = client.post("/accounts/login/", {"login": "two@example.org", "password": PASSWORD})
    assert first.status_code == 302 and "/accounts/2fa/authenticate/" in first["Location"]
    assert client.get("/app/").status_code == 302  # not signed in until the code is given
    wrong = client.post("/accounts/2fa/authenticate/", {"code": "000000" if totp_code(totp.secret) != "000000"
                                                          else "111111"})
    assert wrong.status_code == 200 and b"Incorrect code" in wrong.content
    done = client.post("/accounts/2fa/authenticate/", {"code": totp_code(totp.secret)})
    assert done.status_code == 302
    assert client.get("/app/colleagues/").status_code in (200, 403)  # signed in now


def test_a_person_without_a_party_or_of_another_kind_gets_no_party_pages(cast):
    nobody = signed_in(make_person(None))
    assert nobody.get("/app/").status_code == 403


def test_demo_people_command_creates_one_sign_in_per_party_once(cast):
    args = ["--performer", cast.performer.id, "--brand", cast.brand.id, "--union", cast.union.id,
            "--password", PASSWORD]
    call_command("demo_people", *args, stdout=io.StringIO())
    call_command("demo_people", *args, stdout=io.StringIO())  # again: nothing doubled
    assert PartyMember.objects.filter(user__email__endswith="@demo.doppel.local").count() == 3
    assert Client().post("/accounts/login/", {"login": "brand@demo.doppel.local", "password": PASSWORD}).status_code == 302
    for bad in (["--performer", cast.brand.id, "--brand", cast.brand.id, "--union", cast.union.id, "--password", PASSWORD],
                ["--performer", cast.performer.id, "--brand", cast.brand.id, "--union", cast.union.id, "--password", "x"]):
        with pytest.raises(CommandError):
            call_command("demo_people", *bad, stdout=io.StringIO())
