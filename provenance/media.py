"""Recognise uploaded media by its bytes, refuse bombs from the header, and pull frames out
of it with PyAV / OpenCV.

The type comes from magic bytes, never from a filename or a client's
Content-Type (:mod:`intake`, shared with the portrait path): MP4/MOV (ISO BMFF
``ftyp``, or a QuickTime file that starts with ``moov``/``mdat``/``wide``/``free``),
WebM/Matroska (EBML header, DocType ``webm`` or ``matroska``), JPEG and PNG.

:func:`admit` runs the intake before any decoder sees a byte: anything else is
:class:`UnsupportedMedia` (415); a broken or forged structure (a PNG chunk longer
than the file…) is :class:`UnreadableMedia` (422); a file over the verification
budget (:data:`intake.VERIFY`: pixels, frames × pixels, samples, duration, decoder
memory) is :class:`MediaTooLarge` (413). The decoders then run with guards of
their own, for streams whose bitstream contradicts their header: FFmpeg's
``max_pixels``, two decoding threads, a cap on decoded pixels, and a check of
every decoded frame's size. No PyAV/OpenCV exception ever escapes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import av
import cv2
import numpy as np

import intake
from intake import (
    JPEG,
    MKV,
    MOV,
    MP4,
    PNG,
    WEBM,
    MediaError,
    MediaInfo,
    MediaTooLarge,
    MediaType,
    UnreadableMedia,
    UnsupportedMedia,
)

__all__ = [
    "JPEG", "MKV", "MOV", "MP4", "PNG", "VERIFY_LIMITS", "WEBM", "MediaError", "MediaInfo",
    "MediaTooLarge", "MediaType", "UnreadableMedia", "UnsupportedMedia", "admit", "image_luma",
    "require_type", "sniff", "video_luma_frames",
]

VERIFY_LIMITS = intake.VERIFY

# Sequential decoding is fastest for short clips (a 10 s 720p clip decodes in
# ~0.4 s); longer files are sampled by seeking so detection time stays bounded.
SEEK_ABOVE_SECONDS = 40.0
# Decoding in order costs every frame; beyond this many decoded pixels (about 2-4 s of
# one core: ~40 s of 1080p at 30 fps) a clip is sampled by seeking to keyframes instead,
# and a stream that declares less than it holds stops decoding here.
SEQUENTIAL_MAX_PIXELS = 2_500_000_000


def sniff(data: bytes) -> MediaType | None:
    """The type of ``data`` if it is one ``/verify`` accepts, else None."""
    media_type = intake.sniff(data)
    return media_type if media_type in VERIFY_LIMITS.accept else None


def require_type(data: bytes) -> MediaType:
    media = sniff(data)
    if media is None:
        raise UnsupportedMedia("not a recognised MP4, MOV, WebM, Matroska, JPEG or PNG file")
    return media


def admit(data: bytes) -> MediaInfo:
    """What ``data`` declares, once it passed the verification budget; raises MediaError.

    Header reading only (milliseconds): call it before any decoder, c2pa included.
    """
    return intake.inspect(data, limits=VERIFY_LIMITS)


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


def _decoder_options(options: dict[str, str]) -> dict[str, str]:
    # FFmpeg refuses to allocate a frame above max_pixels, whatever the bitstream says.
    return {**options, "max_pixels": str(VERIFY_LIMITS.max_frame_pixels)}


def _frame_guard(info: MediaInfo):
    """A check for each decoded frame: the decoder's working set at this frame's real size
    and format must stay within the budget the header was admitted under.

    Frames larger than the header declares are legal (WebRTC recordings change resolution
    mid-stream) and pass while they fit; a stream whose real frames would not fit — a
    small header over a big bitstream — is refused as soon as its first such frame appears.
    """
    held = (info.codec.dpb_frames if info.codec else intake.CodecInfo("unknown").dpb_frames)
    held += VERIFY_LIMITS.decode_threads + 2
    # 5 %: decoded planes carry line padding the header estimate does not.
    allowed = VERIFY_LIMITS.max_decoder_bytes * 21 // 20 // held

    def check(frame: av.VideoFrame) -> None:
        size = sum(plane.buffer_size for plane in frame.planes)
        if size > allowed:
            raise MediaTooLarge(
                f"a decoded frame is {frame.width}×{frame.height} {frame.format.name} "
                f"({size // 1024} KiB), but the header declared {info.width}×{info.height}; "
                f"holding {held} such frames needs about {size * held // 2**20} MiB, over the "
                f"{VERIFY_LIMITS.max_decoder_bytes // 2**20} MiB budget"
            )

    return check


def _budgeted(decoded: Iterator[av.VideoFrame], check, budget: int) -> Iterator[av.VideoFrame]:
    """Frames as decoded, each checked, until ``budget`` decoded pixels are spent."""
    spent = 0
    for frame in decoded:
        check(frame)
        spent += frame.width * frame.height
        yield frame
        if spent >= budget:
            return


def video_luma_frames(
    data: bytes, *, max_frames: int = 32, info: MediaInfo | None = None
) -> Iterator[np.ndarray]:
    """Up to ``max_frames`` luma planes sampled evenly over the video.

    ``info`` is :func:`admit`'s result (computed here when not given). Raises
    :class:`UnreadableMedia` when nothing decodes, :class:`MediaTooLarge` when a
    decoded frame is larger than the header declared.
    """
    info = info or admit(data)
    check = _frame_guard(info)
    try:
        container = av.open(io.BytesIO(data), mode="r", options=_decoder_options({}))
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise UnreadableMedia(f"the video cannot be opened: {exc}") from exc
    with container:
        if not container.streams.video:
            raise UnreadableMedia("the file has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        # Each decoding thread holds frames of its own: the memory budget assumes this many.
        stream.thread_count = VERIFY_LIMITS.decode_threads
        # Skipping the deblocking filter is faster *and* detects better: the
        # filter smooths exactly the fine structure the watermark lives in
        # (measured: bit accuracy after CRF 30 up 2-35 points on hard clips).
        stream.codec_context.options = _decoder_options({"skip_loop_filter": "all", "flags2": "fast"})
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        total = stream.frames or (int(duration * rate) if duration else 0)
        pixels = max(1, stream.codec_context.width * stream.codec_context.height, info.pixels)
        if (duration and duration > SEEK_ABOVE_SECONDS) or total * pixels > SEQUENTIAL_MAX_PIXELS:
            frames = _seek_sample(container, stream, duration or total / rate, max_frames, check)
        elif duration and total > 2 * max_frames:
            # Plenty of frames: skip decoding B-frames (nothing references
            # them) and keep the first frame at or after evenly spaced times.
            stream.codec_context.skip_frame = "NONREF"
            frames = _time_sample(
                _budgeted(container.decode(stream), check, SEQUENTIAL_MAX_PIXELS), duration, max_frames
            )
        else:
            step = max(1, total // max_frames) if total else 3
            decoded = _budgeted(container.decode(stream), check, SEQUENTIAL_MAX_PIXELS)
            frames = (f for i, f in enumerate(decoded) if i % step == 0)
        kept = 0
        try:
            for frame in frames:
                yield _luma(frame).copy()
                kept += 1
                if kept >= max_frames:
                    break
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            if isinstance(exc, MediaError):
                raise
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


def _seek_sample(
    container, stream, duration: float, max_frames: int, check
) -> Iterator[av.VideoFrame]:
    for i in range(max_frames):
        t = duration * (i + 0.5) / max_frames
        container.seek(int(t / stream.time_base), stream=stream, any_frame=False, backward=True)
        for frame in container.decode(stream):
            check(frame)
            yield frame
            break


_REDUCED = {
    1: cv2.IMREAD_GRAYSCALE,
    2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
    4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
    8: cv2.IMREAD_REDUCED_GRAYSCALE_8,
}


def image_luma(data: bytes, *, info: MediaInfo | None = None) -> np.ndarray:
    """8-bit grey of a JPEG/PNG. A baseline JPEG above the full-decode budget is decoded
    at 1/2..1/8 scale inside libjpeg (the detector downscales big frames anyway)."""
    info = info or admit(data)
    flag = _REDUCED[intake.jpeg_reduction(info, VERIFY_LIMITS)]
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag)
    if image is None and data[:3] == b"\xff\xd8\xff" and not data.endswith(b"\xff\xd9"):
        # A truncated JPEG: close it so libjpeg decodes what is there (the rest turns grey).
        image = cv2.imdecode(np.frombuffer(data + b"\xff\xd9", dtype=np.uint8), flag)
    if image is None or image.size == 0:
        raise UnreadableMedia("the image cannot be decoded")
    return image
