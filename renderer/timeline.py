"""Per-frame drive signals from speech: visemes, loudness, bilabial closures, blinks, head motion.

Pure numpy, no rendering: every backend consumes the same :class:`DriveSignals`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

from .speech.model import Phone

# (mouth opening 0..1, mouth width -1 rounded .. +1 spread) per IPA letter.
_VOWELS: dict[str, tuple[float, float]] = {
    "a": (0.95, 0.15),
    "ɑ": (1.0, 0.0),
    "æ": (0.85, 0.35),
    "ɐ": (0.8, 0.1),
    "ä": (0.95, 0.1),
    "ɛ": (0.65, 0.35),
    "e": (0.5, 0.45),
    "ɪ": (0.35, 0.45),
    "i": (0.28, 0.6),
    "ɨ": (0.3, 0.2),
    "y": (0.28, -0.7),
    "ʏ": (0.32, -0.6),
    "ə": (0.5, 0.05),
    "ɜ": (0.55, 0.05),
    "ɚ": (0.45, -0.2),
    "ɝ": (0.45, -0.25),
    "ʌ": (0.65, 0.05),
    "ɵ": (0.45, -0.4),
    "o": (0.6, -0.65),
    "ɔ": (0.75, -0.5),
    "ɒ": (0.85, -0.4),
    "u": (0.3, -0.85),
    "ʊ": (0.35, -0.7),
    "ɯ": (0.3, 0.2),
    "ø": (0.45, -0.6),
    "œ": (0.6, -0.5),
    "ɤ": (0.45, 0.0),
    "ɞ": (0.6, -0.4),
    "ɶ": (0.85, -0.3),
}
_CONSONANTS: dict[str, tuple[float, float]] = {
    # bilabials close the lips (handled separately); labiodentals tuck the lower lip
    "p": (0.0, 0.0),
    "b": (0.0, 0.0),
    "m": (0.0, 0.0),
    "ɸ": (0.05, 0.0),
    "β": (0.05, 0.0),
    "f": (0.12, 0.05),
    "v": (0.12, 0.05),
    "ɱ": (0.08, 0.0),
    "ʋ": (0.15, 0.0),
    "t": (0.22, 0.15),
    "d": (0.22, 0.15),
    "n": (0.25, 0.1),
    "l": (0.3, 0.1),
    "s": (0.15, 0.35),
    "z": (0.15, 0.35),
    "θ": (0.2, 0.15),
    "ð": (0.2, 0.15),
    "ɾ": (0.25, 0.1),
    "r": (0.28, 0.0),
    "ɹ": (0.25, -0.3),
    "ɬ": (0.22, 0.2),
    "ɫ": (0.3, 0.0),
    "ʃ": (0.2, -0.55),
    "ʒ": (0.2, -0.55),
    "ɕ": (0.18, 0.2),
    "ʑ": (0.18, 0.2),
    "ʂ": (0.2, -0.3),
    "ʐ": (0.2, -0.3),
    "ɳ": (0.25, 0.0),
    "k": (0.32, 0.05),
    "g": (0.32, 0.05),
    "ɡ": (0.32, 0.05),
    "ŋ": (0.3, 0.05),
    "x": (0.32, 0.0),
    "ɣ": (0.32, 0.0),
    "χ": (0.35, 0.0),
    "ʁ": (0.35, 0.0),
    "c": (0.28, 0.2),
    "ɟ": (0.28, 0.2),
    "ç": (0.25, 0.3),
    "j": (0.25, 0.35),
    "ʎ": (0.3, 0.2),
    "ɲ": (0.28, 0.15),
    "q": (0.35, 0.0),
    "h": (0.4, 0.0),
    "ɦ": (0.4, 0.0),
    "ʔ": (0.2, 0.0),
    "w": (0.15, -0.9),
    "ʍ": (0.15, -0.9),
    "ɥ": (0.15, -0.8),
    "ʀ": (0.3, 0.0),
    "ħ": (0.4, 0.0),
    "ʕ": (0.4, 0.0),
}
BILABIALS = frozenset("pbmɸβʙ")
_AFFRICATES = {
    "tʃ": "ʃ",
    "dʒ": "ʒ",
    "ʧ": "ʃ",
    "ʤ": "ʒ",
    "tɕ": "ɕ",
    "dʑ": "ʑ",
    "ts": "s",
    "dz": "z",
    "tʂ": "ʂ",
    "dʐ": "ʐ",
}
_SILENT = frozenset("^$_ .,;:!?¡¿—–-…\"'()")

_SAMPLE_HZ = 100
_BRIDGE_GAP_S = 0.09
_COARTICULATION_S = 0.028  # Gaussian smoothing of the viseme targets


@dataclass(frozen=True)
class DriveSignals:
    """Everything a backend needs to move a face, one value per video frame."""

    fps: int
    frames: int
    mouth_open: np.ndarray  # 0 closed .. 1 widest
    mouth_width: np.ndarray  # -1 rounded .. +1 spread
    lip_close: np.ndarray  # 1 where the lips must touch (p, b, m)
    blink: np.ndarray  # 0 open .. 1 closed
    head: np.ndarray  # (frames, 3): x, y shift in face heights, roll in radians
    envelope: np.ndarray  # audio loudness per frame, 0..1
    bilabial_frames: np.ndarray  # indices of frames held closed for a bilabial


def frame_count(*, duration_s: float, fps: int) -> int:
    return max(1, int(round(duration_s * fps)))


def _letters(symbol: str) -> str:
    """IPA letters of a phone symbol without stress, length, tone or diacritic marks."""
    decomposed = unicodedata.normalize("NFD", symbol)
    return "".join(
        c for c in decomposed if unicodedata.category(c)[0] == "L" and c not in "ˈˌːˑʰʲʷ"
    )


def viseme_segments(phones: list[Phone]) -> list[tuple[float, float, float, float, bool]]:
    """(start, end, opening, width, bilabial) per articulated segment; diphthongs split."""
    segments: list[tuple[float, float, float, float, bool]] = []
    for phone in phones:
        symbol = phone.symbol
        if symbol in _SILENT:
            continue
        letters = _letters(symbol)
        if not letters:
            # stress/length marks and diacritics belong to the previous segment
            if segments and abs(segments[-1][1] - phone.start_s) < 1e-3:
                s0, _, o, w, bil = segments[-1]
                segments[-1] = (s0, phone.end_s, o, w, bil)
            continue
        for affricate, base in _AFFRICATES.items():
            if letters.startswith(affricate):
                letters = base + letters[len(affricate) :]
        vowels = [c for c in letters if c in _VOWELS]
        if len(vowels) >= 2:
            step = (phone.end_s - phone.start_s) / len(vowels)
            for i, vowel in enumerate(vowels):
                opening, width = _VOWELS[vowel]
                start = phone.start_s + i * step
                segments.append((start, start + step, opening, width, False))
            continue
        first = vowels[0] if vowels else letters[0]
        opening, width = _VOWELS.get(first) or _CONSONANTS.get(first) or (0.3, 0.0)
        segments.append((phone.start_s, phone.end_s, opening, width, first in BILABIALS))
    # Short silences between words (piper's " ") keep the previous shape instead of
    # snapping the mouth shut; real pauses stay closed.
    segments.sort(key=lambda segment: segment[0])
    for i in range(len(segments) - 1):
        s0, s1, o, w, bil = segments[i]
        gap = segments[i + 1][0] - s1
        if 0 < gap < _BRIDGE_GAP_S:
            segments[i] = (s0, segments[i + 1][0], o, w, bil)
    return segments


def loudness_envelope(
    *, samples: np.ndarray, sample_rate: int, fps: int, frames: int
) -> np.ndarray:
    """RMS loudness per video frame (a window of one frame, centred), scaled to 0..1."""
    hop = sample_rate / fps
    padded = np.concatenate([samples, np.zeros(int(hop) + 2, dtype=np.float32)])
    starts = (np.arange(frames) * hop).astype(np.int64)
    width = int(hop)
    index = starts[:, None] + np.arange(width)[None, :]
    index = np.clip(index, 0, len(padded) - 1)
    rms = np.sqrt(np.mean(padded[index].astype(np.float64) ** 2, axis=1))
    reference = np.percentile(rms, 95) if rms.max() > 0 else 1.0
    return np.clip(rms / max(reference, 1e-6), 0.0, 1.0).astype(np.float32)


def _smooth(values: np.ndarray, *, sigma_samples: float) -> np.ndarray:
    radius = max(1, int(3 * sigma_samples))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_samples) ** 2)
    kernel /= kernel.sum()
    return np.convolve(np.pad(values, radius, mode="edge"), kernel, mode="valid")


def _per_frame(values: np.ndarray, *, fps: int, frames: int) -> np.ndarray:
    """Average a 100 Hz track over each video frame's interval."""
    edges = np.round(np.arange(frames + 1) * _SAMPLE_HZ / fps).astype(np.int64)
    edges = np.clip(edges, 0, len(values))
    sums = np.concatenate([[0.0], np.cumsum(values)])
    counts = np.maximum(edges[1:] - edges[:-1], 1)
    return ((sums[edges[1:]] - sums[edges[:-1]]) / counts).astype(np.float32)


