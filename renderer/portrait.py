"""Performer onboarding: decode a portrait safely and find its face landmarks once.

``analyze_portrait`` runs when a performer uploads a portrait; the JSON of the returned
:class:`PortraitAnalysis` is stored beside the image and handed back to every render, so
renders never run face detection. Landmarks are stored normalised to the upright image
(EXIF orientation applied), which makes them independent of the working resolution.
"""

from __future__ import annotations

import hashlib
import io
import threading
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

import intake

from .errors import PortraitError
from .runtime import CACHE

# Header checks and budgets shared with every other media path (intake/limits.py):
# 40 MP for an image decoded whole, 120 MP for a baseline JPEG decoded at reduced scale.
LIMITS = intake.PORTRAIT
MAX_IMAGE_BYTES = 50 * 1024 * 1024
MAX_PIXELS = LIMITS.max_image_pixels  # refused from the header, before the pixels are decoded
_PILLOW_FORMAT = {
    intake.JPEG: "JPEG",
    intake.PNG: "PNG",
    intake.WEBP: "WEBP",
    intake.GIF: "GIF",
    intake.AVIF: "AVIF",
    intake.HEIC: "HEIF",
}
_REDUCIBLE = {"L", "LA", "RGB", "RGBA", "CMYK"}
MIN_FACE_HEIGHT_PX = 80  # forehead-to-chin in the upright image
SECOND_FACE_RATIO = 0.35  # a second face at least this wide (vs the largest) is "several faces"
DETECTION_MAX_SIDE = 1600  # detection runs on a downscaled copy; landmarks are normalised
WORKING_MAX_SIDE = 2048  # renders never need more source pixels than this
LANDMARK_COUNT = 478
FORMAT_VERSION = 1
LANDMARK_MODEL = "mediapipe-facemesh-0.10.21-refined"

_MEDIAPIPE_LOCK = threading.Lock()


