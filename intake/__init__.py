"""Media intake: recognise an upload by its bytes and refuse it before decoding if it is
over budget. One set of rules for every path that decodes media (``/verify``, portraits).

Pure Python (standard library only), no Django, no project imports, so that the
renderer library, ``provenance`` and ``rights`` can all use it. Public API::

    sniff(data) -> MediaType | None              # from the first bytes, never a filename
    inspect(data, limits=VERIFY) -> MediaInfo    # header facts, or raises MediaError
    jpeg_reduction(info, limits, min_side=...)   # 1/2/4/8: how a big baseline JPEG is decoded
    VERIFY, PORTRAIT: Limits                     # the budgets, with their sources (limits.py)
    MediaError > UnsupportedMedia (415) | UnreadableMedia (422) | MediaTooLarge (413)

What it checks (docs/provenance.md, "Media intake"): container structure (PNG chunk
lengths, JPEG segments and scans, ISO BMFF boxes, EBML elements — none may claim
more than the file holds), declared dimensions, frame count × pixels, sample
counts, duration, and the decoder memory the declared format implies.
"""

from .codecs import CodecInfo
from .errors import MediaError, MediaTooLarge, UnreadableMedia, UnsupportedMedia
from .info import MediaInfo
from .inspect import accepted_names, inspect, jpeg_reduction
from .limits import PORTRAIT, VERIFY, Limits
from .types import (
    ALL_TYPES,
    AVIF,
    GIF,
    HEIC,
    JPEG,
    MKV,
    MOV,
    MP4,
    PNG,
    WEBM,
    WEBP,
    MediaType,
    describe,
    sniff,
)

__all__ = [
    "ALL_TYPES", "AVIF", "GIF", "HEIC", "JPEG", "MKV", "MOV", "MP4", "PNG", "PORTRAIT", "VERIFY",
    "WEBM", "WEBP", "CodecInfo", "Limits", "MediaError", "MediaInfo", "MediaTooLarge", "MediaType",
    "UnreadableMedia", "UnsupportedMedia", "accepted_names", "describe", "inspect",
    "jpeg_reduction", "sniff",
]
