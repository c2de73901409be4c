"""``classify PATH...``: top-k of image files, as text like the seed's log or one JSON per line;
with ``--boxes`` also the top-k of given boxes of each image (the node's box-mode crop path)."""

from __future__ import annotations

import argparse
import json
import sys

from ..classifier import Classifier, Result
from ..errors import BoxesFileError, FrameError
from ..frames import Frame, read_image_file
from ..parallel import ordered_map
from ..regions import MAX_BOXES_LIMIT, Box, BoxFilter, FrameBoxes, classify_boxes, load_boxes_file
from .common import (WORKERS_RANGE, add_model_options, expand_images, load_classifier,
                     model_line, no_images_message, ranged_int, url_error)


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
    p.add_argument("--workers", type=ranged_int(*WORKERS_RANGE), default=1, metavar="N",
                   help="threads decoding and classifying images at once, sharing one model "
                        "(output order unchanged), %d..%d (default: 1)" % WORKERS_RANGE)
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
    if url_error(args.paths):
        print(f"error: {url_error(args.paths)}", file=sys.stderr)
        return 2
    files = expand_images(args.paths, args.recursive)
    if not files:
        print(f"error: {no_images_message(args.paths, args.recursive)}", file=sys.stderr)
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
            if boxes is None:
                return clf.classify_file(path), None
            return classify_file_boxes(clf, path, boxes)  # the same crop path as the node's
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


def classify_file_boxes(clf: Classifier, path, boxes: list[Box]) -> tuple[Result, FrameBoxes]:
    """An image file and every given box of it: the file read once (bounded) and decoded once
    at full size; the whole image and each box are rectangles of that one frame. No filter but
    the count limit."""
    frame = Frame.from_encoded(read_image_file(path), max_pixels=clf.preprocessor.max_pixels)
    result = clf.classify_frame(frame, source=str(path))
    return result, classify_boxes(clf, frame, boxes, BoxFilter(max_boxes=MAX_BOXES_LIMIT),
                                  source=str(path))


def print_boxes_result(result: Result, fb: FrameBoxes, as_json: bool) -> int:
    """Print an image's result with its boxes; bad boxes also go to stderr. Returns 1 if any box
    could not be classified."""
    if as_json:
        d = result.to_dict()
        d["boxes"] = [b.to_dict() for b in fb.boxes]
        print(json.dumps(d), flush=True)
    else:
        lines = [format_text(result)]
        for b in fb.boxes:
            x = b.box
            head = f"  box {b.index} ({x.x_offset}, {x.y_offset}, {x.width}x{x.height})"
            if b.result is not None:  # b.ok
                p = b.result.top[0]
                lines.append(f"{head}: label {p.class_id:3d}, prob {p.score:.5f}, class {p.label}")
            else:
                lines.append(f"{head}: not classified")
        print("\n".join(lines), flush=True)
    for b in fb.failed:
        print(f"error: {result.source}: box {b.index}: {b.error}", file=sys.stderr)
    return 1 if fb.failed else 0
