"""``render``: portrait + landmarks + script -> speaking MP4, stage by stage.

validate -> speech -> drive signals -> still composition (+ badge, caption layers)
-> animate the head box in batches -> paste into the still -> frame_filter -> encode.
Everything that can refuse a request (profile, backend, language, voice, script, landmarks,
clip length) is checked before the first frame is rendered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backends import AnimationJob, HeadRegion, get_backend
from .encode import Mp4Writer
from .errors import RenderError
from .layout import Box, compose_still, get_profile
from .overlays import Layer, badge_layer, caption_layers
from .portrait import WORKING_MAX_SIDE, PortraitAnalysis, decode_portrait
from .runtime import (
    FORK_WARNING,
    choose_device,
    ensure_torch_threads,
    forked_after_parallel_torch,
    note_parallel_torch_use,
    render_threads,
)
from .speech import prepare_for_voice, resolve_voice, synthesize
from .timeline import build_drive, frame_count

BATCH_FRAMES = 16

FrameFilter = Callable[[np.ndarray], np.ndarray]
Progress = Callable[[float, str], None]


@dataclass(kw_only=True)
class RenderRequest:
    portrait: bytes
    landmarks: dict[str, Any]  # PortraitAnalysis.as_json()
    script: str
    language: str  # ISO 639-1
    voice: str | None = None
    territory: str | None = None  # ISO 3166 alpha-2: how ambiguous dates and "$" are read
    profile: str = "vertical_720x1280"
    captions: bool = True
    ai_badge: bool = True
    badge_text: str = "AI-generated"
    seed: int = 0
    frame_filter: FrameFilter | None = None  # uint8 (N, H, W, 3) RGB -> same, before encoding
    progress: Progress | None = None  # (fraction 0..1, stage)
    backend: str = "procedural"


@dataclass(kw_only=True)
class RenderResult:
    mp4: bytes
    duration_s: float
    frames: int
    fps: int
    width: int
    height: int
    audio_duration_s: float
    timings: dict[str, float]
    device: str
    language: str
    voice: str
    profile: str
    backend: str
    warnings: list[str] = field(default_factory=list)
    captions: list[tuple[str, float, float]] = field(default_factory=list)  # text, start, end
    # Debugging / quality tracks, one value per frame.
    mouth_open: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    lip_close: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    blink: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    audio_envelope: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    bilabial_frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    phones: list[tuple[str, float, float]] = field(default_factory=list)
    layout: dict[str, Any] = field(default_factory=dict)


class _Progress:
    def __init__(self, callback: Progress | None) -> None:
        self.callback = callback
        self.last = 0.0

    def __call__(self, fraction: float, stage: str) -> None:
        self.last = max(self.last, min(1.0, fraction))
        if self.callback is not None:
            self.callback(self.last, stage)


def _landmarks(request: RenderRequest) -> PortraitAnalysis:
    if not isinstance(request.landmarks, dict):
        raise RenderError(
            "landmarks must be the dict from PortraitAnalysis.as_json().", code="invalid_landmarks"
        )
    return PortraitAnalysis.from_json(request.landmarks)


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def render(request: RenderRequest) -> RenderResult:
    """Render one clip. Raises RenderError subclasses for anything the caller can fix."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    progress = _Progress(request.progress)
    warnings: list[str] = []

    def lap(stage: str, since: float) -> float:
        now = time.perf_counter()
        timings[stage] = timings.get(stage, 0.0) + now - since
        return now

    # ---- validate: everything that can refuse the request, before any work -------------------
    tick = time.perf_counter()
    progress(0.0, "validate")
    profile = get_profile(request.profile)
    backend = get_backend(request.backend)
    voice = resolve_voice(language=request.language, voice=request.voice)
    prepared = prepare_for_voice(request.script, voice=voice, territory=request.territory)
    analysis = _landmarks(request)
    portrait = decode_portrait(request.portrait, max_side=WORKING_MAX_SIDE)
    ph, pw = portrait.shape[:2]
    if abs(pw / ph - analysis.width / analysis.height) > 0.02:
        raise RenderError(
            "The landmarks were computed for a different portrait; analyse it again.",
            code="invalid_landmarks",
        )
    device = choose_device()
    threads = render_threads()
    if ensure_torch_threads() == 1 and forked_after_parallel_torch():
        warnings.append(FORK_WARNING)
    tick = lap("validate", tick)

    # ---- speech -------------------------------------------------------------------------------
    progress(0.02, "speech")
    speech = synthesize(script=prepared, voice=voice, seed=request.seed)
    fps = profile.fps
    frames = frame_count(duration_s=speech.duration_s, fps=fps)
    exact = int(round(frames / fps * speech.sample_rate))
    audio = np.zeros(exact, dtype=np.float32)
    audio[: min(exact, len(speech.samples))] = speech.samples[:exact]
    tick = lap("speech", tick)
    progress(0.15, "speech")

    drive = build_drive(
        phones=speech.phones,
        samples=audio,
        sample_rate=speech.sample_rate,
        fps=fps,
        frames=frames,
        seed=request.seed,
    )
    tick = lap("timeline", tick)

    # ---- still composition, overlays, backend preparation ----------------------------------------
    composition = compose_still(
        portrait=portrait,
        landmarks=analysis.landmarks_px(width=pw, height=ph),
        profile=profile,
    )
    head_box = composition.head_box
    hx0, hy0, hx1, hy1 = head_box
    layers: list[Layer] = []
    if request.ai_badge:
        badge, warning = badge_layer(text=request.badge_text, profile=profile)
        if warning:
            warnings.append(warning)
        if badge is not None:
            layers.append(badge)
    tick = lap("compose", tick)
    cue_layers: list[tuple[Any, Layer]] = []
    if request.captions:
        cue_layers, warning = caption_layers(speech=speech, profile=profile)
        if warning:
            warnings.append(warning)
    tick = lap("captions", tick)

    head_region = HeadRegion(
        image=np.ascontiguousarray(composition.still[hy0:hy1, hx0:hx1]),
        landmarks=composition.landmarks - np.array([hx0, hy0], dtype=np.float32),
        face_height=composition.face_height,
    )
    job = AnimationJob(head=head_region, drive=drive, speech=speech, seed=request.seed)
    state = backend.prepare(job=job, device=device)
    tick = lap("prepare", tick)

    # Which caption is on screen in each frame (-1: none).
    centres = (np.arange(frames) + 0.5) / fps
    cue_of_frame = np.full(frames, -1, dtype=np.int64)
    for index, (cue, _) in enumerate(cue_layers):
        cue_of_frame[(centres >= cue.start_s) & (centres < cue.end_s)] = index
    stills = _Stills(
        still=composition.still, layers=layers, cues=[layer for _, layer in cue_layers]
    )

    writer = Mp4Writer(
        width=profile.width,
        height=profile.height,
        fps=fps,
        audio=audio,
        sample_rate=speech.sample_rate,
        crf=profile.crf,
        audio_bitrate=profile.audio_bitrate,
        threads=threads,
        metadata={"comment": "AI-generated", "encoder": "doppel renderer"},
    )
    tick = lap("prepare", tick)
    progress(0.18, "animate")
    try:
        for start in range(0, frames, BATCH_FRAMES):
            stop = min(frames, start + BATCH_FRAMES)
            patches = backend.frames(state=state, start=start, stop=stop)
            if len(patches) != stop - start:
                raise RenderError(
                    f"Backend {backend.name!r} returned {len(patches)} frames for {stop - start}.",
                    code="backend_failed",
                )
            note_parallel_torch_use()
            tick = lap("animate", tick)
            cues = [int(c) for c in cue_of_frame[start:stop]]
            for patch, cue in zip(patches, cues, strict=True):
                stills.overlay_head(patch, cue=cue, head_box=head_box)
            if request.frame_filter is None:
                # Only the head box changes: convert it alone and paste it into the still's
                # I420 planes (the box is even-aligned, so chroma blocks line up exactly).
                i420 = [
                    stills.i420_frame(patch, cue=cue, head_box=head_box)
                    for patch, cue in zip(patches, cues, strict=True)
                ]
                tick = lap("assemble", tick)
            else:
                batch = np.empty((stop - start, profile.height, profile.width, 3), dtype=np.uint8)
                for i, (patch, cue) in enumerate(zip(patches, cues, strict=True)):
                    batch[i] = stills.rgb(cue)
                    batch[i, hy0:hy1, hx0:hx1] = patch
                tick = lap("assemble", tick)
                filtered = request.frame_filter(batch)
                if (
                    not isinstance(filtered, np.ndarray)
                    or filtered.shape != batch.shape
                    or filtered.dtype != np.uint8
                ):
                    raise RenderError(
                        "frame_filter must return a uint8 array of the shape it was given.",
                        code="frame_filter_failed",
                    )
                tick = lap("frame_filter", tick)
                i420 = [_to_i420(frame) for frame in filtered]
                tick = lap("assemble", tick)
            writer.put(i420)
            tick = lap("encode_wait", tick)
            progress(0.18 + 0.8 * stop / frames, "animate")
        progress(0.98, "encode")
        mp4 = writer.finish()
    except BaseException:
        writer.abort()
        raise
    tick = lap("mux", tick)
    _release_memory()
    timings["encode"] = writer.busy_s
    timings["total"] = time.perf_counter() - started
    progress(1.0, "done")

    device_name = device.name
    if device.name == "cuda":
        import torch

        device_name = f"cuda ({torch.cuda.get_device_name(0)}, float16)"
    return RenderResult(
        mp4=mp4,
        duration_s=frames / fps,
        frames=frames,
        fps=fps,
        width=profile.width,
        height=profile.height,
        audio_duration_s=len(audio) / speech.sample_rate,
        timings={k: round(v, 4) for k, v in timings.items()},
        device=device_name,
        language=voice.language,
        voice=f"{voice.engine}:{voice.name}",
        profile=profile.name,
        backend=backend.name,
        warnings=warnings,
        captions=[(cue.text, cue.start_s, cue.end_s) for cue, _ in cue_layers],
        mouth_open=drive.mouth_open,
        lip_close=drive.lip_close,
        blink=drive.blink,
        audio_envelope=drive.envelope,
        bilabial_frames=drive.bilabial_frames,
        phones=[(p.symbol, p.start_s, p.end_s) for p in speech.phones],
        layout={
            "head_box": head_box,
            "mouth_box": _offset_box(getattr(state, "mouth_box", None), hx0, hy0),
            "badge_box": layers[0].box if layers else None,
            "caption_boxes": [layer.box for _, layer in cue_layers],
            "portrait_scale": composition.scale,
            "portrait_offset": composition.offset,
            "working_size": (pw, ph),
            "landmarks": composition.landmarks,
        },
    )


