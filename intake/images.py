"""Header readers for still images: PNG, JPEG, GIF, WebP (HEIF/AVIF live in bmff.py).

Each returns a :class:`MediaInfo` or raises :class:`UnreadableMedia` when the
structure is broken or forged (a chunk longer than the file, a zero size). They
read lengths and sizes only; nothing is decompressed.
"""

from __future__ import annotations

import struct

from .errors import MediaTooLarge, UnreadableMedia
from .info import MediaInfo, Walk
from .limits import Limits
from .types import GIF, JPEG, PNG, WEBP

PNG_MAX_CHUNK = 0x7FFFFFFF  # PNG spec: chunk lengths are at most 2^31 - 1


_CHUNK_HEADER = struct.Struct(">I4s")


def png(data: bytes, limits: Limits) -> MediaInfo:
    """Every chunk is walked: OpenCV's reader allocates a chunk's declared length up front,
    wherever the chunk sits (measured: +2 GB for a 2^31-1 claim before or after IDAT)."""
    size = len(data)
    if size < 16 or data[12:16] != b"IHDR":
        raise UnreadableMedia("the PNG does not start with its image header (IHDR)")
    declared = int.from_bytes(data[8:12], "big")
    if declared != 13:
        raise UnreadableMedia(
            f"the PNG image header (IHDR) declares {declared} bytes; it always has 13"
        )
    if size < 33:
        raise UnreadableMedia("the PNG ends inside its image header")
    width, height = struct.unpack_from(">II", data, 16)
    if not width or not height:
        raise UnreadableMedia("the PNG declares a zero width or height")
    unpack = _CHUNK_HEADER.unpack_from
    pos, count, limit = 8, 0, limits.max_structures
    while pos + 8 <= size:  # (a few stray bytes after the last chunk are ignored)
        count += 1
        if count > limit:
            Walk(limit, "PNG chunks").tick_over()
        length, kind = unpack(data, pos)
        end = pos + 12 + length
        if end > size or length > PNG_MAX_CHUNK:
            name = kind.decode("latin-1")
            if length > PNG_MAX_CHUNK:
                raise UnreadableMedia(
                    f"the PNG {name!r} chunk declares {length} bytes, over the format's 2^31-1"
                )
            raise UnreadableMedia(
                f"the PNG {name!r} chunk declares {length} bytes but only {max(0, size - pos - 12)} "
                "follow: the file is truncated or forged"
            )
        if kind == b"IEND":
            break
        pos = end
    return MediaInfo(type=PNG, width=width, height=height)


# Start-of-frame markers: sequential (C0 C1 C9), progressive (C2 C6 CA CE), lossless and
# hierarchical (the rest). libjpeg scales sequential DCT frames while decoding them.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_PROGRESSIVE = {0xC2, 0xC6, 0xCA, 0xCE}
_SCALABLE = {0xC0, 0xC1, 0xC9}
_NO_LENGTH = {0x01, 0xD8, *range(0xD0, 0xD8)}


