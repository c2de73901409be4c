"""Options shared by the commands that run a model, and helpers to turn them into a config."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import zoo
from ..backends import BACKENDS
from ..classifier import ClassifierConfig
from ..frames import IMAGE_SUFFIXES, RESIZE_MODES



def add_model_options(p: argparse.ArgumentParser, top_k: bool = True) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", default=zoo.DEFAULT_MODEL,
                   help=f"zoo model name or .onnx/.bin file (default: {zoo.DEFAULT_MODEL})")
    g.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="inference runtime (default: auto = BPU if present, else CPU)")
    g.add_argument("--resize-mode", choices=RESIZE_MODES, default=None,
                   help="how frames are fitted to the model input (default: the model's own)")
    g.add_argument("--class-names", default=None, metavar="FILE", dest="labels",
                   help="class name file, one per line (default: ImageNet-1k)")
    g.add_argument("--cpu-threads", type=int, default=1, dest="cpu_threads",
                   help="ONNX Runtime threads per model instance (default: 1)")
    if top_k:
        g.add_argument("--top-k", type=int, default=5, help="how many classes to report (default: 5)")


def config_from_args(args: argparse.Namespace) -> ClassifierConfig:
    return ClassifierConfig(model=args.model, backend=args.backend, resize_mode=args.resize_mode,
                            top_k=getattr(args, "top_k", 5), labels=args.labels,
                            threads=args.cpu_threads)


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
