"""MP4 encoding with PyAV: H.264 (libx264, yuv420p) + AAC, moov atom first (faststart).

Frames arrive in batches from the pipeline; a background thread converts them to I420 and
feeds x264 while the next batch is animated. Audio is encoded up front and interleaved with
the video by timestamp, so the file streams progressively.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
import time
from fractions import Fraction
from typing import Any

import numpy as np

from .runtime import ENV_TMPDIR, x264_preset

AUDIO_RATE = 48_000
_SENTINEL = None


class Mp4Writer:
    """Write frames with ``put`` (batches of I420 frames: uint8 (H * 3 / 2, W) arrays, as
    ``cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)`` makes them), then ``finish()``."""

    def __init__(
        self,
        *,
        width: int,
        height: int,
        fps: int,
        audio: np.ndarray,
        sample_rate: int,
        crf: int,
        audio_bitrate: int,
        threads: int,
        metadata: dict[str, str] | None = None,
    ) -> None:
        import av

        self.width, self.height, self.fps = width, height, fps
        self._tmp = tempfile.TemporaryDirectory(
            prefix="doppel-render-", dir=os.environ.get(ENV_TMPDIR) or None
        )
        self.path = os.path.join(self._tmp.name, "render.mp4")
        self.container = av.open(
            self.path, mode="w", format="mp4", options={"movflags": "+faststart"}
        )
        for key, value in (metadata or {}).items():
            self.container.metadata[key] = value
        video = self.container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {
            "preset": x264_preset(),
            "crf": str(crf),
            "profile": "high",
            "g": str(2 * fps),
            # Shorter lookahead: ~10 % faster at the same size on talking-head content.
            "x264-params": "rc-lookahead=10",
        }
        video.codec_context.thread_count = threads
        # cv2's RGB->I420 is BT.601 limited range: say so, so players decode colours right.
        video.codec_context.colorspace = 6  # SMPTE 170M (BT.601) matrix
        video.codec_context.color_range = 1  # MPEG / limited
        video.codec_context.color_primaries = 1  # BT.709
        video.codec_context.color_trc = 1  # BT.709
        self.video = video
        self.audio_stream = self.container.add_stream("aac", rate=AUDIO_RATE)
        self.audio_stream.layout = "stereo"
        self.audio_stream.bit_rate = audio_bitrate
        self.audio_stream.options = {"aac_coder": "fast"}  # 2.5x faster than "twoloop"
        self._audio = (audio, sample_rate)
        self._audio_packets: list[Any] = []
        self._audio_index = 0
        self.frames_written = 0
        self.busy_s = 0.0
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="doppel-encode", daemon=True)
        self._thread.start()

    def _encode_audio(self, audio: np.ndarray, sample_rate: int) -> list[Any]:
        import av

        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(audio, dtype=np.float32).reshape(1, -1),
            format="flt",
            layout="mono",
        )
        frame.sample_rate = sample_rate
        frame.pts = 0
        frame.time_base = Fraction(1, sample_rate)
        packets = []
        for resampled in resampler.resample(frame) + resampler.resample(None):
            packets.extend(self.audio_stream.encode(resampled))
        packets.extend(self.audio_stream.encode(None))
        return packets

    def _mux_audio_until(self, seconds: float) -> None:
        while self._audio_index < len(self._audio_packets):
            packet = self._audio_packets[self._audio_index]
            if packet.pts is not None and float(packet.pts * packet.time_base) > seconds:
                break
            self.container.mux(packet)
            self._audio_index += 1

    def _run(self) -> None:
        import av

        try:
            started = time.perf_counter()
            self._audio_packets = self._encode_audio(*self._audio)
            self.busy_s += time.perf_counter() - started
            while True:
                batch = self._queue.get()
                if batch is _SENTINEL:
                    break
                started = time.perf_counter()
                for i420 in batch:
                    frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
                    frame.pts = self.frames_written
                    self.frames_written += 1
                    for packet in self.video.encode(frame):
                        self._mux_audio_until(float(packet.dts * packet.time_base) + 0.5)
                        self.container.mux(packet)
                self.busy_s += time.perf_counter() - started
        except BaseException as exc:  # noqa: BLE001 - re-raised in finish()/put()
            self._error = exc
            while True:  # drain so the producer never blocks on a dead consumer
                if self._queue.get() is _SENTINEL:
                    break

    def put(self, frames: list[np.ndarray]) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(frames)

    def finish(self) -> bytes:
        """Flush, write the moov atom first and return the MP4 bytes."""
        self._queue.put(_SENTINEL)
        self._thread.join()
        try:
            if self._error is not None:
                raise self._error
            started = time.perf_counter()
            for packet in self.video.encode(None):
                self._mux_audio_until(float(packet.dts * packet.time_base) + 0.5)
                self.container.mux(packet)
            self._mux_audio_until(float("inf"))
            self.container.close()
            self.busy_s += time.perf_counter() - started
            with open(self.path, "rb") as handle:
                return handle.read()
        finally:
            self.close()

    def close(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - already closed or never opened properly
            pass
        self._tmp.cleanup()

    def abort(self) -> None:
        """Stop the encoder thread and discard the file (after an error elsewhere)."""
        if self._thread.is_alive():
            self._queue.put(_SENTINEL)
            self._thread.join()
        self.close()
