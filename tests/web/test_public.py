"""The public verify page (/verify/): the real verify pipeline (C2PA signing, watermark),
explained in words; bad uploads get a message, never a 500; rate-limited per address."""

from __future__ import annotations

import time

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, RequestFactory
from django.urls import reverse

from gateway.exceptions import LimitExceeded
from gateway.models import Generation
from provenance import c2pa_io, watermark
from tests.gateway.test_verify_api import encode
from tests.provenance import bombs

URL = "/verify/"


@pytest.fixture(scope="module")
def frames():
    from skimage import data
    from skimage.transform import resize

    face = (resize(data.astronaut(), (720, 720), anti_aliasing=True) * 255).astype(np.uint8)
    canvas = np.full((30, 1280, 720, 3), 40, np.uint8)
    for i in range(len(canvas)):
        canvas[i, 280 + (i % 5):1000 + (i % 5)] = face
    return canvas


@pytest.fixture
def generation(cast):
    return Generation.objects.create(
        contract=cast.contract, brand=cast.brand, performer=cast.performer, script="x", platform="tiktok",
        category="food", language="en", territory="US", profile="vertical_720x1280", status="queued",
        watermark_payload=watermark.new_payload())


@pytest.fixture
def marked(frames, generation):
    return watermark.embed_frames(frames.copy(), generation.watermark_payload)


@pytest.fixture
def signed_clip(marked, generation):
    return c2pa_io.sign_video(
        data=encode(marked), mime="video/mp4",
        license={"performer": generation.performer_id, "brand": generation.brand_id,
                 "contract": generation.contract_id, "generation": generation.id, "platform": "tiktok",
                 "category": "food", "language": "en", "territory": "US", "ledger_transaction": None},
        watermark=watermark.soft_binding(generation.watermark_payload))


def post(client: Client, data: bytes, name: str = "clip.mp4", **extra):
    return client.post(URL, {"file": SimpleUploadedFile(name, data), **extra})


def text(resp) -> str:
    import re

    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", resp.content.decode()))


def test_the_page_opens_without_signing_in(db):
    resp = Client().get(reverse("web:verify"))
    assert resp.status_code == 200
    body = resp.content.decode()
    assert 'enctype="multipart/form-data"' in body and 'name="csrfmiddlewaretoken"' in body
    assert '<label for="id_file">' in body


def test_a_signed_clip_is_proof_with_the_licence_in_words(cast, generation, signed_clip):
    resp = post(Client(), signed_clip)
    assert resp.status_code == 200, resp.content[:2000]
    page = text(resp)
    assert "Proof: this file carries valid Content Credentials signed by Doppel" in page
    assert "Yes: valid Content Credentials from Doppel" in page and "issuer trusted" in page
    assert "Yes: Doppel's watermark traces this picture to a licensed generation" in page
    assert cast.performer.name in page and cast.brand.name in page
    assert "This licence allowed TikTok and YouTube only." in page
    assert "Territories allowed CA and US" in page and "Languages allowed en" in page, page
    assert "Never for gambling and sexual health" in page
    assert generation.id in page


def test_a_stripped_reencode_is_a_trace_not_proof(cast, generation, marked):
    stripped = encode(marked, crf=30, scale=0.5)  # what a re-uploader produces: no manifest left
    resp = post(Client(), stripped, name="reupload.mp4")
    assert resp.status_code == 200
    page = text(resp)
    assert "A trace, not proof" in page
    assert "No: this file carries no Content Credentials" in page
    assert "confidence" in page and "Yes: Doppel's watermark traces this picture" in page
    assert "This licence allowed TikTok and YouTube only." in page
    assert cast.performer.name in page and cast.brand.name in page


def test_an_unmarked_clip_links_to_nothing(db, frames):
    page = text(post(Client(), encode(frames[:10])))
    assert "Nothing links this file to Doppel" in page and "No Doppel watermark found." in page
    assert "licence allowed" not in page


def test_a_never_delivered_generation_is_said_so(cast, generation, marked):
    # (a delivered one, with its ledger transaction, is in tests/browser: the real pipeline)
    page = text(post(Client(), encode(marked, crf=30, scale=0.5)))
    assert "Doppel never delivered this generation" in page


