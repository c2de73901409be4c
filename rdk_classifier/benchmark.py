"""Latency and FPS through the one path, like ``hrt_model_exec perf``, but from a camera frame.

``hrt_model_exec perf`` times the model alone on ready NV12. Here every frame is a full camera frame
(1920x1080 by default) in a camera encoding (bgr8, nv12 or jpeg) that goes through
``Classifier.classify_raw`` / ``classify_encoded``: preprocessing, inference and postprocessing, timed
per stage, exactly what the node does per frame. Beside it, the model alone on a ready input
(``model_only``), the figure ``hrt_model_exec perf`` reports. N threads share the one model where the
runtime takes concurrent calls (ONNX Runtime), else each has its own instance.

The frames are made from a real photo when one is given (``image``), else procedurally: a
deterministic textured picture (smooth colour fields, fractal detail, edges, sensor-like noise), so
that JPEG decoding costs what a camera picture costs (a flat or random frame would not).
"""

from __future__ import annotations

import os
import platform
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from .backends.base import concurrency_of
from .classifier import Classifier, Timing
from .frames import DEFAULT_MAX_PIXELS, bgr_to_nv12, check_pixel_budget, load_image
from .platform_info import read_cpuinfo

INPUTS = ("bgr8", "nv12", "jpeg")
DEFAULT_SIZE = (1920, 1080)   # width, height
JPEG_QUALITY = 90
#: distinct frames cycled through, so no result depends on one picture staying in cache
DISTINCT_FRAMES = 4


