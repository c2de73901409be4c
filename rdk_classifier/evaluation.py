"""Top-1 / top-5 accuracy of a model on a labelled image folder, the way the seed's evaluation does.

Every image goes through ``Classifier.classify_file``, the same path as ``classify`` and the node, so
the accuracy reported here is the accuracy they get. Labels come in the seed's ``val.txt`` format:
one ``<file name> <class index>`` per line. Missing or unreadable images are counted and listed,
never fatal. Several workers are threads sharing the one ``Classifier`` (``parallel.ordered_map``):
they decode in parallel, and run inference as many at once as the backend takes.
"""

from __future__ import annotations

import os
import posixpath
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from .classifier import Classifier, Prediction, Timing
from .parallel import ordered_map
from .safe_io import open_bounded
from .errors import EvaluationError, FrameError, LabelFileError

#: top-5 accuracy needs at least the five best classes of every image
TOP_K = 5






#: largest label file read (ImageNet's 50,000-line val.txt is ~1.4 MB)
MAX_LABEL_FILE_BYTES = 64 << 20
#: longest line of a label file (a file name is at most PATH_MAX = 4096 bytes, plus the index)
MAX_LABEL_LINE_BYTES = 4200
#: most images one evaluation lists (ImageNet's validation set has 50,000); ``--max-images``
MAX_LABELLED_IMAGES = 200_000
_LIMIT_HINT = "--max-images N raises it"


