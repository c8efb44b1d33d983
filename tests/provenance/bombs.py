"""Decompression bombs and forged headers, built from bytes in the test (no downloads).

Each builder returns a small file that *declares* far more than it holds: the
shapes reported in issue 10 item 5 (a 32-byte PNG whose first chunk claims
2^31-1 bytes, a 333-byte JPEG claiming 30000×30000, an 8192×8192 MP4 header) and
their relatives. Stdlib + Pillow only, so renderer tests (no Django) can use them.
"""

from __future__ import annotations

import io
import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --- PNG -------------------------------------------------------------------------------------


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int, height: int, *, color_type: int = 0, rows: int = 8) -> bytes:
    """A PNG with a real IHDR and the first ``rows`` rows of zeros (the rest missing)."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    row = b"\x00" + b"\x00" * (width * channels)
    idat = zlib.compress(row * rows, 9)
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def png_huge_chunk() -> bytes:
    """32 bytes: the signature, then a first chunk that claims 2^31-1 bytes."""
    return PNG_SIGNATURE + struct.pack(">I", 0x7FFFFFFF) + b"IHDR" + b"\x00" * 16


def png_flood(chunks: int) -> bytes:
    """A small valid PNG with ``chunks`` empty text chunks: the parser's walk, not memory."""
    valid = png(64, 64)
    return valid[:-12] + png_chunk(b"tEXt", b"") * chunks + valid[-12:]


# --- JPEG ------------------------------------------------------------------------------------


def _tiny_jpeg(*, progressive: bool = False) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (120, 130, 140)).save(
        buffer, format="JPEG", quality=80, progressive=progressive
    )
    return buffer.getvalue()


def jpeg(width: int, height: int, *, progressive: bool = False) -> bytes:
    """A 16×16 JPEG whose frame header (SOF) is rewritten to claim ``width × height``."""
    data = bytearray(_tiny_jpeg(progressive=progressive))
    pos = 2
    while pos < len(data):
        marker = data[pos + 1]
        length = struct.unpack_from(">H", data, pos + 2)[0]
        if marker in (0xC0, 0xC1, 0xC2):
            struct.pack_into(">HH", data, pos + 5, height, width)
            return bytes(data)
        pos += 2 + length
    raise AssertionError("no SOF in Pillow's JPEG")


def jpeg_scan_bomb(scans: int = 2000) -> bytes:
    """A progressive JPEG with thousands of (empty) scans: CPU, not memory."""
    data = _tiny_jpeg(progressive=True)
    empty_scan = b"\xff\xda\x00\x08\x01\x01\x00\x00\x00\x00"
    return data[:-2] + empty_scan * scans + b"\xff\xd9"


# --- GIF / WebP --------------------------------------------------------------------------------


def gif(width: int, height: int) -> bytes:
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00" * 3 + b"\xff" * 3
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return header + frame + b"\x3b"


def webp(width: int, height: int) -> bytes:
    """An extended (VP8X) WebP declaring a ``width × height`` canvas."""
    vp8x = bytes([0, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    chunk = b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


# --- ISO BMFF (MP4 / MOV) ---------------------------------------------------------------------


def box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I", 8 + len(body)) + kind + body


def full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags), *parts)


class _BitWriter:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, value: int, n: int) -> None:
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]

    def ue(self, value: int) -> None:
        code = value + 1
        self.u(0, code.bit_length() - 1)
        self.u(code, code.bit_length())

    def bytes(self) -> bytes:
        bits = self.bits + [1]  # rbsp stop bit
        bits += [0] * (-len(bits) % 8)
        return bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))


