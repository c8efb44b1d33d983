"""What each intake path accepts, in numbers. Every figure says where it comes from.

Two profiles: :data:`VERIFY` (``POST /verify``, a web worker: the process may grow
by at most 300 MB for any input, issue 10 item 5) and :data:`PORTRAIT` (performer
onboarding, a renderer worker). A path that needs other figures derives its own
with ``dataclasses.replace``.

Budgets are checked against the *header* (what the file declares), before a byte
is decoded. What a decoder needs is estimated from the declared size and format:

* an image decoded whole costs ``pixels × output bytes per pixel`` plus, for a
  progressive JPEG, libjpeg's coefficient buffer (2 bytes per sample of every
  component, whatever the output);
* a baseline JPEG larger than ``max_image_pixels`` is accepted up to
  ``max_downscaled_image_pixels`` *only* because the callers decode it at 1/2, 1/4
  or 1/8 scale inside libjpeg (Pillow ``draft()``, OpenCV ``IMREAD_REDUCED_*``):
  :func:`intake.jpeg_reduction` gives the factor, which the caller must use;
* a video decoder holds ``frame bytes × (DPB frames + decode threads + 2)``,
  the DPB (decoded picture buffer) read from the codec configuration
  (H.264/HEVC parameter sets, the fixed 8 reference slots of VP9/AV1).
"""

from __future__ import annotations

from dataclasses import dataclass

from .types import AVIF, GIF, HEIC, JPEG, MKV, MOV, MP4, PNG, WEBM, WEBP, MediaType

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    name: str
    accept: frozenset[MediaType]
    max_bytes: int | None = None  # the caller's upload limit; None: the caller checked it
    max_side: int = 16_384  # any declared width or height, image or video
    max_image_pixels: int = 40_000_000  # images decoded at full size
    max_downscaled_image_pixels: int = 120_000_000  # baseline JPEG, decoded at 1/2..1/8
    image_bytes_per_pixel: int = 4  # what the caller's decoded image costs per pixel
    max_frame_pixels: int = 4096 * 2304  # one video frame
    max_decoder_bytes: int = 160 * MIB  # estimated decoder working set (see module doc)
    max_pixels_x_frames: int = 30_000_000_000  # declared video frames × frame pixels
    max_samples: int = 1_000_000  # samples (frames, audio packets) over all tracks
    max_duration_s: float = 3 * 3600.0
    max_structures: int = 50_000  # chunks / boxes / elements / markers walked in the header
    max_jpeg_scans: int = 500
    decode_threads: int = 2  # the video decoder's threads (each holds frames: memory)


# POST /verify: clips and frame grabs. Sources of the figures:
# * max_frame_pixels 4096 × 2304: DCI 4K (4096 × 2160) and UHD (3840 × 2160) either way up.
# * max_decoder_bytes 160 MiB: what the decoder may hold, leaving the rest of the 300 MB
#   to watermark detection and c2pa. UHD 8-bit H.264 (12.4 MB a frame) fits with a DPB of up
#   to 9 frames (x264's defaults need 4-6); UHD with 16 reference frames does not, nor 10-bit
#   UHD beyond a DPB of 2; 1080p fits whatever its DPB (16 × 3.1 MB).
# * max_pixels_x_frames 30 gigapixels: UHD at 60 fps for one minute (29.9 Gpx), or
#   1080p at 30 fps for 8 minutes. Verification takes clips, not films.
# * max_samples 10^6: FFmpeg's MP4 demuxer keeps a 24-byte index entry per sample
#   (24 MB), and a constant-size `stsz` can declare billions in 20 bytes.
# * max_duration_s 3 h: longer than anything one verifies; beyond it a header is forged.
# * max_structures 50,000: libpng writes 8 KB IDAT chunks, so a 200 MB PNG has 25,000; a
#   3-hour fragmented MP4 with 2 s fragments has ~38,000 boxes. Walking 50,000 takes
#   30-80 ms in Python here, which keeps even a refusal at the cap under 100 ms.
# * max_jpeg_scans 500: libjpeg-turbo's own recommended scan limit (djpeg -maxscans,
#   TurboJPEG's TJPARAM_SCANLIMIT in tjbench) against progressive "scan bombs".
# * image_bytes_per_pixel 1, max_image_pixels 64 MP: verification decodes images to 8-bit
#   grey (OpenCV), so a 64 MP PNG costs 64 MB; a progressive JPEG adds its coefficients
#   (3-6 bytes a pixel), which max_decoder_bytes bounds (about 33 MP at 4:2:0).
VERIFY = Limits(
    name="verify",
    accept=frozenset({MP4, MOV, WEBM, MKV, JPEG, PNG}),
    image_bytes_per_pixel=1,
    max_image_pixels=64_000_000,
)

# Portraits: one still photo, decoded to RGB(A) by Pillow in a renderer worker.
# * max_image_pixels 40 MP: unchanged from the first portrait check (renderer/portrait.py);
#   a PNG/WebP/HEIC/AVIF/GIF must be decoded whole (40 MP RGBA is 160 MB).
# * max_downscaled_image_pixels 120 MP: a baseline JPEG is decoded at 1/2..1/8 scale
#   (Pillow draft), so 48 MP phone photos and 108 MP ones (12000 × 9000) are accepted;
#   it stays below Pillow's own bomb error (2 × 89.5 MP), which remains a second guard.
# * max_decoder_bytes 384 MiB: a 40 MP progressive 4:4:4 JPEG (240 MB of coefficients
#   plus its RGB output) still fits; the onboarding worker already holds the face models.
PORTRAIT = Limits(
    name="portrait",
    accept=frozenset({JPEG, PNG, WEBP, GIF, AVIF, HEIC}),
    max_decoder_bytes=384 * MIB,
)
