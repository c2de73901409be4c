"""``classify PATH...``: top-k of image files, as text like the seed's log or one JSON per line."""

from __future__ import annotations

import argparse
import json
import sys

from ..classifier import Result
from ..errors import BoxesFileError, FrameError
from ..parallel import ordered_map
from ..regions import load_boxes_file
from .boxes import classify_file_boxes, print_boxes_result
from .common import add_model_options, expand_images, load_classifier, model_line


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("classify", help="classify image files or folders",
                              description="Print the top-k classes of each image. An unreadable "
                                          "file is reported on stderr and the rest still run "
                                          "(exit status 1 at the end).")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders of images")
    p.add_argument("--recursive", action="store_true", help="descend into sub-folders")
    p.add_argument("--json", action="store_true", help="one JSON object per line per image")
    p.add_argument("--boxes", metavar="FILE.json",
                   help='also classify these boxes of every image: a JSON list of {"x_offset", '
                        '"y_offset", "width", "height"} in pixels (sensor_msgs/RegionOfInterest); '
                        'with --json each image gets a "boxes" list')
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="threads decoding and classifying images at once, sharing one model "
                        "(output order unchanged; default: 1)")
    add_model_options(p)
    p.set_defaults(func=run)


def format_text(result: Result) -> str:
    t = result.timing_ms
    lines = [f"{result.source}  (preprocess {t.preprocess:.2f} ms, inference {t.inference:.2f} ms, "
             f"postprocess {t.postprocess:.2f} ms)"]
    lines += [f"  label {p.class_id:3d}, prob {p.score:.5f}, class {p.label}" for p in result.top]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.top_k < 1 or args.workers < 1:
        print(f"error: --{'top-k' if args.top_k < 1 else 'workers'} must be >= 1", file=sys.stderr)
        return 2
    files = expand_images(args.paths, args.recursive)
    if not files:
        print("error: no image files found in " + " ".join(args.paths), file=sys.stderr)
        return 1
    boxes = None
    if args.boxes:
        try:
            boxes = load_boxes_file(args.boxes)
        except BoxesFileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    clf = load_classifier(args)
    if not args.json:
        print(model_line(clf), flush=True)

    def classify_path(path):
        try:
            result = clf.classify_file(path)
            # the same crop path as the node's box mode
            return result, (classify_file_boxes(clf, path, boxes) if boxes is not None else None)
        except (OSError, FrameError) as exc:
            return exc, None

    failed = with_bad_boxes = 0
    for path, (result, frame_boxes) in zip(files, ordered_map(classify_path, files,
                                                              args.workers, name="classify")):
        if isinstance(result, Exception):
            failed += 1
            reason = result.strerror if isinstance(result, OSError) and result.strerror else result
            print(f"error: {path}: {reason}", file=sys.stderr)
            continue
        if boxes is not None:
            with_bad_boxes += print_boxes_result(result, frame_boxes, args.json)
            continue
        print(json.dumps(result.to_dict()) if args.json else format_text(result), flush=True)
    if failed:
        print(f"{failed} of {len(files)} images could not be classified", file=sys.stderr)
    if with_bad_boxes:
        print(f"{with_bad_boxes} of {len(files)} images had boxes that could not be classified",
              file=sys.stderr)
    return 1 if failed or with_bad_boxes else 0
