"""Synthetic media and transformations for provenance tests and benchmarks.

Not used at run time. Clips are made from scikit-image's bundled sample images
(no downloads): a slow pan/zoom with a small periodic warp standing in for a
talking head, plus a sine-tone audio track. Transformations are the ways a
stripped re-upload usually differs from the delivered file.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from dataclasses import dataclass

import av
import cv2
import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from provenance.watermark import orient

# Bundled with scikit-image (no network); a mix of faces, scenes, and hard textures.
SOURCES = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "stereo_motorcycle",
    "cat",
    "camera",
    "brick",
    "grass",
    "gravel",
    "moon",
    "coins",
    "clock",
    "cell",
    "page",
    "text",
    "colorwheel",
    "logo",
)


def source_image(name: str) -> np.ndarray:
    import skimage.data

    image = getattr(skimage.data, name)()
    if isinstance(image, tuple):
        image = image[0]
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.shape[2] == 4:
        image = image[..., :3]
    return np.ascontiguousarray(image.astype(np.uint8))


def synthetic_frames(
    source: str = "astronaut",
    *,
    height: int = 1280,
    width: int = 720,
    count: int = 50,
    seed: int = 0,
) -> np.ndarray:
    """(count, height, width, 3) uint8 RGB: the source image panned, zoomed and gently warped."""
    rng = np.random.default_rng(seed)
    image = source_image(source)
    scale = max(height / image.shape[0], width / image.shape[1]) * 1.15
    big = cv2.resize(
        image,
        (int(image.shape[1] * scale) + 2, int(image.shape[0] * scale) + 2),
        interpolation=cv2.INTER_CUBIC,
    )
    margin_x, margin_y = (big.shape[1] - width) / 2, (big.shape[0] - height) / 2
    phase = rng.uniform(0, 2 * math.pi)
    out = np.empty((count, height, width, 3), dtype=np.uint8)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = width / 2, height * 0.45
    blob = np.exp(-(((xs - cx) / (0.2 * width)) ** 2 + ((ys - cy) / (0.12 * height)) ** 2)).astype(
        np.float32
    )
    for i in range(count):
        t = i / 25.0
        zoom = 1 + 0.03 * math.sin(0.7 * t + phase)
        ox = margin_x + 0.4 * margin_x * math.sin(0.5 * t + phase)
        oy = margin_y + 0.3 * margin_y * math.cos(0.4 * t + phase)
        # A local "mouth" wobble: a few pixels of displacement around the centre.
        wobble = 3.0 * math.sin(2 * math.pi * 3.0 * t) * blob
        map_x = (xs / zoom + ox).astype(np.float32)
        map_y = (ys / zoom + oy + wobble).astype(np.float32)
        out[i] = cv2.remap(big, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out


def encode_video(
    frames: np.ndarray,
    *,
    container: str = "mp4",
    codec: str = "libx264",
    crf: int = 20,
    fps: int = 25,
    audio: bool = True,
    options: dict | None = None,
) -> bytes:
    """Encode RGB frames with PyAV (H.264/AAC in MP4 by default) into bytes."""
    buf = io.BytesIO()
    _, height, width, _ = frames.shape
    with av.open(buf, "w", format=container) as out:
        video = out.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        opts = {"crf": str(crf), "preset": "veryfast"} if codec == "libx264" else {}
        if codec in ("libvpx-vp9", "libvpx"):
            opts = {"crf": str(crf), "b": "0", "deadline": "realtime", "cpu-used": "8"}
        opts.update(options or {})
        video.options = opts
        sound = None
        if audio:
            sound = out.add_stream("libopus" if container == "webm" else "aac", rate=48000)
        for frame in frames:
            for packet in video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            _write_tone(out, sound, seconds=len(frames) / fps)
    return buf.getvalue()


def pattern_clip(width: int, height: int, frames: int = 50) -> bytes:
    """A smooth moving pattern as H.264 MP4 (25 fps, no audio): cheap to encode, real
    content for decoding and detection. Frames are made one at a time, so a 4K clip
    never holds more than one frame in memory."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        yy, xx = np.mgrid[0:height, 0:width]
        base = ((xx * 255 // width) ^ (yy * 255 // height)).astype(np.uint8)
        for i in range(frames):
            rgb = np.stack([np.roll(base, i * 7, axis=1), base, np.roll(base, i * 3, axis=0)], -1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def _write_tone(out, stream, *, seconds: float) -> None:
    rate = 48000
    size = stream.codec_context.frame_size or 1024
    total = int(rate * seconds)
    for start in range(0, total, size):
        t = np.arange(start, start + size) / rate
        samples = (0.2 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)


def decode_video(data: bytes, *, max_frames: int | None = None) -> np.ndarray:
    frames = []
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            if max_frames and len(frames) >= max_frames:
                break
    return np.stack(frames)


# --- transformations (each output carries no manifest: re-encoding drops it) ---------------


def _even(x: float) -> int:
    return max(2, int(x) // 2 * 2)


def reencode(data: bytes, *, crf: int = 30) -> bytes:
    return encode_video(decode_video(data), crf=crf, audio=False)


def downscale(data: bytes, *, factor: float = 0.5, crf: int = 23) -> bytes:
    frames = decode_video(data)
    _, h, w, _ = frames.shape
    size = (_even(w * factor), _even(h * factor))
    return encode_video(
        np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]),
        crf=crf,
        audio=False,
    )


def crop(
    data: bytes, *, fraction: float = 0.10, resize_back: bool = False, crf: int = 23, seed: int = 0
) -> bytes:
    """Remove ``fraction`` of the width and of the height (split unevenly between the sides)."""
    rng = np.random.default_rng(seed)
    frames = decode_video(data)
    _, h, w, _ = frames.shape
    ch, cw = _even(h * (1 - fraction)), _even(w * (1 - fraction))
    top = int(rng.integers(0, h - ch + 1))
    left = int(rng.integers(0, w - cw + 1))
    cropped = frames[:, top : top + ch, left : left + cw]
    if resize_back:
        cropped = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in cropped])
    return encode_video(np.ascontiguousarray(cropped), crf=crf, audio=False)