def _coefficient_bytes(width: int, height: int, components: list[tuple[int, int]]) -> int:
    """libjpeg's whole-image coefficient buffer: 64 coefficients × 2 bytes per block."""
    hmax = max(h for h, _ in components)
    vmax = max(v for _, v in components)
    mcu_w = -(-width // (8 * hmax))
    mcu_h = -(-height // (8 * vmax))
    return sum(mcu_w * h * mcu_h * v * 128 for h, v in components)


def jpeg(data: bytes, limits: Limits) -> MediaInfo:
    walk = Walk(limits.max_structures, "JPEG markers")
    pos, size = 2, len(data)
    frame = None
    truncated = False
    while True:
        walk.tick()
        pos = data.find(b"\xff", pos)  # libjpeg skips stray bytes between segments too
        if pos < 0 or pos + 1 >= size:
            truncated = True
            break
        while pos + 1 < size and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        marker = data[pos + 1]
        pos += 2
        if marker in _NO_LENGTH or marker == 0x00:
            continue
        if marker == 0xD9:
            break
        if pos + 2 > size:
            truncated = True
            break
        length = int.from_bytes(data[pos : pos + 2], "big")
        if length < 2:
            raise UnreadableMedia(f"a JPEG segment (marker 0x{marker:02X}) declares a length of {length}")
        end = pos + length
        if end > size:
            truncated = True
            break
        if marker in _SOF and frame is None:
            if length < 8:
                raise UnreadableMedia("the JPEG frame header is too short")
            height, width, count = struct.unpack_from(">HHB", data, pos + 3)
            if length < 8 + 3 * count or not count:
                raise UnreadableMedia("the JPEG frame header lists components it does not hold")
            sampling = []
            for i in range(count):
                hv = data[pos + 9 + 3 * i]
                h, v = hv >> 4, hv & 0x0F
                if not 1 <= h <= 4 or not 1 <= v <= 4:
                    raise UnreadableMedia("a JPEG component has an invalid sampling factor")
                sampling.append((h, v))
            if not width or not height:
                raise UnreadableMedia(
                    "the JPEG declares a zero width or height (a height given later, by DNL, "
                    "is not supported)"
                )
            frame = (marker, width, height, sampling)
        if marker == 0xDA:
            break  # entropy-coded data follows; the header is read
        pos = end
    if frame is None:
        raise UnreadableMedia("the JPEG ends before its frame header (SOF)")
    marker, width, height, sampling = frame
    scans = data.count(b"\xff\xda")  # stuffed entropy data never contains FF DA
    if scans > limits.max_jpeg_scans:
        raise MediaTooLarge(
            f"the JPEG has {scans} scans; the limit is {limits.max_jpeg_scans} (libjpeg-turbo's "
            "recommended limit against progressive scan bombs)"
        )
    return MediaInfo(
        type=JPEG,
        width=width,
        height=height,
        downscalable=marker in _SCALABLE,
        coefficient_bytes=_coefficient_bytes(width, height, sampling) if marker in _PROGRESSIVE else 0,
        scans=scans,
        truncated=truncated,
    )


def gif(data: bytes, limits: Limits) -> MediaInfo:
    walk = Walk(limits.max_structures, "GIF blocks")
    if len(data) < 13:
        raise UnreadableMedia("the GIF ends inside its header")
    width, height, packed = struct.unpack_from("<HHB", data, 6)
    pos = 13 + (3 << ((packed & 0x07) + 1) if packed & 0x80 else 0)
    frame_width, frame_height = width, height
    while pos < len(data):
        walk.tick()
        block = data[pos]
        if block == 0x2C:  # the first image descriptor: Pillow decodes this frame only
            if pos + 10 > len(data):
                raise UnreadableMedia("the GIF ends inside an image descriptor")
            left, top, w, h = struct.unpack_from("<HHHH", data, pos + 1)
            frame_width, frame_height = max(width, left + w), max(height, top + h)
            break
        if block == 0x21:  # extension: label, then sub-blocks until a zero length
            pos += 2
            while pos < len(data) and data[pos]:
                walk.tick()
                pos += 1 + data[pos]
            pos += 1
            continue
        if block == 0x3B:
            break
        raise UnreadableMedia(f"unexpected GIF block 0x{block:02X}")
    if not frame_width or not frame_height:
        raise UnreadableMedia("the GIF declares a zero width or height")
    return MediaInfo(type=GIF, width=frame_width, height=frame_height)


def webp(data: bytes, limits: Limits) -> MediaInfo:
    if len(data) < 30:
        raise UnreadableMedia("the WebP ends inside its header")
    kind, length = struct.unpack_from("<4sI", data, 12)
    body = data[20 : 20 + min(length, 32)]  # the sizes sit in the first bytes
    if len(body) < min(length, 10):
        raise UnreadableMedia("the WebP's first chunk is truncated")
    if kind == b"VP8 ":
        if body[3:6] != b"\x9d\x01\x2a":
            raise UnreadableMedia("the WebP's VP8 frame has no start code")
        width, height = (v & 0x3FFF for v in struct.unpack_from("<HH", body, 6))
    elif kind == b"VP8L":
        if body[0] != 0x2F:
            raise UnreadableMedia("the WebP's lossless frame has no signature")
        bits = int.from_bytes(body[1:5], "little")
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif kind == b"VP8X":
        width = int.from_bytes(body[4:7], "little") + 1
        height = int.from_bytes(body[7:10], "little") + 1
    else:
        raise UnreadableMedia(f"the WebP starts with an unknown chunk {kind!r}")
    if not width or not height:
        raise UnreadableMedia("the WebP declares a zero width or height")
    return MediaInfo(type=WEBP, width=width, height=height)
