"""ISO base media file format (MP4, MOV, HEIF, AVIF): box sizes, tracks, dimensions, counts.

Reads the box tree without decoding: per track ``tkhd`` (display size), ``mdhd``
(duration), ``hdlr`` (video or not), ``stsd`` (coded size and codec
configuration: avcC/hvcC/vpcC/av1C), ``stsz``/``stz2``/``stts`` (sample counts);
``trun`` sample counts of fragmented files; and for HEIF/AVIF the ``ispe``
image sizes. A box that runs past the end of the file is *truncated* (the
file is reported, not refused: the parts before still verify); a box smaller
than its own header, or a child larger than its parent, is broken.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

from . import codecs
from .codecs import CodecInfo
from .errors import MediaTooLarge, UnreadableMedia
from .info import MediaInfo, Walk
from .limits import Limits
from .types import MediaType

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"mvex", b"moof", b"traf",
               b"iprp", b"ipco", b"dinf", b"udta"}
_VIDEO_ENTRIES = {b"avc1", b"avc3", b"hvc1", b"hev1", b"dvh1", b"dvhe", b"vp08", b"vp09",
                  b"av01", b"mp4v", b"jpeg", b"mjpa", b"mjpb", b"png ", b"apch", b"apcn",
                  b"apcs", b"apco", b"ap4h", b"ap4x", b"s263", b"h263", b"encv"}
_UNKNOWN_DURATION = (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)
_BOX_HEADER = struct.Struct(">I4s")
CONFIG_MAX_BYTES = 65_536  # read at most this much of a codec configuration box


@dataclass
class _Track:
    track_id: int = 0
    handler: bytes = b""
    tkhd_size: tuple[int, int] = (0, 0)
    entry_size: tuple[int, int] = (0, 0)
    entry_type: bytes = b""
    codec: CodecInfo | None = None
    samples: int = 0
    fragment_samples: int = 0
    timescale: int = 0
    duration: int = 0

    @property
    def is_video(self) -> bool:
        return self.handler == b"vide" or self.entry_type in _VIDEO_ENTRIES

    @property
    def size(self) -> tuple[int, int]:
        codec = self.codec
        return (
            max(self.tkhd_size[0], self.entry_size[0], codec.width if codec else 0),
            max(self.tkhd_size[1], self.entry_size[1], codec.height if codec else 0),
        )


@dataclass
class _Movie:
    tracks: list[_Track] = field(default_factory=list)
    timescale: int = 0
    duration: int = 0
    image_sizes: list[tuple[int, int]] = field(default_factory=list)
    truncated: bool = False
    fragment_samples: dict[int, int] = field(default_factory=dict)


class _Reader:
    def __init__(self, data: bytes, limits: Limits):
        self.data = data
        self.walk = Walk(limits.max_structures, "boxes")
        self.max_samples = limits.max_samples
        self.movie = _Movie()

    def boxes(self, start: int, end: int, *, top: bool = False) -> Iterator[tuple[bytes, int, int]]:
        """(type, body start, body end) of each box in [start, end)."""
        data, walk, unpack = self.data, self.walk, _BOX_HEADER.unpack_from
        pos = start
        while pos + 8 <= end:
            walk.count += 1
            if walk.count > walk.limit:
                walk.tick_over()
            size, kind = unpack(data, pos)
            header = 8
            if size == 1:
                if pos + 16 > end:
                    self.movie.truncated = True
                    return
                size = struct.unpack_from(">Q", data, pos + 8)[0]
                header = 16
            elif size == 0:
                size = end - pos  # "to the end of the file" (or of the parent)
            if size < header:
                raise UnreadableMedia(
                    f"the {kind.decode('latin-1')!r} box declares {size} bytes, less than its own header"
                )
            box_end = pos + size
            if box_end > end:
                if top or end == len(data):
                    self.movie.truncated = True  # cut off: read what is there, then stop
                    yield kind, pos + header, len(data)
                    return
                raise UnreadableMedia(
                    f"the {kind.decode('latin-1')!r} box declares {size} bytes, more than the box "
                    "that holds it"
                )
            yield kind, pos + header, box_end
            pos = box_end

    def read(self) -> _Movie:
        for kind, start, end in self.boxes(0, len(self.data), top=True):
            if kind == b"moov":
                self.container(start, end, None)
            elif kind == b"moof":
                self.container(start, end, None)
            elif kind == b"meta":
                self.meta(start, end)
        for track in self.movie.tracks:
            track.fragment_samples = self.movie.fragment_samples.get(track.track_id, 0)
        return self.movie

    def meta(self, start: int, end: int) -> None:
        # ISO 'meta' is a full box (4 bytes of version and flags); QuickTime's is not.
        if start + 12 <= end and self.data[start : start + 4] == b"\0\0\0\0":
            start += 4
        for kind, s, e in self.boxes(start, end):
            if kind == b"iprp":
                for inner, s2, e2 in self.boxes(s, e):
                    if inner == b"ipco":
                        self.properties(s2, e2)

    def properties(self, start: int, end: int) -> None:
        for kind, s, e in self.boxes(start, end):
            if kind == b"ispe" and e - s >= 12:
                self.movie.image_sizes.append(struct.unpack_from(">II", self.data, s + 4))

    def container(self, start: int, end: int, track: _Track | None) -> None:
        data = self.data
        for kind, s, e in self.boxes(start, end):
            if kind == b"trak":
                new = _Track()
                self.movie.tracks.append(new)
                self.container(s, e, new)
            elif kind == b"traf":
                self.fragment(s, e)
            elif kind in _CONTAINERS:
                self.container(s, e, track)
            elif kind == b"meta":
                self.meta(s, e)
            elif kind == b"mvhd" and e - s >= 20:
                self.movie.timescale, self.movie.duration = _time(data, s)
            elif track is None:
                continue
            elif kind == b"tkhd" and e - s >= 84:
                version = data[s]
                base = s + (88 if version == 1 else 76)
                if base + 8 <= e:
                    w, h = struct.unpack_from(">II", data, base)
                    track.tkhd_size = (w >> 16, h >> 16)
                track.track_id = struct.unpack_from(">I", data, s + (20 if version == 1 else 12))[0]
            elif kind == b"mdhd" and e - s >= 20:
                track.timescale, track.duration = _time(data, s)
            elif kind == b"hdlr" and e - s >= 12:
                track.handler = data[s + 8 : s + 12]
            elif kind == b"stsd" and e - s >= 8:
                self.sample_entries(s + 8, e, track)
            elif kind == b"stsz" and e - s >= 12:
                track.samples = max(track.samples, struct.unpack_from(">I", data, s + 8)[0])
            elif kind == b"stz2" and e - s >= 12:
                track.samples = max(track.samples, struct.unpack_from(">I", data, s + 8)[0])
            elif kind == b"stts" and e - s >= 8:
                track.samples = max(track.samples, _stts_total(data, s, e, self.max_samples))

    def sample_entries(self, start: int, end: int, track: _Track) -> None:
        for kind, s, e in self.boxes(start, end):
            video = track.handler == b"vide" or kind in _VIDEO_ENTRIES
            if not video or e - s < 78:
                continue
            w, h = struct.unpack_from(">HH", self.data, s + 24)
            track.entry_type = kind
            track.entry_size = (max(track.entry_size[0], w), max(track.entry_size[1], h))
            track.codec = self.codec_config(kind, s + 78, e)

    def codec_config(self, entry: bytes, start: int, end: int) -> CodecInfo:
        data = self.data
        try:
            for kind, s, e in self.boxes(start, end):
                body = data[s : min(e, s + CONFIG_MAX_BYTES)]  # parameter sets are small
                if kind == b"avcC":
                    return codecs.avcc(body)
                if kind == b"hvcC":
                    return codecs.hvcc(body)
                if kind == b"vpcC":
                    return codecs.vpcc(body)
                if kind == b"av1C":
                    return codecs.av1c(body)
        except (ValueError, IndexError, struct.error):
            pass  # an unreadable configuration: assume below, the decoder will say more
        return codecs.assumed(entry.decode("latin-1"))

    def fragment(self, start: int, end: int) -> None:
        data = self.data
        track_id = 0
        for kind, s, e in self.boxes(start, end):
            if kind == b"tfhd" and e - s >= 8:
                track_id = struct.unpack_from(">I", data, s + 4)[0]
            elif kind == b"trun" and e - s >= 8:
                count = struct.unpack_from(">I", data, s + 4)[0]
                self.movie.fragment_samples[track_id] = self.movie.fragment_samples.get(track_id, 0) + count


def _time(data: bytes, start: int) -> tuple[int, int]:
    """(timescale, duration) of an mvhd/mdhd full box body."""
    if data[start] == 1:
        if start + 32 > len(data):
            return 0, 0
        timescale, duration = struct.unpack_from(">IQ", data, start + 20)
    else:
        timescale, duration = struct.unpack_from(">II", data, start + 12)
    return timescale, 0 if duration in _UNKNOWN_DURATION else duration


def _stts_total(data: bytes, start: int, end: int, max_samples: int) -> int:
    """Samples an ``stts`` table describes. Every entry stands for at least one sample
    (FFmpeg allocates each), so a table longer than ``max_samples`` is refused unread."""
    count = struct.unpack_from(">I", data, start + 4)[0]
    usable = min(count, (end - start - 8) // 8)
    if usable > max_samples:
        raise MediaTooLarge(
            f"the file's time-to-sample table has {usable} entries; the limit is {max_samples} samples"
        )
    table = array("I")
    table.frombytes(memoryview(data)[start + 8 : start + 8 + usable * 8])
    if sys.byteorder == "little":
        table.byteswap()
    return sum(table[0::2])


def read(data: bytes, media_type: MediaType, limits: Limits) -> MediaInfo:
    movie = _Reader(data, limits).read()
    if media_type.kind == "image":  # HEIF / AVIF still images
        if not movie.image_sizes:
            raise UnreadableMedia(f"the {media_type.name} file declares no image size (ispe)")
        width = max(w for w, _ in movie.image_sizes)
        height = max(h for _, h in movie.image_sizes)
        if not width or not height:
            raise UnreadableMedia(f"the {media_type.name} file declares a zero width or height")
        return MediaInfo(type=media_type, width=width, height=height, truncated=movie.truncated)
    samples = sum(t.samples + t.fragment_samples for t in movie.tracks)
    videos = [t for t in movie.tracks if t.is_video]
    duration = movie.duration / movie.timescale if movie.timescale else None
    for track in movie.tracks:
        if track.timescale and track.duration:
            track_duration = track.duration / track.timescale
            duration = max(duration or 0.0, track_duration)
    if not videos:
        return MediaInfo(type=media_type, width=0, height=0, frames=0, samples=samples,
                         duration_s=duration, truncated=movie.truncated)
    main = max(videos, key=lambda t: t.size[0] * t.size[1])
    width = max(t.size[0] for t in videos)
    height = max(t.size[1] for t in videos)
    frames = sum(t.samples + t.fragment_samples for t in videos)
    return MediaInfo(
        type=media_type,
        width=width,
        height=height,
        frames=frames or None,
        samples=samples,
        duration_s=duration,
        codec=main.codec or codecs.assumed(main.entry_type.decode("latin-1") or "unknown"),
        truncated=movie.truncated,
    )