def h264_sps(width: int, height: int, *, refs: int = 1, profile: int = 100, level: int = 40,
             chroma: int = 1, bit_depth: int = 8) -> bytes:
    """An H.264 SPS NAL unit (header byte included) for a ``width × height`` stream."""
    w = _BitWriter()
    w.u(profile, 8)
    w.u(0, 8)
    w.u(level, 8)
    w.ue(0)  # seq_parameter_set_id
    if profile in (100, 110, 122, 244):
        w.ue(chroma)
        if chroma == 3:
            w.u(0, 1)
        w.ue(bit_depth - 8)
        w.ue(bit_depth - 8)
        w.u(0, 1)
        w.u(0, 1)  # no scaling matrix
    w.ue(0)  # log2_max_frame_num_minus4
    w.ue(2)  # pic_order_cnt_type 2
    w.ue(refs)
    w.u(0, 1)
    w.ue(width // 16 - 1)
    w.ue(height // 16 - 1)
    w.u(1, 1)  # frame_mbs_only
    w.u(1, 1)  # direct_8x8_inference
    w.u(0, 1)  # no cropping
    w.u(0, 1)  # no VUI
    rbsp = w.bytes()
    # Emulation prevention: 00 00 0x (x <= 3) -> 00 00 03 0x.
    out, zeros = bytearray(), 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return b"\x67" + bytes(out)


def avcc(sps: bytes) -> bytes:
    pps = b"\x68\xeb\xe3\xcb\x22\xc0"
    return box(
        b"avcC",
        bytes([1, sps[1], sps[2], sps[3], 0xFF, 0xE1]),
        struct.pack(">H", len(sps)), sps,
        b"\x01", struct.pack(">H", len(pps)), pps,
    )


def mp4(
    *,
    width: int = 64,
    height: int = 64,
    tkhd_size: tuple[int, int] | None = None,
    sps: bytes | None = None,
    samples: int = 24,
    constant_sample_size: int = 0,
    stts_samples: int | None = None,
    timescale: int = 1000,
    duration: int = 960,
    brand: bytes = b"isom",
    mdat: bytes = b"\x00" * 64,
) -> bytes:
    """A complete MP4 (or MOV with ``brand=b"qt  "``) box tree with one H.264 video track."""
    tw, th = tkhd_size or (width, height)
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    tkhd = full_box(b"tkhd", 0, 3, struct.pack(">IIIII", 0, 0, 1, 0, duration), b"\x00" * 8,
                    struct.pack(">HHHH", 0, 0, 0, 0), matrix, struct.pack(">II", tw << 16, th << 16))
    mdhd = full_box(b"mdhd", 0, 0, struct.pack(">IIII", 0, 0, timescale, duration), b"\x55\xc4\x00\x00")
    hdlr = full_box(b"hdlr", 0, 0, b"\x00" * 4, b"vide", b"\x00" * 12, b"video\x00")
    entry = box(
        b"avc1",
        b"\x00" * 6, struct.pack(">H", 1), b"\x00" * 16, struct.pack(">HH", width, height),
        struct.pack(">III", 0x480000, 0x480000, 0), struct.pack(">H", 1), b"\x00" * 32,
        struct.pack(">Hh", 24, -1),
        avcc(sps or h264_sps(max(16, width // 16 * 16), max(16, height // 16 * 16))),
    )
    stsd = full_box(b"stsd", 0, 0, struct.pack(">I", 1), entry)
    count = samples if stts_samples is None else stts_samples
    stts = full_box(b"stts", 0, 0, struct.pack(">III", 1, count, max(1, duration // max(1, count))))
    if constant_sample_size:
        stsz = full_box(b"stsz", 0, 0, struct.pack(">II", constant_sample_size, samples))
    else:
        stsz = full_box(b"stsz", 0, 0, struct.pack(">II", 0, samples), struct.pack(">I", 2) * samples)
    stsc = full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, max(1, samples), 1))
    stco = full_box(b"stco", 0, 0, struct.pack(">II", 1, 0))
    stbl = box(b"stbl", stsd, stts, stsc, stsz, stco)
    minf = box(b"minf", full_box(b"vmhd", 0, 1, b"\x00" * 8), stbl)
    trak = box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, minf))
    mvhd = full_box(b"mvhd", 0, 0, struct.pack(">IIII", 0, 0, timescale, duration), b"\x00" * 80)
    ftyp = box(b"ftyp", brand, b"\x00\x00\x02\x00", brand, b"mp41")
    return ftyp + box(b"moov", mvhd, trak) + box(b"mdat", mdat)


# --- Matroska / WebM --------------------------------------------------------------------------


def _ebml_size(n: int) -> bytes:
    for length in range(1, 9):
        if n < (1 << (7 * length)) - 1:
            return ((1 << (7 * length)) | n).to_bytes(length, "big") if length > 1 else bytes([0x80 | n])
    raise ValueError(n)


def element(ident: int, body: bytes) -> bytes:
    return ident.to_bytes((ident.bit_length() + 7) // 8, "big") + _ebml_size(len(body)) + body


def _uint(ident: int, value: int) -> bytes:
    return element(ident, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def webm(
    width: int,
    height: int,
    *,
    duration_ms: float = 1000.0,
    default_duration_ns: int | None = 40_000_000,
    doctype: bytes = b"webm",
) -> bytes:
    """An EBML header and a Segment whose one VP8 video track declares ``width × height``."""
    header = element(0x1A45DFA3, element(0x4282, doctype) + _uint(0x4287, 4) + _uint(0x4285, 2))
    info = element(0x1549A966, _uint(0x2AD7B1, 1_000_000) + element(0x4489, struct.pack(">d", duration_ms)))
    video = element(0xE0, _uint(0xB0, width) + _uint(0xBA, height))
    track = _uint(0xD7, 1) + _uint(0x83, 1) + element(0x86, b"V_VP8") + video
    if default_duration_ns:
        track += _uint(0x23E383, default_duration_ns)
    tracks = element(0x1654AE6B, element(0xAE, track))
    cluster = element(0x1F43B675, _uint(0xE7, 0) + element(0xA3, b"\x81\x00\x00\x80" + b"\x00" * 16))
    return header + element(0x18538067, info + tracks + cluster)
