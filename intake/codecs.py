"""What a video decoder will hold, read from the codec configuration in the header.

``CodecInfo`` says how many bytes a decoded frame takes (bit depth, chroma
format) and how many frames the decoder may keep alive (its decoded picture
buffer, DPB). H.264 and HEVC say so in their sequence parameter set (SPS);
VP9 and AV1 have eight reference slots by design. Nothing here decodes a frame.
"""

from __future__ import annotations

from dataclasses import dataclass

# Chroma sample planes relative to luma: 4:0:0, 4:2:0, 4:2:2, 4:4:4.
_CHROMA_FACTOR = {0: 1.0, 1: 1.5, 2: 2.0, 3: 3.0}
MAX_DPB_FRAMES = 16  # H.264 and HEVC: the largest decoded picture buffer either allows
H264_MAX_HELD_FRAMES = 32  # FFmpeg: 16 references + 16 delayed pictures (MAX_DELAYED_PIC_COUNT)

# H.264 Table A-1: level_idc -> MaxDpbMbs (the DPB size the level allows, in macroblocks).
_H264_MAX_DPB_MBS = {
    9: 396, 10: 396, 11: 900, 12: 2376, 13: 2376, 20: 2376, 21: 4752, 22: 8100, 30: 8100,
    31: 18000, 32: 20480, 40: 32768, 41: 32768, 42: 34816, 50: 110400, 51: 184320,
    52: 184320, 60: 696320, 61: 696320, 62: 696320,
}
_H264_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


@dataclass(frozen=True)
class CodecInfo:
    codec: str  # "h264", "hevc", "vp9", "av1", "vp8", or the sample entry / CodecID
    bit_depth: int = 8
    chroma_format: int = 1  # 0 = 4:0:0, 1 = 4:2:0, 2 = 4:2:2, 3 = 4:4:4
    dpb_frames: int = MAX_DPB_FRAMES
    width: int = 0  # coded size, when the configuration carries it (H.264, HEVC SPS)
    height: int = 0
    declared: bool = False  # False: format assumed (8-bit 4:2:0), not read from the file

    def frame_bytes(self, pixels: int) -> int:
        sample = 1 if self.bit_depth <= 8 else 2
        return int(pixels * sample * _CHROMA_FACTOR.get(self.chroma_format, 3.0))


