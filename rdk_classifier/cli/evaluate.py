"""``evaluate --images DIR --labels FILE``: top-1 / top-5 accuracy like the seed's evaluation."""

from __future__ import annotations

import argparse
import json
import sys

from ..evaluation import MAX_LABELLED_IMAGES, EvaluationReport, evaluate, read_labels
from .common import WORKERS_RANGE, add_model_options, load_classifier, ranged_int

#: the seed's evaluation preprocessing (resize the short side to 256, centre crop 224)
SEED_RESIZE_MODE = "center_crop"
_MODE_TEXT = {"center_crop": "resize short side to 256/224 of the input, centre crop",
              "letterbox": "aspect kept, padded with grey 127",
              "direct": "stretched to the input"}


def zoo_row(name: str):
    """The registry row of a model name, or None (a user's file)."""
    from .. import zoo

    try:
        return zoo.get_model(name)
    except Exception:
        return None


def preprocessing_of(args: argparse.Namespace) -> tuple[str | None, str]:
    """The resize mode to evaluate with and why: given, else the seed's centre crop for a zoo
    model the seed published figures for (so its columns are reproduced), else the model's own."""
    if args.resize_mode:
        return args.resize_mode, "given"
    row = zoo_row(args.model)
    if row is not None and (row.float_top1 is not None or row.quant_top1 is not None):
        return SEED_RESIZE_MODE, "the seed's evaluation preprocessing, as its figures were measured"
    return None, "the model's own"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="top-1/top-5 accuracy on a labelled image folder",
        description="Classify every image listed in a label file (the seed's val.txt format: "
                    "'<file name> <class index>' per line) and report top-1 and top-5 accuracy. "
                    "Missing or unreadable images are counted and listed; the exit status is 1 "
                    "if there were any, or if no image could be classified.")
    add_model_options(p, top_k=False)
    p.add_argument("--images", required=True, metavar="DIR", help="folder holding the images")
    p.add_argument("--labels", required=True, metavar="FILE", dest="label_file",
                   help="ground truth: '<file name> <class index>' per line")
    p.add_argument("--workers", type=ranged_int(*WORKERS_RANGE), default=1, metavar="N",
                   help="threads sharing the one model: decoding in parallel, inference as many "
                        "at once as the backend takes, %d..%d (default: 1)" % WORKERS_RANGE)
    p.add_argument("--max-images", type=int, default=MAX_LABELLED_IMAGES, metavar="N",
                   dest="max_images",
                   help=f"most images the label file may list (default: {MAX_LABELLED_IMAGES}; "
                        f"ImageNet's validation set lists 50,000)")
    p.add_argument("--per-image", action="store_true", dest="per_image",
                   help="also list every image's result")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def format_text(report: EvaluationReport, per_image: bool, extra: dict | None = None) -> str:
    lines = []
    extra = extra or {}
    if per_image:
        for r in report.results:
            if not r.ok:
                lines.append(f"{r.name}: label {r.label}: {'MISSING' if r.missing else 'FAILED'}: "
                             f"{r.error}")
                continue
            best = r.top[0]
            mark = "top1" if r.top1_correct else ("top5" if r.top5_correct else "miss")
            lines.append(f"{r.name}: label {r.label}, predicted {best.class_id} ({best.label}, "
                         f"{best.score:.3f}) [{mark}]")
    t = report.mean_timing_ms()
    lines += [
        f"model: {report.model} (resize {report.resize_mode})",
        f"images: {report.count} classified of {report.listed} listed "
        f"({len(report.missing)} missing, {len(report.failed)} unreadable)",
        f"preprocessing: {extra.get('preprocessing')} "
        f"({_MODE_TEXT.get(str(extra.get('preprocessing')), '?')}; {extra.get('preprocessing_source')})",
        f"top-1: {report.top1 * 100:.2f} % ({report.top1_hits}/{report.count})"
        + (f"  [zoo: float {extra['zoo_float_top1']} %, quantized {extra['zoo_quant_top1']} % "
           f"on ImageNet val]" if "zoo_float_top1" in extra else ""),
        f"top-5: {report.top5 * 100:.2f} % ({report.top5_hits}/{report.count})",
        f"mean ms per image: preprocess {t.preprocess:.2f}, inference {t.inference:.2f}, "
        f"postprocess {t.postprocess:.2f}; {report.workers} worker(s), "
        f"{report.elapsed_s:.2f} s total",
    ]
    for r in report.missing:
        lines.append(f"missing: {r.name}")
    for r in report.failed:
        lines.append(f"unreadable: {r.name}: {r.error}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        print("error: --workers must be >= 1", file=sys.stderr)
        return 2
    if args.max_images < 1:
        print("error: --max-images must be >= 1", file=sys.stderr)
        return 2
    samples = read_labels(args.label_file, max_images=args.max_images)
    mode, source = preprocessing_of(args)
    args.resize_mode = mode
    clf = load_classifier(args)
    extra: dict = {"preprocessing": clf.preprocessor.mode, "preprocessing_source": source}
    row = zoo_row(clf.model_name)
    if row is not None and row.float_top1 is not None:
        extra["zoo_float_top1"] = row.float_top1
        extra["zoo_quant_top1"] = row.quant_top1
    from tqdm import tqdm

    with tqdm(total=len(samples), unit="img", desc="evaluate", file=sys.stderr,
              disable=not sys.stderr.isatty()) as bar:
        report = evaluate(clf, args.images, samples, workers=args.workers,
                          progress=lambda _r: bar.update())
    if args.json:
        print(json.dumps(report.to_dict(per_image=args.per_image) | extra))
    else:
        print(format_text(report, args.per_image, extra))
    return 1 if (report.missing or report.failed or report.count == 0) else 0
