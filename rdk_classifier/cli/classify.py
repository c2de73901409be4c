"""``classify PATH...``: top-k of image files, as text like the seed's log or one JSON per line."""

from __future__ import annotations

import argparse
import json
import sys

from ..classifier import Result
from ..errors import FrameError
from .common import add_model_options, expand_images, load_classifier, model_line


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("classify", help="classify image files or folders",
                              description="Print the top-k classes of each image. An unreadable "
                                          "file is reported on stderr and the rest still run "
                                          "(exit status 1 at the end).")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders of images")
    p.add_argument("--recursive", action="store_true", help="descend into sub-folders")
    p.add_argument("--json", action="store_true", help="one JSON object per line per image")
    add_model_options(p)
    p.set_defaults(func=run)


def format_text(result: Result) -> str:
    t = result.timing_ms
    lines = [f"{result.source}  (preprocess {t.preprocess:.2f} ms, inference {t.inference:.2f} ms, "
             f"postprocess {t.postprocess:.2f} ms)"]
    lines += [f"  label {p.class_id:3d}, prob {p.score:.5f}, class {p.label}" for p in result.top]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.top_k < 1:
        print("error: --top-k must be >= 1", file=sys.stderr)
        return 2
    files = expand_images(args.paths, args.recursive)
    if not files:
        print("error: no image files found in " + " ".join(args.paths), file=sys.stderr)
        return 1
    clf = load_classifier(args)
    if not args.json:
        print(model_line(clf), flush=True)
    failed = 0
    for path in files:
        try:
            result = clf.classify_file(path)
        except (OSError, FrameError) as exc:
            failed += 1
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            print(f"error: {path}: {reason}", file=sys.stderr)
            continue
        print(json.dumps(result.to_dict()) if args.json else format_text(result), flush=True)
    if failed:
        print(f"{failed} of {len(files)} images could not be classified", file=sys.stderr)
    return 1 if failed else 0
