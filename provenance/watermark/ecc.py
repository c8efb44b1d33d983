"""Error control for the watermark payload: CRC-24 integrity + a K=7, rate-1/3
convolutional code decoded with soft-decision Viterbi.

64 information bits (40-bit payload + 24-bit CRC) plus 6 tail bits become 210
code bits. The CRC is what makes a detection trustworthy: a decoded word whose
CRC fails is never reported (2^-24 ≈ 6e-8 chance that noise passes it).
"""

from __future__ import annotations

import numpy as np

PAYLOAD_BITS = 40
CRC_BITS = 24
INFO_BITS = PAYLOAD_BITS + CRC_BITS
CONSTRAINT = 7
GENERATORS = (0o133, 0o171, 0o165)  # the LTE/3GPP rate-1/3 set
CODED_BITS = len(GENERATORS) * (INFO_BITS + CONSTRAINT - 1)

_CRC24_POLY = 0x864CFB  # OpenPGP (RFC 4880) CRC-24
_CRC24_INIT = 0xB704CE


def crc24(value: int, nbits: int) -> int:
    crc = _CRC24_INIT
    for i in range(nbits - 1, -1, -1):
        top = (crc >> 23) & 1
        crc = (crc << 1) & 0xFFFFFF
        if top ^ ((value >> i) & 1):
            crc ^= _CRC24_POLY
    return crc


def _parity(x: int) -> int:
    return bin(x).count("1") & 1


_STATES = 1 << (CONSTRAINT - 1)
_REGS = 1 << CONSTRAINT
# Symbol (+1 for bit 0, -1 for bit 1) of each generator for every 7-bit register.
_SYMBOLS = np.array(
    [[1.0 - 2.0 * _parity(reg & g) for g in GENERATORS] for reg in range(_REGS)], dtype=np.float32
)


def int_to_bits(value: int, nbits: int) -> list[int]:
    return [(value >> i) & 1 for i in range(nbits - 1, -1, -1)]


def bits_to_int(bits) -> int:
    value = 0
    for b in bits:
        value = (value << 1) | int(b)
    return value


def conv_encode(bits: list[int]) -> np.ndarray:
    state = 0
    out: list[int] = []
    for u in list(bits) + [0] * (CONSTRAINT - 1):
        reg = ((state << 1) | u) & (_REGS - 1)
        out.extend(_parity(reg & g) for g in GENERATORS)
        state = reg & (_STATES - 1)
    return np.array(out, dtype=np.uint8)


def viterbi_decode(soft: np.ndarray) -> list[int]:
    """Maximum-likelihood information bits for soft symbols (>0 means bit 0)."""
    y = np.asarray(soft, dtype=np.float32).reshape(-1, len(GENERATORS))
    steps = y.shape[0]
    branch = y @ _SYMBOLS.T  # (steps, 128): correlation of each register's output with y
    metric = np.full(_STATES, -np.inf, dtype=np.float64)
    metric[0] = 0.0
    nxt = np.arange(_STATES)
    prev0, prev1 = nxt >> 1, (nxt >> 1) | (_STATES >> 1)
    reg0, reg1 = nxt, nxt | _STATES
    decisions = np.empty((steps, _STATES), dtype=bool)
    for t in range(steps):
        m0 = metric[prev0] + branch[t, reg0]
        m1 = metric[prev1] + branch[t, reg1]
        decisions[t] = m1 > m0
        metric = np.where(decisions[t], m1, m0)
    state = 0  # the encoder is terminated with zero tail bits
    bits: list[int] = []
    for t in range(steps - 1, -1, -1):
        bits.append(state & 1)
        state = (state >> 1) | (int(decisions[t, state]) << (CONSTRAINT - 2))
    bits.reverse()
    return bits[: steps - (CONSTRAINT - 1)]


def encode_payload(payload: int) -> np.ndarray:
    """The 210 code bits (0/1) that carry ``payload`` and its CRC."""
    if not 0 <= payload < (1 << PAYLOAD_BITS):
        raise ValueError(f"payload must be an integer in [0, 2**{PAYLOAD_BITS})")
    info = int_to_bits(payload, PAYLOAD_BITS) + int_to_bits(crc24(payload, PAYLOAD_BITS), CRC_BITS)
    return conv_encode(info)


def decode_payload(soft: np.ndarray) -> tuple[int | None, float]:
    """(payload or None when the CRC fails, agreement of ``soft`` with the decoded codeword)."""
    bits = viterbi_decode(soft)
    payload = bits_to_int(bits[:PAYLOAD_BITS])
    crc = bits_to_int(bits[PAYLOAD_BITS:INFO_BITS])
    symbols = 1.0 - 2.0 * conv_encode(bits).astype(np.float32)
    agreement = float(np.mean((np.asarray(soft, dtype=np.float32) * symbols) > 0))
    if crc != crc24(payload, PAYLOAD_BITS):
        return None, agreement
    return payload, agreement
