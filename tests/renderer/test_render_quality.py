"""The issue's objective quality checks, on real renders decoded back with PyAV."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest

from renderer import PROFILES

from .conftest import ENGLISH_SCRIPT


def _best_lagged_r(a: np.ndarray, b: np.ndarray, *, max_lag: int = 2) -> float:
    best = -1.0
    for lag in range(-max_lag, max_lag + 1):
        x, y = (a[: len(a) - lag], b[lag:]) if lag >= 0 else (a[-lag:], b[: len(b) + lag])
        best = max(best, float(np.corrcoef(x, y)[0, 1]))
    return best


def _envelope(audio: np.ndarray, *, rate: int, fps: float, frames: int) -> np.ndarray:
    """Loudness per video frame computed from the decoded AAC, independently of the renderer."""
    hop = rate / fps
    out = np.zeros(frames)
    for i in range(frames):
        chunk = audio[int(i * hop) : int((i + 1) * hop)]
        out[i] = np.sqrt(np.mean(chunk.astype(np.float64) ** 2)) if chunk.size else 0.0
    return out


def test_mp4_is_h264_aac_faststart_at_the_profile_size(english, english_decoded) -> None:
    result, _ = english
    decoded = english_decoded
    assert (decoded.video_codec, decoded.audio_codec, decoded.pix_fmt) == ("h264", "aac", "yuv420p")
    assert decoded.frames.shape[1:] == (1280, 720, 3)
    assert (result.width, result.height, result.fps) == (720, 1280, 25)
    assert decoded.fps == 25
    # faststart: the moov box comes before the media data.
    assert 0 < result.mp4.find(b"moov") < result.mp4.find(b"mdat")
    assert result.device == "cpu"


def test_frame_count_matches_duration_times_fps(english, english_decoded) -> None:
    result, _ = english
    frames = len(english_decoded.frames)
    assert frames == result.frames
    assert abs(frames - english_decoded.container_duration_s * 25) <= 1
    assert abs(frames - result.duration_s * result.fps) <= 1


def test_audio_and_video_durations_match_within_50_ms(english, english_decoded) -> None:
    result, _ = english
    decoded = english_decoded
    decoded_audio_s = len(decoded.audio) / decoded.audio_rate
    assert abs(decoded.video_duration_s - decoded.audio_duration_s) < 0.05
    assert abs(decoded_audio_s - decoded.video_duration_s) < 0.05
    assert abs(result.audio_duration_s - result.duration_s) < 0.05
    # and the clip is the speech, not silence: it lasts a few seconds and is audible
    assert 4.0 < result.duration_s < 15.0
    assert np.abs(decoded.audio).max() > 0.3


def test_mouth_track_correlates_with_loudness_of_the_decoded_audio(
    english, english_decoded
) -> None:
    result, _ = english
    decoded = english_decoded
    envelope = _envelope(decoded.audio, rate=decoded.audio_rate, fps=25, frames=result.frames)
    r = _best_lagged_r(result.mouth_open, envelope)
    assert r >= 0.4, f"r = {r:.3f}"
    # the mouth really moves, and is shut while silent at the start
    assert result.mouth_open.max() > 0.6
    assert np.all(result.mouth_open[:5] == 0)


def test_lips_close_on_bilabials(english) -> None:
    result, _ = english
    phones = result.phones
    bilabials = [(s, e) for symbol, s, e in phones if symbol in ("p", "b", "m") and e - s >= 0.02]
    assert len(bilabials) >= 10  # the script is full of them
    closed = set(result.bilabial_frames.tolist())
    centres = (np.arange(result.frames) + 0.5) / result.fps
    for start, end in bilabials:
        inside = np.nonzero((centres >= start) & (centres <= end))[0]
        nearest = int(np.clip(round((start + end) / 2 * result.fps - 0.5), 0, result.frames - 1))
        frames = inside if inside.size else np.array([nearest])
        assert set(frames.tolist()) & closed, f"no closed frame for a bilabial at {start:.2f}s"
    assert np.all(result.mouth_open[result.bilabial_frames] == 0)
    assert np.all(result.lip_close[result.bilabial_frames] == 1)
    # between closures the mouth opens again
    assert np.percentile(result.mouth_open, 90) > 0.4


def test_closed_mouth_frames_show_no_dark_mouth_interior(english, english_decoded) -> None:
    result, _ = english
    x0, y0, x1, y1 = result.layout["mouth_box"]
    mouth = english_decoded.frames[:, y0:y1, x0:x1].astype(np.float32)
    luma = mouth @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    dark = (luma < 60).mean(axis=(1, 2))
    rest = dark[0]
    open_frames = np.nonzero(result.mouth_open > 0.75)[0]
    assert open_frames.size >= 3
    assert np.median(dark[open_frames]) > rest + 0.02  # the cavity shows when open
    assert np.all(dark[result.bilabial_frames] <= rest + 0.004)  # and not on p/b/m


def _portrait_region_error(
    *, frame: np.ndarray, portrait: np.ndarray, layout: dict, box: tuple, exclude: list
) -> float:
    """Mean absolute error between a frame region and the same region of the portrait,
    mapped back to portrait pixels (the frame shows the portrait scaled and shifted)."""
    scale = layout["portrait_scale"]
    ox, oy = layout["portrait_offset"]
    x0, y0, x1, y1 = box
    mask = np.ones(frame.shape[:2], dtype=bool)
    for ex0, ey0, ex1, ey1 in exclude:
        mask[ey0:ey1, ex0:ex1] = False
    # Where each frame pixel comes from in the portrait.
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    map_x = (xs + 0.5 - ox) / scale - 0.5
    map_y = (ys + 0.5 - oy) / scale - 0.5
    expected = cv2.remap(portrait, map_x, map_y, interpolation=cv2.INTER_CUBIC)
    margin = 12  # the photo's edges are feathered into the fill behind it
    inside = (
        (map_x >= margin)
        & (map_y >= margin)
        & (map_x < portrait.shape[1] - margin)
        & (map_y < portrait.shape[0] - margin)
    )
    select = mask[y0:y1, x0:x1] & inside
    diff = np.abs(frame[y0:y1, x0:x1].astype(np.float32) - expected.astype(np.float32))
    assert select.sum() > 10_000, "the comparison must cover a real area"
    return float(diff[select].mean())


def test_rest_frame_reproduces_the_portrait_outside_the_mouth(
    english, english_decoded, astronaut
) -> None:
    result, _ = english
    layout = result.layout
    frame = english_decoded.frames[0]  # lead-in silence: no motion, mouth closed
    error = _portrait_region_error(
        frame=frame,
        portrait=astronaut,
        layout=layout,
        box=layout["head_box"],
        exclude=[layout["mouth_box"], layout["badge_box"]],
    )
    assert error < 4.0, f"mean abs error {error:.2f} / 255"


def test_speaking_frame_keeps_the_portrait_outside_the_animated_head(
    english, english_decoded, astronaut
) -> None:
    result, _ = english
    layout = result.layout
    index = int(result.bilabial_frames[len(result.bilabial_frames) // 2])
    frame = english_decoded.frames[index]
    error = _portrait_region_error(
        frame=frame,
        portrait=astronaut,
        layout=layout,
        box=(0, 0, result.width, result.height),
        exclude=[
            layout["head_box"],
            layout["badge_box"],
            *layout["caption_boxes"],
            (696, 0, 720, 32),
        ],
    )
    assert error < 4.0, f"mean abs error {error:.2f} / 255"


def test_captions_are_burned_in_while_their_words_are_spoken(english, english_decoded) -> None:
    result, _ = english
    texts = [text.replace("\n", " ") for text, _, _ in result.captions]
    assert " ".join(texts) == ENGLISH_SCRIPT
    starts = [start for _, start, _ in result.captions]
    assert starts == sorted(starts)
    # every spoken word's caption is on screen when the word starts
    for (_, start, end), box in zip(result.captions, result.layout["caption_boxes"], strict=True):
        frame_index = min(result.frames - 1, int(((start + end) / 2) * result.fps))
        x0, y0, x1, y1 = box
        region = english_decoded.frames[frame_index, y0:y1, x0:x1].astype(np.int32)
        white = (region.min(axis=2) > 220).mean()
        assert white > 0.03, "caption text should be visible"
    # before the first word there is no caption
    x0, y0, x1, y1 = result.layout["caption_boxes"][0]
    first = english_decoded.frames[0, y0:y1, x0:x1].astype(np.int32)
    assert (first.min(axis=2) > 235).mean() < 0.01


def test_ai_badge_is_visible_in_every_frame(english, english_decoded) -> None:
    result, _ = english
    x0, y0, x1, y1 = result.layout["badge_box"]
    for index in (0, result.frames // 2, result.frames - 1):
        region = english_decoded.frames[index, y0:y1, x0:x1].astype(np.int32)
        white = (region.min(axis=2) > 200).mean()
        dark = (region.max(axis=2) < 70).mean()
        assert white > 0.05 and dark > 0.3, (white, dark)


def test_frame_filter_sees_final_frames_in_batches_and_its_output_is_encoded(
    english, english_decoded
) -> None:
    result, recorded = english
    shapes = [shape for shape, _ in recorded.filter_batches]
    assert all(dtype == "uint8" for _, dtype in recorded.filter_batches)
    assert all(shape[1:] == (1280, 720, 3) and 1 <= shape[0] <= 64 for shape in shapes)
    assert sum(shape[0] for shape in shapes) == result.frames
    marker = english_decoded.frames[:, 10:22, -22:-10].astype(np.int32)
    assert np.all(np.abs(marker - np.array([255, 0, 255])).mean(axis=(1, 2, 3)) < 25)


def test_progress_is_monotonic_and_names_the_stages(english) -> None:
    _, recorded = english
    fractions = [fraction for fraction, _ in recorded.progress]
    stages = {stage for _, stage in recorded.progress}
    assert fractions == sorted(fractions)
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in fractions)
    assert {"speech", "animate", "encode"} <= stages


def test_timings_cover_the_stages(english) -> None:
    result, _ = english
    for stage in ("speech", "animate", "assemble", "encode", "total"):
        assert result.timings[stage] >= 0
    assert result.timings["total"] >= result.timings["speech"]


def test_chinese_landscape_render(chinese, chinese_decoded) -> None:
    assert chinese_decoded.frames.shape[1:] == (720, 1280, 3)
    assert (chinese.width, chinese.height) == (1280, 720)
    assert chinese.language == "zh" and chinese.voice.startswith("espeak:")
    assert abs(chinese_decoded.video_duration_s - chinese_decoded.audio_duration_s) < 0.05
    assert abs(len(chinese_decoded.frames) - chinese.duration_s * chinese.fps) <= 1
    envelope = _envelope(
        chinese_decoded.audio, rate=chinese_decoded.audio_rate, fps=25, frames=chinese.frames
    )
    assert _best_lagged_r(chinese.mouth_open, envelope) >= 0.4


def test_chinese_captions_use_a_cjk_font_or_are_left_out_with_a_warning(chinese) -> None:
    from renderer.overlays import find_font

    font = find_font("你好欢迎")
    if font is not None:
        assert chinese.captions, "a CJK font is installed, so captions must be drawn"
        assert (
            "".join(t.replace("\n", "") for t, _, _ in chinese.captions)
            == "你好，我是安娜。欢迎来到我们的商店，今天买一送一！"
        )
        assert not chinese.warnings
    else:
        assert not chinese.captions
        assert any("font" in warning for warning in chinese.warnings)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profiles_have_even_sizes_for_yuv420(name: str) -> None:
    profile = PROFILES[name]
    assert profile.width % 2 == 0 and profile.height % 2 == 0


def test_mp4_bytes_decode_from_a_file_like_object(english) -> None:
    import av

    result, _ = english
    with av.open(io.BytesIO(result.mp4)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.metadata.get("comment") == "AI-generated"
