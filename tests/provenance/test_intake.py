"""Media intake (issue 10 items 5 and 6): every bomb kind is refused from its header, fast
and small, with the right code — measured in a separate process, peak RSS included."""

from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

import intake
from provenance import media, verify
from provenance import watermark as wm
from tests.provenance import bombs, synthetic

ROOT = Path(__file__).resolve().parents[2]
MAX_GROWTH_BYTES = 300 * 1024 * 1024  # the budget for any input to /verify
MAX_REFUSAL_SECONDS = 0.1

# name -> (builder, expected code). Each one declares far more than it holds.
BOMBS = {
    "png_huge_chunk": (bombs.png_huge_chunk, "unreadable_media"),  # 32 bytes claiming 2 GB
    "png_huge_ihdr_side": (lambda: bombs.png(30000, 30000), "payload_too_large"),
    "png_huge_ihdr_pixels": (lambda: bombs.png(12000, 12000), "payload_too_large"),
    "jpeg_huge_sof": (lambda: bombs.jpeg(30000, 30000), "payload_too_large"),  # the 333-byte one
    "jpeg_baseline_pixels": (lambda: bombs.jpeg(16000, 10000), "payload_too_large"),
    "jpeg_progressive_pixels": (lambda: bombs.jpeg(12000, 12000, progressive=True), "payload_too_large"),
    "jpeg_scan_bomb": (bombs.jpeg_scan_bomb, "payload_too_large"),
    "gif_huge": (lambda: bombs.gif(30000, 30000), "unsupported_media"),  # not a /verify format
    "webp_huge": (lambda: bombs.webp(16000, 16000), "unsupported_media"),
    "mp4_huge_tkhd": (lambda: bombs.mp4(tkhd_size=(8192, 8192)), "payload_too_large"),
    "mp4_huge_stsd": (lambda: bombs.mp4(width=8192, height=8192), "payload_too_large"),
    "mov_huge_tkhd": (lambda: bombs.mp4(tkhd_size=(8192, 8192), brand=b"qt  "), "payload_too_large"),
    "mp4_sps_larger_than_container": (lambda: bombs.mp4(sps=bombs.h264_sps(8192, 8192)), "payload_too_large"),
    "mp4_uhd_16_reference_frames": (
        lambda: bombs.mp4(width=3840, height=2160, sps=bombs.h264_sps(3840, 2160, refs=16)),
        "payload_too_large"),
    "mp4_uhd_10bit_444": (
        lambda: bombs.mp4(width=3840, height=2160,
                          sps=bombs.h264_sps(3840, 2160, profile=244, chroma=3, bit_depth=10)),
        "payload_too_large"),
    "mp4_billions_of_samples": (
        lambda: bombs.mp4(samples=4_000_000_000, constant_sample_size=1), "payload_too_large"),
    "mp4_frames_x_pixels": (
        lambda: bombs.mp4(width=3840, height=2160, samples=5000, constant_sample_size=1, duration=200_000),
        "payload_too_large"),
    "mp4_absurd_duration": (lambda: bombs.mp4(duration=2**32 - 2, timescale=1), "payload_too_large"),
    "webm_huge_dimensions": (lambda: bombs.webm(8192, 8192), "payload_too_large"),
    "mkv_huge_dimensions": (lambda: bombs.webm(8192, 4320, doctype=b"matroska"), "payload_too_large"),
    "webm_frames_x_pixels": (
        lambda: bombs.webm(3840, 2160, duration_ms=600_000, default_duration_ns=1_000_000),
        "payload_too_large"),
    "png_chunk_flood": (lambda: bombs.png_flood(50_001), "payload_too_large"),
    "mp4_box_flood": (lambda: bombs.mp4() + bombs.box(b"free") * 50_001, "payload_too_large"),
    "webm_absurd_duration": (
        lambda: bombs.webm(64, 64, duration_ms=1e12, default_duration_ns=None), "payload_too_large"),
}

