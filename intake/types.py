"""Media types recognised from their first bytes, never from a filename or a Content-Type."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MediaType:
    mime: str
    kind: str  # "video" | "image"
    name: str = ""  # what a person calls it: "JPEG", "HEIC"
    extension: str = ""  # the suffix a stored file of this type gets, with the dot


MP4 = MediaType("video/mp4", "video", "MP4", ".mp4")
MOV = MediaType("video/quicktime", "video", "QuickTime MOV", ".mov")
WEBM = MediaType("video/webm", "video", "WebM", ".webm")
MKV = MediaType("video/x-matroska", "video", "Matroska", ".mkv")
JPEG = MediaType("image/jpeg", "image", "JPEG", ".jpg")
PNG = MediaType("image/png", "image", "PNG", ".png")
GIF = MediaType("image/gif", "image", "GIF", ".gif")
WEBP = MediaType("image/webp", "image", "WebP", ".webp")
AVIF = MediaType("image/avif", "image", "AVIF", ".avif")
HEIC = MediaType("image/heic", "image", "HEIC", ".heic")

ALL_TYPES = (MP4, MOV, WEBM, MKV, JPEG, PNG, GIF, WEBP, AVIF, HEIC)

_QUICKTIME_FIRST_BOXES = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
# HEIF still images (ISO/IEC 23008-12): HEVC-coded brands, and the generic structural ones.
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_HEIF_GENERIC_BRANDS = {b"mif1", b"msf1", b"mif2", b"miaf"}
_AVIF_BRANDS = {b"avif", b"avis"}


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


def _ftyp_brands(data: bytes) -> tuple[bytes, set[bytes]]:
    size = int.from_bytes(data[0:4], "big")
    end = min(len(data), size if 16 <= size <= 4096 else 16)
    compatible = {data[i : i + 4] for i in range(16, end - 3, 4)}
    return data[8:12], compatible


def sniff(data: bytes) -> MediaType | None:
    """The type the bytes say they are, or None. Cheap: looks at the first bytes only."""
    if len(data) >= 12 and data[4:8] == b"ftyp":
        major, compatible = _ftyp_brands(data)
        if major == b"qt  ":
            return MOV
        if major in _AVIF_BRANDS:
            return AVIF
        if major in _HEIC_BRANDS:
            return HEIC
        if major in _HEIF_GENERIC_BRANDS:
            if compatible & _AVIF_BRANDS:
                return AVIF
            return HEIC
        return MP4
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
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


def describe(data: bytes) -> str | None:
    """A name for formats recognised only to be refused clearly (TIFF, BMP, PDF…), else None."""
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if data[:2] == b"BM":
        return "BMP"
    if data[:5] == b"%PDF-":
        return "PDF"
    if data[:8] == b"\x00\x00\x00\x0cjP  " or data[:4] == b"\xff\x4f\xff\x51":
        return "JPEG 2000"
    return None
