"""Box mode on the command line: ``bag --detections`` options and run, ``classify --boxes``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..regions import (BOX_ORDERS, DEFAULT_MAX_BOXES, MAX_BOXES_LIMIT, BoxFilter, FrameBoxes,
                       RegionFrame, classify_boxes)
from .common import config_from_args


def add_box_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "box mode", "with --detections: classify every detector box of the frames on --topic "
                    "and write vision_msgs/msg/Detection2DArray on DETECTIONS/classification")
    g.add_argument("--detections", action="append", metavar="DETECTIONS",
                   help="detector topic (vision_msgs/msg/Detection2DArray or "
                        "ai_msgs/msg/PerceptionTargets) holding the boxes of the frames on the "
                        "--topic given at the same position (repeatable)")
    g.add_argument("--box-classes", action="append", metavar="CLASS",
                   help="classify only boxes of this detector class (repeatable; default all)")
    g.add_argument("--box-min-size", type=int, default=0, metavar="PIXELS",
                   help="leave out boxes narrower or lower than this (default 0)")
    g.add_argument("--box-min-score", type=float, default=0.0,
                   help="leave out boxes the detector scored lower (default 0.0)")
    g.add_argument("--box-max-count", type=int, default=DEFAULT_MAX_BOXES,
                   help=f"at most this many boxes per frame (default {DEFAULT_MAX_BOXES})")
    g.add_argument("--box-order", choices=BOX_ORDERS, default="score",
                   help="which boxes win above --box-max-count (default score)")
    g.add_argument("--box-padding", type=float, default=0.0,
                   help="grow each side of a box by this fraction of its size (default 0.0)")


def box_filter_from_args(args: argparse.Namespace) -> BoxFilter:
    return BoxFilter(classes=tuple(args.box_classes or ()), min_size=args.box_min_size,
                     min_score=args.box_min_score, max_boxes=args.box_max_count,
                     order=args.box_order, padding=args.box_padding)


def run_boxes(args: argparse.Namespace, report_skip) -> int:
    from ..ros.box_bag import classify_bag_boxes

    box_filter = box_filter_from_args(args)
    problems = box_filter.problems()
    if problems:
        print("error: " + "; ".join(problems), file=sys.stderr)
        return 2
    report = classify_bag_boxes(args.input, args.out, args.topics or [], args.detections,
                                config_from_args(args), storage=args.storage,
                                class_id_format=args.class_id_format,
                                score_threshold=args.score_threshold, top_k=args.top_k,
                                box_filter=box_filter,
                                progress=False if args.no_progress else None,
                                on_skip=report_skip,
                                ros_distro=args.ros_distro)
    for d_topic, out in report.topics.items():
        print(f"{report.pairs[d_topic]} + {d_topic} -> {out}: {report.classified[d_topic]} "
              f"Detection2DArray messages, {report.boxes[d_topic]} boxes")
    print(f"wrote {report.output} ({report.model}, {report.total_classified} classified, "
          f"{len(report.skipped)} skipped; unmatched: {report.unmatched_frames} frames, "
          f"{report.unmatched_detections} detection sets)")
    return 1 if report.skipped else 0


def classify_file_boxes(clf, path, boxes) -> FrameBoxes:
    """Every given box of an image file (decoded once), no filter but the count limit."""
    frame = RegionFrame.from_encoded(Path(path).read_bytes())
    return classify_boxes(clf, frame, boxes, BoxFilter(max_boxes=MAX_BOXES_LIMIT),
                          source=str(path))


def print_boxes_result(result, fb: FrameBoxes, as_json: bool) -> int:
    """Print an image's result with its boxes; bad boxes also go to stderr. Returns 1 if any box
    could not be classified."""
    from .classify import format_text

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
