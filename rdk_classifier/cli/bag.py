"""``bag INPUT --out OUTPUT``: classify the camera frames of a rosbag2 into a new bag; with
``--detections`` the boxes of a detector's messages (box mode, offline)."""

from __future__ import annotations

import argparse
import sys

from .. import budget

from ..regions import BOX_ORDERS, DEFAULT_MAX_BOXES, BoxFilter
from ..ros.bag import STORAGES, Skipped, classify_bag
from ..ros.messages import CLASS_ID_FORMATS
from .common import add_model_options, config_from_args


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "bag", help="classify the Image/CompressedImage messages of a rosbag2",
        description="Read a rosbag2 (directory, .mcap or .db3) and write a new bag with one "
                    "vision_msgs/msg/Classification per input message on TOPIC/classification "
                    "(header and record timestamp of the input kept) plus /label_info and "
                    "/vision_info. A message that cannot be read or classified is reported, "
                    "counted by kind and skipped while the run goes on (exit status 1 at the "
                    "end). An existing output is never overwritten; an interrupted run (Ctrl-C, "
                    "SIGTERM) leaves none. Needs rosbags (pip install 'rdk_classifier[bag]').")
    p.add_argument("input", metavar="INPUT", help="rosbag2 directory or .mcap/.db3 file")
    p.add_argument("--topic", action="append", dest="topics", metavar="TOPIC",
                   help="image topic to classify (repeatable; default: every Image and "
                        "CompressedImage topic of the bag)")
    p.add_argument("--out", required=True, metavar="OUTPUT", help="new bag directory to write")
    p.add_argument("--storage", choices=STORAGES, default="mcap",
                   help="storage of the output bag (default: mcap)")
    p.add_argument("--class-id-format", choices=CLASS_ID_FORMATS, default="index",
                   help="ObjectHypothesis.class_id: class index (default) or class name")
    p.add_argument("--score-threshold", type=float, default=0.0,
                   help="leave out hypotheses below this probability (default: 0.0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_box_options(p)
    add_model_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.top_k < 1:
        print("error: --top-k must be >= 1", file=sys.stderr)
        return 2
    if not 0.0 <= args.score_threshold <= 1.0:
        print("error: --score-threshold must be within 0.0..1.0", file=sys.stderr)
        return 2

    def report_skip(s: Skipped) -> None:
        print(f"error: {s.topic} @ {s.timestamp}: skipped: {s.reason}", file=sys.stderr)

    if args.detections:  # box mode: classified Detection2DArray on DETECTIONS/classification
        return run_boxes(args, report_skip)
    report = classify_bag(args.input, args.out, args.topics, config_from_args(args),
                          storage=args.storage, class_id_format=args.class_id_format,
                          score_threshold=args.score_threshold, top_k=args.top_k,
                          progress=False if args.no_progress else None, on_skip=report_skip)
    for topic, out in report.topics.items():
        print(f"{topic} -> {out}: {report.classified[topic]} Classification messages")
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(report.skipped_by_kind.items()) if n)
    print(f"wrote {report.output} ({report.model}, resize {report.resize_mode}, "
          f"{report.total_classified} classified, "
          f"{report.total_skipped} skipped{': ' + kinds if kinds else ''})")
    return 1 if report.total_skipped else 0


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
    print(f"wrote {report.output} ({report.model}, resize {report.resize_mode}, "
          f"{report.total_classified} classified, "
          f"{len(report.skipped)} skipped; unmatched: {report.unmatched_frames} frames, "
          f"{report.unmatched_detections} detection sets)")
    if report.too_large:
        print(f"error: {report.too_large} message(s) larger than their share of the "
              f"{budget.describe(budget.memory_budget())} memory budget could not wait for a "
              f"match ({budget.HOW_TO_CHANGE})", file=sys.stderr)
    if report.total_classified == 0:
        print(f"error: no detection set matched a frame by header stamp "
              f"({report.unmatched_frames} frames, {report.unmatched_detections} detection sets "
              f"unmatched); check that each --detections holds the boxes of the --topic before "
              f"it", file=sys.stderr)
        return 1
    return 1 if report.skipped or report.too_large else 0
