"""The embedded pattern: a keyed ±1 chip grid, tiled over the frame.

One tile is a GRID×GRID grid of chips, each ``chip`` pixels square (chip ≈
frame short side / 180, so 4 px at 720p): SYNC_CHIPS chips carry a fixed
pseudo-random sign (the synchronisation template), the others carry the code
bits, each bit spread over ~4 chips scattered across the tile, every chip
multiplied by a keyed sign. The tile is smoothed (no hard chip edges for the
codec to spend bits on), repeated over the whole frame, and added to the luma
of every frame (the same delta on R, G and B).

Repeating the tile is what makes detection work after crops and rescaling:
the detector finds the repetition period, folds all tiles onto one, and finds
the tile's origin with the sync template.

Layout, sync template and chip signs all come from the deployment's secret
watermark key (provenance/keys.py): without it nobody can write a pattern that
decodes, nor read one (the payload is also in the signed manifest, so reading
it is not the threat; writing it onto other pictures is). The key stream is
SHA-256 in counter mode over ``key + "/" + label + counter`` (not numpy's RNG,
whose streams may change between numpy versions): a watermark must stay
decodable for years, so this derivation never changes (a test pins it).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import cv2
import numpy as np

from provenance.watermark.ecc import CODED_BITS, encode_payload

GRID = 32
SYNC_CHIPS = 192
DATA_CHIPS = GRID * GRID - SYNC_CHIPS
# Peak luma delta (8-bit levels) of the smoothed pattern, before rounding.
AMPLITUDE = 3.0
SMOOTHING = 0.35  # Gaussian sigma of the chip edges, in chips


def _keystream(key: bytes, label: bytes, nbytes: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < nbytes:
        out += hashlib.sha256(key + b"/" + label + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:nbytes])


def _permutation(key: bytes, n: int, label: bytes) -> np.ndarray:
    stream = _keystream(key, label, 8 * n)
    perm = list(range(n))
    for i in range(n - 1, 0, -1):
        j = int.from_bytes(stream[8 * i : 8 * i + 8], "big") % (i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    return np.array(perm, dtype=np.int64)


# Caches hold a few keys: a deployment detects with every key it ever had (rotation).
KEY_CACHE = 16


@lru_cache(maxsize=KEY_CACHE)
def layout(key: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(sync chip indices, data chip indices, code bit of each data chip, keyed sign per chip)."""
    perm = _permutation(key, GRID * GRID, b"layout")
    sync, data = perm[:SYNC_CHIPS], perm[SYNC_CHIPS:]
    bit_of_chip = np.arange(DATA_CHIPS) % CODED_BITS
    bits = np.unpackbits(np.frombuffer(_keystream(key, b"signs", GRID * GRID // 8), dtype=np.uint8))
    signs = (1.0 - 2.0 * bits).astype(np.float32)
    return sync, data, bit_of_chip, signs


def chip_size(height: int, width: int) -> int:
    return max(2, int(round(min(height, width) / 180)))


def chip_grid(payload: int, key: bytes) -> np.ndarray:
    """GRID×GRID chip values (±1) for ``payload`` under ``key``."""
    sync, data, bit_of_chip, signs = layout(key)
    symbols = 1.0 - 2.0 * encode_payload(payload).astype(np.float32)
    grid = np.empty(GRID * GRID, dtype=np.float32)
    grid[sync] = 1.0
    grid[data] = symbols[bit_of_chip]
    return (grid * signs).reshape(GRID, GRID)


def smooth_tile(grid: np.ndarray, chip: int) -> np.ndarray:
    """Upsample a chip grid to pixels and soften the chip edges (cyclically); unit RMS."""
    size = grid.shape[0] * chip
    tile = np.kron(grid, np.ones((chip, chip), dtype=np.float32))
    if SMOOTHING > 0:
        big = cv2.GaussianBlur(np.tile(tile, (3, 3)), (0, 0), SMOOTHING * chip)
        tile = big[size : 2 * size, size : 2 * size]
    return tile / np.sqrt(np.mean(tile * tile))


@lru_cache(maxsize=KEY_CACHE)
def sync_template(chip: int, key: bytes) -> np.ndarray:
    """The sync chips alone, as a tile of pixels (zero elsewhere), for alignment."""
    sync, _, _, signs = layout(key)
    grid = np.zeros(GRID * GRID, dtype=np.float32)
    grid[sync] = signs[sync]
    return np.kron(grid.reshape(GRID, GRID), np.ones((chip, chip), dtype=np.float32))


@lru_cache(maxsize=4)
def frame_pattern(
    payload: int, height: int, width: int, key: bytes
) -> tuple[np.ndarray, np.ndarray]:
    """The rounded luma delta for one frame size, split into (+, −) uint8 RGB planes.

    Split so that embedding is two saturating uint8 operations per frame
    (cv2.add, cv2.subtract), the cheapest thing that clips correctly.
    """
    chip = chip_size(height, width)
    tile = smooth_tile(chip_grid(payload, key), chip) * AMPLITUDE
    size = tile.shape[0]
    delta = np.rint(np.tile(tile, (height // size + 1, width // size + 1))[:height, :width])
    plus = np.clip(delta, 0, 255).astype(np.uint8)
    minus = np.clip(-delta, 0, 255).astype(np.uint8)
    return (
        np.ascontiguousarray(np.repeat(plus[..., None], 3, axis=2)),
        np.ascontiguousarray(np.repeat(minus[..., None], 3, axis=2)),
    )
