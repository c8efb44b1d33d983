"""People who sign in to the web app, as members of a party, and their invitations.

A person (a Django user, signed in by e-mail through django-allauth) belongs to
exactly one party — a performer, a brand or a union — and acts for it on every
page, with the same services and the same visibility rule as that party's API
keys. A party's admins invite colleagues; an invitation is a single-use link
whose token is stored hashed (like API keys).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from rights.models import Party


class PartyMember(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE,
                                related_name="membership")
    party = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="people")
    is_admin = models.BooleanField(default=False, help_text="May invite colleagues")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user} @ {self.party_id}{' (admin)' if self.is_admin else ''}"


class Invitation(models.Model):
    id = models.BigAutoField(primary_key=True)
    party = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="invitations")
    email = models.EmailField()
    token_hash = models.CharField(max_length=64, unique=True)
    is_admin = models.BooleanField(default=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["party", "created_at"], name="web_invitation_party_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("created_at")), name="web_invitation_expiry"),
        ]

    def __str__(self) -> str:
        return f"invitation of {self.email} to {self.party_id}"

    @property
    def open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()
