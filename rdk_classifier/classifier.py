"""The one path: frame -> NV12 at model size -> backend -> top-k with class names, timed per stage.

The node, the CLI, the bag tool, the evaluator and the benchmark all call this class, so the numbers
the tools report are the numbers the node sees.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from . import zoo
from .backends import Backend, create_backend
from .backends.base import concurrency_of
from .class_names import check_class_count, class_name, load_class_names, placeholder
from .frames import BufferLike, Frame, Preprocessor, read_image_file
from .postprocess import to_probabilities, top_k


class Prediction(NamedTuple):
    class_id: int
    label: str
    score: float


@dataclass
class Timing:
    """Milliseconds spent in each stage for one frame."""

    preprocess: float = 0.0
    inference: float = 0.0
    postprocess: float = 0.0

    @property
    def total(self) -> float:
        return self.preprocess + self.inference + self.postprocess

    def to_dict(self) -> dict[str, float]:
        return {"preprocess": self.preprocess, "inference": self.inference,
                "postprocess": self.postprocess}


@dataclass
class Result:
    """Top-k predictions of one frame (highest score first) and the time each stage took."""

    top: list[Prediction]
    timing_ms: Timing = field(default_factory=Timing)
    source: str | None = None
    model: str | None = None  # the model that produced it
    resize_mode: str | None = None  # how the frame was fitted to the model input

    def __str__(self) -> str:
        """One line: the top-k as ``name (index) probability``, highest first."""
        top = ", ".join(f"{p.label} ({p.class_id}) {p.score:.3f}" for p in self.top)
        return f"{self.source + ': ' if self.source else ''}{top}"

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "model": self.model,
            "resize_mode": self.resize_mode,
            "top": [{"class_id": p.class_id, "label": p.label, "score": p.score} for p in self.top],
            "timing_ms": self.timing_ms.to_dict(),
        }


#: ranges of the numeric settings a user gives, one source for the CLI options (--cpu-threads,
#: --top-k) and the node's parameters (threads, top_k, bpu_core, bpu_priority)
THREADS_RANGE = (1, 64)
TOP_K_RANGE = (1, 1000)
BPU_CORE_RANGE = (-1, 3)
BPU_PRIORITY_RANGE = (0, 255)


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything needed to build a classifier; loaded once, explicit, comparable."""

    model: str = zoo.DEFAULT_MODEL
    backend: str = "auto"          # auto | bpu | cpu
    resize_mode: str | None = None  # None: the model's own (registry)
    top_k: int = 5
    class_names: str | None = None  # a class-names file; None: the model's own (model_facts)
    threads: int = 1                # CPU backend: ONNX Runtime intra-op threads
    bpu_core: int = -1              # -1: any core (the X5 has one, core 0)
    bpu_priority: int = 0
    cache_dir: str | None = None
    #: run the default CPU model when the one asked for cannot run here (never silently)
    fallback_to_cpu: bool = False
    #: the board's chip (auto: detected): picks the zoo file, refuses another chip's (boards)
    soc: str | None = "auto"


class _InferSlots:
    """At most ``limit`` threads inside inference at once, the others let in in the order they
    asked. (``threading.Semaphore`` lets a thread that releases and at once acquires again take
    the slot from one that was waiting: with a one-caller model, the thread keeping the GIL
    would run frame after frame while the camera held by the waiting thread starves.)"""

    def __init__(self, limit: int) -> None:
        self._cond = threading.Condition()
        self._free = limit
        self._queue: deque[object] = deque()  # the threads waiting, first come first

    def __enter__(self) -> None:
        me = object()
        with self._cond:
            try:
                self._queue.append(me)
                while self._queue[0] is not me or not self._free:
                    self._cond.wait()
            except BaseException:  # interrupted while waiting: out of the queue
                if me in self._queue:
                    self._queue.remove(me)
                self._cond.notify_all()
                raise
            self._queue.popleft()
            self._free -= 1
            if self._free and self._queue:
                self._cond.notify_all()  # a free slot for the next in line too

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._free += 1
            self._cond.notify_all()


