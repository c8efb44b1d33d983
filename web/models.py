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


class AuditOutcome(models.TextChoices):
    """How a run of the ledger auditor (``ledger.audit``) ended: its exit status 0, 1 or 2."""

    PASSED = "passed"  # exit 0: everything verified
    FAILED = "failed"  # exit 1: a check failed (problems lists which)
    ERROR = "error"  # exit 2: the audit could not run


class AuditRun(models.Model):
    """One scheduled run of ``ledger.audit`` for one union, in-process against the
    service's own API as that union sees it (``web.audit``). ``state`` is the
    auditor's state file (the pinned log key and the last verified checkpoint), kept
    so that the next run checks the log only grew."""

    id = models.BigAutoField(primary_key=True)
    union = models.ForeignKey(Party, on_delete=models.CASCADE, related_name="audit_runs",
                              limit_choices_to={"kind": "union"})
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=AuditOutcome.choices)
    verified = models.PositiveIntegerField(default=0, help_text="Transactions proven in the signed log")
    checkpoint_size = models.BigIntegerField(null=True, blank=True)
    problems = models.JSONField(default=list, blank=True)
    notes = models.JSONField(default=list, blank=True)
    output = models.TextField(blank=True, help_text="What the auditor printed")
    state = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["union", "-started_at"], name="web_auditrun_union_idx")]
        constraints = [models.CheckConstraint(condition=Q(outcome__in=["passed", "failed", "error"]),
                                              name="web_auditrun_outcome_valid")]

    def __str__(self) -> str:
        return f"audit of {self.union_id} at {self.started_at:%Y-%m-%d %H:%M}: {self.outcome}"


class AddressWindow(models.Model):
    """A fixed one-minute counter per client address (hashed) for the public pages, held in
    the database so that every server process shares it (as gateway.RateWindow does for
    parties, which an anonymous visitor is not)."""

    id = models.BigAutoField(primary_key=True)
    subject = models.CharField(max_length=64, help_text="what is counted and the hashed address")
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["window_start"], name="web_addresswindow_start_idx")]
        constraints = [models.UniqueConstraint(fields=["subject", "window_start"], name="web_addresswindow_once")]

    def __str__(self) -> str:
        return f"{self.subject} @ {self.window_start:%H:%M}: {self.count}"
