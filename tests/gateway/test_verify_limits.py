"""/verify costs seconds of CPU: a per-caller rate limit and a bounded number of
verifications at once across every process (issue 10 #6, the gateway's part).

The issue's input: 8 looping clients on one key pushed other API calls from 5 ms to
p90 3.3 s. Beyond DOPPEL_VERIFY_RATE_LIMIT_PER_MINUTE requests a minute, or with
DOPPEL_VERIFY_MAX_CONCURRENT verifications already running, the answer is 429
`rate_limited` with Retry-After — before the upload is even parsed for the former.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from gateway import limits, views
from gateway.exceptions import LimitExceeded
from gateway.models import RateBucket, VerifySlot
from rights import services as rights_services
from tests.factories import client_for, make_contract

URL = "/api/v1/verify"


def junk() -> SimpleUploadedFile:
    return SimpleUploadedFile("notes.txt", b"not a picture at all", content_type="text/plain")


def verify(client):
    return client.post(URL, {"file": junk()}, format="multipart")


def assert_429(resp, *, retry_after: int | None = None) -> None:
    assert resp.status_code == 429, resp.content
    assert resp.json()["error"]["code"] == "rate_limited" and resp.json()["error"]["message"]
    assert int(resp["Retry-After"]) >= 1
    if retry_after is not None:
        assert int(resp["Retry-After"]) == retry_after


# --- the rate limit ------------------------------------------------------------------------------


def test_a_caller_beyond_the_verify_rate_gets_429_with_retry_after(cast, settings):
    settings.DOPPEL_VERIFY_RATE_LIMIT_PER_MINUTE = 3
    client = cast.client("union")
    statuses = [verify(client).status_code for _ in range(3)]
    assert 429 not in statuses
    assert_429(verify(client))
    # Counted before the upload is parsed: an empty request is refused the same way.
    assert_429(client.post(URL, {}, format="multipart"))


def test_all_keys_of_a_party_share_its_bucket_and_other_parties_keep_theirs(cast, settings):
    settings.DOPPEL_VERIFY_RATE_LIMIT_PER_MINUTE = 2
    second_key = client_for(rights_services.api_key_issue(party=cast.union, name="second").raw)
    verify(cast.client("union"))
    verify(second_key)
    assert_429(verify(cast.client("union")))
    assert_429(verify(second_key))  # minting keys does not multiply the budget
    assert verify(cast.client("other_union")).status_code != 429
    assert verify(cast.client("brand")).status_code != 429


def test_the_verify_bucket_is_separate_from_generation_requests(cast, settings):
    settings.DOPPEL_VERIFY_RATE_LIMIT_PER_MINUTE = 1
    brand = cast.client("brand")
    verify(brand)
    assert_429(verify(brand))
    contract = make_contract(cast.brand, cast.performer)
    resp = brand.post("/api/v1/generations", json.dumps({
        "contract": contract.id, "script": "Taste the summer.", "platform": "tiktok", "category": "soft_drinks",
        "language": "en", "territory": "US"}), content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1")
    assert resp.status_code == 202, resp.content


def test_windows_are_per_minute_and_retry_after_names_the_next_one(cast):
    start = timezone.now().replace(second=0, microsecond=0)
    for i in range(3):
        limits.rate_limit_hit(party=cast.union, bucket=RateBucket.VERIFY, now=start + timedelta(seconds=i), limit=3)
    with pytest.raises(LimitExceeded) as err:
        limits.rate_limit_hit(party=cast.union, bucket=RateBucket.VERIFY, now=start + timedelta(seconds=40),
                              limit=3)
    assert err.value.extra["retry_after"] == 21
    assert limits.rate_limit_hit(party=cast.union, bucket=RateBucket.VERIFY, now=start + timedelta(minutes=1),
                                 limit=3) == 1
    # The generation bucket of the same party is untouched.
    assert limits.rate_limit_hit(party=cast.union, bucket=RateBucket.GENERATIONS, now=start, limit=3) == 1


# --- bounded concurrency -----------------------------------------------------------------------------


def test_slots_bound_concurrent_verifications(db):
    now = timezone.now()
    first = limits.verify_slot_acquire(now=now, limit=2)
    second = limits.verify_slot_acquire(now=now, limit=2)
    assert first and second and first[0] != second[0]
    assert limits.verify_slot_acquire(now=now, limit=2) is None  # both busy
    limits.verify_slot_release(slot=first[0], holder="someone else", now=now)  # not theirs: no effect
    assert limits.verify_slot_acquire(now=now, limit=2) is None
    limits.verify_slot_release(slot=first[0], holder=first[1], now=now)
    third = limits.verify_slot_acquire(now=now, limit=2)
    assert third and third[0] == first[0]
    assert VerifySlot.objects.count() == 2


def test_a_slot_whose_holder_died_is_free_after_its_lease(db):
    now = timezone.now()
    assert limits.verify_slot_acquire(now=now, limit=1)
    assert limits.verify_slot_acquire(now=now + limits.VERIFY_SLOT_LEASE - timedelta(seconds=1), limit=1) is None
    assert limits.verify_slot_acquire(now=now + limits.VERIFY_SLOT_LEASE, limit=1)


def test_verify_is_429_while_every_slot_is_busy(cast, settings):
    settings.DOPPEL_VERIFY_MAX_CONCURRENT = 1
    busy = limits.verify_slot_acquire()  # another process is verifying
    assert busy
    resp = verify(cast.client("brand"))
    assert_429(resp, retry_after=limits.VERIFY_BUSY_RETRY_AFTER_S)
    assert resp.json()["error"]["limit"] == 1
    limits.verify_slot_release(slot=busy[0], holder=busy[1])
    assert verify(cast.client("brand")).status_code != 429


def test_the_slot_is_released_when_verification_fails_or_succeeds(cast, settings, monkeypatch):
    settings.DOPPEL_VERIFY_MAX_CONCURRENT = 1
    for _ in range(3):  # unreadable media: an error answer, and the slot is free again
        assert verify(cast.client("brand")).status_code in (415, 422)

    def crash(**kwargs):
        raise RuntimeError("decoder crashed")

    monkeypatch.setattr(views, "verify_file", crash)
    client = cast.client("brand")
    client.raise_request_exception = False
    assert verify(client).status_code == 500
    assert limits.verify_slot_acquire(limit=1) is not None  # not leaked by the crash


def test_verifications_beyond_the_cap_wait_their_turn_not_the_cpu(cast, settings, monkeypatch):
    """While one slow verification runs (cap 1), a second caller is refused at once."""
    settings.DOPPEL_VERIFY_MAX_CONCURRENT = 1
    answers = []

    def slow_verify(**kwargs):
        started = time.monotonic()
        answers.append(verify(cast.client("other_union")))  # arrives while this one runs
        answers.append(time.monotonic() - started)
        return {"media": {}, "c2pa": {}, "watermark": {}, "generation": None, "summary": "stub"}

    monkeypatch.setattr(views, "verify_file", slow_verify)
    assert verify(cast.client("union")).status_code == 200
    refused, waited = answers
    assert_429(refused)
    assert waited < 2  # refused immediately, no decoding