class Classifier:
    """One loaded model with its preprocessing and class names.

    Threads may share one classifier: preprocessing and postprocessing keep no state, and at most
    the backend's ``max_concurrent`` threads are inside ``backend.infer`` at once (the others wait
    their turn, in the order they came; a BPU model takes one). The inference time reported is
    the backend's own, the wait excluded. ``clone()`` loads another backend instance of the same
    model.
    """

    def __init__(self, backend: Backend, preprocessor: Preprocessor, class_names: tuple[str, ...],
                 model_name: str, top_k: int = 5, config: ClassifierConfig | None = None,
                 fallback_reason: str | None = None) -> None:
        self.backend = backend
        self.preprocessor = preprocessor
        self.class_names = class_names
        #: the model that runs (after a fallback: the CPU default, not the one asked for)
        self.model_name = model_name
        self.top_k = top_k
        self.config = config
        #: why another model than the one asked for runs (None: it is the one asked for)
        self.fallback_reason = fallback_reason
        limit = concurrency_of(backend)
        self._infer_slots = None if limit is None else _InferSlots(limit)

    @classmethod
    def from_config(cls, config: ClassifierConfig) -> "Classifier":
        resolved = zoo.resolve_model(config.model, runtime=config.backend, soc=config.soc,
                                     cache_dir=Path(config.cache_dir) if config.cache_dir else None,
                                     fallback=config.fallback_to_cpu)
        # a given file first (a bad file costs no model load), else the names the model records,
        # else ImageNet-1k for registry models; a user's model without names gets class_<N>
        info = resolved.info
        if config.class_names:
            names = load_class_names(config.class_names)
        elif info.class_names is not None:
            names = info.class_names
        elif info.user_file:
            names = ()
        else:
            names = load_class_names(None)
        backend = create_backend(resolved, threads=config.threads, bpu_core=config.bpu_core,
                                 bpu_priority=config.bpu_priority)
        try:
            if not names:  # a user's model that records no names: class_0, class_1, ...
                names = tuple(placeholder(i) for i in range(getattr(backend, "num_classes", 0) or 0))
            else:
                check_class_count(names, getattr(backend, "num_classes", None), info.name,
                                  config.class_names or (f"the class names recorded with {info.name}"
                                                         if info.class_names else None))
            spec = backend.input_spec
            mode = config.resize_mode or resolved.info.resize_mode
            preprocessor = Preprocessor(spec.height, spec.width, mode)
        except BaseException:
            backend.close()
            raise
        return cls(backend, preprocessor, names, resolved.info.name, config.top_k, config,
                   resolved.fallback_reason)

    @classmethod
    def from_model(cls, model: str = zoo.DEFAULT_MODEL, backend: str = "auto",
                   resize_mode: str | None = None, threads: int = 1, **kwargs) -> "Classifier":
        return cls.from_config(ClassifierConfig(model=model, backend=backend,
                                                resize_mode=resize_mode, threads=threads, **kwargs))

    def __enter__(self) -> "Classifier":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def clone(self) -> "Classifier":
        """Another classifier of the same model with its own backend (for another thread)."""
        if self.config is None:
            raise RuntimeError("clone() needs a classifier built from a ClassifierConfig")
        return Classifier.from_config(self.config)

    # --- the path ---------------------------------------------------------------------------------
    def _run(self, make_nv12: Callable[[], np.ndarray], source: str | None,
             top: int | None) -> Result:
        t0 = time.perf_counter()
        nv12 = make_nv12()
        t1 = started = time.perf_counter()
        slots = self._infer_slots
        if slots is None:
            raw = self.backend.infer(nv12)
        else:
            with slots:
                started = time.perf_counter()  # the wait for a free slot is no stage of this frame
                raw = self.backend.infer(nv12)
        t2 = time.perf_counter()
        result = self.postprocess(raw, top)
        t3 = time.perf_counter()
        result.timing_ms = Timing((t1 - t0) * 1e3, (t2 - started) * 1e3, (t3 - t2) * 1e3)
        result.source = source
        return result

    def postprocess(self, raw: np.ndarray, top: int | None = None) -> Result:
        probs = to_probabilities(raw)
        idx, scores = top_k(probs, self.top_k if top is None else top)
        names = self.class_names
        return Result([Prediction(i, class_name(names, i), s)
                       for i, s in zip(idx.tolist(), scores.tolist())], model=self.model_name,
                      resize_mode=self.preprocessor.mode)

    def classify_nv12(self, nv12: np.ndarray, source: str | None = None,
                      top: int | None = None, preprocess_ms: float | None = None) -> Result:
        """Already model-sized packed NV12 (no preprocessing). ``preprocess_ms``: the time it took
        to make ``nv12`` elsewhere (e.g. in a subscription callback), reported as the preprocess
        stage so the timings stay those of the whole path."""
        result = self._run(lambda: nv12, source, top)
        if preprocess_ms is not None:
            result.timing_ms.preprocess = float(preprocess_ms)
        return result

    def classify_image(self, bgr: np.ndarray, source: str | None = None,
                       top: int | None = None) -> Result:
        """A decoded BGR (or gray, or BGRA) uint8 image."""
        return self._run(lambda: self.preprocessor.from_bgr(bgr), source, top)

    def classify_encoded(self, data: BufferLike, source: str | None = None,
                         top: int | None = None) -> Result:
        """JPEG/PNG bytes (decoding counts as preprocessing)."""
        return self._run(lambda: self.preprocessor.from_encoded(data), source, top)

    def classify_raw(self, data: BufferLike, width: int, height: int, encoding: str,
                     step: int | None = None, source: str | None = None,
                     top: int | None = None) -> Result:
        """A raw camera buffer with a ROS encoding name (bgr8, nv12, yuv422_yuy2, ...)."""
        return self._run(lambda: self.preprocessor.from_raw(data, width, height, encoding, step),
                         source, top)

    def classify_frame(self, frame: Frame, source: str | None = None,
                       top: int | None = None) -> Result:
        """A ``Frame`` made elsewhere (e.g. once for a whole image and its boxes); the time it
        took to make (``frame.decode_ms``) counts as preprocessing."""
        result = self._run(lambda: self.preprocessor.convert(frame), source, top)
        result.timing_ms.preprocess += frame.decode_ms
        return result

    def classify_file(self, path: str | Path, top: int | None = None) -> Result:
        """An image file (read bounded: regular files only, ``frames.read_image_file``)."""
        data = read_image_file(path)
        return self.classify_encoded(data, source=str(path), top=top)

    def close(self) -> None:
        self.backend.close()


