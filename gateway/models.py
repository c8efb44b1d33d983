"""Generations (every use of a likeness, allowed or denied), idempotency records,
rate-limit windows, verification slots and outgoing webhooks."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from gateway import secretbox
from gateway.ids import new_delivery_id, new_generation_id, new_webhook_id
from rights.models import Contract, Party


class GenerationStatus(models.TextChoices):
    QUEUED = "queued"
    AWAITING_APPROVAL = "awaiting_approval"
    RENDERING = "rendering"
    SIGNING = "signing"
    DELIVERED = "delivered"
    FAILED = "failed"
    DENIED = "denied"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class WebhookEvent(models.TextChoices):
    """What a brand's webhook endpoint may subscribe to: a generation reached an end."""

    DELIVERED = "generation.delivered"
    DENIED = "generation.denied"
    FAILED = "generation.failed"
    REJECTED = "generation.rejected"
    CANCELLED = "generation.cancelled"


TERMINAL = frozenset({GenerationStatus.DELIVERED, GenerationStatus.FAILED, GenerationStatus.DENIED,
                      GenerationStatus.REJECTED, GenerationStatus.CANCELLED})
IN_FLIGHT = frozenset({GenerationStatus.QUEUED, GenerationStatus.RENDERING, GenerationStatus.SIGNING})


class Generation(models.Model):
    """One requested use of a likeness. Denials are recorded too: unions audit them."""

    id = models.CharField(primary_key=True, max_length=32, default=new_generation_id, editable=False)
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="generations")
    brand = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="generations_as_brand")
    performer = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="generations_as_performer")
    script = models.TextField()
    platform = models.CharField(max_length=32)
    category = models.CharField(max_length=32)
    language = models.CharField(max_length=8)
    territory = models.CharField(max_length=2)
    profile = models.CharField(max_length=32)
    captions = models.BooleanField(default=True)

    status = models.CharField(max_length=20, choices=GenerationStatus.choices)
    progress = models.FloatField(default=0.0)
    decision = models.JSONField(default=dict)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.TextField(blank=True)

    # The ledger hold reserving quota and amount while the generation is in flight.
    hold = models.OneToOneField("ledger.Hold", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="generation")
    ledger_transaction = models.OneToOneField("ledger.Transaction", null=True, blank=True,
                                              on_delete=models.PROTECT, related_name="generation")
    # Invisible-watermark payload (random, unique): identifies a clip whose manifest was stripped.
    watermark_payload = models.BigIntegerField(null=True, blank=True, unique=True)

    asset_path = models.CharField(max_length=300, blank=True)
    asset_sha256 = models.CharField(max_length=64, blank=True)
    asset_bytes = models.BigIntegerField(null=True, blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    frames = models.PositiveIntegerField(null=True, blank=True)
    render_timings = models.JSONField(default=dict, blank=True)

    # Worker lease: fencing against a stale worker delivering after its lease was taken over.
    # ``attempts`` counts the claims (at most DOPPEL_RENDER_MAX_ATTEMPTS).
    attempts = models.PositiveIntegerField(default=0)
    # Attempts that ended without a result: [{"attempt": n, "code": "render_timeout" | "worker_lost", "at": iso}].
    attempt_failures = models.JSONField(default=list, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True)

    approval_expires_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(Party, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="generation_decisions")
    decided_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(fields=["brand", "-created_at"]),
            models.Index(fields=["performer", "-created_at"]),
            models.Index(fields=["contract", "-created_at"]),
            models.Index(fields=["brand", "status"]),
            models.Index(fields=["status", "updated_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=[s.value for s in GenerationStatus]),
                                   name="generation_status_valid"),
            models.CheckConstraint(condition=Q(progress__gte=0) & Q(progress__lte=1),
                                   name="generation_progress_range"),
            # Delivered means paid and stored: the database refuses anything less.
            models.CheckConstraint(
                condition=~Q(status=GenerationStatus.DELIVERED)
                | (Q(ledger_transaction__isnull=False) & ~Q(asset_sha256="")),
                name="generation_delivered_is_paid_and_stored",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"


class IdempotencyRecord(models.Model):
    """The first response to (brand, Idempotency-Key), replayed for 24 h."""

    brand = models.ForeignKey(Party, on_delete=models.CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    generation = models.ForeignKey(Generation, null=True, blank=True, on_delete=models.CASCADE)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["brand", "key"], name="idempotency_key_once_per_brand")]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.brand_id}:{self.key} → {self.response_status}"


class RateBucket(models.TextChoices):
    """What a rate window counts: each bucket has its own limit."""

    GENERATIONS = "generations"  # POST /generations, DOPPEL_RATE_LIMIT_PER_MINUTE
    VERIFY = "verify"  # POST /verify, DOPPEL_VERIFY_RATE_LIMIT_PER_MINUTE


class RateWindow(models.Model):
    """A fixed-window request counter per party and bucket (shared by every server process)."""

    party = models.ForeignKey(Party, on_delete=models.CASCADE)
    bucket = models.CharField(max_length=16, choices=RateBucket.choices, default=RateBucket.GENERATIONS)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["party", "bucket", "window_start"],
                                               name="rate_window_once_per_bucket")]

    def __str__(self) -> str:
        return f"{self.party_id} {self.bucket} @ {self.window_start:%H:%M}: {self.count}"


class VerifySlot(models.Model):
    """One of the ``DOPPEL_VERIFY_MAX_CONCURRENT`` verifications that may run at once,
    across every server process. A request leases a free slot (``lease_until`` in the
    past) with one conditional UPDATE and frees it when done; a process that dies
    holding one loses it when the lease runs out (``gateway.limits``)."""

    slot = models.PositiveIntegerField(primary_key=True)
    holder = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField()

    def __str__(self) -> str:
        return f"verify slot {self.slot} → {self.holder or '-'} until {self.lease_until:%H:%M:%S}"


class WebhookEndpoint(models.Model):
    """A brand's URL for generation events. Its signing secret is stored sealed
    (``gateway.secretbox``: AES-GCM, bound to this row's id); ``secret`` reads and
    writes it in clear, in memory only."""

    id = models.CharField(primary_key=True, max_length=32, default=new_webhook_id, editable=False)
    brand = models.ForeignKey(Party, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    secret_sealed = models.TextField(help_text="The signing secret, encrypted (gateway.secretbox)")
    events = models.JSONField(default=list, help_text="Empty: every event")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.brand.name} → {self.url}"

    @property
    def secret(self) -> str:
        """The signing secret in clear; raises ``secretbox.SecretUnreadable`` if the key changed."""
        return secretbox.unseal(self.secret_sealed, context=self.id)

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_sealed = secretbox.seal(value, context=self.id)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last attempt


class WebhookDelivery(models.Model):
    """One event for one endpoint, with every attempt's outcome (the delivery log)."""

    id = models.CharField(primary_key=True, max_length=32, default=new_delivery_id, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    generation = models.ForeignKey(Generation, null=True, on_delete=models.CASCADE, related_name="webhooks")
    event = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    log = models.JSONField(default=list, help_text="One entry per attempt")
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        constraints = [models.UniqueConstraint(fields=["endpoint", "generation", "event"],
                                               name="webhook_event_once_per_endpoint")]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} ({self.status})"