def _blinks(*, frames: int, fps: int, rng: np.random.Generator) -> np.ndarray:
    blink = np.zeros(frames, dtype=np.float32)
    shape = np.array([0.5, 1.0, 1.0, 0.5], dtype=np.float32)  # ~160 ms at 25 fps
    shape = np.interp(
        np.linspace(0, len(shape) - 1, max(3, int(round(0.16 * fps)))),
        np.arange(len(shape)),
        shape,
    ).astype(np.float32)
    t = rng.uniform(0.9, 2.6)
    while True:
        first = int(t * fps)
        if first + len(shape) >= frames - int(0.3 * fps):
            break
        blink[first : first + len(shape)] = np.maximum(blink[first : first + len(shape)], shape)
        t += rng.uniform(2.4, 5.0)
    return blink


def _head_motion(
    *, frames: int, fps: int, envelope: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    t = np.arange(frames) / fps
    motion = np.zeros((frames, 3), dtype=np.float64)
    amplitudes = (0.010, 0.006, np.deg2rad(1.3))
    for axis, amplitude in enumerate(amplitudes):
        for _ in range(3):
            frequency = rng.uniform(0.12, 0.55)
            phase = rng.uniform(0, 2 * np.pi)
            motion[:, axis] += amplitude / 3 * np.sin(2 * np.pi * frequency * t + phase)
        motion[:, axis] -= motion[0, axis]
    # A slight nod with the emphasis of the voice.
    emphasis = _smooth(envelope.astype(np.float64), sigma_samples=0.12 * fps)
    motion[:, 1] += 0.006 * emphasis
    # Start and end at rest, easing in and out.
    ramp = np.clip(t / 0.6, 0, 1)
    ramp = ramp * ramp * (3 - 2 * ramp)
    tail = np.clip((t[-1] - t) / 0.4, 0, 1) if frames > 1 else np.ones(1)
    tail = tail * tail * (3 - 2 * tail)
    return (motion * (ramp * tail)[:, None]).astype(np.float32)


def build_drive(
    *,
    phones: list[Phone],
    samples: np.ndarray,
    sample_rate: int,
    fps: int,
    frames: int,
    seed: int,
) -> DriveSignals:
    duration = frames / fps
    n = int(np.ceil(duration * _SAMPLE_HZ)) + 1
    opening = np.zeros(n, dtype=np.float64)
    width = np.zeros(n, dtype=np.float64)
    segments = viseme_segments(phones)
    for start, end, o, w, _ in segments:
        a, b = int(round(start * _SAMPLE_HZ)), max(int(round(end * _SAMPLE_HZ)), 0)
        a, b = max(0, a), min(n, max(b, a + 1))
        opening[a:b] = o
        width[a:b] = w
    sigma = _COARTICULATION_S * _SAMPLE_HZ
    opening = _per_frame(_smooth(opening, sigma_samples=sigma), fps=fps, frames=frames)
    width = _per_frame(_smooth(width, sigma_samples=sigma), fps=fps, frames=frames)

    envelope = loudness_envelope(samples=samples, sample_rate=sample_rate, fps=fps, frames=frames)
    # Smoothing flattens short vowels: give the clip's open vowels their full range back.
    speaking = envelope > 0.08
    if speaking.any():
        peak = float(np.percentile(opening[speaking], 95))
        opening = opening * np.clip(0.9 / max(peak, 1e-3), 1.0, 1.8)
    # Louder speech opens the mouth wider; silence closes it.
    gate = np.clip(envelope / 0.08, 0.0, 1.0)
    mouth_open = np.clip(opening * (0.45 + 0.55 * np.sqrt(envelope)) * gate, 0.0, 1.0)

    lip_close = np.zeros(frames, dtype=np.float32)
    closed: list[int] = []
    centres = (np.arange(frames) + 0.5) / fps
    for start, end, _, _, bilabial in segments:
        if not bilabial or end - start < 0.02:
            continue
        inside = np.nonzero((centres >= start) & (centres <= end))[0]
        if inside.size == 0:
            inside = np.array([min(frames - 1, int((start + end) / 2 * fps))])
        closed.extend(int(i) for i in inside)
    if closed:
        index = np.array(sorted(set(closed)))
        lip_close[index] = 1.0
        mouth_open[index] = 0.0
    rng = np.random.default_rng(seed)
    return DriveSignals(
        fps=fps,
        frames=frames,
        mouth_open=mouth_open.astype(np.float32),
        mouth_width=np.clip(width, -1, 1).astype(np.float32),
        lip_close=lip_close,
        blink=_blinks(frames=frames, fps=fps, rng=rng),
        head=_head_motion(frames=frames, fps=fps, envelope=envelope, rng=rng),
        envelope=envelope,
        bilabial_frames=np.array(sorted(set(closed)), dtype=np.int64),
    )
