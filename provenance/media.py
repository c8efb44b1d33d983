"""Recognise uploaded media by its bytes, and pull frames out of it with PyAV / OpenCV.

The type comes from magic bytes, never from a filename or a client's
Content-Type: MP4/MOV (ISO BMFF ``ftyp``, or a QuickTime file that starts
with ``moov``/``mdat``/``wide``/``free``), WebM/Matroska (EBML header, DocType
``webm`` or ``matroska``), JPEG and PNG. Anything else is
:class:`UnsupportedMedia`; a recognised file that does not decode is
:class:`UnreadableMedia`. Neither ever escapes as a PyAV/OpenCV exception.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import av
import cv2
import numpy as np

# Sequential decoding is fastest for short clips (a 10 s 720p clip decodes in
# ~0.4 s); longer files are sampled by seeking so detection time stays bounded.
SEEK_ABOVE_SECONDS = 40.0


class MediaError(ValueError):
    code = "invalid_media"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UnsupportedMedia(MediaError):
    """Not a format Doppel verifies (suggested HTTP status: 415)."""

    code = "unsupported_media"


class UnreadableMedia(MediaError):
    """A supported format that cannot be decoded (truncated, corrupt)."""

    code = "unreadable_media"


@dataclass(frozen=True)
class MediaType:
    mime: str
    kind: str  # "video" | "image"


MP4 = MediaType("video/mp4", "video")
MOV = MediaType("video/quicktime", "video")
WEBM = MediaType("video/webm", "video")
MKV = MediaType("video/x-matroska", "video")
JPEG = MediaType("image/jpeg", "image")
PNG = MediaType("image/png", "image")

_QUICKTIME_FIRST_BOXES = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def _ebml_doctype(data: bytes) -> str | None:
    """DocType from an EBML header (the first 64 bytes are enough in practice)."""
    head = data[:64]
    i = head.find(b"\x42\x82")  # DocType element id
    if i < 0 or i + 3 > len(head):
        return None
    size_byte = head[i + 2]
    if not size_byte & 0x80:  # only the one-byte size form occurs for DocType
        return None
    size = size_byte & 0x7F
    return head[i + 3 : i + 3 + size].decode("ascii", "replace")


def sniff(data: bytes) -> MediaType | None:
    if len(data) >= 12 and data[4:8] == b"ftyp":
        brand = data[8:12]
        return MOV if brand == b"qt  " else MP4
    if len(data) >= 8 and data[4:8] in _QUICKTIME_FIRST_BOXES:
        return MOV
    if data[:4] == b"\x1a\x45\xdf\xa3":
        doctype = _ebml_doctype(data)
        if doctype == "webm":
            return WEBM
        if doctype == "matroska":
            return MKV
        return None
    if data[:3] == b"\xff\xd8\xff":
        return JPEG
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return PNG
    return None


def require_type(data: bytes) -> MediaType:
    media = sniff(data)
    if media is None:
        raise UnsupportedMedia("not a recognised MP4, MOV, WebM, Matroska, JPEG or PNG file")
    return media


# --- frames -------------------------------------------------------------------------------


def _luma(frame: av.VideoFrame) -> np.ndarray:
    fmt = frame.format.name
    if fmt.startswith(("yuv", "yuvj", "nv12", "nv21")) and not fmt.startswith("yuva"):
        plane = frame.planes[0]
        rows = np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)
        if "p10" in fmt or "p12" in fmt or "p16" in fmt:
            return frame.to_ndarray(format="gray")
        return rows[:, : plane.width]
    return frame.to_ndarray(format="gray")


def video_luma_frames(data: bytes, *, max_frames: int = 32) -> Iterator[np.ndarray]:
    """Up to ``max_frames`` luma planes sampled evenly over the video."""
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise UnreadableMedia(f"the video cannot be opened: {exc}") from exc
    with container:
        if not container.streams.video:
            raise UnreadableMedia("the file has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        # Skipping the deblocking filter is faster *and* detects better: the
        # filter smooths exactly the fine structure the watermark lives in
        # (measured: bit accuracy after CRF 30 up 2-35 points on hard clips).
        stream.codec_context.options = {"skip_loop_filter": "all", "flags2": "fast"}
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        total = stream.frames or (int(duration * rate) if duration else 0)
        if duration and duration > SEEK_ABOVE_SECONDS:
            frames = _seek_sample(container, stream, duration, max_frames)
        elif duration and total > 2 * max_frames:
            # Plenty of frames: skip decoding B-frames (nothing references
            # them) and keep the first frame at or after evenly spaced times.
            stream.codec_context.skip_frame = "NONREF"
            frames = _time_sample(container.decode(stream), duration, max_frames)
        else:
            step = max(1, total // max_frames) if total else 3
            frames = (f for i, f in enumerate(container.decode(stream)) if i % step == 0)
        kept = 0
        try:
            for frame in frames:
                yield _luma(frame).copy()
                kept += 1
                if kept >= max_frames:
                    break
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            # A truncated file still gives the frames before the damage.
            if kept == 0:
                raise UnreadableMedia(f"the video cannot be decoded: {exc}") from exc
        if kept == 0:
            raise UnreadableMedia("the video has no decodable frames")


def _time_sample(
    decoded: Iterator[av.VideoFrame], duration: float, max_frames: int
) -> Iterator[av.VideoFrame]:
    spacing = duration / max_frames
    next_time = None
    for frame in decoded:
        t = frame.time
        if t is None:
            yield frame
            continue
        if next_time is None:
            next_time = t
        if t + 1e-6 >= next_time:
            yield frame
            next_time = t + spacing


def _seek_sample(container, stream, duration: float, max_frames: int) -> Iterator[av.VideoFrame]:
    for i in range(max_frames):
        t = duration * (i + 0.5) / max_frames
        container.seek(int(t / stream.time_base), stream=stream, any_frame=False, backward=True)
        for frame in container.decode(stream):
            yield frame
            break


def image_luma(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None and data[:3] == b"\xff\xd8\xff" and not data.endswith(b"\xff\xd9"):
        # A truncated JPEG: close it so libjpeg decodes what is there (the rest turns grey).
        image = cv2.imdecode(
            np.frombuffer(data + b"\xff\xd9", dtype=np.uint8), cv2.IMREAD_GRAYSCALE
        )
    if image is None or image.size == 0:
        raise UnreadableMedia("the image cannot be decoded")
    return image
