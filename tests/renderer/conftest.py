"""Shared, real renders for the renderer tests (session-scoped: each is rendered once).

Nothing here imports Django; the renderer must work without it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pytest

# Many bilabials (p, b, m) between open vowels, so closures are easy to see.
ENGLISH_SCRIPT = (
    "Hello! My mom made a big apple pie. Maybe Bob will bring a bubbly drink, "
    "and we can all have a party by the pool."
)
CHINESE_SCRIPT = "你好，我是安娜。欢迎来到我们的商店，今天买一送一！"


def jpeg(image: np.ndarray, *, quality: int = 92) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def portrait(astronaut: np.ndarray) -> bytes:
    return jpeg(astronaut)


@pytest.fixture(scope="session")
def analysis(portrait: bytes):
    import renderer

    return renderer.analyze_portrait(portrait)


@pytest.fixture(scope="session")
def landmarks(analysis) -> dict:
    return analysis.as_json()


@dataclass
class Recorded:
    """What the callbacks of a render saw."""

    progress: list[tuple[float, str]] = field(default_factory=list)
    filter_batches: list[tuple[tuple[int, ...], str]] = field(default_factory=list)


@dataclass
class Decoded:
    """An MP4 decoded back with PyAV."""

    frames: np.ndarray  # (n, H, W, 3) uint8 RGB
    audio: np.ndarray  # mono float32
    audio_rate: int
    video_codec: str
    audio_codec: str
    pix_fmt: str
    video_duration_s: float
    audio_duration_s: float
    container_duration_s: float
    fps: float


def decode(mp4: bytes) -> Decoded:
    import av

    with av.open(io.BytesIO(mp4)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        video_codec, audio_codec = video.codec_context.name, audio.codec_context.name
        pix_fmt = video.codec_context.pix_fmt
        fps = float(video.average_rate)
        frames, chunks = [], []
        audio_rate = audio.codec_context.sample_rate
        for packet in container.demux(video, audio):
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    frames.append(frame.to_ndarray(format="rgb24"))
                else:
                    chunks.append(frame.to_ndarray().mean(axis=0))
        video_duration = float(video.duration * video.time_base)
        audio_duration = float(audio.duration * audio.time_base)
        container_duration = container.duration / 1_000_000
    samples = np.concatenate(chunks).astype(np.float32)
    return Decoded(
        frames=np.stack(frames),
        audio=samples,
        audio_rate=audio_rate,
        video_codec=video_codec,
        audio_codec=audio_codec,
        pix_fmt=pix_fmt,
        video_duration_s=video_duration,
        audio_duration_s=audio_duration,
        container_duration_s=container_duration,
        fps=fps,
    )


def _marker_filter(recorded: Recorded):
    """A frame filter like the watermark's: changes pixels, which must reach the MP4."""

    def mark(frames: np.ndarray) -> np.ndarray:
        recorded.filter_batches.append((frames.shape, str(frames.dtype)))
        out = frames.copy()
        out[:, 8:24, -24:-8] = (255, 0, 255)  # a magenta square, top right
        return out

    return mark


@pytest.fixture(scope="session")
def english(portrait: bytes, landmarks: dict):
    """One real English render (piper), vertical, with captions, badge and a frame filter."""
    import renderer

    recorded = Recorded()
    result = renderer.render(
        renderer.RenderRequest(
            portrait=portrait,
            landmarks=landmarks,
            script=ENGLISH_SCRIPT,
            language="en",
            seed=7,
            frame_filter=_marker_filter(recorded),
            progress=lambda fraction, stage: recorded.progress.append((fraction, stage)),
        )
    )
    return result, recorded


@pytest.fixture(scope="session")
def english_decoded(english) -> Decoded:
    return decode(english[0].mp4)


@pytest.fixture(scope="session")
def chinese(portrait: bytes, landmarks: dict):
    """A Chinese render (espeak-ng), landscape, no frame filter (the fast assembly path)."""
    import renderer

    return renderer.render(
        renderer.RenderRequest(
            portrait=portrait,
            landmarks=landmarks,
            script=CHINESE_SCRIPT,
            language="zh",
            profile="landscape_1280x720",
            seed=3,
        )
    )


@pytest.fixture(scope="session")
def chinese_decoded(chinese) -> Decoded:
    return decode(chinese.mp4)
