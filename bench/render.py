"""Benchmark: the renderer's figures (issue 4).

Run: ``.venv/bin/python bench/render.py`` (from anywhere; ``--quick`` for one repeat,
``--json PATH`` to also write the figures as JSON). Needs no Django and no database.
The same script runs unchanged on a CPU box and a CUDA box: the device is whatever
``renderer`` picks (override with ``DOPPEL_RENDER_DEVICE=cpu|cuda``); threads default to 2
here (``--threads N`` or ``DOPPEL_RENDER_THREADS``).

Prints:

- animation stage frames/s at 512×512 (the procedural backend animating the whole
  512×512 astronaut portrait as its head region; goal ≥ 150 on 2 CPU threads, ≥ 3,000 on
  an H100);
- whole-pipeline real-time factor (wall ÷ clip duration) for a ~10 s English clip at
  720×1280 in a warm worker (models loaded once), with per-stage timings and CPU
  seconds; also with an identity ``frame_filter`` (the path the watermark uses); goal
  ≤ 0.5 on CPU, ≤ 0.05 on an H100;
- peak RSS of that warm worker (goal ≤ 1.5 GB);
- multi-clip throughput: 4 clips rendered concurrently (threads sharing one warm worker);
  on a GPU this is where batching pays, on 2 CPU cores it shows the ceiling;
- the load average before and after, to judge the noise.

Figures are the best of several repeats (the least disturbed by other work).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SCRIPT_10S = (
    "Hello there! My name is Ava, and today I want to tell you about a brand new drink. "
    "It is bright, bubbly and made with real fruit. Maybe you will love it as much as I do."
)
GOALS = {
    "cpu": {"fps_512": 150, "rtf": 0.5},
    "cuda": {"fps_512": 3000, "rtf": 0.05},
}
PEAK_RSS_GOAL_MB = 1536


def _load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
        return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"
    except OSError:
        return "load average n/a"


def _astronaut_jpeg() -> bytes:
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def _peak_rss_mb() -> float:
    """Peak resident memory of this process image (VmHWM). Not ru_maxrss: on Linux that
    survives exec(), so a worker started by this bench would report the bench's peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_animation(*, portrait: bytes, landmarks: dict, repeats: int) -> dict:
    """The procedural backend alone on a 512×512 head region (the whole astronaut photo)."""
    import numpy as np

    from renderer.backends import AnimationJob, HeadRegion, get_backend
    from renderer.portrait import PortraitAnalysis, decode_portrait
    from renderer.runtime import choose_device
    from renderer.speech import resolve_voice, synthesize
    from renderer.timeline import build_drive, frame_count

    image = decode_portrait(portrait)
    analysis = PortraitAnalysis.from_json(landmarks)
    points = analysis.landmarks_px(width=image.shape[1], height=image.shape[0])
    speech = synthesize(script=SCRIPT_10S, voice=resolve_voice(language="en", voice=None), seed=1)
    frames = frame_count(duration_s=speech.duration_s, fps=25)
    drive = build_drive(
        phones=speech.phones,
        samples=speech.samples,
        sample_rate=speech.sample_rate,
        fps=25,
        frames=frames,
        seed=1,
    )
    head = HeadRegion(
        image=image,
        landmarks=points,
        face_height=float(np.linalg.norm(points[152] - points[10])),
    )
    backend = get_backend("procedural")
    device = choose_device()
    started = time.perf_counter()
    state = backend.prepare(
        job=AnimationJob(head=head, drive=drive, speech=speech, seed=1), device=device
    )
    prepare_s = time.perf_counter() - started
    backend.frames(state=state, start=0, stop=32)  # warm the kernels
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        for start in range(0, frames, 32):
            out = backend.frames(state=state, start=start, stop=min(frames, start + 32))
            assert len(out) == min(frames, start + 32) - start
        if device.name == "cuda":
            import torch

            torch.cuda.synchronize()
        rates.append(frames / (time.perf_counter() - started))
    return {
        "size": f"{image.shape[1]}x{image.shape[0]}",
        "frames": frames,
        "prepare_s": round(prepare_s, 3),
        "fps_best": round(max(rates), 1),
        "fps_median": round(statistics.median(rates), 1),
    }


