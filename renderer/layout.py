"""Output profiles per platform and the still composition of a portrait into a frame.

The still frame (portrait scaled so the face has a profile-specific size, placed at a
profile-specific height, over a blurred fill where the photo does not reach) is composed
once per render. Only the head box is animated; everything else in a frame is the still,
plus the caption of the moment and the AI badge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import RenderError


@dataclass(frozen=True)
class OutputProfile:
    name: str
    width: int
    height: int
    fps: int
    face_height: float  # forehead-to-chin as a fraction of the frame height
    face_centre_y: float  # where the face centre sits, fraction of frame height
    caption_centre_y: float  # centre of the caption block, fraction of frame height
    caption_font_px: int
    caption_max_width: float  # fraction of frame width
    badge_font_px: int
    crf: int
    audio_bitrate: int
    platforms: tuple[str, ...]
    description: str


PROFILES: dict[str, OutputProfile] = {
    profile.name: profile
    for profile in (
        OutputProfile(
            name="vertical_720x1280",
            width=720,
            height=1280,
            fps=25,
            face_height=0.24,
            face_centre_y=0.38,
            caption_centre_y=0.70,
            caption_font_px=46,
            caption_max_width=0.84,
            badge_font_px=26,
            crf=23,
            audio_bitrate=128_000,
            platforms=(
                "tiktok",
                "capcut",
                "douyin",
                "kuaishou",
                "instagram",
                "snapchat",
                "taobao_live",
            ),
            description="9:16 vertical for TikTok, Reels, Shorts, Douyin, Snapchat",
        ),
        OutputProfile(
            name="landscape_1280x720",
            width=1280,
            height=720,
            fps=25,
            face_height=0.40,
            face_centre_y=0.42,
            caption_centre_y=0.85,
            caption_font_px=42,
            caption_max_width=0.78,
            badge_font_px=24,
            crf=23,
            audio_bitrate=128_000,
            platforms=("youtube", "web", "tv", "facebook", "x"),
            description="16:9 landscape for YouTube, the web and TV",
        ),
        OutputProfile(
            name="square_1080",
            width=1080,
            height=1080,
            fps=25,
            face_height=0.34,
            face_centre_y=0.40,
            caption_centre_y=0.82,
            caption_font_px=54,
            caption_max_width=0.84,
            badge_font_px=30,
            crf=23,
            audio_bitrate=128_000,
            platforms=(),
            description="1:1 square for feeds (Instagram, Facebook, X)",
        ),
    )
}

_PLATFORM_PROFILES = {
    platform: profile.name for profile in PROFILES.values() for platform in profile.platforms
}


def profile_for_platform(platform: str) -> OutputProfile:
    """The default output profile for a platform of the API vocabulary."""
    name = _PLATFORM_PROFILES.get((platform or "").strip().lower())
    if name is None:
        raise RenderError(
            f"Platform {platform!r} has no video profile (video platforms: "
            f"{', '.join(sorted(_PLATFORM_PROFILES))}).",
            code="invalid_profile",
        )
    return PROFILES[name]


def get_profile(name: str) -> OutputProfile:
    profile = PROFILES.get(name)
    if profile is None:
        raise RenderError(
            f"Unknown output profile {name!r} (profiles: {', '.join(PROFILES)}).",
            code="invalid_profile",
        )
    return profile


Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)


@dataclass(frozen=True)
class Composition:
    still: np.ndarray  # (H, W, 3) uint8: the frame with nothing moving
    landmarks: np.ndarray  # (478, 2) float32 in frame pixels
    head_box: Box  # the animated region
    scale: float  # portrait pixels -> frame pixels
    offset: tuple[float, float]  # frame = portrait * scale + offset
    face_height: float  # in frame pixels


def _even(value: float, *, down: bool) -> int:
    v = int(np.floor(value)) if down else int(np.ceil(value))
    return v - (v % 2) if down else v + (v % 2)


def compose_still(
    *, portrait: np.ndarray, landmarks: np.ndarray, profile: OutputProfile
) -> Composition:
    """Place the portrait in the profile's frame and find the head box.

    ``landmarks`` are (478, 2) pixel coordinates in ``portrait``.
    """
    import cv2

    width, height = profile.width, profile.height
    src_h, src_w = portrait.shape[:2]
    face_height_src = float(np.linalg.norm(landmarks[152] - landmarks[10]))
    if face_height_src < 1:
        raise RenderError("The stored landmarks describe no face.", code="invalid_landmarks")
    scale = profile.face_height * height / face_height_src
    face_centre = (landmarks[10] + landmarks[152]) / 2
    offset_x = round(width / 2 - face_centre[0] * scale)
    offset_y = round(profile.face_centre_y * height - face_centre[1] * scale)
    scaled_w, scaled_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    scaled = cv2.resize(portrait, (scaled_w, scaled_h), interpolation=interpolation)

    # Blurred, dimmed fill for whatever the photo does not cover.
    cover = max(width / src_w, height / src_h)
    small = cv2.resize(
        portrait,
        (max(1, round(src_w * cover / 8)), max(1, round(src_h * cover / 8))),
        interpolation=cv2.INTER_AREA,
    )
    small = cv2.GaussianBlur(small, (0, 0), 6)
    fill = cv2.resize(
        small, (round(src_w * cover), round(src_h * cover)), interpolation=cv2.INTER_LINEAR
    )
    fy0 = max(
        0,
        min(fill.shape[0] - height, round(face_centre[1] * cover - height * profile.face_centre_y)),
    )
    fx0 = max(0, min(fill.shape[1] - width, round(face_centre[0] * cover - width / 2)))
    background = fill[fy0 : fy0 + height, fx0 : fx0 + width].astype(np.float32) * 0.55

    # Paste the sharp portrait with feathered edges where it ends inside the frame.
    x0, y0 = max(0, offset_x), max(0, offset_y)
    x1, y1 = min(width, offset_x + scaled_w), min(height, offset_y + scaled_h)
    alpha = np.zeros((height, width), dtype=np.float32)
    layer = np.zeros((height, width, 3), dtype=np.float32)
    if x1 > x0 and y1 > y0:
        layer[y0:y1, x0:x1] = scaled[y0 - offset_y : y1 - offset_y, x0 - offset_x : x1 - offset_x]
        ys = np.arange(y0, y1, dtype=np.float32)
        xs = np.arange(x0, x1, dtype=np.float32)
        feather = max(8.0, 0.02 * max(width, height))
        # Distance to the photo's own edge (not the frame's edge).
        ry = np.minimum(ys - offset_y, offset_y + scaled_h - 1 - ys)
        rx = np.minimum(xs - offset_x, offset_x + scaled_w - 1 - xs)
        alpha[y0:y1, x0:x1] = np.clip(np.minimum(ry[:, None], rx[None, :]) / feather, 0, 1)
    still = background * (1 - alpha[..., None]) + layer * alpha[..., None]
    still = np.clip(np.round(still), 0, 255).astype(np.uint8)

    points = landmarks * scale + np.array([offset_x, offset_y], dtype=np.float32)
    face_height = face_height_src * scale
    oval_x0, oval_y0 = points[:, 0].min(), points[:, 1].min()
    oval_x1, oval_y1 = points[:, 0].max(), points[:, 1].max()
    head_box = (
        max(0, _even(oval_x0 - 0.30 * face_height, down=True)),
        max(0, _even(oval_y0 - 0.40 * face_height, down=True)),
        min(width, _even(oval_x1 + 0.30 * face_height, down=False)),
        min(height, _even(oval_y1 + 0.45 * face_height, down=False)),
    )
    if head_box[2] - head_box[0] < 16 or head_box[3] - head_box[1] < 16:
        raise RenderError("The face falls outside the frame.", code="invalid_landmarks")
    return Composition(
        still=still,
        landmarks=points.astype(np.float32),
        head_box=head_box,
        scale=float(scale),
        offset=(float(offset_x), float(offset_y)),
        face_height=float(face_height),
    )