@dataclass(frozen=True)
class PreparedFrame:
    """A frame brought to model-size NV12, ready for inference: what a latest-frame slot holds
    instead of the camera message (about 75 KB at 224x224 instead of megabytes).

    ``classifier`` is the one whose preprocessor made ``nv12``: the NV12 fits that model's input
    size and resize mode only, so ``classify_prepared`` refuses it for any other classifier.
    ``message`` is the original message, kept only when asked (the debug overlay needs it).
    """

    nv12: np.ndarray
    header: Any  # the input message's header (or None outside ROS)
    preprocess_ms: float
    classifier: Classifier
    source: str | None = None
    message: Any = None


def classify_prepared(clf: Classifier, frame: PreparedFrame, top: int | None = None) -> Result:
    """The second half: inference and top-k of a prepared frame, its preprocess time carried into
    ``Result.timing_ms``. ``clf`` must be the classifier the frame was prepared with
    (``ValueError`` otherwise: after a model change, prepare the frame again or drop it)."""
    if frame.classifier is not clf:
        raise ValueError(f"frame prepared for {frame.classifier.model_name} "
                         f"({frame.classifier.preprocessor.width}x"
                         f"{frame.classifier.preprocessor.height}) cannot be classified by "
                         f"another classifier ({clf.model_name})")
    return clf.classify_nv12(frame.nv12, source=frame.source, top=top,
                             preprocess_ms=frame.preprocess_ms)



__all__ = ["BPU_CORE_RANGE", "BPU_PRIORITY_RANGE", "THREADS_RANGE", "TOP_K_RANGE",
           "Classifier", "ClassifierConfig", "Prediction", "PreparedFrame", "Result", "Timing",
           "classify_prepared"]