@dataclass(frozen=True)
class PortraitAnalysis:
    """What onboarding learns about a portrait; store ``as_json()``, restore ``from_json``."""

    width: int  # upright image size in pixels
    height: int
    landmarks: np.ndarray  # (478, 3) float32: x / width, y / height, z / width
    face_box: tuple[float, float, float, float]  # normalised x0, y0, x1, y1 of the landmarks
    detection_score: float
    image_sha256: str
    model: str = LANDMARK_MODEL

    @property
    def face_height_px(self) -> float:
        return float((self.face_box[3] - self.face_box[1]) * self.height)

    def landmarks_px(self, *, width: int, height: int) -> np.ndarray:
        """(478, 2) float32 pixel coordinates in an upright copy of size ``width × height``."""
        return (self.landmarks[:, :2] * np.array([width, height], dtype=np.float32)).astype(
            np.float32
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "model": self.model,
            "width": self.width,
            "height": self.height,
            "face_box": [round(float(v), 5) for v in self.face_box],
            "detection_score": round(float(self.detection_score), 4),
            "image_sha256": self.image_sha256,
            "landmarks": [[round(float(v), 5) for v in point] for point in self.landmarks],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PortraitAnalysis:
        """Rebuild from stored JSON; raises PortraitError(code="invalid_landmarks")."""
        try:
            if int(data["format"]) != FORMAT_VERSION:
                raise ValueError(f"unsupported landmarks format {data['format']!r}")
            landmarks = np.asarray(data["landmarks"], dtype=np.float32)
            if landmarks.shape != (LANDMARK_COUNT, 3) or not np.isfinite(landmarks).all():
                raise ValueError(f"expected {LANDMARK_COUNT}×3 finite landmarks")
            face_box = tuple(float(v) for v in data["face_box"])
            if len(face_box) != 4:
                raise ValueError("face_box needs 4 numbers")
            width, height = int(data["width"]), int(data["height"])
            if width <= 0 or height <= 0:
                raise ValueError("width and height must be positive")
            return cls(
                width=width,
                height=height,
                landmarks=landmarks,
                face_box=face_box,  # type: ignore[arg-type]
                detection_score=float(data.get("detection_score", 0.0)),
                image_sha256=str(data.get("image_sha256", "")),
                model=str(data.get("model", LANDMARK_MODEL)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PortraitError(
                f"The stored face landmarks are not usable ({exc}); analyse the portrait again.",
                code="invalid_landmarks",
            ) from exc


def _admit(image: bytes) -> intake.MediaInfo:
    """The intake's header checks (intake.PORTRAIT), as PortraitErrors."""
    if not isinstance(image, bytes | bytearray | memoryview) or len(image) == 0:
        raise PortraitError("The portrait is empty or not bytes.", code="not_an_image")
    if len(image) > MAX_IMAGE_BYTES:
        raise PortraitError(
            f"The portrait file is {len(image) / 1e6:.1f} MB; the limit is "
            f"{MAX_IMAGE_BYTES / 1e6:.0f} MB.",
            code="image_too_large",
        )
    try:
        return intake.inspect(bytes(image), limits=LIMITS)
    except intake.MediaTooLarge as exc:
        raise PortraitError(f"The portrait is too large: {exc.message}.", code="image_too_large") from exc
    except intake.MediaError as exc:
        raise PortraitError(
            f"The portrait is not an image we can read: {exc.message}.", code="not_an_image"
        ) from exc


_HEIF_LOCK = threading.Lock()
_heif_registered = False


def _heif_opener() -> bool:
    """Register pillow-heif's HEIC decoder with Pillow once; False if it is not installed."""
    global _heif_registered
    with _HEIF_LOCK:
        if not _heif_registered:
            try:
                import pillow_heif
            except ImportError:
                return False
            pillow_heif.register_heif_opener()
            _heif_registered = True
    return True


def _open(image: bytes, info: intake.MediaInfo):
    """Pillow, restricted to the format the bytes were recognised as (never a guess of its own)."""
    from PIL import Image

    if info.type == intake.HEIC and not _heif_opener():
        raise PortraitError(
            "The portrait is a HEIC photo, which this installation cannot decode; "
            "send it as JPEG or PNG.",
            code="not_an_image",
        )
    with warnings.catch_warnings():
        # The intake checked the size from the header against our own budget (up to
        # 120 MP for a baseline JPEG, decoded at reduced scale), so Pillow's warning
        # at 89 MP is moot; its hard error at 179 MP still stands behind ours.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(io.BytesIO(bytes(image)), formats=[_PILLOW_FORMAT[info.type]])


def _to_8bit(picture):
    """16-bit greyscale (Pillow I;16*, or I holding 16-bit values) scaled to 8-bit L, not clipped."""
    from PIL import Image

    if not (picture.mode.startswith("I;16") or picture.mode == "I"):
        return picture
    values = np.asarray(picture).astype(np.int64)
    if picture.mode == "I" and values.size and values.max() <= 255 and values.min() >= 0:
        scaled = values  # an I image that holds 8-bit values
    else:
        scaled = (np.clip(values, 0, 65535) * 255 + 32767) // 65535
    return Image.fromarray(scaled.astype(np.uint8), mode="L")


def decode_portrait(image: bytes, *, max_side: int | None = None) -> np.ndarray:
    """Decode image bytes to an upright RGB uint8 array, refusing bombs before decoding.

    The type comes from the bytes (JPEG, PNG, WebP, GIF, AVIF, HEIC; :mod:`intake`), and
    the header is checked against ``intake.PORTRAIT`` first. A baseline JPEG is decoded
    at 1/2..1/8 scale inside libjpeg when it is big (up to 120 MP is accepted that way);
    other formats are decoded whole (up to 40 MP). ``max_side`` downsizes large images
    (area-averaged) after decoding. 16-bit greyscale is scaled to 8 bits, not clipped.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    info = _admit(image)
    try:
        picture = _open(image, info)
        width, height = picture.size
        reduction = intake.jpeg_reduction(info, LIMITS)
        wanted = (width // reduction, height // reduction)
        if max_side is not None and max(width, height) > 2 * max_side:
            wanted = (min(wanted[0], max_side), min(wanted[1], max_side))
        if info.type == intake.JPEG and wanted != (width, height):
            # libjpeg decodes at 1/2, 1/4, 1/8 scale directly: far less memory and time.
            picture.draft("RGB", wanted)
        picture.load()
        picture = ImageOps.exif_transpose(picture)
    except PortraitError:
        raise
    except Image.DecompressionBombError as exc:
        raise PortraitError(
            "The portrait has too many pixels to decode safely.", code="image_too_large"
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PortraitError(
            f"The portrait is not a {info.type.name} image we can read (damaged or truncated).",
            code="not_an_image",
        ) from exc
    picture = _to_8bit(picture)
    if picture.mode == "P":
        picture = picture.convert("RGBA" if "transparency" in picture.info else "RGB")
    if max_side is not None and max(picture.size) >= 2 * max_side and picture.mode in _REDUCIBLE:
        # Integer box reduction first: later copies (flattening, RGB) are then small.
        picture = picture.reduce(max(picture.size) // max_side)
    if picture.mode in ("RGBA", "LA", "PA"):
        rgba = picture.convert("RGBA")
        flattened = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flattened.alpha_composite(rgba)
        picture = flattened
    picture = picture.convert("RGB")
    if max_side is not None and max(picture.size) > max_side:
        scale = max_side / max(picture.size)
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        picture = picture.resize(size, Image.Resampling.BOX)
    return np.asarray(picture, dtype=np.uint8)


def upright_size(image: bytes) -> tuple[int, int]:
    """(width, height) of the image once EXIF orientation is applied, from the header."""
    picture = _open(image, _admit(image))
    width, height = picture.size
    try:
        orientation = picture.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block means "no rotation"
        orientation = 1
    if orientation in (5, 6, 7, 8):
        return height, width
    return width, height


def _mediapipe() -> dict[str, Any]:
    def load() -> dict[str, Any]:
        import mediapipe as mp  # heavy (imports matplotlib): only on onboarding workers

        return {
            "detector": mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=0.5
            ),
            "mesh": mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True,
                max_num_faces=1,
                refine_landmarks=True,
                min_detection_confidence=0.3,
            ),
        }

    return CACHE.get("mediapipe", load)


def _detect_faces(rgb: np.ndarray) -> list[tuple[float, tuple[float, float, float, float]]]:
    """(score, normalised x0, y0, x1, y1) for every face the full-range detector sees."""
    with _MEDIAPIPE_LOCK:
        result = _mediapipe()["detector"].process(rgb)
    faces = []
    for detection in result.detections or []:
        box = detection.location_data.relative_bounding_box
        faces.append(
            (
                float(detection.score[0]),
                (box.xmin, box.ymin, box.xmin + box.width, box.ymin + box.height),
            )
        )
    return faces


def _mesh(rgb: np.ndarray) -> np.ndarray | None:
    with _MEDIAPIPE_LOCK:
        result = _mediapipe()["mesh"].process(rgb)
    if not result.multi_face_landmarks:
        return None
    points = result.multi_face_landmarks[0].landmark
    return np.array([[p.x, p.y, p.z] for p in points], dtype=np.float32)


def analyze_portrait(image: bytes) -> PortraitAnalysis:
    """Find the one face in a portrait and its 478 landmarks.

    Raises PortraitError with code ``not_an_image``, ``image_too_large``, ``no_face``,
    ``multiple_faces`` or ``face_too_small``.
    """
    rgb = decode_portrait(image, max_side=DETECTION_MAX_SIDE)
    width, height = upright_size(image)
    faces = _detect_faces(rgb)
    if not faces:
        raise PortraitError(
            "No face was found in the portrait. Use a well-lit, front-facing photo of one person.",
            code="no_face",
        )
    faces.sort(key=lambda face: face[1][2] - face[1][0], reverse=True)
    largest_width = faces[0][1][2] - faces[0][1][0]
    others = [f for f in faces[1:] if (f[1][2] - f[1][0]) >= SECOND_FACE_RATIO * largest_width]
    if others:
        raise PortraitError(
            f"The portrait shows {1 + len(others)} faces; it must show exactly one person.",
            code="multiple_faces",
        )
    score, (x0, y0, x1, y1) = faces[0]

    # FaceMesh's own detector is short-range; run it on a square crop around the face.
    h, w = rgb.shape[:2]
    cx, cy = (x0 + x1) / 2 * w, (y0 + y1) / 2 * h
    side = max((x1 - x0) * w, (y1 - y0) * h) * 2.2
    left, top = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    right, bottom = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
    crop = np.ascontiguousarray(rgb[top:bottom, left:right])
    landmarks = _mesh(crop)
    if landmarks is None:
        raise PortraitError(
            "A face was found but its features could not be located; use a sharper, "
            "front-facing photo.",
            code="no_face",
        )
    crop_h, crop_w = crop.shape[:2]
    landmarks[:, 0] = (landmarks[:, 0] * crop_w + left) / w
    landmarks[:, 1] = (landmarks[:, 1] * crop_h + top) / h
    landmarks[:, 2] = landmarks[:, 2] * crop_w / w
    box = (
        float(landmarks[:, 0].min()),
        float(landmarks[:, 1].min()),
        float(landmarks[:, 0].max()),
        float(landmarks[:, 1].max()),
    )
    face_height = (box[3] - box[1]) * height
    if face_height < MIN_FACE_HEIGHT_PX:
        raise PortraitError(
            f"The face is {face_height:.0f} pixels tall; at least {MIN_FACE_HEIGHT_PX} are "
            "needed. Use a closer or higher-resolution photo.",
            code="face_too_small",
        )
    return PortraitAnalysis(
        width=width,
        height=height,
        landmarks=landmarks,
        face_box=box,
        detection_score=score,
        image_sha256=hashlib.sha256(bytes(image)).hexdigest(),
    )
