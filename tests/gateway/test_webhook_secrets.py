"""Webhook signing secrets are encrypted at rest (issue 10 #16): shown once at creation,
stored sealed (AES-256-GCM, bound to the endpoint's id), used in clear only to sign."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from gateway import secretbox, webhooks
from gateway.models import WebhookDelivery, WebhookEndpoint
from tests.webhook_receiver import Receiver

BEFORE = [("gateway", "0002_generation_attempt_failures")]
LATEST = [("gateway", "0005_rate_buckets_verify_slots")]


@pytest.fixture
def receiver():
    r = Receiver([])
    yield r
    r.close()


def raw_row(endpoint_id: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {WebhookEndpoint._meta.db_table} WHERE id = %s", [endpoint_id])
        columns = [c[0] for c in cursor.description]
        return dict(zip(columns, cursor.fetchone(), strict=True))


def test_the_secret_is_shown_once_and_stored_sealed(cast, settings, receiver):
    settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE = True
    resp = cast.client("brand").post("/api/v1/webhooks", {"url": receiver.url}, format="json")
    assert resp.status_code == 201
    secret = resp.json()["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    row = raw_row(resp.json()["id"])
    assert "secret" not in row  # the clear column is gone
    assert all(secret not in str(value) for value in row.values())
    assert row["secret_sealed"].startswith("v1.")
    # Never shown again: not in the list, not in admin.
    listed = cast.client("brand").get("/api/v1/webhooks").json()["results"]
    assert "secret" not in listed[0] and "secret_sealed" not in listed[0]
    # Used, in clear, to sign each delivery.
    endpoint = WebhookEndpoint.objects.get(id=resp.json()["id"])
    assert endpoint.secret == secret
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="generation.denied", payload={"id": "e"})
    assert webhooks.delivery_attempt(delivery_id=delivery.id) == "delivered"
    headers, body = receiver.received[0]
    assert webhooks.verify_signature(secret=secret, body=body, header=headers["Doppel-Signature"])


def test_sealing_is_randomised_and_bound_to_its_row():
    a = secretbox.seal("whsec_same", context="whk_a")
    assert a != secretbox.seal("whsec_same", context="whk_a")  # a fresh nonce each time
    assert secretbox.unseal(a, context="whk_a") == "whsec_same"
    with pytest.raises(secretbox.SecretUnreadable):
        secretbox.unseal(a, context="whk_b")  # copied onto another row
    version, key_id, body = a.split(".")
    tampered = f"{version}.{key_id}.{body[:-4]}{'AAAA' if body[-4:] != 'AAAA' else 'BBBB'}"
    with pytest.raises(secretbox.SecretUnreadable):
        secretbox.unseal(tampered, context="whk_a")
    for junk in ("", "whsec_clear_text", "v2.x.y", "v1.zz.!!!"):
        with pytest.raises(secretbox.SecretUnreadable):
            secretbox.unseal(junk, context="whk_a")


def test_the_key_comes_from_its_setting_or_the_secret_key(settings):
    default = secretbox.seal("s", context="c")
    settings.DOPPEL_WEBHOOK_SECRET_KEY = "a configured key of enough length"
    configured = secretbox.seal("s", context="c")
    assert default.split(".")[1] != configured.split(".")[1]  # another key id
    with pytest.raises(secretbox.SecretUnreadable, match="another key"):
        secretbox.unseal(default, context="c")
    assert secretbox.unseal(configured, context="c") == "s"


def test_a_secret_that_no_longer_decrypts_is_not_used(cast, settings, receiver):
    settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE = True
    endpoint = WebhookEndpoint.objects.create(brand=cast.brand, url=receiver.url, secret="whsec_x")
    settings.DOPPEL_WEBHOOK_SECRET_KEY = "the operator changed the key!!"
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="generation.denied", payload={"id": "e"})
    assert webhooks.delivery_attempt(delivery_id=delivery.id) == "pending"
    delivery.refresh_from_db()
    assert delivery.last_error == "secret_unreadable" and receiver.received == []


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_the_migration_seals_existing_secrets_and_unseals_on_the_way_back(cast):
    old = migrate(BEFORE)
    try:
        OldEndpoint = old.get_model("gateway", "WebhookEndpoint")
        for i in range(3):
            OldEndpoint.objects.create(id=f"whk_old{i}", brand_id=cast.brand.id, url="https://example.com/h",
                                       secret=f"whsec_clear_{i}", events=[])
    finally:
        migrate(LATEST)
    for i in range(3):
        row = raw_row(f"whk_old{i}")
        assert "secret" not in row and f"whsec_clear_{i}" not in row["secret_sealed"]
        assert WebhookEndpoint.objects.get(id=f"whk_old{i}").secret == f"whsec_clear_{i}"
    old = migrate(BEFORE)
    try:
        OldEndpoint = old.get_model("gateway", "WebhookEndpoint")
        assert OldEndpoint.objects.get(id="whk_old1").secret == "whsec_clear_1"
    finally:
        migrate(LATEST)
