"""Onboarding: landmarks once per portrait, and clear refusals for unusable images."""

from __future__ import annotations

import io
import json
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from renderer import PortraitAnalysis, PortraitError, analyze_portrait
from renderer.portrait import decode_portrait

from .conftest import jpeg


def test_astronaut_has_one_face_with_478_landmarks(analysis) -> None:
    assert analysis.landmarks.shape == (478, 3)
    x0, y0, x1, y1 = analysis.face_box
    assert 0.2 < x0 < x1 < 0.7 and 0.05 < y0 < y1 < 0.5
    # the eyes are above the mouth, the chin below it (normalised image coordinates)
    points = analysis.landmarks
    assert points[159, 1] < points[13, 1] < points[152, 1]
    assert points[33, 0] < points[263, 0]  # image-left eye corner left of the other
    assert analysis.face_height_px > 80
    assert (analysis.width, analysis.height) == (512, 512)


def test_analysis_round_trips_through_json(analysis) -> None:
    stored = json.loads(json.dumps(analysis.as_json()))
    restored = PortraitAnalysis.from_json(stored)
    assert restored.width == analysis.width and restored.height == analysis.height
    assert np.allclose(restored.landmarks, analysis.landmarks, atol=1e-5)
    assert restored.face_box == pytest.approx(analysis.face_box, abs=1e-5)
    assert restored.image_sha256 == analysis.image_sha256


def test_stored_landmarks_in_a_wrong_shape_are_refused(analysis) -> None:
    broken = analysis.as_json() | {"landmarks": [[0.1, 0.2, 0.0]] * 10}
    with pytest.raises(PortraitError) as caught:
        PortraitAnalysis.from_json(broken)
    assert caught.value.code == "invalid_landmarks"
    with pytest.raises(PortraitError):
        PortraitAnalysis.from_json({"format": 1})


def _error_code(image: bytes) -> str:
    with pytest.raises(PortraitError) as caught:
        analyze_portrait(image)
    assert caught.value.message and str(caught.value) == caught.value.message
    return caught.value.code


def test_non_images_are_refused(portrait: bytes) -> None:
    assert _error_code(b"definitely not an image") == "not_an_image"
    assert _error_code(b"") == "not_an_image"
    assert _error_code(portrait[: len(portrait) // 3]) == "not_an_image"  # truncated JPEG


def test_a_photo_without_a_face_is_refused() -> None:
    from skimage import data

    assert _error_code(jpeg(data.coffee())) == "no_face"


def test_two_people_are_refused(astronaut: np.ndarray) -> None:
    assert _error_code(jpeg(np.concatenate([astronaut, astronaut], axis=1))) == "multiple_faces"


def test_a_face_too_small_is_refused(astronaut: np.ndarray) -> None:
    small = np.asarray(Image.fromarray(astronaut).resize((200, 200), Image.Resampling.LANCZOS))
    assert _error_code(jpeg(small)) == "face_too_small"


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that *claims* to be huge (a decompression bomb shape) with almost no data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def test_oversized_images_are_refused_before_decoding() -> None:
    bomb = _png_header_only(20_000, 20_000)  # 400 megapixels in 100 bytes
    started = time.perf_counter()
    assert _error_code(bomb) == "image_too_large"
    assert time.perf_counter() - started < 0.5
    assert _error_code(_png_header_only(8_000, 6_000)) == "image_too_large"  # 48 MP > 40 MP


def test_exif_orientation_is_applied(astronaut: np.ndarray, analysis) -> None:
    # Store the photo rotated, with an EXIF tag saying how to turn it upright.
    rotated = Image.fromarray(np.rot90(astronaut, k=-1))  # rotated 90° clockwise
    exif = Image.Exif()
    exif[0x0112] = 8  # "rotate 90° counter-clockwise to display"
    buffer = io.BytesIO()
    rotated.save(buffer, format="JPEG", quality=92, exif=exif)
    upright = decode_portrait(buffer.getvalue())
    assert upright.shape == astronaut.shape
    assert np.abs(upright.astype(int) - astronaut.astype(int)).mean() < 6
    turned = analyze_portrait(buffer.getvalue())
    assert np.abs(turned.landmarks[:, :2] - analysis.landmarks[:, :2]).max() < 0.02


def test_transparent_png_is_flattened_on_white(astronaut: np.ndarray) -> None:
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    rgba[:40, :40, 3] = 0
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG")
    decoded = decode_portrait(buffer.getvalue())
    assert decoded.shape == astronaut.shape
    assert np.all(decoded[:40, :40] == 255)
