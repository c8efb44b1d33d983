"""Matroska / WebM (EBML): element sizes, the video track's size and codec, the duration.

Walks the EBML header and the Segment's top-level elements up to the first
Cluster (where the frames start): ``Info`` (TimecodeScale, Duration) and
``Tracks`` (TrackType, CodecID, CodecPrivate, DefaultDuration, Video
PixelWidth/PixelHeight and Colour BitsPerChannel). Frame counts are only
declared through DefaultDuration; without it ``frames`` is None and the
decoding side counts what it decodes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from . import codecs
from .codecs import CodecInfo
from .errors import UnreadableMedia
from .info import MediaInfo, Walk
from .limits import Limits
from .types import MediaType

SEGMENT, CLUSTER, INFO, TRACKS, TRACK_ENTRY, VIDEO, COLOUR = (
    0x18538067, 0x1F43B675, 0x1549A966, 0x1654AE6B, 0xAE, 0xE0, 0x55B0)
TIMECODE_SCALE, DURATION = 0x2AD7B1, 0x4489
TRACK_TYPE, CODEC_ID, CODEC_PRIVATE, DEFAULT_DURATION = 0x83, 0x86, 0x63A2, 0x23E383
PIXEL_WIDTH, PIXEL_HEIGHT, BITS_PER_CHANNEL, CHROMA_SUB_HORZ = 0xB0, 0xBA, 0x55B2, 0x55B3
UNKNOWN = -1


def _vint(data: bytes, pos: int, *, is_id: bool) -> tuple[int, int]:
    """(value, length) of an EBML variable-length integer at ``pos``."""
    if pos >= len(data):
        raise UnreadableMedia("the Matroska file ends inside an element header")
    first = data[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8 or pos + length > len(data):
        raise UnreadableMedia("the Matroska file has a malformed element header")
    value = int.from_bytes(data[pos : pos + length], "big")
    if is_id:
        return value, length
    value &= (1 << (7 * length)) - 1
    if value == (1 << (7 * length)) - 1:
        return UNKNOWN, length  # "unknown size": runs to the end of its parent
    return value, length


class _Reader:
    def __init__(self, data: bytes, limits: Limits):
        self.data = data
        self.walk = Walk(limits.max_structures, "elements")
        self.truncated = False

    def elements(self, start: int, end: int) -> Iterator[tuple[int, int, int]]:
        """(id, body start, body end) of each element in [start, end)."""
        pos = start
        while pos < end:
            self.walk.tick()
            ident, id_len = _vint(self.data, pos, is_id=True)
            size, size_len = _vint(self.data, pos + id_len, is_id=False)
            body = pos + id_len + size_len
            if size == UNKNOWN:
                if ident not in (SEGMENT, CLUSTER):
                    raise UnreadableMedia(f"the Matroska element 0x{ident:X} has an unknown size")
                yield ident, body, end
                return
            if body + size > end:
                if end == len(self.data):
                    self.truncated = True
                    yield ident, body, end
                    return
                raise UnreadableMedia(
                    f"the Matroska element 0x{ident:X} declares {size} bytes, more than its parent"
                )
            yield ident, body, body + size
            pos = body + size

    def uint(self, start: int, end: int) -> int:
        return int.from_bytes(self.data[start : min(end, start + 8)], "big")

    def bytes(self, start: int, end: int, limit: int) -> bytes:
        return self.data[start : min(end, start + limit)]

    def float(self, start: int, end: int) -> float:
        raw = self.data[start : min(end, start + 9)]
        if len(raw) == 4:
            return struct.unpack(">f", raw)[0]
        if len(raw) == 8:
            return struct.unpack(">d", raw)[0]
        return 0.0


def read(data: bytes, media_type: MediaType, limits: Limits) -> MediaInfo:
    reader = _Reader(data, limits)
    scale, duration = 1_000_000, None
    videos: list[dict] = []
    segment = None
    for ident, start, end in reader.elements(0, len(data)):
        if ident == SEGMENT:
            segment = (start, end)
            break
    if segment is None:
        raise UnreadableMedia(f"the {media_type.name} file has no Segment")
    for ident, start, end in reader.elements(*segment):
        if ident == CLUSTER:
            break  # frames from here on; the header is read
        if ident == INFO:
            for inner, s, e in reader.elements(start, end):
                if inner == TIMECODE_SCALE:
                    scale = reader.uint(s, e) or scale
                elif inner == DURATION:
                    duration = reader.float(s, e)
        elif ident == TRACKS:
            for inner, s, e in reader.elements(start, end):
                if inner == TRACK_ENTRY:
                    track = _track(reader, s, e)
                    if track["type"] == 1:
                        videos.append(track)
    duration_s = None
    if duration is not None and duration == duration and duration > 0:  # not NaN
        duration_s = duration * scale / 1e9
    if not videos:
        return MediaInfo(type=media_type, width=0, height=0, frames=0, duration_s=duration_s,
                         truncated=reader.truncated)
    main = max(videos, key=lambda t: t["width"] * t["height"])
    frames = None
    if duration_s and main["default_duration"]:
        frames = int(duration_s * 1e9 / main["default_duration"]) + 1
    return MediaInfo(
        type=media_type,
        width=max(t["width"] for t in videos),
        height=max(t["height"] for t in videos),
        frames=frames,
        samples=frames or 0,
        duration_s=duration_s,
        codec=main["codec"],
        truncated=reader.truncated,
    )


def _track(reader: _Reader, start: int, end: int) -> dict:
    track = {"type": 0, "codec_id": "", "private": b"", "default_duration": 0,
             "width": 0, "height": 0, "bits": 0, "chroma_horz": None}
    for ident, s, e in reader.elements(start, end):
        if ident == TRACK_TYPE:
            track["type"] = reader.uint(s, e)
        elif ident == CODEC_ID:
            track["codec_id"] = reader.bytes(s, e, 64).decode("ascii", "replace").rstrip("\0")
        elif ident == CODEC_PRIVATE:
            track["private"] = reader.bytes(s, e, 65_536)  # parameter sets are small
        elif ident == DEFAULT_DURATION:
            track["default_duration"] = reader.uint(s, e)
        elif ident == VIDEO:
            for inner, s2, e2 in reader.elements(s, e):
                if inner == PIXEL_WIDTH:
                    track["width"] = reader.uint(s2, e2)
                elif inner == PIXEL_HEIGHT:
                    track["height"] = reader.uint(s2, e2)
                elif inner == COLOUR:
                    for colour, s3, e3 in reader.elements(s2, e2):
                        if colour == BITS_PER_CHANNEL:
                            track["bits"] = reader.uint(s3, e3)
    track["codec"] = _codec(track)
    return track


def _codec(track: dict) -> CodecInfo:
    codec_id, private = track["codec_id"], track["private"]
    info = None
    try:
        if codec_id == "V_MPEG4/ISO/AVC" and private:
            info = codecs.avcc(private)
        elif codec_id == "V_MPEGH/ISO/HEVC" and private:
            info = codecs.hvcc(private)
        elif codec_id == "V_AV1" and private:
            info = codecs.av1c(private)
        elif codec_id == "V_VP9" and private:
            info = codecs.vp9_private(private)
    except (ValueError, IndexError, struct.error):
        info = None
    if info is None:
        info = codecs.assumed(codec_id)
    if track["bits"] and track["bits"] > info.bit_depth:
        info = CodecInfo(codec=info.codec, bit_depth=track["bits"], chroma_format=info.chroma_format,
                         dpb_frames=info.dpb_frames, width=info.width, height=info.height,
                         declared=True)
    return info