# ----------------------------------------------------------------------------- frames
def procedural_frame(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A deterministic camera-like BGR picture: a few low-frequency colour fields, multi-scale
    luminance texture (value-noise octaves, amplitude falling with frequency as in natural images,
    channels correlated as in photos), hard-edged shapes and mild per-pixel sensor noise.

    Made in bands of rows: every octave is a small random grid interpolated (bicubic, as
    ``cv2.resize`` does) only over the band's rows, so no full-frame float layer exists; the peak
    memory is the uint8 picture plus one band (a 1080p picture used to cost ~50 MB of float32
    layers, which made ``bench``'s peak RSS the picture maker's rather than the model's)."""
    rng = np.random.default_rng(seed)

    def grid(cells: int, channels: int) -> np.ndarray:
        gh = max(2, round(cells * height / width))
        return rng.standard_normal((gh, cells, channels)).astype(np.float32)

    # every random draw in a fixed order: the layers under the shapes, the shapes, the layers on
    # top; the sensor noise comes band by band below
    under = [(grid(3, 3), 45.0), (grid(6, 3), 20.0)]                  # colour fields
    under += [(grid(4 * 2 ** k, 1), 40.0 / 1.7 ** k) for k in range(8)]  # luminance texture
    shapes = []
    for _ in range(12):                                                 # objects with hard edges
        colour = rng.uniform(20, 235, 3).tolist()
        cx, cy = int(rng.uniform(0, width)), int(rng.uniform(0, height))
        size = int(rng.uniform(0.03, 0.15) * width)
        shapes.append((rng.random() < 0.5, colour, cx, cy, size))
    over = [(grid(128, 1), 12.0), (grid(480, 1), 8.0)]                 # texture on the objects
    out = np.empty((height, width, 3), np.uint8)
    # bicubic upsampling as cv2.resize does it, split in two: across, the whole grid at once
    # (grid rows x frame width, small); down, per band, four weighted rows (OpenCV's kernel,
    # a = -0.75, borders replicated)
    wide = {id(g): cv2.resize(g, (width, g.shape[0]), interpolation=cv2.INTER_CUBIC)
            .reshape(g.shape[0], width, g.shape[2]) for g, _ in under + over}
    band = 64
    for top in range(0, height, band):
        rows = min(band, height - top)
        canvas = np.full((rows, width, 3), 110.0, np.float32)

        def add(layers, canvas=canvas, top=top, rows=rows) -> None:
            for g, amplitude in layers:
                gh, ch = g.shape[0], g.shape[2]
                src = (np.arange(top, top + rows) + 0.5) * (gh / height) - 0.5
                base = np.floor(src).astype(np.int64)
                t = (src - base).astype(np.float32)
                a = np.float32(-0.75)
                w = [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
                     ((a + 2) * t - (a + 3)) * t * t + 1,
                     ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1]
                w.append(1 - w[0] - w[1] - w[2])
                h = wide[id(g)]
                layer = np.zeros((rows, width, ch), np.float32)
                for k in range(4):
                    layer += w[k][:, None, None] * h[np.clip(base + k - 1, 0, gh - 1)]
                layer *= np.float32(amplitude)
                canvas += layer

        add(under)
        for is_circle, colour, cx, cy, size in shapes:
            if is_circle:
                cv2.circle(canvas, (cx, cy - top), size, colour, -1, cv2.LINE_AA)
            else:
                cv2.rectangle(canvas, (cx - size, cy - top - size // 2),
                              (cx + size, cy - top + size // 2), colour, -1)
        add(over)
        canvas += rng.standard_normal(canvas.shape, np.float32) * np.float32(2.5)  # sensor noise
        np.clip(canvas, 0, 255, out=canvas)
        out[top:top + rows] = canvas
    return out


def photo_frame(path: str | Path, width: int, height: int) -> np.ndarray:
    """A real photo fitted to width x height (scaled to cover, then centre-cropped)."""
    img = load_image(path)
    h, w = img.shape[:2]
    scale = max(width / w, height / h)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    big = cv2.resize(img, (max(width, round(w * scale)), max(height, round(h * scale))),
                     interpolation=interp)
    bh, bw = big.shape[:2]
    x, y = (bw - width) // 2, (bh - height) // 2
    return np.ascontiguousarray(big[y:y + height, x:x + width])


def encode_frame(bgr: np.ndarray, encoding: str, jpeg_quality: int = JPEG_QUALITY):
    """The frame as a camera would send it: raw bgr8 / nv12 bytes or JPEG bytes."""
    if encoding == "bgr8":
        return np.ascontiguousarray(bgr)
    if encoding == "nv12":
        return bgr_to_nv12(bgr)
    if encoding == "jpeg":
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        if not ok:  # pragma: no cover
            raise RuntimeError("JPEG encoding failed")
        return data.tobytes()
    raise ValueError(f"unknown input {encoding!r}; choose one of {', '.join(INPUTS)}")


def make_frames(width: int, height: int, encoding: str, image: str | Path | None = None,
                count: int = DISTINCT_FRAMES) -> list:
    """``count`` (<= 4) distinct frames in ``encoding``: the picture (``image`` if given, else
    procedural) and its horizontal, vertical and double flips.

    NV12 frames are flipped as NV12 (planes flipped, chroma pairs kept in order), after the BGR
    picture is gone: four 1080p NV12 frames then cost their own 12 MB and not also the 6 MB
    picture and a 6 MB flipped copy beside them (memory is one of ``bench``'s figures)."""
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ValueError(f"frame size {width}x{height} must be positive and even")
    base = photo_frame(image, width, height) if image else procedural_frame(width, height)
    flips = (1, 0, -1)[:max(1, min(count, 4)) - 1]  # cv2.flip codes of the others: x, y, both
    if encoding == "nv12":
        first = encode_frame(base, encoding)
        del base
        return [first] + [_flip_nv12(first, width, height, code) for code in flips]
    return [encode_frame(base, encoding)] + [encode_frame(cv2.flip(base, code), encoding)
                                             for code in flips]


def _flip_nv12(nv12: np.ndarray, width: int, height: int, code: int) -> np.ndarray:
    """Packed NV12 flipped like ``cv2.flip(image, code)``: the Y plane and the UV plane (as
    two-channel pixels, so U stays before V)."""
    area = width * height
    out = np.empty_like(nv12)
    cv2.flip(nv12[:area].reshape(height, width), code, dst=out[:area].reshape(height, width))
    uv_shape = (height // 2, width // 2, 2)
    cv2.flip(nv12[area:].reshape(uv_shape), code, dst=out[area:].reshape(uv_shape))
    return out


# ----------------------------------------------------------------------------- statistics
def interleaved_rounds(paths: dict[str, Callable[[], object]], rounds: int, per: int,
                       warmup: int = 3) -> dict[str, list[float]]:
    """Milliseconds per call of each path, one figure per round: every round runs each path
    ``per`` times in turn (A x per, B x per, ... then again), so drifting machine load hits all
    paths alike and ratios can be taken round by round. ``warmup`` untimed calls of each first."""
    for f in paths.values():
        for _ in range(warmup):
            f()
    times: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(rounds):
        for name, f in paths.items():
            t0 = time.perf_counter()
            for _ in range(per):
                f()
            times[name].append((time.perf_counter() - t0) / per * 1e3)
    return times


def latency_summary(values_ms: Sequence[float]) -> dict[str, float]:
    a = np.asarray(values_ms, np.float64)
    if a.size == 0:
        return {k: 0.0 for k in ("mean", "p50", "p90", "p99", "min", "max")}
    return {"mean": float(a.mean()), "p50": float(np.percentile(a, 50)),
            "p90": float(np.percentile(a, 90)), "p99": float(np.percentile(a, 99)),
            "min": float(a.min()), "max": float(a.max())}


def machine_info() -> dict:
    """CPU model and core count, so that numbers are never quoted without their machine."""
    cpu = read_cpuinfo()[0] or platform.processor() or platform.machine()
    return {"cpu": cpu, "cores": os.cpu_count(), "machine": platform.machine(),
            "opencv_threads": cv2.getNumThreads(), "smt_siblings": smt_siblings()}


def smt_siblings() -> int | None:
    """Hardware threads sharing cpu0's core (2: the "cores" include hyperthread siblings, which
    share one core's vector units, so a second inference thread adds far less than a second
    core would); None where Linux does not say."""
    try:
        text = Path("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list").read_text()
    except OSError:
        return None
    count = 0
    for part in text.strip().split(","):
        lo, _, hi = part.partition("-")
        try:
            count += int(hi or lo) - int(lo) + 1
        except ValueError:
            return None
    return count or None


# ----------------------------------------------------------------------------- the benchmark
@dataclass
class ModelOnly:
    """Latency and FPS of the network alone on a ready input (hrt_model_exec perf's figures)."""

    latencies_ms: list[float] = field(repr=False)
    elapsed_s: float

    @property
    def fps(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict:
        return {"frames": len(self.latencies_ms), "fps": self.fps, "elapsed_s": self.elapsed_s,
                "latency_ms": latency_summary(self.latencies_ms)}


@dataclass
class BenchReport:
    model: str
    backend: str
    threads: int
    frames: int                     # timed frames, all threads together
    warmup: int                     # untimed frames per thread
    input: str
    size: tuple[int, int]           # width, height of the camera frame
    source: str                     # "procedural" or the photo's path
    elapsed_s: float
    latencies_ms: list[float] = field(repr=False)
    stages: list[Timing] = field(repr=False)
    per_thread_frames: list[int] = field(default_factory=list)
    #: the network alone on a ready input (None: not measured)
    model_only: "ModelOnly | None" = None
    #: the threads shared one model instance (else one clone each)
    shared_model: bool = False
    resize_mode: str | None = None  # how the frames were fitted to the model input

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def stages_mean_ms(self) -> Timing:
        n = len(self.stages)
        if not n:
            return Timing()
        return Timing(sum(t.preprocess for t in self.stages) / n,
                      sum(t.inference for t in self.stages) / n,
                      sum(t.postprocess for t in self.stages) / n)

    def to_dict(self) -> dict:
        st = self.stages_mean_ms()
        return {
            "model": self.model,
            "backend": self.backend,
            "resize_mode": self.resize_mode,
            "threads": self.threads,
            "frames": self.frames,
            "warmup": self.warmup,
            "input": self.input,
            "size": list(self.size),
            "source": self.source,
            "fps": self.fps,
            "elapsed_s": self.elapsed_s,
            "latency_ms": latency_summary(self.latencies_ms),
            "stages_ms": st.to_dict(),
            "stages_p50_ms": {
                "preprocess": latency_summary([t.preprocess for t in self.stages])["p50"],
                "inference": latency_summary([t.inference for t in self.stages])["p50"],
                "postprocess": latency_summary([t.postprocess for t in self.stages])["p50"],
            },
            "per_thread_frames": self.per_thread_frames,
            "shared_model": self.shared_model,
            "model_only": self.model_only.to_dict() if self.model_only else None,
            "machine": machine_info(),
        }


def _classify_call(clf: Classifier, encoding: str, width: int, height: int):
    if encoding == "jpeg":
        return lambda data: clf.classify_encoded(data).timing_ms
    return lambda data: clf.classify_raw(data, width, height, encoding).timing_ms


def model_only_call(backend) -> Callable[[np.ndarray], Callable[[], object]]:
    """``ready(nv12)`` -> a call of the network alone on that frame's ready input, what
    ``hrt_model_exec perf`` times: the CPU backend's normalized tensor made once, then only
    ``session.run``; a BPU model's input is the NV12 itself (conversion and normalization are
    compiled into the .bin), so there it is ``infer``."""
    run_tensor = getattr(backend, "run_tensor", None)
    to_tensor = getattr(backend, "to_tensor", None)
    if run_tensor is not None and to_tensor is not None:
        def ready(nv12: np.ndarray) -> Callable[[], object]:
            tensor = np.array(to_tensor(nv12))  # its own copy: the buffer is reused per thread
            return lambda: run_tensor(tensor)
        return ready
    return lambda nv12: (lambda: backend.infer(nv12))


def _timed_threads(calls: list[Callable[[int], Timing | None]], share: list[int], warmup: int
                   ) -> tuple[list[list[float]], list[list[Timing]], float]:
    """Run ``calls[k](i)`` for i in range(warmup) untimed, then share[k] timed, on one thread per
    call, started together. Latencies (ms) and stage timings per thread, and the wall time from
    the common start to the last thread's end."""
    threads = len(calls)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    stages: list[list[Timing]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    end_times = [0.0] * threads
    t_start = [0.0]
    # the clock starts when the last party arrives, before any thread is released
    start_line = threading.Barrier(threads + 1,
                                   action=lambda: t_start.__setitem__(0, time.perf_counter()))
    # set on Ctrl-C: workers stop after their current frame, so none is still inside
    # onnxruntime when the interpreter exits (that aborts with "terminate called ...")
    stop = threading.Event()
    # waited on instead of Thread.join: a join interrupted by Ctrl-C marks a still running thread
    # as stopped (CPython bpo-45274), so a second join would not wait for it
    finished = [threading.Event() for _ in range(threads)]

    def work(k: int) -> None:
        try:
            _work(k)
        finally:
            finished[k].set()

    def _work(k: int) -> None:
        call = calls[k]
        try:
            for i in range(warmup):
                if stop.is_set():
                    break
                call(i)
        except BaseException as exc:  # reported after the barrier
            errors.append(exc)
        try:
            start_line.wait()
        except threading.BrokenBarrierError:
            return
        if errors or stop.is_set():
            return
        lat, st = latencies[k], stages[k]
        try:
            for i in range(share[k]):
                if stop.is_set():
                    break
                t0 = time.perf_counter()
                timing = call(i + k)
                lat.append((time.perf_counter() - t0) * 1e3)
                if timing is not None:
                    st.append(timing)
        except BaseException as exc:
            errors.append(exc)
        end_times[k] = time.perf_counter()

    workers = [threading.Thread(target=work, args=(k,), name=f"bench-{k}", daemon=True)
               for k in range(threads)]
    try:
        for t in workers:
            t.start()
        start_line.wait()
        for done in finished:
            done.wait()
    except BaseException:
        stop.set()
        start_line.abort()
        for t, done in zip(workers, finished):
            if t.ident is not None:  # started: it ends after its current frame
                done.wait()
        raise
    if errors:
        raise errors[0]
    return latencies, stages, max(end_times) - t_start[0]


def run_benchmark(classifier: Classifier, threads: int = 1, frames: int = 200, warmup: int = 10,
                  encoding: str = "nv12", size: tuple[int, int] = DEFAULT_SIZE,
                  image: str | Path | None = None, model_only: bool = True) -> BenchReport:
    """Time ``frames`` frames (split evenly over ``threads`` threads) after ``warmup`` untimed
    frames per thread. FPS is timed frames over the wall time from the common start to the last
    thread's end. The threads share ``classifier`` where its backend takes concurrent calls (ONNX
    Runtime), else each has its own clone (a BPU model instance each, as hrt_model_exec's
    ``--thread_num`` gives each thread its own task).

    ``model_only``: then time the network alone the same way (same threads and frame count) on
    the ready input of the first frame (``model_only_call``), as ``hrt_model_exec perf`` does."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if encoding not in INPUTS:
        raise ValueError(f"unknown input {encoding!r}; choose one of {', '.join(INPUTS)}")
    width, height = size
    # before any frame is allocated: a 100000x100000 --size is one line, not a numpy traceback
    check_pixel_budget(width, height, classifier.preprocessor.max_pixels or DEFAULT_MAX_PIXELS,
                       "bench frame (--size)")
    data = make_frames(width, height, encoding, image)
    shared = concurrency_of(classifier.backend) is None
    clfs = [classifier] + [classifier if shared else classifier.clone()
                           for _ in range(threads - 1)]
    share = [frames // threads + (1 if k < frames % threads else 0) for k in range(threads)]
    try:
        def frame_call(clf: Classifier) -> Callable[[int], Timing | None]:
            call = _classify_call(clf, encoding, width, height)
            return lambda i: call(data[i % len(data)])

        def model_call(run: Callable[[], object]) -> Callable[[int], Timing | None]:
            def timed(_i: int) -> None:
                run()
            return timed

        latencies, stages, elapsed = _timed_threads([frame_call(c) for c in clfs], share, warmup)
        model = None
        if model_only:
            first = data[0]
            prep = clfs[0].preprocessor
            nv12 = (prep.from_encoded(first) if encoding == "jpeg"
                    else prep.from_raw(first, width, height, encoding))
            runs = [model_only_call(c.backend)(nv12) for c in clfs]
            m_lat, _, m_elapsed = _timed_threads([model_call(r) for r in runs], share, warmup)
            model = ModelOnly([v for x in m_lat for v in x], m_elapsed)
    finally:
        for c in clfs[1:]:
            if c is not classifier:
                c.close()
    return BenchReport(
        model=classifier.model_name, backend=classifier.backend.name, threads=threads,
        frames=sum(len(x) for x in latencies), warmup=warmup, input=encoding,
        size=(width, height), source=str(image) if image else "procedural", elapsed_s=elapsed,
        latencies_ms=[v for x in latencies for v in x], stages=[v for x in stages for v in x],
        per_thread_frames=[len(x) for x in latencies], model_only=model,
        shared_model=shared, resize_mode=classifier.preprocessor.mode)


__all__ = ["BenchReport", "DEFAULT_SIZE", "INPUTS", "ModelOnly", "encode_frame",
           "interleaved_rounds", "latency_summary",
           "machine_info", "make_frames", "model_only_call", "photo_frame", "procedural_frame",
           "run_benchmark"]
