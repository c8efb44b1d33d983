"""Blind detection: find the tile period, fold, align with the sync template, decode.

1. Every sampled frame's luma is high-passed and divided by its local
   contrast (host content is the main noise; edges must not dominate), and
   the residuals are summed over frames (the pattern is static, so it adds up
   coherently while codec noise does not).
2. The tile period along x and y is estimated from the spectrally whitened
   autocorrelation of the summed residual (a comb over harmonics), with the
   sub-multiples of the strongest candidates also tried: downscaling, crops
   followed by a resize, and odd aspect ratios only change the period.
3. For each candidate (px, py), the residual is resampled so that the period
   is exactly one reference tile, folded (all tiles summed onto one), and
   cross-correlated cyclically with the sync template (DFT) — the peak gives
   the tile origin, which absorbs any crop offset. Its height over the
   correlation's spread is the sync score.
4. Chip values are read at that origin and combined per code bit; the soft
   bits go through Viterbi and the CRC-24 check. A result is reported found
   only if the CRC holds *and* the sync score and code agreement clear
   thresholds calibrated on unmarked content.

Mirrored and rotated copies (the eight flips/rotations of the dihedral group
D4): the residual filters are symmetric, the period search works per axis, and
folding is cyclic, so the folded tile of a flipped or rotated frame *is* the
flipped or rotated tile, up to a cyclic shift that alignment absorbs anyway.
Steps 1-2 and the folds (with each folded tile's DFT) therefore run once; per
orientation and per key, only the alignment (one 128×128 inverse DFT per fold,
against the sync template turned the same way) and, above the sync threshold,
the decoding of step 4 run. The identity comes first, then the common
re-upload tricks, and the search stops at the first detection.

Keys: the sync template, layout and signs depend on the deployment's secret
watermark key (provenance/keys.py); detection tries every key, newest first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache

import cv2
import numpy as np

from provenance import keys as keystore
from provenance.keys import WatermarkKey
from provenance.watermark.ecc import CODED_BITS, decode_payload
from provenance.watermark.pattern import GRID, KEY_CACHE, layout, sync_template

REFERENCE_CHIP = 4
REFERENCE_TILE = GRID * REFERENCE_CHIP
MIN_PERIOD = 24.0
MAX_PERIOD = 420.0
MAX_SIDE = 1920  # bigger frames are downscaled first (period search covers the scale)

# Decision thresholds, calibrated on unmarked media (bench/provenance.py, docs/provenance.md):
# the sync score of unmarked frames peaks at ~5.5 (max over all shifts and hypotheses of one
# orientation; the 8-orientation search raises the maximum, and more noise then reaches the
# decoder, where the CRC and the agreement threshold reject it), and
# Viterbi agrees with ~75 % of pure-noise code bits (99.9th percentile 0.805). A detection
# needs both thresholds *and* the CRC-24.
MIN_SYNC_SCORE = 5.5
MIN_AGREEMENT = 0.80
NOISE_AGREEMENT = 0.75
# Hypotheses (best sync scores first) that go through Viterbi + CRC, per orientation and key.
DECODE_ATTEMPTS = 3

# What a copy may have undergone relative to the delivered clip, in the order tried: as
# delivered first, then mirroring (the usual re-upload trick), then rotations and the rest
# of D4. "rot90" is a quarter turn counter-clockwise (numpy's rot90), "rot270" clockwise;
# "transpose" swaps rows and columns, "transverse" mirrors across the other diagonal.
ORIENTATIONS = ("identity", "hflip", "rot180", "vflip", "rot90", "rot270", "transpose", "transverse")
_INVERSE = {name: name for name in ORIENTATIONS} | {"rot90": "rot270", "rot270": "rot90"}


def orient(image: np.ndarray, orientation: str) -> np.ndarray:
    """``image`` (H, W, ...) flipped or rotated as ``orientation`` names (a view where numpy can)."""
    if orientation == "identity":
        return image
    if orientation == "hflip":
        return image[:, ::-1]
    if orientation == "vflip":
        return image[::-1]
    if orientation == "rot90":
        return np.rot90(image, 1)
    if orientation == "rot180":
        return np.rot90(image, 2)
    if orientation == "rot270":
        return np.rot90(image, 3)
    if orientation == "transpose":
        return np.swapaxes(image, 0, 1)
    if orientation == "transverse":
        return np.swapaxes(np.rot90(image, 2), 0, 1)
    raise ValueError(f"unknown orientation {orientation!r}; one of {ORIENTATIONS}")


def resolve_keys(keys: WatermarkKey | Sequence[WatermarkKey] | None) -> list[WatermarkKey]:
    """The keys to detect with: the given ones, or every key of this deployment (newest first)."""
    if keys is None:
        return keystore.watermark_keys()
    if isinstance(keys, WatermarkKey):
        return [keys]
    return list(keys)


@dataclass(frozen=True)
class WatermarkResult:
    found: bool
    payload: int | None
    confidence: float  # 0..1 (see confidence()); 0 when nothing passed the checks
    bit_accuracy: float | None  # share of received code bits that agree with the decoded word
    sync_score: float  # height of the alignment peak in standard deviations
    frames_used: int
    period: tuple[float, float] | None = None  # tile period found (x, y) in pixels
    error: str | None = None
    orientation: str | None = None  # how the copy is flipped/rotated (ORIENTATIONS), when found
    key_id: str | None = None  # which watermark key matched (public id), when found

    def as_dict(self) -> dict:
        return asdict(self)


NOT_FOUND = WatermarkResult(
    found=False, payload=None, confidence=0.0, bit_accuracy=None, sync_score=0.0, frames_used=0
)


# --- residual ------------------------------------------------------------------------------


def to_luma(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return frame
    if frame.ndim == 3 and frame.shape[2] == 3:
        return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_RGBA2GRAY)
    raise ValueError(f"expected a luma (H, W) or RGB (H, W, 3) frame, got shape {frame.shape}")


def residual(luma: np.ndarray) -> np.ndarray:
    """High-pass, contrast-normalised luma: the pattern plus whitened host noise."""
    y = luma.astype(np.float32)
    high = y - cv2.GaussianBlur(y, (9, 9), 1.5)
    # Clamp: the box filter's running sums can dip a hair below zero on flat areas.
    local = cv2.sqrt(np.maximum(cv2.boxFilter(high * high, -1, (9, 9)), 0.0))
    return high / (local + 1.0)


def _prepare(luma: np.ndarray) -> np.ndarray:
    h, w = luma.shape
    side = max(h, w)
    if side > MAX_SIDE:
        f = MAX_SIDE / side
        luma = cv2.resize(
            luma, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA
        )
    return luma


def accumulate(frames: Iterable[np.ndarray]) -> tuple[np.ndarray | None, int]:
    total: np.ndarray | None = None
    count = 0
    for frame in frames:
        r = residual(_prepare(to_luma(frame)))
        if total is not None and r.shape != total.shape:
            continue  # a resolution change mid-stream: keep the first size
        total = r if total is None else total + r
        count += 1
    return total, count


# --- period estimation ----------------------------------------------------------------------


def _whitened_autocorr(r: np.ndarray, axis: int) -> np.ndarray:
    n = r.shape[axis]
    spectrum = np.fft.rfft(r, n=2 * n, axis=axis)
    power = (spectrum.real**2 + spectrum.imag**2).sum(axis=1 - axis)
    # Divide by the spectral envelope (a running median): periodic structure
    # shows up as lines above it, host content as the smooth envelope.
    k = 9
    padded = np.pad(power, k // 2, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, k)
    envelope = np.median(windows, axis=1)
    white = power / (envelope + 1e-12) - 1.0
    white[:3] = 0.0
    return np.fft.irfft(white, n=2 * n)[:n]


def _comb_scores(a: np.ndarray, pmin: float, pmax: float) -> tuple[np.ndarray, np.ndarray]:
    n = len(a)
    periods = np.arange(pmin, pmax, 0.25)
    if len(periods) == 0:
        return periods, periods
    limit = 0.6 * n
    ks = np.arange(1, 7)[None, :]
    lags = periods[:, None] * ks
    valid = lags <= limit
    values = np.interp(np.where(valid, lags, 0), np.arange(n), a)
    counts = valid.sum(axis=1)
    scores = np.where(counts > 0, (values * valid).sum(axis=1) / np.maximum(counts, 1), -np.inf)
    return periods, scores


def _refine(a: np.ndarray, period: float) -> float:
    """Sub-pixel period from parabolic peaks at the first multiples, weighted by multiple."""
    n = len(a)
    estimates, weights = [], []
    for k in range(1, 8):
        centre = int(round(k * period))
        if centre + 3 >= 0.6 * n:
            break
        lo = max(1, centre - 2)
        j = lo + int(np.argmax(a[lo : centre + 3]))
        if j <= 0 or j >= n - 1:
            continue
        y0, y1, y2 = a[j - 1], a[j], a[j + 1]
        den = y0 - 2 * y1 + y2
        offset = 0.5 * (y0 - y2) / den if den < 0 else 0.0
        estimates.append((j + offset) / k)
        weights.append(k)
    if not estimates:
        return float(period)
    return float(np.average(estimates, weights=weights))


def period_candidates(r: np.ndarray, axis: int, *, top: int = 3) -> list[float]:
    n = r.shape[axis]
    a = _whitened_autocorr(r, axis)
    periods, scores = _comb_scores(a, MIN_PERIOD, min(MAX_PERIOD, n / 2.2))
    picked: list[float] = []
    for i in np.argsort(-scores):
        p = float(periods[i])
        if all(abs(p - q) / q > 0.03 for q in picked):
            picked.append(p)
        if len(picked) >= top:
            break
    out: list[float] = []
    for p in picked:
        for k in (1, 2, 3, 4):
            q = p / k
            if q < MIN_PERIOD:
                break
            refined = _refine(a, q)
            if all(abs(refined - s) / s > 0.01 for s in out):
                out.append(refined)
    return out


# --- folding and decoding --------------------------------------------------------------------


# Columns of the stretched residual handled at once by ``fold``: a multiple of the tile,
# small enough that the stretch never holds the whole enlarged image (a 24-px period
# enlarges a frame 5.3× per axis: 230 MB of float32 for one 1080p residual).
FOLD_CHUNK = 8 * REFERENCE_TILE


def fold(r: np.ndarray, px: float, py: float) -> np.ndarray:
    """Resample so that one period is REFERENCE_TILE pixels, then sum all tiles onto one.

    The same as ``cv2.resize(r, size, INTER_LINEAR)`` zero-padded to whole tiles and
    summed, but computed as two separable passes (bilinear interpolation is
    separable): the horizontal stretch of the whole residual, then the vertical
    stretch in column chunks of ``FOLD_CHUNK``, each summed onto the tile at once.
    Peak memory is the horizontally stretched residual plus one chunk (≈ 45 + 25 MB
    for a 1920-px frame at the shortest period) instead of two copies of the fully
    enlarged image (≈ 460 MB)."""
    h, w = r.shape
    t = REFERENCE_TILE
    sw, sh = max(t, int(round(w * t / px))), max(t, int(round(h * t / py)))
    wide = cv2.resize(r, (sw, h), interpolation=cv2.INTER_LINEAR)  # rows unchanged: exact
    total = np.zeros((t, t), dtype=np.float32)
    rows = -(-sh // t) * t
    for c0 in range(0, sw, FOLD_CHUNK):
        # Columns unchanged: exactly the vertical pass of the full resize.
        chunk = cv2.resize(wide[:, c0:c0 + FOLD_CHUNK], (min(FOLD_CHUNK, sw - c0), sh),
                           interpolation=cv2.INTER_LINEAR)
        padded = cv2.copyMakeBorder(chunk, 0, rows - sh, 0, -chunk.shape[1] % t, cv2.BORDER_CONSTANT, value=0)
        total += padded.reshape(rows // t, t, padded.shape[1] // t, t).sum(axis=(0, 2), dtype=np.float32)
    return total


@lru_cache(maxsize=KEY_CACHE * len(ORIENTATIONS))
def _template_spectrum(key: bytes, orientation: str) -> np.ndarray:
    """The sync template as it appears in a copy turned by ``orientation`` (CCS-packed DFT)."""
    template = orient(sync_template(REFERENCE_CHIP, key), orientation)
    return cv2.dft(np.ascontiguousarray(template, dtype=np.float32))


def spectrum(tile: np.ndarray) -> np.ndarray:
    """A folded tile's DFT (OpenCV's packed real format), shared by every key and orientation."""
    return cv2.dft(np.ascontiguousarray(tile, dtype=np.float32))


def align(
    tile: np.ndarray,
    key: bytes,
    orientation: str = "identity",
    *,
    tile_spectrum: np.ndarray | None = None,
) -> tuple[float, int, int]:
    """(sync score, dy, dx): where ``key``'s sync template, turned by ``orientation``, sits in the tile.

    The score is the correlation peak's height over the correlation's spread
    (cyclic cross-correlation through the DFT).
    """
    if tile_spectrum is None:
        tile_spectrum = spectrum(tile)
    product = cv2.mulSpectrums(tile_spectrum, _template_spectrum(key, orientation), 0, conjB=True)
    corr = cv2.idft(product, flags=cv2.DFT_REAL_OUTPUT)
    _, peak, _, (dx, dy) = cv2.minMaxLoc(corr)
    mean, spread = cv2.meanStdDev(corr)
    spread = float(spread[0, 0])
    score = (peak - float(mean[0, 0])) / spread if spread > 0 else 0.0
    return score, int(dy), int(dx)


def soft_bits(tile: np.ndarray, dy: int, dx: int, key: bytes) -> np.ndarray:
    """Code-bit sums read from a tile in the delivered orientation whose origin is at (dy, dx)."""
    aligned = np.roll(tile, (-dy, -dx), axis=(0, 1))
    c = REFERENCE_CHIP
    chips = aligned.reshape(GRID, c, GRID, c).mean(axis=(1, 3)).ravel()
    _, data, bit_of_chip, signs = layout(key)
    return np.bincount(bit_of_chip, weights=(chips * signs)[data], minlength=CODED_BITS).astype(
        np.float32
    )


@dataclass(frozen=True)
class Fold:
    """One tile-period hypothesis (px, py): the residual folded onto one reference tile."""

    px: float
    py: float
    tile: np.ndarray
    spectrum: np.ndarray


def folds(r: np.ndarray) -> list[Fold]:
    """Every plausible (px, py) hypothesis, folded (independent of key and orientation)."""
    out = []
    xs, ys = period_candidates(r, 1), period_candidates(r, 0)
    for px in xs:
        for py in ys:
            if 0.7 < px / py < 1.43:
                tile = fold(r, px, py)
                out.append(Fold(px, py, tile, spectrum(tile)))
    return out


@dataclass(frozen=True)
class Trial:
    """One (period, orientation, key, origin) hypothesis on a folded tile of the copy."""

    score: float
    px: float
    py: float
    tile: np.ndarray  # as folded from the copy (still turned by ``orientation``)
    dy: int
    dx: int
    key: bytes = b""
    orientation: str = "identity"

    def soft_bits(self) -> np.ndarray:
        # Move the origin to (0, 0), then turn the tile back to the delivered orientation:
        # the chip grid maps onto itself (a tile is a whole number of chips).
        aligned = np.roll(self.tile, (-self.dy, -self.dx), axis=(0, 1))
        return soft_bits(orient(aligned, _INVERSE[self.orientation]), 0, 0, self.key)


def rank(folded: Sequence[Fold], key: bytes, orientation: str) -> list[Trial]:
    """The folds read as a copy turned by ``orientation`` and marked under ``key``, best first."""
    out = []
    for f in folded:
        score, dy, dx = align(f.tile, key, orientation, tile_spectrum=f.spectrum)
        out.append(Trial(score, f.px, f.py, f.tile, dy, dx, key, orientation))
    out.sort(key=lambda t: -t.score)
    return out


def trials(
    r: np.ndarray, key: WatermarkKey | None = None, *, orientation: str = "identity"
) -> list[Trial]:
    """Every plausible (px, py) hypothesis for one key (default: the current one), best first."""
    key = key or keystore.current_watermark_key()
    return rank(folds(r), key.secret, orientation)


def confidence(agreement: float) -> float:
    """0 at the agreement pure noise reaches (0.75), 1 at ≥ 95 % of code bits received right."""
    return round(min(1.0, max(0.0, (agreement - NOISE_AGREEMENT) / 0.20)), 4)


def detect_residual(
    r: np.ndarray,
    frames_used: int,
    keys: WatermarkKey | Sequence[WatermarkKey] | None = None,
) -> WatermarkResult:
    """Detect in a summed residual under every orientation and key; stops at the first detection.

    Only hypotheses whose sync score clears MIN_SYNC_SCORE are decoded (the
    best DECODE_ATTEMPTS per orientation and key), so unmarked content costs
    alignments, not Viterbi runs. When nothing is found, ``sync_score`` is the
    best score over all orientations and keys.
    """
    key_list = resolve_keys(keys)
    folded = folds(r)
    if not folded or not key_list:
        return WatermarkResult(**{**NOT_FOUND.as_dict(), "frames_used": frames_used})
    best: Trial | None = None
    for orientation in ORIENTATIONS:
        for key in key_list:
            ranked = rank(folded, key.secret, orientation)
            if best is None or ranked[0].score > best.score:
                best = ranked[0]
            for trial in ranked[:DECODE_ATTEMPTS]:
                if trial.score < MIN_SYNC_SCORE:
                    break
                payload, agreement = decode_payload(trial.soft_bits())
                if payload is not None and agreement >= MIN_AGREEMENT:
                    return WatermarkResult(
                        found=True,
                        payload=payload,
                        confidence=confidence(agreement),
                        bit_accuracy=round(agreement, 4),
                        sync_score=round(trial.score, 2),
                        frames_used=frames_used,
                        period=(round(trial.px, 3), round(trial.py, 3)),
                        orientation=orientation,
                        key_id=key.id,
                    )
    assert best is not None
    return WatermarkResult(
        found=False,
        payload=None,
        confidence=0.0,
        bit_accuracy=None,
        sync_score=round(best.score, 2),
        frames_used=frames_used,
        period=(round(best.px, 3), round(best.py, 3)),
    )


def detect_lumas(
    frames: Iterable[np.ndarray], keys: WatermarkKey | Sequence[WatermarkKey] | None = None
) -> WatermarkResult:
    total, count = accumulate(frames)
    if total is None or min(total.shape) < 2 * MIN_PERIOD:
        return WatermarkResult(
            **{**NOT_FOUND.as_dict(), "frames_used": count, "error": "too small"}
        )
    return detect_residual(total, count, keys)