def brightness_contrast(
    data: bytes, *, alpha: float = 1.25, beta: float = -20, crf: int = 23
) -> bytes:
    frames = decode_video(data)
    return encode_video(
        np.stack([cv2.convertScaleAbs(f, alpha=alpha, beta=beta) for f in frames]),
        crf=crf,
        audio=False,
    )


def remux(data: bytes, *, container: str) -> bytes:
    """Copy the streams into another container without re-encoding (mkv, mov)."""
    out_buf = io.BytesIO()
    with av.open(io.BytesIO(data)) as src, av.open(out_buf, "w", format=container) as dst:
        mapping = {}
        for stream in src.streams:
            if stream.type in ("video", "audio"):
                mapping[stream.index] = dst.add_stream_from_template(stream)
        for packet in src.demux(*[s for s in src.streams if s.index in mapping]):
            if packet.dts is None:
                continue
            packet.stream = mapping[packet.stream.index]
            dst.mux(packet)
    return out_buf.getvalue()


def to_webm(data: bytes, *, crf: int = 33) -> bytes:
    """Transcode to VP9 in WebM (WebM cannot hold H.264, so this is a re-encode too)."""
    return encode_video(
        decode_video(data), container="webm", codec="libvpx-vp9", crf=crf, audio=False
    )


def reorient(data: bytes, *, orientation: str, crf: int = 23) -> bytes:
    """Mirror or rotate every frame (``provenance.watermark.ORIENTATIONS``) and re-encode (H.264)."""
    frames = decode_video(data)
    turned = np.stack([np.ascontiguousarray(orient(f, orientation)) for f in frames])
    return encode_video(turned, crf=crf, audio=False)


def frame_grab(
    data: bytes,
    *,
    index: int = 10,
    fmt: str = ".jpg",
    quality: int = 85,
    orientation: str = "identity",
) -> bytes:
    """One decoded frame as a JPEG/PNG, optionally mirrored or rotated first."""
    frame = np.ascontiguousarray(orient(decode_video(data, max_frames=index + 1)[-1], orientation))
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == ".jpg" else []
    ok, encoded = cv2.imencode(fmt, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), params)
    assert ok
    return encoded.tobytes()


# --- a certificate authority that is not Doppel's -------------------------------------------


@dataclass(frozen=True)
class ForeignSigner:
    chain_pem: bytes
    key_pem: bytes
    root_pem: bytes


def foreign_signer(*, organization: str = "Elsewhere Media") -> ForeignSigner:
    """A root CA + ES256 signing cert that meet C2PA's rules but do not chain to Doppel's root."""
    from provenance import keys

    root_key, root_cert = keys.make_root_ca(common_name=f"{organization} Root CA")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = keys.issue_signing_certificate(
        public_key=key.public_key(),
        root_key=root_key,
        root_cert=root_cert,
        common_name=f"{organization} Signer",
        validity=dt.timedelta(days=365),
    )
    return ForeignSigner(
        chain_pem=keys.cert_pem(cert) + keys.cert_pem(root_cert),
        key_pem=keys.pkcs8_pem(key),
        root_pem=keys.cert_pem(root_cert),
    )


def sign_with(
    signer: ForeignSigner,
    *,
    data: bytes,
    mime: str,
    manifest: dict,
    trust_root_pem: bytes | None = None,
) -> bytes:
    """Sign ``data`` with an arbitrary manifest and signer, as another tool would."""
    import c2pa

    settings = {"builder": {"thumbnail": {"enabled": False}}}
    if trust_root_pem:
        settings["trust"] = {"user_anchors": trust_root_pem.decode()}
    info = c2pa.C2paSignerInfo(b"es256", signer.chain_pem, signer.key_pem, None)
    context = c2pa.Context.from_dict(settings, signer=c2pa.Signer.from_info(info))
    builder = c2pa.Builder(manifest, context=context)
    out = io.BytesIO()
    builder.sign(mime, io.BytesIO(data), out)
    return out.getvalue()


def x509_subject(pem: bytes) -> str:
    return x509.load_pem_x509_certificate(pem).subject.rfc4514_string()