class _Bits:
    """Big-endian bit reader with Exp-Golomb codes, over an RBSP (emulation bytes removed)."""

    def __init__(self, data: bytes):
        self.value = int.from_bytes(data, "big")
        self.size = len(data) * 8
        self.pos = 0

    def u(self, n: int) -> int:
        if n == 0:
            return 0
        if self.pos + n > self.size:
            raise ValueError("parameter set ends early")
        self.pos += n
        return (self.value >> (self.size - self.pos)) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("Exp-Golomb code too long")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k % 2 else -(k // 2)


def _rbsp(nal: bytes) -> bytes:
    """Remove emulation-prevention bytes (00 00 03 -> 00 00)."""
    out = bytearray()
    zeros = 0
    for byte in nal:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _h264_scaling_list(bits: _Bits, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt:
            nxt = (last + bits.se() + 256) % 256
        last = nxt or last


def _h264_hrd(bits: _Bits) -> None:
    count = bits.ue() + 1
    bits.u(8)
    for _ in range(min(count, 32)):
        bits.ue()
        bits.ue()
        bits.u(1)
    bits.u(20)


def h264_sps(nal: bytes) -> CodecInfo:
    """Parse an H.264 SPS NAL unit (with its one-byte header). Raises ValueError."""
    bits = _Bits(_rbsp(nal[1:256]))
    profile = bits.u(8)
    bits.u(8)
    level = bits.u(8)
    bits.ue()
    chroma, depth = 1, 8
    if profile in _H264_HIGH_PROFILES:
        chroma = bits.ue()
        if chroma == 3:
            bits.u(1)
        depth = 8 + bits.ue()
        bits.ue()
        bits.u(1)
        if bits.u(1):
            for i in range(12 if chroma == 3 else 8):
                if bits.u(1):
                    _h264_scaling_list(bits, 16 if i < 6 else 64)
    bits.ue()
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()
    elif poc_type == 1:
        bits.u(1)
        bits.se()
        bits.se()
        for _ in range(min(bits.ue(), 255)):
            bits.se()
    refs = bits.ue()
    bits.u(1)
    width_mbs = bits.ue() + 1
    height_units = bits.ue() + 1
    frame_mbs_only = bits.u(1)
    height_mbs = height_units * (2 - frame_mbs_only)
    # FFmpeg keeps up to ``refs`` reference frames plus the frames waiting to be output in
    # order (the reorder depth). Without a declared depth, assume the level's whole DPB.
    by_level = _H264_MAX_DPB_MBS.get(level, 696320) // max(1, width_mbs * height_mbs)
    dpb = refs + min(MAX_DPB_FRAMES, by_level)
    try:
        if not frame_mbs_only:
            bits.u(1)
        bits.u(1)
        if bits.u(1):
            for _ in range(4):
                bits.ue()
        if bits.u(1):  # VUI
            if bits.u(1) and bits.u(8) == 255:
                bits.u(32)
            if bits.u(1):
                bits.u(1)
            if bits.u(1):
                bits.u(4)
                if bits.u(1):
                    bits.u(24)
            if bits.u(1):
                bits.ue()
                bits.ue()
            if bits.u(1):
                bits.u(32)
                bits.u(32)
                bits.u(1)
            nal_hrd = bits.u(1)
            if nal_hrd:
                _h264_hrd(bits)
            vcl_hrd = bits.u(1)
            if vcl_hrd:
                _h264_hrd(bits)
            if nal_hrd or vcl_hrd:
                bits.u(1)
            bits.u(1)
            if bits.u(1):  # bitstream restriction: the stream states its own DPB needs
                bits.u(1)
                for _ in range(4):
                    bits.ue()
                reorder = bits.ue()
                buffering = bits.ue()
                dpb = max(buffering, refs + reorder)
    except ValueError:
        pass  # a VUI cut short: keep the level's DPB
    return CodecInfo(
        codec="h264",
        bit_depth=depth,
        chroma_format=chroma,
        dpb_frames=min(max(dpb, 1), H264_MAX_HELD_FRAMES),
        width=width_mbs * 16,
        height=height_mbs * 16,
        declared=True,
    )


def hevc_sps(nal: bytes) -> CodecInfo:
    """Parse an HEVC SPS NAL unit (with its two-byte header). Raises ValueError."""
    bits = _Bits(_rbsp(nal[2:512]))
    bits.u(4)
    sub_layers = bits.u(3)
    bits.u(1)
    # profile_tier_level(1, sub_layers): general part, then per sub-layer flags and parts.
    bits.u(88)
    bits.u(8)
    present = [(bits.u(1), bits.u(1)) for _ in range(sub_layers)]
    if sub_layers:
        for _ in range(sub_layers, 8):
            bits.u(2)
    for profile_present, level_present in present:
        if profile_present:
            bits.u(88)
        if level_present:
            bits.u(8)
    bits.ue()
    chroma = bits.ue()
    if chroma == 3:
        bits.u(1)
    width, height = bits.ue(), bits.ue()
    if bits.u(1):
        for _ in range(4):
            bits.ue()
    depth = 8 + bits.ue()
    depth_chroma = 8 + bits.ue()
    bits.ue()
    ordering_all = bits.u(1)
    dpb = 1
    for _ in range(0 if ordering_all else sub_layers, sub_layers + 1):
        dpb = max(dpb, bits.ue() + 1)
        bits.ue()
        bits.ue()
    return CodecInfo(
        codec="hevc",
        bit_depth=max(depth, depth_chroma),
        chroma_format=chroma,
        dpb_frames=min(dpb, MAX_DPB_FRAMES),
        width=width,
        height=height,
        declared=True,
    )


def avcc(record: bytes) -> CodecInfo:
    """An ``avcC`` record (MP4) or Matroska ``V_MPEG4/ISO/AVC`` CodecPrivate."""
    if len(record) < 8 or record[0] != 1:
        raise ValueError("not an avcC record")
    count = record[5] & 0x1F
    pos = 6
    for _ in range(count):
        length = int.from_bytes(record[pos : pos + 2], "big")
        nal = record[pos + 2 : pos + 2 + length]
        if len(nal) < length or not nal:
            raise ValueError("avcC truncated")
        if nal[0] & 0x1F == 7:
            return h264_sps(nal)
        pos += 2 + length
    raise ValueError("avcC without an SPS")


def hvcc(record: bytes) -> CodecInfo:
    """An ``hvcC`` record (MP4) or Matroska ``V_MPEGH/ISO/HEVC`` CodecPrivate."""
    if len(record) < 23:
        raise ValueError("not an hvcC record")
    chroma = record[16] & 0x03
    depth = 8 + max(record[17] & 0x07, record[18] & 0x07)
    pos = 23
    for _ in range(record[22]):
        if pos + 3 > len(record):
            break
        nal_type = record[pos] & 0x3F
        count = int.from_bytes(record[pos + 1 : pos + 3], "big")
        pos += 3
        for _ in range(count):
            length = int.from_bytes(record[pos : pos + 2], "big")
            nal = record[pos + 2 : pos + 2 + length]
            pos += 2 + length
            if nal_type == 33 and len(nal) == length:
                try:
                    sps = hevc_sps(nal)
                except ValueError:
                    break
                return CodecInfo(
                    codec="hevc",
                    bit_depth=max(depth, sps.bit_depth),
                    chroma_format=max(chroma, sps.chroma_format),
                    dpb_frames=sps.dpb_frames,
                    width=sps.width,
                    height=sps.height,
                    declared=True,
                )
    return CodecInfo(codec="hevc", bit_depth=depth, chroma_format=chroma, declared=True)


def vpcc(body: bytes) -> CodecInfo:
    """A ``vpcC`` full box body (VP9 in MP4): bit depth and chroma subsampling."""
    if len(body) < 8:
        raise ValueError("vpcC too short")
    depth = body[6] >> 4
    subsampling = (body[6] >> 1) & 0x07
    chroma = {0: 1, 1: 1, 2: 2, 3: 3}.get(subsampling, 3)
    return CodecInfo(codec="vp9", bit_depth=depth or 8, chroma_format=chroma, dpb_frames=8,
                     declared=True)


def av1c(record: bytes) -> CodecInfo:
    """An ``av1C`` record (MP4, and Matroska ``V_AV1`` CodecPrivate)."""
    if len(record) < 4 or not record[0] & 0x80:
        raise ValueError("not an av1C record")
    flags = record[2]
    high, twelve, mono = flags & 0x40, flags & 0x20, flags & 0x10
    sub_x, sub_y = flags & 0x08, flags & 0x04
    depth = 12 if (high and twelve) else 10 if high else 8
    chroma = 0 if mono else 1 if (sub_x and sub_y) else 2 if sub_x else 3
    return CodecInfo(codec="av1", bit_depth=depth, chroma_format=chroma, dpb_frames=8,
                     declared=True)


def vp9_private(data: bytes) -> CodecInfo:
    """Matroska ``V_VP9`` CodecPrivate: a list of (id, length, value) features (all optional)."""
    depth, chroma, profile = 8, 1, None
    pos = 0
    while pos + 2 <= len(data):
        ident, length = data[pos], data[pos + 1]
        value = data[pos + 2 : pos + 2 + length]
        pos += 2 + length
        if not value:
            continue
        if ident == 1:
            profile = value[0]
        elif ident == 3:
            depth = value[0]
        elif ident == 4:
            chroma = {0: 1, 1: 1, 2: 2, 3: 3}.get(value[0], 3)
    if profile in (1, 3) and chroma == 1:
        chroma = 3
    return CodecInfo(codec="vp9", bit_depth=depth, chroma_format=chroma, dpb_frames=8,
                     declared=profile is not None)


# Codecs named by MP4 sample entries / Matroska CodecIDs, and what to assume when the
# configuration does not say: intra-only codecs hold one frame, VP8 three references.
def assumed(codec: str) -> CodecInfo:
    name = codec.lower()
    if name in ("vp09", "v_vp9", "vp9"):
        return CodecInfo(codec="vp9", dpb_frames=8)
    if name in ("av01", "v_av1", "av1"):
        return CodecInfo(codec="av1", dpb_frames=8)
    if name in ("vp08", "v_vp8", "vp8"):
        return CodecInfo(codec="vp8", dpb_frames=3)
    if name in ("jpeg", "mjpa", "mjpb", "mjpg", "v_mjpeg", "png ", "apch", "apcn", "apcs",
                "apco", "ap4h", "ap4x"):
        # Intra-only (Motion JPEG, PNG, ProRes): ProRes 4444 XQ is 12-bit 4:4:4.
        return CodecInfo(codec=name.strip(), bit_depth=12, chroma_format=3, dpb_frames=1)
    return CodecInfo(codec=name.strip())