def bench_pipeline(*, portrait: bytes, landmarks: dict, repeats: int, with_filter: bool) -> dict:
    from renderer import RenderRequest, render

    def identity(frames):
        return frames

    runs = []
    for _ in range(repeats):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        result = render(
            RenderRequest(
                portrait=portrait,
                landmarks=landmarks,
                script=SCRIPT_10S,
                language="en",
                profile="vertical_720x1280",
                seed=1,
                frame_filter=identity if with_filter else None,
            )
        )
        wall = time.perf_counter() - wall0
        runs.append((wall, time.process_time() - cpu0, result))
    best = min(runs, key=lambda run: run[0])
    wall, cpu, result = best
    return {
        "clip_s": round(result.duration_s, 2),
        "frames": result.frames,
        "wall_s": round(wall, 3),
        "wall_median_s": round(statistics.median(r[0] for r in runs), 3),
        "cpu_s": round(cpu, 3),
        "rtf": round(wall / result.duration_s, 3),
        "rtf_median": round(statistics.median(r[0] for r in runs) / result.duration_s, 3),
        "timings": result.timings,
        "mp4_kb": len(result.mp4) // 1024,
        "device": result.device,
    }


def bench_concurrent(*, portrait: bytes, landmarks: dict, clips: int) -> dict:
    from renderer import RenderRequest, render

    def one(seed: int) -> float:
        return render(
            RenderRequest(
                portrait=portrait,
                landmarks=landmarks,
                script=SCRIPT_10S,
                language="en",
                profile="vertical_720x1280",
                seed=seed,
            )
        ).duration_s

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clips) as pool:
        durations = list(pool.map(one, range(clips)))
    wall = time.perf_counter() - started
    return {
        "clips": clips,
        "wall_s": round(wall, 3),
        "clips_per_minute": round(60 * clips / wall, 1),
        "aggregate_rtf": round(wall / sum(durations), 3),
    }


