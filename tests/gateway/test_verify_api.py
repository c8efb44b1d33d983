"""POST /api/v1/verify over a real watermarked, C2PA-signed clip — and after stripping."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from gateway.models import Generation
from provenance import c2pa_io, watermark
from tests.factories import make_contract

URL = "/api/v1/verify"


def encode(frames: np.ndarray, *, fmt: str = "mp4", crf: int = 18, scale: float = 1.0) -> bytes:
    buf = io.BytesIO()
    out = av.open(buf, mode="w", format=fmt)
    h, w = int(frames.shape[1] * scale) // 2 * 2, int(frames.shape[2] * scale) // 2 * 2
    stream = out.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    stream.options = {"crf": str(crf), "preset": "veryfast"}
    for frame in frames:
        vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
        if scale != 1.0:
            vf = vf.reformat(width=w, height=h)
        for packet in stream.encode(vf):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return buf.getvalue()


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
    contract = make_contract(cast.brand, cast.performer)
    return Generation.objects.create(
        contract=contract, brand=cast.brand, performer=cast.performer, script="x", platform="tiktok",
        category="food", language="en", territory="US", profile="vertical_720x1280", status="queued",
        watermark_payload=watermark.new_payload())


@pytest.fixture
def signed_clip(frames, generation):
    marked = watermark.embed_frames(frames.copy(), generation.watermark_payload)
    mp4 = encode(marked)
    return c2pa_io.sign_video(
        data=mp4, mime="video/mp4",
        license={"performer": generation.performer_id, "brand": generation.brand_id,
                 "contract": generation.contract_id, "generation": generation.id, "platform": "tiktok",
                 "category": "food", "language": "en", "territory": "US", "ledger_transaction": None},
        watermark=watermark.soft_binding(generation.watermark_payload))


def upload(client, data: bytes, name: str = "clip.mp4", **extra):
    return client.post(URL, {"file": SimpleUploadedFile(name, data), **extra}, format="multipart")


def test_signed_clip_is_trusted_and_identified(cast, generation, signed_clip):
    resp = upload(cast.client("other_brand"), signed_clip)  # anyone with a key may verify
    assert resp.status_code == 200, resp.content
    report = resp.json()
    assert report["c2pa"]["state"] == "Trusted"
    assert report["c2pa"]["license"]["generation"] == generation.id
    assert report["watermark"]["found"] and report["watermark"]["generation"] == generation.id
    assert report["generation"] == {**report["generation"], "id": generation.id, "contract": generation.contract_id,
                                    "performer": generation.performer_id, "brand": generation.brand_id,
                                    "status": "queued"}


def test_a_stripped_reencoded_downscaled_clip_is_still_identified(cast, generation, frames):
    marked = watermark.embed_frames(frames.copy(), generation.watermark_payload)
    stripped = encode(marked, crf=30, scale=0.5)  # what a re-uploader produces: no manifest left
    report = upload(cast.client("union"), stripped).json()
    assert report["c2pa"]["state"] == "NoManifest"
    assert report["watermark"]["found"]
    assert report["generation"]["id"] == generation.id


def test_an_unmarked_clip_identifies_nothing(cast, generation, frames):
    report = upload(cast.client("brand"), encode(frames)).json()
    assert report["c2pa"]["state"] == "NoManifest"
    assert report["watermark"]["found"] is False and report["generation"] is None


def test_a_tampered_clip_is_invalid(cast, signed_clip):
    data = bytearray(signed_clip)
    mdat = data.find(b"mdat")
    data[mdat + 200] ^= 0xFF
    report = upload(cast.client("brand"), bytes(data)).json()
    assert report["c2pa"]["state"] == "Invalid"
    assert any("mismatch" in f["code"] for f in report["c2pa"]["failures"]), report["c2pa"]["failures"]


def test_random_bytes_are_415(cast):
    resp = upload(cast.client("brand"), np.random.default_rng(1).bytes(5000), name="x.mp4")
    assert resp.status_code == 415
    assert resp.json()["error"]["code"] == "unsupported_media"


def test_a_truncated_clip_does_not_crash(cast, signed_clip):
    resp = upload(cast.client("brand"), signed_clip[: len(signed_clip) // 3])
    assert resp.status_code in (200, 422), resp.content
    if resp.status_code == 200:
        assert resp.json()["c2pa"]["state"] in ("Invalid", "NoManifest")
    else:
        assert resp.json()["error"]["code"] == "unreadable_media"


def test_too_large_is_413(cast, settings, signed_clip):
    settings.DOPPEL_MAX_UPLOAD_BYTES = 1024
    resp = upload(cast.client("brand"), signed_clip)
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "payload_too_large"


def test_bad_requests(cast, signed_clip):
    client = cast.client("brand")
    resp = client.post(URL, {"other": "x"}, format="multipart")
    assert resp.status_code == 400 and "file" in resp.json()["error"]["fields"]
    resp = upload(client, signed_clip, note="hi")
    assert resp.status_code == 400 and "note" in resp.json()["error"]["fields"]
    resp = client.post(URL, {"file": "x"}, format="json")
    assert resp.status_code == 415
    from tests.factories import client_for

    assert upload(client_for(None), signed_clip).status_code == 401
