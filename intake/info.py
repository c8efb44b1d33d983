"""What the header of an accepted file declares (:class:`MediaInfo`), and the walk counter."""

from __future__ import annotations

from dataclasses import dataclass

from .codecs import CodecInfo
from .errors import MediaTooLarge
from .types import MediaType


@dataclass(frozen=True)
class MediaInfo:
    """Declared facts about one file, read from its header without decoding.

    ``width``/``height``: the largest frame any image or video track declares, in pixels.
    ``frames``: video frames declared by the main video track (None: not declared, e.g. a
    WebM without DefaultDuration); 1 for a still image (only the first frame is decoded).
    ``samples``: samples over all tracks (video frames + audio packets), as the demuxer
    will index them. ``duration_s``: None when not declared.
    """

    type: MediaType
    width: int
    height: int
    frames: int | None = 1
    samples: int = 0
    duration_s: float | None = None
    codec: CodecInfo | None = None  # video only
    downscalable: bool = False  # a baseline JPEG: libjpeg can decode it at 1/2, 1/4, 1/8
    coefficient_bytes: int = 0  # a progressive JPEG's coefficient buffer, all components
    scans: int = 0  # JPEG scans (SOS markers)
    truncated: bool = False  # the last structure runs past the end of the data

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def frame_bytes(self) -> int:
        """Bytes of one decoded video frame in its own format (bit depth, chroma)."""
        codec = self.codec or CodecInfo(codec="unknown")
        return codec.frame_bytes(self.pixels)


class Walk:
    """Counts the header structures a parser visits, so a forged file cannot make it loop."""

    def __init__(self, limit: int, noun: str):
        self.limit = limit
        self.noun = noun
        self.count = 0

    def tick(self) -> None:
        self.count += 1
        if self.count > self.limit:
            self.tick_over()

    def tick_over(self) -> None:
        raise MediaTooLarge(
                f"the file has more than {self.limit} {self.noun} in its header; "
                "no real file needs that many"
            )
