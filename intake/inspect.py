"""``inspect(data, limits)``: recognise, read the header, and apply the budgets — no decoding."""

from __future__ import annotations

import struct

from . import bmff, images, matroska
from .errors import MediaTooLarge, UnreadableMedia, UnsupportedMedia
from .info import MediaInfo
from .limits import Limits
from .types import AVIF, GIF, HEIC, JPEG, MKV, MOV, MP4, PNG, WEBM, WEBP, describe, sniff

_READERS = {
    PNG: images.png,
    JPEG: images.jpeg,
    GIF: images.gif,
    WEBP: images.webp,
}


def accepted_names(limits: Limits) -> str:
    order = (MP4, MOV, WEBM, MKV, JPEG, PNG, WEBP, GIF, AVIF, HEIC)
    names = [t.name for t in order if t in limits.accept]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.0f} megapixels" if pixels >= 1e6 else f"{pixels} pixels"


def jpeg_reduction(info: MediaInfo, limits: Limits, *, min_side: int = 0) -> int:
    """The libjpeg scale denominator (1, 2, 4 or 8) a caller must decode ``info`` with.

    The smallest that brings the decoded image within ``max_image_pixels`` and the
    decoder budget, then as large as ``min_side`` allows (the decoded long side stays
    at least ``min_side``). Only baseline JPEGs can be reduced; others get 1.
    """
    if not info.downscalable:
        return 1
    needed = 1
    while needed < 8 and (
        info.pixels // (needed * needed) > limits.max_image_pixels
        or info.pixels // (needed * needed) * limits.image_bytes_per_pixel > limits.max_decoder_bytes
    ):
        needed *= 2
    wanted = needed
    if min_side:
        while wanted < 8 and max(info.width, info.height) // (wanted * 2) >= min_side:
            wanted *= 2
    return wanted


def inspect(data: bytes, *, limits: Limits) -> MediaInfo:
    """Read what ``data`` declares and refuse it if it is over ``limits``.

    Returns a :class:`MediaInfo`. Raises :class:`UnsupportedMedia` (not an accepted
    type), :class:`UnreadableMedia` (a broken or forged structure) or
    :class:`MediaTooLarge` (over a budget), each with a message that says why.
    Costs a few milliseconds: it reads headers, never pixels.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise UnsupportedMedia("the upload is not bytes")
    data = bytes(data)
    if limits.max_bytes is not None and len(data) > limits.max_bytes:
        raise MediaTooLarge(f"the file is {len(data)} bytes; the limit is {limits.max_bytes}")
    media_type = sniff(data)
    if media_type is None or media_type not in limits.accept:
        what = media_type.name if media_type else describe(data)
        prefix = f"{what} files are not accepted here" if what else "not a recognised file"
        raise UnsupportedMedia(f"{prefix}; send {accepted_names(limits)}")
    try:
        if media_type in _READERS:
            info = _READERS[media_type](data, limits)
        elif media_type in (WEBM, MKV):
            info = matroska.read(data, media_type, limits)
        else:
            info = bmff.read(data, media_type, limits)
    except (IndexError, struct.error) as exc:
        raise UnreadableMedia(f"the {media_type.name} header is cut short or malformed") from exc
    _check(info, limits)
    return info


def _check(info: MediaInfo, limits: Limits) -> None:
    name = info.type.name
    side = max(info.width, info.height)
    if side > limits.max_side:
        raise MediaTooLarge(
            f"the {name} declares {info.width}×{info.height} pixels; no side may exceed "
            f"{limits.max_side}"
        )
    if info.type.kind == "image":
        _check_image(info, limits)
    else:
        _check_video(info, limits)


def _check_image(info: MediaInfo, limits: Limits) -> None:
    name, pixels = info.type.name, info.pixels
    if info.downscalable:
        if pixels > limits.max_downscaled_image_pixels:
            raise MediaTooLarge(
                f"the {name} is {info.width}×{info.height} ({_megapixels(pixels)}); the limit is "
                f"{_megapixels(limits.max_downscaled_image_pixels)}"
            )
        reduction = jpeg_reduction(info, limits)
        decoded = pixels // (reduction * reduction)
        if decoded > limits.max_image_pixels:
            raise MediaTooLarge(
                f"the {name} is {info.width}×{info.height} ({_megapixels(pixels)}), too large to "
                "decode even at 1/8 scale"
            )
        return
    if pixels > limits.max_image_pixels:
        kind = "a progressive JPEG" if info.type.name == "JPEG" else f"a {name}"
        raise MediaTooLarge(
            f"the {name} is {info.width}×{info.height} ({_megapixels(pixels)}); the limit for "
            f"{kind}, which must be decoded whole, is {_megapixels(limits.max_image_pixels)}"
        )
    needed = info.coefficient_bytes + pixels * limits.image_bytes_per_pixel
    if needed > limits.max_decoder_bytes:
        raise MediaTooLarge(
            f"decoding this {info.width}×{info.height} {name} needs about {needed // 2**20} MiB; "
            f"the limit is {limits.max_decoder_bytes // 2**20} MiB"
        )


def _check_video(info: MediaInfo, limits: Limits) -> None:
    name = info.type.name
    if info.samples > limits.max_samples:
        raise MediaTooLarge(
            f"the {name} declares {info.samples} samples; the limit is {limits.max_samples}"
        )
    if info.duration_s is not None and info.duration_s > limits.max_duration_s:
        raise MediaTooLarge(
            f"the {name} declares a duration of {info.duration_s:.0f} s; the limit is "
            f"{limits.max_duration_s:.0f} s"
        )
    if not info.pixels:
        return  # no video track declared: the decoder's own limits apply
    if info.pixels > limits.max_frame_pixels:
        raise MediaTooLarge(
            f"the {name}'s frames are {info.width}×{info.height} ({_megapixels(info.pixels)}); "
            f"the limit is {_megapixels(limits.max_frame_pixels)} (4K)"
        )
    if info.frames and info.frames * info.pixels > limits.max_pixels_x_frames:
        raise MediaTooLarge(
            f"the {name} declares {info.frames} frames of {info.width}×{info.height}: "
            f"{info.frames * info.pixels / 1e9:.0f} gigapixels to decode; the limit is "
            f"{limits.max_pixels_x_frames / 1e9:.0f} gigapixels (e.g. one minute of 4K at 60 fps)"
        )
    codec = info.codec
    if codec is not None:
        held = codec.dpb_frames + limits.decode_threads + 2
        needed = info.frame_bytes * held
        if needed > limits.max_decoder_bytes:
            raise MediaTooLarge(
                f"decoding this {info.width}×{info.height} {codec.bit_depth}-bit {codec.codec} video "
                f"holds up to {held} frames, about {needed // 2**20} MiB; the limit is "
                f"{limits.max_decoder_bytes // 2**20} MiB (send a smaller or 8-bit copy)"
            )
