"""The backend interface, the public API contract, errors before rendering, fork safety."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import renderer
from renderer import AnimatorBackend, RenderError, RenderRequest, render
from renderer.backends import AnimationJob, HeadRegion, get_backend, register_backend
from renderer.runtime import DeviceChoice, choose_device
from renderer.speech import resolve_voice, synthesize
from renderer.timeline import build_drive, frame_count

ROOT = Path(__file__).resolve().parents[2]


def test_public_api_names() -> None:
    for name in (
        "render",
        "RenderRequest",
        "RenderResult",
        "analyze_portrait",
        "PortraitAnalysis",
        "available_languages",
        "PROFILES",
        "profile_for_platform",
        "RenderError",
        "PortraitError",
        "LanguageUnavailable",
        "ScriptError",
        "warm_up",
    ):
        assert hasattr(renderer, name), name
    request = RenderRequest(portrait=b"", landmarks={}, script="x", language="en")
    assert request.profile == "vertical_720x1280" and request.backend == "procedural"
    assert request.captions and request.ai_badge and request.badge_text == "AI-generated"
    with pytest.raises(TypeError):
        RenderRequest(b"", {}, "x", "en")  # keyword arguments only


def test_renderer_imports_no_django() -> None:
    code = (
        "import sys, renderer; renderer.available_languages(); "
        "import renderer.pipeline, renderer.backends.procedural; "
        "bad = [m for m in sys.modules if m == 'django' or m.startswith('django.')]; "
        "assert not bad, bad; print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(RenderError) as caught:
        get_backend("no-such-backend")
    assert caught.value.code == "backend_unavailable"


@pytest.fixture(scope="module")
def head_job(analysis, astronaut):
    speech = synthesize(
        script="Maybe a papaya.", voice=resolve_voice(language="en", voice=None), seed=2
    )
    frames = frame_count(duration_s=speech.duration_s, fps=25)
    drive = build_drive(
        phones=speech.phones,
        samples=speech.samples,
        sample_rate=speech.sample_rate,
        fps=25,
        frames=frames,
        seed=2,
    )
    points = analysis.landmarks_px(width=512, height=512)
    head = HeadRegion(
        image=astronaut,
        landmarks=points,
        face_height=float(np.linalg.norm(points[152] - points[10])),
    )
    return AnimationJob(head=head, drive=drive, speech=speech, seed=2)


def test_procedural_backend_reproduces_the_still_at_rest(head_job) -> None:
    drive = head_job.drive
    rest = dataclasses.replace(
        drive,
        mouth_open=np.zeros_like(drive.mouth_open),
        mouth_width=np.zeros_like(drive.mouth_width),
        lip_close=np.zeros_like(drive.lip_close),
        blink=np.zeros_like(drive.blink),
        head=np.zeros_like(drive.head),
    )
    backend = get_backend("procedural")
    device = choose_device()
    state = backend.prepare(job=dataclasses.replace(head_job, drive=rest), device=device)
    frames = backend.frames(state=state, start=0, stop=4)
    # At rest the mouth is closed over the portrait's smile (lip press); elsewhere identical.
    x0, y0, x1, y1 = state.mouth_box
    for frame in frames:
        outside = np.ones(frame.shape[:2], bool)
        outside[y0:y1, x0:x1] = False
        if device.half:
            # float16 sampling coordinates are good to ~1/8 pixel: near-identical only.
            diff = np.abs(frame[outside].astype(int) - head_job.head.image[outside].astype(int))
            assert diff.mean() < 1.0 and np.percentile(diff, 99) < 10
        else:
            assert np.array_equal(frame[outside], head_job.head.image[outside])


def test_mouth_pixels_follow_the_mouth_track(head_job) -> None:
    """Without head motion or blinks, how much the mouth region changes (vs the closed
    frame 0) rises and falls with the opening track."""
    drive = dataclasses.replace(
        head_job.drive,
        head=np.zeros_like(head_job.drive.head),
        blink=np.zeros_like(head_job.drive.blink),
    )
    job = dataclasses.replace(head_job, drive=drive)
    backend = get_backend("procedural")
    state = backend.prepare(job=job, device=choose_device())
    frames = np.stack(backend.frames(state=state, start=0, stop=drive.frames))
    x0, y0, x1, y1 = state.mouth_box
    mouth = frames[:, y0:y1, x0:x1].astype(np.float32)
    change = np.abs(mouth - mouth[0]).mean(axis=(1, 2, 3))
    r = float(np.corrcoef(change, drive.mouth_open)[0, 1])
    assert r > 0.8, f"r = {r:.3f}"
    # On p/b/m the lips are shut as at rest (only their width may differ a little).
    wide_open = change[drive.mouth_open > 0.6]
    assert wide_open.size >= 2
    assert change[drive.bilabial_frames].max() < 0.25 * np.median(wide_open)


class StillBackend(AnimatorBackend):
    """A second backend: shows the still head without moving it."""

    name = "still-test"
    prepared = 0

    def prepare(self, *, job: AnimationJob, device: DeviceChoice) -> np.ndarray:
        type(self).prepared += 1
        return job.head.image

    def frames(self, *, state: np.ndarray, start: int, stop: int) -> np.ndarray:
        return np.repeat(state[None], stop - start, axis=0)


def test_a_registered_backend_replaces_the_animator(portrait, landmarks) -> None:
    register_backend(StillBackend)
    result = render(
        RenderRequest(
            portrait=portrait,
            landmarks=landmarks,
            script="Hi.",
            language="en",
            backend="still-test",
            captions=False,
            ai_badge=False,
        )
    )
    assert result.backend == "still-test" and StillBackend.prepared >= 1
    from .conftest import decode

    decoded = decode(result.mp4)
    # Nothing moves: first and last frames are the same picture (up to compression).
    assert np.abs(decoded.frames[0].astype(int) - decoded.frames[-1].astype(int)).mean() < 1.0


def _stages(portrait, stored, **changes):
    seen: list[str] = []
    fields = dict(portrait=portrait, landmarks=stored, script="Hello.", language="en")
    fields.update(changes)
    with pytest.raises(RenderError) as caught:
        render(RenderRequest(**fields, progress=lambda fraction, stage: seen.append(stage)))
    return caught.value, seen


def test_errors_are_raised_before_any_frame(portrait, landmarks) -> None:
    cases = {
        "language_unavailable": {"language": "xx"},
        "invalid_script": {"script": "   "},
        "invalid_profile": {"profile": "cinema_4k"},
        "backend_unavailable": {"backend": "nope"},
        "invalid_landmarks": {"landmarks": {"format": 1, "landmarks": []}},
    }
    for code, change in cases.items():
        error, stages = _stages(portrait, landmarks, **change)
        assert error.code == code, (code, error)
        assert "animate" not in stages and "speech" not in stages, (code, stages)
    error, stages = _stages(portrait, landmarks, voice="robot-9000")
    assert error.code == "language_unavailable"


def test_landmarks_of_another_portrait_are_refused(landmarks, astronaut) -> None:
    from .conftest import jpeg

    wide = jpeg(np.concatenate([astronaut, astronaut[:, :200]], axis=1))
    error, stages = _stages(wide, landmarks)
    assert error.code == "invalid_landmarks" and stages == ["validate"]
    error, stages = _stages(b"not a picture", landmarks)
    assert error.code == "not_an_image" and stages == ["validate"]


def test_a_broken_frame_filter_fails_the_render(portrait, landmarks) -> None:
    error, _ = _stages(portrait, landmarks, frame_filter=lambda frames: frames[:, ::2])
    assert error.code == "frame_filter_failed"


# The parent of the fork runs in a fresh interpreter, as a qcluster's master does: this
# test process holds threads of earlier tests (a live server, thread pools), and forking a
# multi-threaded process may copy a lock some thread held — the child then waits forever,
# and a never-ending child would keep pytest from exiting. The child's work is the same.
_FORK_PARENT = r"""
import io, json, multiprocessing, sys
from PIL import Image
from skimage import data
import renderer
from renderer import RenderRequest, render