_MEASURE = r"""
import json, os, resource, sys, time
import django
django.setup()
import av, c2pa, cv2, psutil  # the decoders /verify loads, imported before measuring
from provenance import media, verify
verify.register_payload_resolver(None)  # no database here: a found watermark names nothing
process = psutil.Process()


def reset_peak():
    # Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS.
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def peak():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


results = {}
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    exact = reset_peak()
    before = process.memory_info().rss
    started = time.perf_counter()
    try:
        verify.verify_file(data=data)
        code = None
    except media.MediaError as exc:
        code = exc.code
    seconds = time.perf_counter() - started
    # With the peak reset this is the call's own growth; without, an upper bound of it.
    results[os.path.basename(path)] = {"code": code, "seconds": seconds, "exact": exact,
                                       "growth": max(0, peak() - before)}
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """Every bomb through verify_file in one fresh process: code, seconds, peak RSS growth."""
    folder = tmp_path_factory.mktemp("bombs")
    paths = []
    for name, (build, _) in BOMBS.items():
        path = folder / name
        path.write_bytes(build())
        paths.append(str(path))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings",
           "DOPPEL_DATA_DIR": str(tmp_path_factory.mktemp("data"))}
    done = subprocess.run([sys.executable, "-c", _MEASURE, *paths], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_every_bomb_kind_is_refused_fast_and_small(measured, name):
    result = measured[name]
    assert result["code"] == BOMBS[name][1], result
    assert result["seconds"] <= MAX_REFUSAL_SECONDS, result
    assert result["growth"] <= MAX_GROWTH_BYTES, result


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_the_intake_itself_refuses_each_bomb(name):
    build, code = BOMBS[name]
    with pytest.raises(intake.MediaError) as caught:
        intake.inspect(build(), limits=intake.VERIFY)
    assert caught.value.code == code and caught.value.message


def test_refusals_say_why():
    with pytest.raises(intake.MediaTooLarge, match="30000×30000"):
        intake.inspect(bombs.jpeg(30000, 30000), limits=intake.VERIFY)
    with pytest.raises(intake.UnreadableMedia, match="2147483647 bytes"):
        intake.inspect(bombs.png_huge_chunk(), limits=intake.VERIFY)
    with pytest.raises(intake.UnsupportedMedia, match="GIF files are not accepted here"):
        intake.inspect(bombs.gif(10, 10), limits=intake.VERIFY)
    with pytest.raises(intake.MediaTooLarge, match="16 reference|21 frames"):
        intake.inspect(bombs.mp4(width=3840, height=2160, sps=bombs.h264_sps(3840, 2160, refs=16)),
                       limits=intake.VERIFY)
    with pytest.raises(intake.MediaTooLarge, match="gigapixels"):
        intake.inspect(BOMBS["mp4_frames_x_pixels"][0](), limits=intake.VERIFY)


# --- what passes, and what it declares --------------------------------------------------------


def _clip(width: int, height: int, *, codec: str = "libx264", fmt: str = "mp4", count: int = 6,
          options: dict | None = None) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = options or {}
        rng = np.random.default_rng(0)
        for _ in range(count):
            frame = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue()


def test_real_videos_are_read_without_decoding():
    mp4 = intake.inspect(_clip(320, 240, options={"preset": "ultrafast", "x264-params": "ref=3"}),
                         limits=intake.VERIFY)
    assert (mp4.type, mp4.width, mp4.height, mp4.frames) == (intake.MP4, 320, 240, 6)
    assert mp4.codec.codec == "h264" and mp4.codec.declared and mp4.codec.bit_depth == 8
    assert 3 <= mp4.codec.dpb_frames <= 6 and mp4.duration_s == pytest.approx(0.24, abs=0.05)
    mov = intake.inspect(_clip(320, 240, fmt="mov", options={"preset": "ultrafast"}), limits=intake.VERIFY)
    assert (mov.type, mov.width, mov.height) == (intake.MOV, 320, 240)
    webm = intake.inspect(_clip(160, 96, codec="libvpx", fmt="webm"), limits=intake.VERIFY)
    assert (webm.type, webm.width, webm.height, webm.codec.codec) == (intake.WEBM, 160, 96, "vp8")


def test_real_images_are_read_without_decoding():
    picture = Image.new("RGB", (640, 480), (10, 20, 30))
    for fmt, media_type in (("JPEG", intake.JPEG), ("PNG", intake.PNG), ("GIF", intake.GIF),
                            ("WEBP", intake.WEBP), ("AVIF", intake.AVIF)):
        buffer = io.BytesIO()
        picture.save(buffer, format=fmt)
        info = intake.inspect(buffer.getvalue(), limits=intake.PORTRAIT)
        assert (info.type, info.width, info.height) == (media_type, 640, 480), fmt
    progressive = io.BytesIO()
    picture.save(progressive, format="JPEG", progressive=True)
    info = intake.inspect(progressive.getvalue(), limits=intake.PORTRAIT)
    assert not info.downscalable and info.coefficient_bytes >= 640 * 480 * 3 and info.scans > 1


def test_sniffing_covers_every_type_from_the_bytes():
    assert intake.sniff(b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00mif1heic") == intake.HEIC
    assert intake.sniff(b"\x00\x00\x00\x20ftypavif\x00\x00\x00\x00avifmif1") == intake.AVIF
    assert intake.sniff(b"\x00\x00\x00\x20ftypmif1\x00\x00\x00\x00mif1avif") == intake.AVIF
    assert intake.sniff(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00") == intake.MP4
    assert intake.sniff(b"GIF89a\x01\x00") == intake.GIF
    assert intake.sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == intake.WEBP
    assert intake.sniff(b"II*\x00abcd") is None and intake.describe(b"II*\x00abcd") == "TIFF"
    # /verify keeps its own, narrower view
    assert media.sniff(b"RIFF\x00\x00\x00\x00WEBP") is None and media.sniff(b"GIF89a") is None


def test_a_truncated_mp4_is_reported_not_refused(small):
    info = intake.inspect(small.mp4[: len(small.mp4) // 2], limits=intake.VERIFY)
    assert info.truncated


def test_the_intake_imports_only_the_standard_library():
    """The renderer library uses it too, so it may import nothing of the project, nor Django."""
    for path in sorted((ROOT / "intake").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top == "intake", f"{path.name} imports {name}"


# --- the decoders' own guards (streams that contradict their header) --------------------------


def _forged_webm() -> bytes:
    """A WebM whose track says 16×16 while its VP8 frames are 1280×720."""
    clip = _clip(1280, 720, codec="libvpx", fmt="webm", count=3)
    forged = clip.replace(b"\xb0\x82\x05\x00", b"\xb0\x82\x00\x10").replace(
        b"\xba\x82\x02\xd0", b"\xba\x82\x00\x10")
    assert forged != clip and intake.inspect(forged, limits=intake.VERIFY).pixels == 256
    return forged


def test_frames_beyond_the_budget_the_header_was_admitted_under_are_refused(monkeypatch):
    # Budget scaled down so that 1280×720 frames are what 4K frames are to the real one.
    monkeypatch.setattr(media, "VERIFY_LIMITS", replace(intake.VERIFY, max_decoder_bytes=4 * 2**20))
    with pytest.raises(media.MediaTooLarge, match="the header declared 16×16"):
        verify.verify_file(data=_forged_webm())


def test_frames_larger_than_declared_but_within_budget_are_decoded():
    """WebRTC recordings change resolution mid-stream: that alone is no reason to refuse."""
    report = verify.verify_file(data=_forged_webm())
    assert report["media"]["mime"] == "video/webm" and report["watermark"]["frames_used"] > 0


def test_decoding_stops_at_the_pixel_budget():
    class Frame:
        width, height, planes = 100, 100, ()

    check = media._frame_guard(intake.MediaInfo(type=intake.MP4, width=0, height=0))
    decoded = list(media._budgeted(iter([Frame()] * 1000), check, budget=100 * 100 * 10))
    assert len(decoded) == 10


def test_a_clip_over_the_sequential_budget_is_sampled_by_seeking(monkeypatch, vertical):
    monkeypatch.setattr(media, "SEQUENTIAL_MAX_PIXELS", 1)
    result = wm.detect_video(data=vertical.mp4)
    assert result.found and result.payload == vertical.payload


# --- over HTTP: the codes map to 413 / 415 / 422 with the API error body ----------------------


@pytest.mark.parametrize("name,status", [
    ("png_huge_chunk", 422), ("jpeg_huge_sof", 413), ("mp4_huge_tkhd", 413),
    ("webm_huge_dimensions", 413), ("gif_huge", 415),
])
def test_verify_api_refuses_bombs_with_the_right_status(cast, name, status):
    build, code = BOMBS[name]
    response = cast.client("brand").post(
        "/api/v1/verify", {"file": SimpleUploadedFile("upload.bin", build())}, format="multipart")
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and error["fields"]["file"]


@pytest.mark.slow
def test_accepted_clips_up_to_4k_stay_within_the_memory_budget(tmp_path):
    """Issue 10 item 5: *any* input to /verify grows the worker by at most 300 MB — the
    accepted ones too (the detector's fold once enlarged a 1080p residual to 460 MB)."""
    paths = []
    for name, (width, height) in {"v720.mp4": (720, 1280), "v1080.mp4": (1920, 1080),
                                  "v4k.mp4": (3840, 2160)}.items():
        path = tmp_path / name
        path.write_bytes(synthetic.pattern_clip(width, height))
        paths.append(str(path))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings", "DOPPEL_DATA_DIR": str(tmp_path / "data")}
    for path in paths:  # one fresh process each: the first call, cold, is the worst case
        done = subprocess.run([sys.executable, "-c", _MEASURE, path], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])[Path(path).name]
        assert result["code"] is None, result
        assert result["growth"] <= 300 * 2**20, (path, result["growth"] / 2**20)