def _release_memory() -> None:
    """Give the frame buffers back to the OS so an idle worker does not keep its peak."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _to_i420(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420)


def _planes(i420: np.ndarray, *, width: int, height: int) -> tuple[np.ndarray, ...]:
    flat = i420.reshape(-1)
    luma = width * height
    quarter = luma // 4
    return (
        flat[:luma].reshape(height, width),
        flat[luma : luma + quarter].reshape(height // 2, width // 2),
        flat[luma + quarter :].reshape(height // 2, width // 2),
    )


class _Stills:
    """The still frame with badge and the current caption, as RGB and as I420."""

    def __init__(self, *, still: np.ndarray, layers: list[Layer], cues: list[Layer]) -> None:
        base = still.copy()
        for layer in layers:
            layer.blend_into(base)
        self.layers = layers
        self.cues = cues
        self.height, self.width = still.shape[:2]
        self._rgb: dict[int, np.ndarray] = {-1: base}
        self._i420: dict[int, np.ndarray] = {}

    def rgb(self, cue: int) -> np.ndarray:
        if cue not in self._rgb:
            for old in [k for k in self._rgb if k != -1]:
                del self._rgb[old]  # cues are shown in order: keep one at a time
            frame = self._rgb[-1].copy()
            self.cues[cue].blend_into(frame)
            self._rgb[cue] = frame
        return self._rgb[cue]

    def i420(self, cue: int) -> np.ndarray:
        if cue not in self._i420:
            for old in list(self._i420):
                del self._i420[old]
            self._i420[cue] = _to_i420(self.rgb(cue))
        return self._i420[cue]

    def overlay_head(self, patch: np.ndarray, *, cue: int, head_box: Box) -> None:
        """Draw the badge/caption parts that fall inside the head box onto a patch."""
        layers = self.layers + ([self.cues[cue]] if cue >= 0 else [])
        for layer in layers:
            if _overlaps(layer.box, head_box):
                shifted = Layer(
                    box=(
                        layer.box[0] - head_box[0],
                        layer.box[1] - head_box[1],
                        layer.box[2] - head_box[0],
                        layer.box[3] - head_box[1],
                    ),
                    rgb=layer.rgb,
                    alpha=layer.alpha,
                )
                shifted.blend_over(
                    patch, clip=(0, 0, head_box[2] - head_box[0], head_box[3] - head_box[1])
                )

    def i420_frame(self, patch: np.ndarray, *, cue: int, head_box: Box) -> np.ndarray:
        frame = self.i420(cue).copy()
        x0, y0, x1, y1 = head_box
        target = _planes(frame, width=self.width, height=self.height)
        source = _planes(_to_i420(patch), width=x1 - x0, height=y1 - y0)
        target[0][y0:y1, x0:x1] = source[0]
        target[1][y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = source[1]
        target[2][y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = source[2]
        return frame


def _offset_box(box: Box | None, dx: int, dy: int) -> Box | None:
    if box is None:
        return None
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)
