"""Drive signals: visemes, loudness, closures, blinks and head motion (pure numpy)."""

from __future__ import annotations

import numpy as np

from renderer.speech.model import Phone
from renderer.timeline import build_drive, frame_count, loudness_envelope, viseme_segments


def _tone(seconds: float, *, rate: int = 16000, loud: tuple[float, float]) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    audio = np.zeros_like(t, dtype=np.float32)
    on = (t >= loud[0]) & (t < loud[1])
    audio[on] = 0.5 * np.sin(2 * np.pi * 220 * t[on])
    return audio


def test_frame_count() -> None:
    assert frame_count(duration_s=2.0, fps=25) == 50
    assert frame_count(duration_s=0.01, fps=25) == 1


def test_loudness_envelope_follows_the_audio() -> None:
    audio = _tone(2.0, loud=(0.5, 1.5))
    envelope = loudness_envelope(samples=audio, sample_rate=16000, fps=25, frames=50)
    assert envelope[:10].max() < 0.01 and envelope[15:35].min() > 0.9 and envelope[40:].max() < 0.01


def test_visemes_open_on_vowels_and_close_on_bilabials() -> None:
    phones = [
        Phone("m", 0.5, 0.6),
        Phone("ɑ", 0.6, 0.9),
        Phone("p", 0.9, 1.0),
        Phone("a", 1.0, 1.3),
    ]
    segments = viseme_segments(phones)
    assert [s[4] for s in segments] == [True, False, True, False]
    audio = _tone(2.0, loud=(0.5, 1.3))
    drive = build_drive(phones=phones, samples=audio, sample_rate=16000, fps=25, frames=50, seed=1)
    assert drive.mouth_open[:10].max() == 0  # silence before speech
    assert drive.mouth_open[18] > 0.6  # "ɑ" at 0.72-0.76 s
    closed = drive.bilabial_frames.tolist()
    assert 13 in closed or 14 in closed  # "m" at 0.5-0.6 s
    assert 23 in closed  # "p" at 0.9-1.0 s: frame 23 spans 0.92-0.96 s
    assert np.all(drive.mouth_open[drive.bilabial_frames] == 0)
    assert drive.mouth_open[40:].max() < 0.05  # silence after


def test_diphthongs_split_and_marks_join_their_neighbour() -> None:
    segments = viseme_segments(
        [Phone("aɪ", 0.0, 0.2), Phone("ˈ", 0.2, 0.25), Phone("t", 0.25, 0.3)]
    )
    assert len(segments) == 3
    assert segments[0][2] > segments[1][2]  # "a" opens wider than "ɪ"
    assert segments[1][1] == 0.25  # the stress mark extends the previous segment


def test_blinks_and_head_motion_are_seeded_and_start_at_rest() -> None:
    audio = _tone(12.0, loud=(0.5, 11.0))
    phones = [Phone("a", 0.5, 11.0)]
    a = build_drive(phones=phones, samples=audio, sample_rate=16000, fps=25, frames=300, seed=5)
    b = build_drive(phones=phones, samples=audio, sample_rate=16000, fps=25, frames=300, seed=5)
    c = build_drive(phones=phones, samples=audio, sample_rate=16000, fps=25, frames=300, seed=6)
    assert np.array_equal(a.blink, b.blink) and np.array_equal(a.head, b.head)
    assert not np.array_equal(a.blink, c.blink)
    blinks = np.nonzero(np.diff((a.blink > 0.9).astype(int)) == 1)[0]
    assert 2 <= len(blinks) <= 6  # every 2.4-5 s over 12 s
    assert a.blink[:20].max() == 0  # never in the first 0.8 s
    assert np.all(a.head[0] == 0) and np.all(np.abs(a.head[-1]) < 1e-6)
    assert np.abs(a.head[:, :2]).max() < 0.03  # a few hundredths of a face height
    assert np.abs(a.head[:, 2]).max() < np.deg2rad(3)
