"""Parties, their API keys, identity contracts, consent and the contract audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from common.ids import new_contract_id, new_event_id, new_key_id, new_party_id
from rights.terms import Terms


class PartyKind(models.TextChoices):
    BRAND = "brand"
    PERFORMER = "performer"
    UNION = "union"


class Party(models.Model):
    """A brand, a performer or a union. API keys and web logins belong to one party."""

    id = models.CharField(primary_key=True, max_length=32, default=new_party_id, editable=False)
    kind = models.CharField(max_length=16, choices=PartyKind.choices)
    name = models.CharField(max_length=200)
    # Performers only: membership of a union (its auditors see this performer's work).
    union = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="members",
        limit_choices_to={"kind": PartyKind.UNION},
    )
    # Performers only: the portrait the avatar is animated from, and what the
    # renderer measured on it once at onboarding.
    portrait = models.FileField(upload_to="portraits/", blank=True)
    portrait_sha256 = models.CharField(max_length=64, blank=True)
    landmarks = models.JSONField(null=True, blank=True)
    voice = models.CharField(max_length=32, blank=True, help_text="Preferred voice or language code")
    # Unions only: pension & health contribution charged on top of each royalty.
    pension_health_bps = models.PositiveIntegerField(null=True, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="party"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name_plural = "parties"
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=[k.value for k in PartyKind]), name="party_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(union__isnull=True) | Q(kind=PartyKind.PERFORMER),
                name="party_only_performers_have_union",
            ),
            models.CheckConstraint(
                condition=Q(pension_health_bps__isnull=True) | Q(pension_health_bps__lte=10000),
                name="party_ph_bps_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    # A party authenticated by its API key is DRF's ``request.user``; these are
    # the two attributes DRF and Django read off a user object.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False


class ApiKey(models.Model):
    """A bearer key. Only its SHA-256 is stored; ``prefix`` is the visible, unique handle."""

    id = models.CharField(primary_key=True, max_length=32, default=new_key_id, editable=False)
    party = models.ForeignKey(Party, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True)
    hashed = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        ordering = ["created_at"]

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "active"
        return f"{self.prefix}… ({self.party.name}, {state})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ContractStatus(models.TextChoices):
    PROPOSED = "proposed"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


class SuspensionHolder(models.TextChoices):
    """Who holds a contract suspended (docs/rights.md "Suspensions"): each lifts only its own."""

    PERFORMER = "performer"
    UNION = "union"


@dataclass(frozen=True)
class Suspension:
    """One suspension in force: who holds it (``by``), which party, since when."""

    by: str
    party: str
    since: datetime


# Derived, never stored: a contract past its valid_until reads "expired".
EXPIRED = "expired"
# Every status the API reports for a contract (``Contract.effective_status``).
REPORTED_STATUSES = (*ContractStatus.values, EXPIRED)


class Contract(models.Model):
    """An identity contract: which uses of a performer's likeness a brand may make.

    Terms are immutable once proposed (``terms_hash`` pins them); only the
    status and the quota counters change. ``renders_held`` counts accepted,
    not-yet-delivered generations; ``renders_used`` delivered ones. The
    database refuses any update that would make them exceed ``max_renders``.

    Suspensions are held separately by the performer (``performer_suspended_at``)
    and by their union (a strike: ``union_suspended_at`` and the union in
    ``union_suspended_by``); ``status`` is ``suspended`` exactly while one of
    them holds, which the database checks (docs/rights.md "Suspensions").
    """

    id = models.CharField(primary_key=True, max_length=32, default=new_contract_id, editable=False)
    performer = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="contracts_as_performer")
    brand = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="contracts_as_brand")
    platforms = models.JSONField(default=list)
    banned_categories = models.JSONField(default=list)
    languages = models.JSONField(default=list)
    territories = models.JSONField(default=list)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    currency = models.CharField(max_length=3)
    royalty_per_render = models.BigIntegerField(default=0)
    royalty_per_second = models.BigIntegerField(default=0)
    revenue_share_bps = models.PositiveIntegerField(default=0)
    max_renders = models.PositiveIntegerField()
    requires_approval = models.BooleanField(default=False)
    notice_days = models.PositiveIntegerField(default=0)
    terms_hash = models.CharField(max_length=64, editable=False)
    # The terms hash of the performer's consent, set with the Consent record in
    # the same transaction: the policy engine reads it without another query.
    consented_terms_hash = models.CharField(max_length=64, blank=True, editable=False)

    status = models.CharField(max_length=16, choices=ContractStatus.choices, default=ContractStatus.PROPOSED)
    status_reason = models.TextField(blank=True)
    renders_used = models.PositiveIntegerField(default=0)
    renders_held = models.PositiveIntegerField(default=0)
    # The suspensions in force, one per holder (set and cleared by contract_transition only).
    performer_suspended_at = models.DateTimeField(null=True, blank=True, editable=False)
    union_suspended_at = models.DateTimeField(null=True, blank=True, editable=False)
    union_suspended_by = models.ForeignKey(
        Party, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False,
        limit_choices_to={"kind": PartyKind.UNION},
    )

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)
    terminated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(fields=["brand", "-created_at"]),
            models.Index(fields=["performer", "-created_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(valid_until__gt=F("valid_from")), name="contract_window_positive"),
            models.CheckConstraint(
                condition=Q(royalty_per_render__gte=0) & Q(royalty_per_second__gte=0),
                name="contract_royalty_non_negative",
            ),
            models.CheckConstraint(condition=Q(revenue_share_bps__lte=10000), name="contract_share_bps_range"),
            models.CheckConstraint(
                condition=Q(renders_used__gte=0) & Q(renders_held__gte=0)
                & Q(renders_used__lte=F("max_renders") - F("renders_held")),
                name="contract_quota_never_exceeded",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in ContractStatus]), name="contract_status_valid"
            ),
            models.CheckConstraint(condition=~Q(performer=F("brand")), name="contract_parties_distinct"),
            # Suspended exactly while the performer or the union holds a suspension.
            models.CheckConstraint(
                condition=(Q(status=ContractStatus.SUSPENDED)
                           & (Q(performer_suspended_at__isnull=False) | Q(union_suspended_at__isnull=False)))
                | (~Q(status=ContractStatus.SUSPENDED)
                   & Q(performer_suspended_at__isnull=True) & Q(union_suspended_at__isnull=True)),
                name="contract_suspended_iff_held",
            ),
            models.CheckConstraint(
                condition=Q(union_suspended_at__isnull=True, union_suspended_by__isnull=True)
                | Q(union_suspended_at__isnull=False, union_suspended_by__isnull=False),
                name="contract_strike_has_union",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.performer_id} for {self.brand_id}, {self.status})"

    @property
    def terms(self) -> Terms:
        """The immutable terms (``rights.terms.Terms``): what ``terms_hash`` pins."""
        return Terms.of(self)

    @property
    def suspensions(self) -> list[Suspension]:
        """The suspensions in force, oldest first (empty unless ``status`` is suspended)."""
        held = []
        if self.performer_suspended_at is not None:
            held.append(Suspension(SuspensionHolder.PERFORMER, self.performer_id, self.performer_suspended_at))
        if self.union_suspended_at is not None:
            held.append(Suspension(SuspensionHolder.UNION, self.union_suspended_by_id, self.union_suspended_at))
        return sorted(held, key=lambda s: s.since)

    def held_by(self, holder: str) -> bool:
        """Whether ``holder`` (a ``SuspensionHolder``) holds a suspension of this contract."""
        field = "performer_suspended_at" if holder == SuspensionHolder.PERFORMER else "union_suspended_at"
        return getattr(self, field) is not None

    def effective_status(self, now: datetime | None = None) -> str:
        now = now or timezone.now()
        if self.status != ContractStatus.TERMINATED and now >= self.valid_until:
            return EXPIRED
        return self.status


class ContractAction(models.TextChoices):
    PROPOSE = "propose"
    ACCEPT = "accept"
    SUSPEND = "suspend"
    RESUME = "resume"
    TERMINATE = "terminate"


class ContractEvent(models.Model):
    """Append-only audit trail: every change of a contract, by whom, when and why."""

    id = models.CharField(primary_key=True, max_length=32, default=new_event_id, editable=False)
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="events")
    action = models.CharField(max_length=16, choices=ContractAction.choices)
    actor = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="contract_events")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["contract", "created_at"])]

    def __str__(self) -> str:
        return f"{self.contract_id}: {self.action} by {self.actor_id}"


class Consent(models.Model):
    """A performer's consent to one exact set of terms (pinned by their canonical hash)."""

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="consents")
    performer = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="consents")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL)
    terms_hash = models.CharField(max_length=64)
    terms = models.JSONField(help_text="The canonical terms that were consented to")
    event = models.OneToOneField(ContractEvent, on_delete=models.PROTECT, related_name="consent")
    source = models.CharField(max_length=32, default="api", help_text="api, web or admin")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "terms_hash"], name="consent_once_per_terms"),
        ]

    def __str__(self) -> str:
        return f"consent {self.performer_id} → {self.contract_id} ({self.terms_hash[:12]})"