@pytest.mark.parametrize("data,name,status,words", [
    (np.random.default_rng(1).bytes(5000), "x.mp4", 415, "not a video or picture we can check"),
    (bombs.png(60000, 60000), "bomb.png", 413, "too big or too heavy"),
    (bombs.mp4(width=30000, height=30000), "bomb.mp4", None, "not checked"),
])
def test_bad_uploads_get_a_message_not_a_500(db, data, name, status, words):
    resp = post(Client(), data, name=name)
    assert resp.status_code in ({status} if status else {413, 415, 422}), resp.content[:500]
    page = text(resp)
    assert words in page or "too big" in page, page[-1500:]
    assert 'class="error"' in resp.content.decode()


def test_an_empty_file_and_no_file(db):
    resp = post(Client(), b"", name="empty.mp4")
    assert resp.status_code == 400 and "The file is empty." in text(resp)
    resp = Client().post(URL, {})
    assert resp.status_code == 400 and "Choose a file to check." in text(resp)


def test_too_big_is_refused_before_decoding(db, settings, signed_clip):
    settings.DOPPEL_MAX_UPLOAD_BYTES = 4096
    resp = post(Client(), signed_clip)
    assert resp.status_code == 413
    assert "The file is too big" in text(resp)


def test_the_upload_is_csrf_protected(db, signed_clip):
    resp = post(Client(enforce_csrf_checks=True), signed_clip)
    assert resp.status_code == 403


def test_rate_limited_per_address(db, settings, frames):
    settings.DOPPEL_VERIFY_RATE_LIMIT_PER_MINUTE = 2
    clip = b"not a video at all"
    a = Client(REMOTE_ADDR="203.0.113.7")
    assert post(a, clip).status_code == 415
    assert post(a, clip).status_code == 415
    resp = post(a, clip)
    assert resp.status_code == 429 and int(resp["Retry-After"]) >= 1
    assert "Too many checks." in text(resp)
    # Another address has its own budget.
    assert post(Client(REMOTE_ADDR="203.0.113.8"), clip).status_code == 415


def test_all_verification_slots_busy_is_a_429_page(db, settings, signed_clip):
    from gateway import limits

    settings.DOPPEL_VERIFY_MAX_CONCURRENT = 1
    with limits.verify_slot():  # another process holds the only slot
        resp = post(Client(), signed_clip)
    assert resp.status_code == 429 and "verifications are already running" in text(resp)
    assert post(Client(), signed_clip).status_code == 200  # freed


def test_an_oversized_body_is_refused_before_it_is_parsed(db, settings):
    settings.DOPPEL_MAX_UPLOAD_BYTES = 4096
    body = b"x" * (200 * 1024)
    # A CSRF-enforcing client without a token: the size refusal (413) comes first, so the
    # upload was never parsed (CSRF's check would have read the multipart body).
    resp = Client(enforce_csrf_checks=True).post(URL, {"file": SimpleUploadedFile("big.mp4", body)})
    assert resp.status_code == 413 and "The file is too big" in text(resp)


def test_the_per_address_window_is_shared_by_every_server_process(db, settings):
    """The count is a database row: what another server process counted for this address
    this minute counts here too; old windows are dropped when a new one opens."""
    from datetime import UTC, datetime, timedelta

    from web.models import AddressWindow
    from web.views.public import client_key, rate_limit_hit

    settings.DOPPEL_VERIFY_RATE_LIMIT_PER_MINUTE = 3
    request = RequestFactory().post("/verify/", REMOTE_ADDR="198.51.100.23")
    now = time.time()
    start = datetime.fromtimestamp(int(now // 60) * 60, tz=UTC)
    stale = AddressWindow.objects.create(subject="verify:old", window_start=start - timedelta(hours=1), count=9)
    AddressWindow.objects.create(subject=f"verify:{client_key(request)}", window_start=start, count=3)
    with pytest.raises(LimitExceeded):
        rate_limit_hit(request, now=now)  # the other process's 3 + this one > 3
    rate_limit_hit(request, now=now + 60)  # the next minute: a new window, allowed
    assert not AddressWindow.objects.filter(pk=stale.pk).exists()
    other = RequestFactory().post("/verify/", REMOTE_ADDR="198.51.100.24")
    rate_limit_hit(other, now=now)