buffer = io.BytesIO()
Image.fromarray(data.astronaut()).save(buffer, format="JPEG", quality=92)
portrait = buffer.getvalue()
landmarks = renderer.analyze_portrait(portrait).as_json()
render(RenderRequest(portrait=portrait, landmarks=landmarks, script="Hello there, this is a test.",
                     language="en"))  # the parent animates on its threads first
renderer.warm_up()  # and holds loaded sessions when it forks, as qcluster may


def child(queue):
    try:
        fresh = renderer.runtime.CACHE.loaded()
        result = render(RenderRequest(portrait=portrait, landmarks=landmarks, script="Hi.", language="en"))
        queue.put(("ok", fresh, result.frames, result.warnings))
    except BaseException as exc:  # noqa: BLE001
        queue.put(("error", repr(exc), 0, []))


loaded_before = renderer.runtime.CACHE.loaded()
context = multiprocessing.get_context("fork")
queue = context.Queue()
process = context.Process(target=child, args=(queue,), daemon=True)
process.start()
status, fresh, frames, warnings = queue.get(timeout=150)
process.join(timeout=30)
print(json.dumps({"loaded_before": loaded_before, "status": status, "fresh": fresh, "frames": frames,
                  "warnings": warnings, "exitcode": process.exitcode,
                  "parallel": renderer.runtime.CACHE.get("torch_parallel_used", lambda: False),
                  "fork_warning": renderer.runtime.FORK_WARNING}))
"""


def test_a_forked_worker_loads_its_own_models_and_renders() -> None:
    proc = subprocess.Popen([sys.executable, "-c", _FORK_PARENT], cwd=Path(__file__).resolve().parents[2],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the parent and a stuck child alike
        out, err = proc.communicate()
        raise AssertionError(f"the fork test did not finish in 300 s:\n{err[-3000:]}") from None
    assert proc.returncode == 0, err[-3000:]
    seen = json.loads(out.strip().splitlines()[-1])
    assert "piper" in seen["loaded_before"]
    assert seen["status"] == "ok", seen["fresh"]
    assert seen["fresh"] == []  # nothing inherited from the parent's cache
    assert seen["frames"] > 10
    assert seen["exitcode"] == 0
    # The parent had animated on 2 threads (the English render): GNU OpenMP cannot run
    # threads in this child, so it rendered on one and says so instead of hanging.
    assert seen["parallel"]
    assert seen["fork_warning"] in seen["warnings"]
