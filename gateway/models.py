"""Generations (every use of a likeness, allowed or denied), idempotency records,
rate-limit windows and outgoing webhooks."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

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
    attempts = models.PositiveIntegerField(default=0)
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


class RateWindow(models.Model):
    """A fixed-window request counter per brand (shared by every server process)."""

    brand = models.ForeignKey(Party, on_delete=models.CASCADE)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["brand", "window_start"], name="rate_window_once")]

    def __str__(self) -> str:
        return f"{self.brand_id} @ {self.window_start:%H:%M}: {self.count}"


class WebhookEndpoint(models.Model):
    id = models.CharField(primary_key=True, max_length=32, default=new_webhook_id, editable=False)
    brand = models.ForeignKey(Party, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    secret = models.CharField(max_length=100)
    events = models.JSONField(default=list, help_text="Empty: every event")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.brand.name} → {self.url}"


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
