"""Portraits as phones and editors make them (issue 10 item 7): 16-bit greyscale, 48 MP,
WebP / GIF / AVIF / HEIC — and the same header checks as every other media path."""

from __future__ import annotations

import io
import resource
import time

import numpy as np
import pytest
from PIL import Image

import intake
from renderer import PortraitError, analyze_portrait
from renderer import portrait as portrait_module
from renderer.portrait import decode_portrait
from tests.provenance import bombs


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _heic(image: Image.Image) -> bytes:
    pillow_heif = pytest.importorskip("pillow_heif")
    buffer = io.BytesIO()
    pillow_heif.from_pillow(image).save(buffer, quality=90)
    return buffer.getvalue()


def _code(image: bytes) -> tuple[str, str]:
    with pytest.raises(PortraitError) as caught:
        analyze_portrait(image)
    return caught.value.code, caught.value.message


def test_a_16_bit_greyscale_png_is_scaled_not_clipped(astronaut: np.ndarray) -> None:
    grey = np.asarray(Image.fromarray(astronaut).convert("L"))
    sixteen = grey.astype(np.uint16) * 257  # the full 16-bit range, as a scanner writes it
    png = _encode(Image.fromarray(sixteen), "PNG")
    assert Image.open(io.BytesIO(png)).mode.startswith("I;16")
    decoded = decode_portrait(png)
    assert np.abs(decoded[..., 0].astype(int) - grey.astype(int)).max() <= 1  # not near-white
    analysis = analyze_portrait(png)
    assert analysis.landmarks.shape == (478, 3) and (analysis.width, analysis.height) == (512, 512)


def test_a_48_megapixel_phone_photo_is_downscaled_in_the_decoder(astronaut: np.ndarray) -> None:
    big = Image.fromarray(astronaut).resize((8000, 6000), Image.Resampling.BILINEAR)
    photo = _encode(big, "JPEG", quality=85)
    del big
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    analysis = analyze_portrait(photo)
    elapsed = time.perf_counter() - started
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert (analysis.width, analysis.height) == (8000, 6000)
    assert analysis.landmarks.shape == (478, 3)
    assert elapsed < 10 and grown_mb < 150  # decoded at 1/2 scale by libjpeg, not 144 MB of RGB
    # Without max_side, the budget alone decides: 48 MP > 40 MP, so libjpeg decodes at 1/2.
    assert decode_portrait(photo).shape == (3000, 4000, 3)


@pytest.mark.parametrize("fmt", ["WEBP", "GIF", "AVIF", "HEIC"])
def test_webp_gif_avif_and_heic_portraits_are_read(astronaut: np.ndarray, fmt: str) -> None:
    image = Image.fromarray(astronaut)
    data = _heic(image) if fmt == "HEIC" else _encode(image, fmt)
    media_type = intake.sniff(data)
    assert media_type is not None and media_type.name.upper() == fmt
    decoded = decode_portrait(data)
    assert decoded.shape == astronaut.shape
    assert np.abs(decoded.astype(int) - astronaut.astype(int)).mean() < (25 if fmt == "GIF" else 8)
    assert analyze_portrait(data).landmarks.shape == (478, 3)


def test_heic_without_its_decoder_is_named(astronaut: np.ndarray, monkeypatch) -> None:
    data = _heic(Image.fromarray(astronaut))
    monkeypatch.setattr(portrait_module, "_heif_opener", lambda: False)
    code, message = _code(data)
    assert code == "not_an_image" and "HEIC" in message


def test_formats_we_do_not_take_are_named(astronaut: np.ndarray) -> None:
    tiff = _encode(Image.fromarray(astronaut), "TIFF")
    code, message = _code(tiff)
    assert code == "not_an_image" and "TIFF" in message and "HEIC" in message  # what to send instead


def test_the_type_comes_from_the_bytes_not_pillows_guess(astronaut: np.ndarray) -> None:
    """Bytes that start like a PNG but hold a JPEG are a broken PNG, not a JPEG."""
    jpeg = _encode(Image.fromarray(astronaut), "JPEG")
    code, message = _code(bombs.PNG_SIGNATURE + jpeg)
    assert code == "not_an_image" and "PNG" in message


@pytest.mark.parametrize("bomb,code", [
    (bombs.png_huge_chunk(), "not_an_image"),
    (bombs.png(30000, 30000), "image_too_large"),
    (bombs.jpeg(30000, 30000), "image_too_large"),
    (bombs.jpeg(16000, 10000), "image_too_large"),  # 160 MP: over even the reduced-scale budget
    (bombs.jpeg(9000, 6000, progressive=True), "image_too_large"),  # must be decoded whole
    (bombs.gif(30000, 30000), "image_too_large"),
    (bombs.webp(16000, 16000), "image_too_large"),
    (bombs.jpeg_scan_bomb(), "image_too_large"),
])
def test_portrait_bombs_are_refused_from_the_header(bomb: bytes, code: str) -> None:
    started = time.perf_counter()
    assert _code(bomb)[0] == code
    assert time.perf_counter() - started < 0.1
