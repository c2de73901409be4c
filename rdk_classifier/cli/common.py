"""Options shared by the commands that run a model, and helpers to turn them into a config."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .. import zoo
from ..backends import BACKENDS
from ..classifier import THREADS_RANGE, TOP_K_RANGE, Classifier, ClassifierConfig
from ..frames import IMAGE_SUFFIXES, RESIZE_MODES

def frame_size(text: str) -> tuple[int, int]:
    """argparse type of every ``--size``: ``WIDTHxHEIGHT`` (or one number for a square), even and
    positive, as (width, height). One order for every command, as cameras and ROS state sizes."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        values = [int(v) for v in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT (e.g. 224x224)") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or min(values) <= 0 or any(v % 2 for v in values):
        raise argparse.ArgumentTypeError(f"size {text!r} must be WIDTHxHEIGHT with even positive "
                                         f"numbers (e.g. 224x224)")
    return values[0], values[1]


#: threads of a command (bench --threads, classify and evaluate --workers)
WORKERS_RANGE = (1, 64)
#: timed frames of bench (each keeps its timings in memory)
FRAMES_RANGE = (1, 10_000_000)


def ranged_int(low: int, high: int):
    """argparse type of an integer option whose range the node's parameter shares."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value
    parse.__name__ = f"integer {low}..{high}"
    return parse


def add_model_options(p: argparse.ArgumentParser, top_k: bool = True) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", default=zoo.DEFAULT_MODEL,
                   help=f"zoo model name or .onnx/.bin file (default: {zoo.DEFAULT_MODEL})")
    g.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="inference runtime (default: auto = BPU if present, else CPU)")
    g.add_argument("--resize-mode", choices=RESIZE_MODES, default=None,
                   help="how frames are fitted to the model input (default: the model's own)")
    g.add_argument("--class-names", default=None, metavar="FILE", dest="class_names",
                   help="class name file, one per line (default: the names the model records; "
                        "ImageNet-1k for zoo models; class_<N> otherwise)")
    g.add_argument("--cpu-threads", type=ranged_int(*THREADS_RANGE), default=1, dest="cpu_threads",
                   metavar="N", help="ONNX Runtime threads per model instance, %d..%d "
                                     "(default: 1)" % THREADS_RANGE)
    g.add_argument("--fallback-cpu", action="store_true", dest="fallback_cpu",
                   help=f"where the model cannot run here (a BPU .bin on a machine without a BPU), "
                        f"run {zoo.DEFAULT_MODEL} instead of failing; the output names the model "
                        f"that ran")
    g.add_argument("--soc", default="auto", metavar="SOC",
                   help="the board's chip, which picks a zoo model's file and refuses one built "
                        "for another chip: auto (/sys/class/boardinfo/soc_name, "
                        "$RDK_CLASSIFIER_SOC), x5, s100, s100p, s600 (default: auto)")
    if top_k:
        g.add_argument("--top-k", type=ranged_int(*TOP_K_RANGE), default=5, metavar="K",
                       help="how many classes to report, %d..%d (default: 5)" % TOP_K_RANGE)


def config_from_args(args: argparse.Namespace) -> ClassifierConfig:
    return ClassifierConfig(model=args.model, backend=args.backend, resize_mode=args.resize_mode,
                            top_k=getattr(args, "top_k", 5), class_names=args.class_names,
                            threads=args.cpu_threads, fallback_to_cpu=args.fallback_cpu,
                            soc=getattr(args, "soc", "auto"))


def load_classifier(args: argparse.Namespace) -> Classifier:
    """The classifier of the command's model options; a fallback is announced on stderr."""
    clf = Classifier.from_config(config_from_args(args))
    if clf.fallback_reason:
        print(f"warning: {clf.fallback_reason}", file=sys.stderr, flush=True)
    return clf


def model_line(clf: Classifier) -> str:
    """``model: NAME (runtime, file, resize MODE)``: which model produced the lines that follow,
    and how the frames were fitted to its input."""
    backend = clf.backend
    path = getattr(backend, "path", None)
    return (f"model: {clf.model_name} ({backend.name}{', ' + Path(path).name if path else ''}, "
            f"resize {clf.preprocessor.mode})")


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def url_error(paths: list[str]) -> str | None:
    """The refusal of the first path that is a URL (``https://...``): this command reads files."""
    for raw in paths:
        if _URL.match(raw):
            return (f"{raw[:200]!r}: URLs are not supported; download the image and give its "
                    f"file path")
    return None


def no_images_message(paths: list[str], recursive: bool) -> str:
    """Why no image was found, naming --recursive when a folder has images in sub-folders."""
    shown = " ".join(p[:200] for p in paths[:5]) + (" ..." if len(paths) > 5 else "")
    if not recursive:
        for raw in paths:
            p = Path(raw)
            if p.is_dir() and next((f for f in p.glob("*/**/*") if f.is_file()
                                    and f.suffix.lower() in IMAGE_SUFFIXES), None):
                return (f"no image files directly in {raw[:200]}; its sub-folders have images: "
                        f"add --recursive to descend into them")
    return f"no image files found in {shown}"


def expand_images(paths: list[str], recursive: bool = False) -> list[Path]:
    """Files as given; folders expanded to their image files, sorted. Missing paths are kept
    (so the caller reports them) rather than silently dropped."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            out.extend(sorted(f for f in p.glob(pattern)
                              if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(p)
    return out
