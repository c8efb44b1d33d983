"""Portrait uploads through the media intake (issue 10 item 7): the stored file is named by the
type its bytes are, HEIC is decoded, and bombs or unknown formats never reach the renderer."""

from __future__ import annotations

import hashlib
import io
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

import renderer
from rights import services
from rights.models import PartyKind
from tests.provenance import bombs


@pytest.fixture(scope="module")
def astronaut_image() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())


def _encode(image: Image.Image, fmt: str) -> bytes:
    if fmt == "HEIC":
        pillow_heif = pytest.importorskip("pillow_heif")
        buffer = io.BytesIO()
        pillow_heif.from_pillow(image).save(buffer, quality=90)
        return buffer.getvalue()
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _upload(cast, data: bytes, name: str):
    return cast.client("performer").post(
        "/api/v1/parties/me/portrait", data={"portrait": SimpleUploadedFile(name, data)},
        format="multipart")


@pytest.mark.parametrize("fmt,suffix", [("WEBP", ".webp"), ("GIF", ".gif"), ("HEIC", ".heic")])
def test_a_portrait_is_stored_under_the_type_its_bytes_are(cast, astronaut_image, fmt, suffix):
    data = _encode(astronaut_image, fmt)
    resp = _upload(cast, data, "portrait.jpg")  # the client's name and type count for nothing
    assert resp.status_code == 200, resp.content
    cast.performer.refresh_from_db()
    assert cast.performer.portrait.name.endswith(suffix)
    assert cast.performer.portrait.read() == data  # stored as uploaded: the hash is its identity
    assert cast.performer.portrait_sha256 == hashlib.sha256(data).hexdigest()
    assert len(cast.performer.landmarks["landmarks"]) == 478


def test_a_performer_created_with_a_webp_portrait(db, astronaut_image):
    data = _encode(astronaut_image, "WEBP")
    party, _ = services.party_create(kind=PartyKind.PERFORMER, name="Ava", portrait=data)
    assert party.portrait.name.endswith(".webp") and party.landmarks


@pytest.mark.parametrize("bomb,reason", [
    (bombs.png_huge_chunk(), "not_an_image"),
    (bombs.jpeg(30000, 30000), "image_too_large"),
    (bombs.png(12000, 12000), "image_too_large"),
])
def test_bombs_are_refused_before_the_renderer(cast, monkeypatch, bomb, reason):
    def never(image):
        raise AssertionError("the renderer must not see this upload")

    monkeypatch.setattr(renderer, "analyze_portrait", never)
    started = time.perf_counter()
    resp = _upload(cast, bomb, "x.png")
    assert time.perf_counter() - started < 1.0
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["reason"] == reason and error["fields"]["portrait"]
    cast.performer.refresh_from_db()
    assert not cast.performer.portrait_sha256


def test_an_unaccepted_format_is_named_with_what_to_send(cast, astronaut_image):
    resp = _upload(cast, _encode(astronaut_image, "TIFF"), "face.jpg")
    assert resp.status_code == 400
    error = resp.json()["error"]
    message = error["fields"]["portrait"][0]
    assert error["reason"] == "not_an_image" and "TIFF" in message and "JPEG" in message
