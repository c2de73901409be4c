"""Box mode on the command line: ``bag --detections`` options and run."""

from __future__ import annotations

import argparse
import sys

from ..regions import BOX_ORDERS, DEFAULT_MAX_BOXES, BoxFilter
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
                                on_skip=report_skip)
    for d_topic, out in report.topics.items():
        print(f"{report.pairs[d_topic]} + {d_topic} -> {out}: {report.classified[d_topic]} "
              f"Detection2DArray messages, {report.boxes[d_topic]} boxes")
    print(f"wrote {report.output} ({report.model}, {report.total_classified} classified, "
          f"{len(report.skipped)} skipped; unmatched: {report.unmatched_frames} frames, "
          f"{report.unmatched_detections} detection sets)")
    return 1 if report.skipped else 0