def make_strip(*, portrait: bytes, landmarks: dict, path: Path) -> None:
    """A strip of sample frames from a real render (README / docs/renderer.md figure)."""
    import av
    import numpy as np
    from PIL import Image, ImageDraw

    from renderer import RenderRequest, render
    from renderer.overlays import find_font

    result = render(
        RenderRequest(
            portrait=portrait,
            landmarks=landmarks,
            script="Hello! My mom made a big apple pie. Maybe Bob will bring a bubbly drink.",
            language="en",
            seed=7,
        )
    )
    with av.open(io.BytesIO(result.mp4)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    speaking = np.nonzero(result.mouth_open > 0)[0]
    widest = int(np.argmax(result.mouth_open))
    half = int(speaking[np.argmin(np.abs(result.mouth_open[speaking] - 0.45))])
    bilabial = int(result.bilabial_frames[len(result.bilabial_frames) // 2])
    blinks = np.nonzero(result.blink >= 0.99)[0]
    blink = int(blinks[0]) if blinks.size else int(speaking[-1])
    calm = [
        int(i)
        for i in speaking
        if i > 2 * len(frames) // 3 and result.blink[max(0, i - 3) : i + 4].max() == 0
    ]
    caption = calm[len(calm) // 2] if calm else int(speaking[-1])
    picks = [
        (0, "rest"),
        (widest, "open vowel"),
        (half, "half open"),
        (bilabial, "bilabial: lips shut"),
        (blink, "blink"),
        (caption, "caption + badge"),
    ]
    x0, y0, x1, y1 = result.layout["head_box"]
    tile_w = 240
    full_h = round(result.height * tile_w / result.width)
    face_h = round((y1 - y0 - 100) * tile_w / (x1 - x0 - 80))
    label_h = 28
    strip = Image.new("RGB", (tile_w * len(picks), full_h + face_h + label_h), (18, 18, 18))
    font_path = find_font("Aa")
    from PIL import ImageFont

    font = ImageFont.truetype(str(font_path), 16) if font_path else ImageFont.load_default()
    draw = ImageDraw.Draw(strip)
    for i, (index, label) in enumerate(picks):
        frame = Image.fromarray(frames[index])
        strip.paste(frame.resize((tile_w, full_h), Image.Resampling.LANCZOS), (i * tile_w, 0))
        face = frame.crop((x0 + 40, y0 + 60, x1 - 40, y1 - 40))
        strip.paste(face.resize((tile_w, face_h), Image.Resampling.LANCZOS), (i * tile_w, full_h))
        draw.text(
            (i * tile_w + tile_w / 2, full_h + face_h + label_h / 2),
            f"{label} · {index}",
            font=font,
            fill=(235, 235, 235),
            anchor="mm",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    strip.save(path, optimize=True)
    print(f"strip of {len(picks)} frames written to {path}")


def worker_rss(*, landmarks_path: Path) -> dict:
    """In a fresh process, like a render worker: warm up, render (with and without a
    frame filter), report resident memory. No MediaPipe: workers get stored landmarks."""
    import psutil

    landmarks = json.loads(landmarks_path.read_text())
    portrait = _astronaut_jpeg()
    import renderer

    renderer.warm_up()
    warm = psutil.Process().memory_info().rss / 2**20
    for with_filter in (False, True):
        bench_pipeline(portrait=portrait, landmarks=landmarks, repeats=1, with_filter=with_filter)
    return {"warm_rss_mb": round(warm, 1), "peak_rss_mb": round(_peak_rss_mb(), 1)}


def _measure_worker_rss(landmarks: dict) -> dict:
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "landmarks.json"
        path.write_text(json.dumps(landmarks))
        done = subprocess.run(
            [sys.executable, __file__, "--worker-rss", str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=None, help="render threads (default 2)")
    parser.add_argument("--quick", action="store_true", help="one repeat of each figure")
    parser.add_argument("--json", type=Path, default=None, help="also write figures here")
    parser.add_argument("--clips", type=int, default=4, help="concurrent clips (default 4)")
    parser.add_argument("--strip", type=Path, default=None, help="only write the sample strip")
    parser.add_argument("--worker-rss", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads is not None:
        os.environ["DOPPEL_RENDER_THREADS"] = str(args.threads)
    os.environ.setdefault("DOPPEL_RENDER_THREADS", "2")
    repeats = 1 if args.quick else 3
    if args.worker_rss:
        print(json.dumps(worker_rss(landmarks_path=args.worker_rss)))
        return 0

    import renderer

    print(f"# renderer benchmark — {platform.node()} — {time.strftime('%Y-%m-%d %H:%M:%S')}")
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"DOPPEL_RENDER_THREADS={os.environ['DOPPEL_RENDER_THREADS']}"
    )
    print(f"before: {_load()}")
    started = time.perf_counter()
    portrait = _astronaut_jpeg()
    landmarks = renderer.analyze_portrait(portrait).as_json()
    warm = renderer.warm_up()
    print(
        f"warm-up (models loaded once per worker): {time.perf_counter() - started:.2f} s "
        f"{warm['loaded']}"
    )

    if args.strip:
        make_strip(portrait=portrait, landmarks=landmarks, path=args.strip)
        return 0

    from renderer.runtime import choose_device

    device = choose_device().name
    goals = GOALS[device]
    figures: dict = {"device": device, "threads": int(os.environ["DOPPEL_RENDER_THREADS"])}

    animation = bench_animation(portrait=portrait, landmarks=landmarks, repeats=repeats)
    figures["animation_512"] = animation
    print(
        f"\nanimation stage at {animation['size']}: {animation['fps_best']} frames/s best, "
        f"{animation['fps_median']} median ({animation['frames']} frames; prepare "
        f"{animation['prepare_s']} s) — goal ≥ {goals['fps_512']}"
    )

    for label, with_filter in (("no frame_filter", False), ("identity frame_filter", True)):
        pipeline = bench_pipeline(
            portrait=portrait, landmarks=landmarks, repeats=repeats, with_filter=with_filter
        )
        figures["pipeline_filter" if with_filter else "pipeline"] = pipeline
        print(f"\npipeline, {pipeline['clip_s']} s English clip at 720x1280, {label}:")
        print(
            f"  wall {pipeline['wall_s']} s (median {pipeline['wall_median_s']}), "
            f"CPU {pipeline['cpu_s']} s, real-time factor {pipeline['rtf']} "
            f"(median {pipeline['rtf_median']}) — goal ≤ {goals['rtf']}"
        )
        print("  stages (s): " + ", ".join(f"{k} {v}" for k, v in pipeline["timings"].items()))
        print(
            f"  {pipeline['frames']} frames, MP4 {pipeline['mp4_kb']} KB, device {pipeline['device']}"
        )

    concurrent = bench_concurrent(portrait=portrait, landmarks=landmarks, clips=args.clips)
    figures["concurrent"] = concurrent
    print(
        f"\n{concurrent['clips']} clips concurrently: {concurrent['wall_s']} s, "
        f"{concurrent['clips_per_minute']} clips/min, aggregate real-time factor "
        f"{concurrent['aggregate_rtf']}"
    )

    worker = _measure_worker_rss(landmarks)
    figures["worker_rss"] = worker
    print(
        f"\nwarm worker (fresh process, warm_up + one render with and one without a frame "
        f"filter): RSS after warm-up {worker['warm_rss_mb']:.0f} MB, peak "
        f"{worker['peak_rss_mb']:.0f} MB — goal ≤ {PEAK_RSS_GOAL_MB}"
    )
    peak = _peak_rss_mb()
    figures["bench_process_peak_rss_mb"] = round(peak, 1)
    print(f"(this bench process, with MediaPipe and {args.clips} concurrent clips: {peak:.0f} MB)")
    if device == "cuda":
        import torch

        peak_gpu = torch.cuda.max_memory_allocated() / 2**20
        figures["peak_gpu_mb"] = round(peak_gpu, 1)
        print(f"peak GPU memory allocated: {peak_gpu:.0f} MB")
    print(f"after: {_load()}")
    figures["load_after"] = _load()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
