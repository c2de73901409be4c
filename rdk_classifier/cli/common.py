"""Options shared by the commands that run a model, and helpers to turn them into a config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import zoo
from ..backends import BACKENDS
from ..classifier import Classifier, ClassifierConfig
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
    g.add_argument("--cpu-threads", type=int, default=1, dest="cpu_threads",
                   help="ONNX Runtime threads per model instance (default: 1)")
    g.add_argument("--fallback-cpu", action="store_true", dest="fallback_cpu",
                   help=f"where the model cannot run here (a BPU .bin on a machine without a BPU), "
                        f"run {zoo.DEFAULT_MODEL} instead of failing; the output names the model "
                        f"that ran")
    if top_k:
        g.add_argument("--top-k", type=int, default=5, help="how many classes to report (default: 5)")


def config_from_args(args: argparse.Namespace) -> ClassifierConfig:
    return ClassifierConfig(model=args.model, backend=args.backend, resize_mode=args.resize_mode,
                            top_k=getattr(args, "top_k", 5), class_names=args.class_names,
                            threads=args.cpu_threads, fallback_to_cpu=args.fallback_cpu)


def load_classifier(args: argparse.Namespace) -> Classifier:
    """The classifier of the command's model options; a fallback is announced on stderr."""
    clf = Classifier.from_config(config_from_args(args))
    if clf.fallback_reason:
        print(f"warning: {clf.fallback_reason}", file=sys.stderr, flush=True)
    return clf


def model_line(clf: Classifier) -> str:
    """``model: NAME (runtime, file)``: which model produced the lines that follow."""
    backend = clf.backend
    path = getattr(backend, "path", None)
    return f"model: {clf.model_name} ({backend.name}{', ' + Path(path).name if path else ''})"


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