def _shown(text: str, limit: int = 80) -> str:
    """``repr`` of a piece of user input, cut to ``limit`` characters: an error never echoes a
    huge line back."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} chars)"


def image_key(name: str) -> str:
    """One spelling per file name: ``./a.jpg``, ``a.jpg``, ``x/../a.jpg`` and the NFD form of
    an accented name are the same image."""
    return unicodedata.normalize("NFC", posixpath.normpath(name))


@dataclass(frozen=True)
class LabelledImage:
    """One line of the label file."""

    name: str   # file name, relative to the image folder
    label: int  # ground-truth class index
    line: int   # 1-based line number in the label file


class _LabelParser:
    """Line by line: the checks of ``parse_labels`` with the memory of one line at a time."""

    def __init__(self, source: str, max_images: int) -> None:
        self.source, self.max_images = source, max_images
        self.samples: list[LabelledImage] = []
        self.seen: dict[str, int] = {}

    def add(self, number: int, raw: str) -> None:
        source = self.source
        line = raw.strip()
        if number == 1 and line.startswith("\ufeff"):
            line = line[1:].strip()
        if not line or line.startswith("#"):
            return
        parts = line.rsplit(None, 1)
        if len(parts) != 2:
            raise LabelFileError(f"{source}:{number}: expected '<file name> <class index>', "
                                 f"got {_shown(line)}")
        name, index = parts
        if index.startswith("-") and index[1:].isascii() and index[1:].isdigit():
            raise LabelFileError(f"{source}:{number}: class index {_shown(index, 20)} is negative")
        if not (index.isascii() and index.isdigit()) or len(index) > 9:
            raise LabelFileError(f"{source}:{number}: class index {_shown(index, 20)} is not an "
                                 f"integer of ASCII digits (expected '<file name> <class index>')")
        if any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise LabelFileError(f"{source}:{number}: file name {_shown(name)} has a control "
                                 f"character (NUL, newline...); no file can be named so")
        label = int(index)
        key = image_key(name)
        if posixpath.isabs(key) or key == ".." or key.startswith("../"):
            raise LabelFileError(f"{source}:{number}: {_shown(name)} is not inside the image "
                                 f"folder (give names relative to it)")
        if key in self.seen:
            raise LabelFileError(f"{source}:{number}: {_shown(name)} is listed twice "
                                 f"(first on line {self.seen[key]})")
        if len(self.samples) >= self.max_images:
            raise LabelFileError(f"{source}:{number}: more than {self.max_images} images listed; "
                                 f"the limit is {self.max_images} ({_LIMIT_HINT})")
        self.seen[key] = number
        self.samples.append(LabelledImage(name, label, number))


def parse_labels(text: str, source: str = "<labels>",
                 max_images: int = MAX_LABELLED_IMAGES) -> list[LabelledImage]:
    """Parse val.txt text. Blank lines and lines starting with ``#`` are skipped; a file name may
    contain spaces (the class index is the last field). A UTF-8 BOM and CRLF line ends are
    accepted; the class index must be plain ASCII digits (``int()`` would also take ``2_4_3``
    and Arabic-Indic digits); a name that is absolute, leaves the image folder or holds a control
    character (NUL) is refused, and so is one image listed twice in any spelling, and more than
    ``max_images`` images. Raises LabelFileError naming the line (its text cut short)."""
    parser = _LabelParser(source, max_images)
    for number, raw in enumerate(text.splitlines(), start=1):
        parser.add(number, raw)
    return parser.samples


def read_labels(path: str | Path, max_images: int = MAX_LABELLED_IMAGES) -> list[LabelledImage]:
    """Read a val.txt-style label file (see ``parse_labels``), streamed line by line: a regular
    file (a FIFO or device would block or never end) of at most ``MAX_LABEL_FILE_BYTES``, lines
    of at most ``MAX_LABEL_LINE_BYTES``, at most ``max_images`` images."""
    p = Path(path)
    parser = _LabelParser(str(p), max_images)
    with open_bounded(p, MAX_LABEL_FILE_BYTES, "label file", LabelFileError) as f:
        number = 0
        while True:
            raw = f.readline(MAX_LABEL_LINE_BYTES + 1)
            if not raw:
                break
            number += 1
            if len(raw) > MAX_LABEL_LINE_BYTES:
                raise LabelFileError(f"{p}:{number}: the line is longer than "
                                     f"{MAX_LABEL_LINE_BYTES} bytes (a file name is at most "
                                     f"4096); is this a label file?")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise LabelFileError(f"label file {p}:{number} is not UTF-8 text "
                                     f"(byte {exc.start} of the line)") from None
            parser.add(number, text)
    if not parser.samples:
        raise LabelFileError(f"label file {p} lists no images (expected '<file name> <class index>' "
                             f"per line)")
    return parser.samples


@dataclass
class ImageResult:
    """The outcome of one listed image. ``top`` is empty and ``error`` set when it could not run."""

    name: str
    label: int
    top: list[Prediction] = field(default_factory=list)
    timing_ms: Timing | None = None
    error: str | None = None
    missing: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def top1_correct(self) -> bool:
        return bool(self.top) and self.top[0].class_id == self.label

    @property
    def top5_correct(self) -> bool:
        return any(p.class_id == self.label for p in self.top[:TOP_K])

    def to_dict(self) -> dict:
        d: dict = {"name": self.name, "label": self.label}
        if self.ok:
            d.update(top1_correct=self.top1_correct, top5_correct=self.top5_correct,
                     top=[{"class_id": p.class_id, "label": p.label, "score": p.score}
                          for p in self.top],
                     timing_ms=self.timing_ms.to_dict() if self.timing_ms else None)
        else:
            d["error"] = self.error
        return d


@dataclass
class EvaluationReport:
    """Accuracy over the images that could be classified, plus the ones that could not."""

    model: str
    listed: int                   # lines in the label file
    results: list[ImageResult]    # label file order
    workers: int = 1
    elapsed_s: float = 0.0
    resize_mode: str | None = None  # how the images were fitted to the model input

    @property
    def evaluated(self) -> list[ImageResult]:
        return [r for r in self.results if r.ok]

    @property
    def count(self) -> int:
        """Images actually classified (the accuracy denominator)."""
        return len(self.evaluated)

    @property
    def top1_hits(self) -> int:
        return sum(r.top1_correct for r in self.evaluated)

    @property
    def top5_hits(self) -> int:
        return sum(r.top5_correct for r in self.evaluated)

    @property
    def top1(self) -> float:
        return self.top1_hits / self.count if self.count else 0.0

    @property
    def top5(self) -> float:
        return self.top5_hits / self.count if self.count else 0.0

    @property
    def missing(self) -> list[ImageResult]:
        return [r for r in self.results if r.missing]

    @property
    def failed(self) -> list[ImageResult]:
        return [r for r in self.results if not r.ok and not r.missing]

    def mean_timing_ms(self) -> Timing:
        done = [r.timing_ms for r in self.evaluated if r.timing_ms is not None]
        if not done:
            return Timing()
        n = len(done)
        return Timing(sum(t.preprocess for t in done) / n, sum(t.inference for t in done) / n,
                      sum(t.postprocess for t in done) / n)

    def to_dict(self, per_image: bool = False) -> dict:
        d = {
            "model": self.model,
            "resize_mode": self.resize_mode,
            "count": self.count,
            "listed": self.listed,
            "top1": self.top1,
            "top5": self.top5,
            "top1_hits": self.top1_hits,
            "top5_hits": self.top5_hits,
            "missing": [r.name for r in self.missing],
            "failed": [{"name": r.name, "error": r.error} for r in self.failed],
            "workers": self.workers,
            "elapsed_s": self.elapsed_s,
            "images_per_s": self.count / self.elapsed_s if self.elapsed_s > 0 else None,
            "mean_timing_ms": self.mean_timing_ms().to_dict(),
        }
        if per_image:
            d["images"] = [r.to_dict() for r in self.results]
        return d


def classify_one(classifier: Classifier, image_dir: Path, sample: LabelledImage) -> ImageResult:
    """Run one listed image through the classifier; problems become an ImageResult with error."""
    path = image_dir / sample.name
    try:
        result = classifier.classify_file(path, top=max(TOP_K, classifier.top_k))
    except FileNotFoundError:
        return ImageResult(sample.name, sample.label, error=f"no such file: {path}", missing=True)
    except (OSError, FrameError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return ImageResult(sample.name, sample.label, error=f"{path}: {reason}")
    return ImageResult(sample.name, sample.label, result.top, result.timing_ms)


def evaluate(classifier: Classifier, image_dir: str | Path, samples: Sequence[LabelledImage],
             workers: int = 1, progress: Callable[[ImageResult], object] | None = None
             ) -> EvaluationReport:
    """Classify every listed image and score it. ``workers`` > 1 runs that many threads sharing
    ``classifier`` (one model load). ``progress`` is called in the calling thread once per
    finished image, in label-file order."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    image_dir = Path(image_dir)
    num_classes = len(classifier.class_names)
    for s in samples:
        if s.label >= num_classes:
            raise LabelFileError(f"line {s.line}: class index {s.label} is out of range for "
                                 f"{classifier.model_name} ({num_classes} classes)")
    check_images(image_dir, samples)
    workers = max(1, min(workers, len(samples)))
    results: list[ImageResult] = []
    start = time.perf_counter()
    for result in ordered_map(lambda sample: classify_one(classifier, image_dir, sample), samples,
                              workers, name="evaluate"):
        results.append(result)
        if progress:
            progress(result)
    elapsed = time.perf_counter() - start
    return EvaluationReport(classifier.model_name, len(samples), results, workers, elapsed,
                            classifier.preprocessor.mode)


def check_images(image_dir: Path, samples: Sequence[LabelledImage]) -> None:
    """One EvaluationError instead of one "missing" line per image when the folder is wrong:
    it does not exist, or holds none of the listed images. Also refuses two lines that name
    the same file (a symlink or hard link to it)."""
    if not image_dir.is_dir():
        raise EvaluationError(f"image folder {image_dir} does not exist or is not a folder")
    seen: dict[tuple[int, int], LabelledImage] = {}
    for s in samples:
        try:
            st = os.stat(image_dir / s.name)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            raise LabelFileError(f"line {s.line}: {s.name!r} is the same file as "
                                 f"{seen[key].name!r} (line {seen[key].line}); list it once")
        seen[key] = s
    if samples and not seen:
        raise EvaluationError(f"none of the {len(samples)} images listed is in {image_dir} "
                              f"(first: {samples[0].name!r}); is --images the right folder?")


__all__ = ["EvaluationError", "EvaluationReport", "ImageResult", "LabelFileError", "LabelledImage", "TOP_K",
           "classify_one", "evaluate", "parse_labels", "read_labels"]
