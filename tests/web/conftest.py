"""Web app test helpers: people who sign in as members of a party."""

from __future__ import annotations

import itertools

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.test import Client

from web.models import PartyMember

_seq = itertools.count(1)
PASSWORD = "correct horse battery staple 42"


def make_person(party, *, admin: bool = False, email: str | None = None, staff: bool = False):
    email = email or f"person{next(_seq)}@example.org"
    user = get_user_model().objects.create_user(username=email, email=email, password=PASSWORD, is_staff=staff)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    if party is not None:
        PartyMember.objects.create(user=user, party=party, is_admin=admin)
    return user


def signed_in(user) -> Client:
    """A browser-like client signed in as ``user`` (session auth, CSRF checks on)."""
    client = Client(enforce_csrf_checks=False)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def give_totp(user):
    """Set up TOTP for ``user`` as allauth does (so pages that require it open); the
    secret is kept on the returned object as ``.secret`` (see ``totp_code``)."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    secret = generate_totp_secret()
    totp = TOTP.activate(user, secret)
    totp.secret = secret
    return totp


def totp_code(secret: str, *, at: float | None = None) -> str:
    """The 6-digit TOTP code of ``secret`` now (RFC 6238, 30 s steps), as an authenticator app shows it."""
    import time

    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    return format_hotp_value(hotp_value(secret, int(time.time() if at is None else at) // 30))


@pytest.fixture
def cast(db):
    from tests.factories import make_cast, make_contract

    c = make_cast()
    c.contract = make_contract(c.brand, c.performer)
    return c
