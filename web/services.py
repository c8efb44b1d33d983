"""Invitations and memberships (the web app's only writes of its own; every other
page calls the API's services)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from common.errors import InvalidRequest, InvalidState, NotFound
from rights.models import Party
from web.models import Invitation, PartyMember

INVITATION_TTL = timedelta(days=7)
MAX_OPEN_INVITATIONS_PER_PARTY = 200


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def invitation_create(*, party: Party, email: str, is_admin: bool = False, invited_by=None) -> tuple[Invitation, str]:
    """Invite ``email`` to act for ``party``. Returns (invitation, token): the token is
    shown once (in the link) and stored hashed. Raises InvalidRequest for a malformed
    address, one that already has an account, or too many open invitations."""
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidRequest(fields={"email": ["Enter a valid e-mail address."]}) from None
    if len(email) > 254:
        raise InvalidRequest(fields={"email": ["At most 254 characters."]})
    if get_user_model().objects.filter(email__iexact=email).exists():
        raise InvalidRequest(fields={"email": ["This address already has an account."]})
    now = timezone.now()
    if Invitation.objects.filter(party=party, accepted_at__isnull=True, revoked_at__isnull=True,
                                 expires_at__gt=now).count() >= MAX_OPEN_INVITATIONS_PER_PARTY:
        raise InvalidRequest(fields={"email": ["Too many open invitations; revoke some first."]})
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(party=party, email=email, token_hash=_hash(token), is_admin=is_admin,
                                           invited_by=invited_by, created_at=now, expires_at=now + INVITATION_TTL)
    return invitation, token


def invitation_find(*, token: str) -> Invitation:
    """The open invitation of ``token``; NotFound for an unknown, used, revoked or expired one."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise NotFound("This invitation link is not valid.")
    invitation = Invitation.objects.select_related("party").filter(token_hash=_hash(token)).first()
    if invitation is None or not invitation.open:
        raise NotFound("This invitation link is not valid, was used already, or has expired.")
    return invitation


def invitation_accept(*, token: str, password: str, name: str = ""):
    """Create the invited person's account with ``password`` and make them a member of
    the party, once. Returns the user. Raises NotFound, InvalidRequest (weak password)."""
    with transaction.atomic():
        invitation = invitation_find(token=token)
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if not invitation.open:
            raise InvalidState("This invitation was used already.")
        User = get_user_model()
        user = User(username=invitation.email[:150], email=invitation.email, first_name=(name or "")[:150])
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise InvalidRequest(fields={"password": list(exc.messages)}) from None
        if User.objects.filter(email__iexact=invitation.email).exists():
            raise InvalidRequest(fields={"email": ["This address already has an account."]})
        user.set_password(password)
        user.save()
        PartyMember.objects.create(user=user, party=invitation.party, is_admin=invitation.is_admin)
        from allauth.account.models import EmailAddress

        EmailAddress.objects.create(user=user, email=invitation.email, verified=True, primary=True)
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
    return user


def member_party(user) -> Party | None:
    """The party a signed-in person acts for (None: staff without a party, or anonymous)."""
    if not getattr(user, "is_authenticated", False):
        return None
    membership = PartyMember.objects.select_related("party").filter(user=user).first()
    return membership.party if membership else None


def mfa_required(user) -> bool:
    """TOTP is required for union auditors and staff (issue 12); available to everyone."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_staff or user.is_superuser:
        return True
    party = member_party(user)
    return party is not None and party.kind == "union"


def invitation_send(*, email: str, party: Party, link: str) -> None:
    """E-mail the invitation link (console backend by default; SMTP by configuration)."""
    from django.core.mail import send_mail

    send_mail(subject=f"You are invited to Doppel for {party.name}",
              message=f"Hello,\n\nyou are invited to act for {party.name} on Doppel. Set your password here "
                      f"(the link works once, for 7 days):\n\n{link}\n",
              from_email=None, recipient_list=[email])
