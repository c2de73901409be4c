"""``quantize --model F.onnx --calib DIR --out F.onnx``: int8 QDQ model and hb_mapper-like report."""

from __future__ import annotations

import argparse
import json
import sys

from ..ptq.quantization import ACTIVATION_TYPES, METHODS, QuantizeSettings, quantize_model
from ..ptq.similarity import format_report, similarity_report


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "quantize", help="int8 (QDQ) quantization with a float vs int8 similarity report",
        description="Quantize a float ONNX model with ONNX Runtime static quantization (QDQ, int8 "
                    "weights) calibrated on a `calib` directory, then compare the float and int8 "
                    "models like hb_mapper does: cosine similarity, L1, L2 and Chebyshev distance "
                    "of the output over the calibration images (--per-node: of every node), and "
                    "with --eval-images/--eval-labels top-1/top-5 of both models.")
    p.add_argument("--model", required=True, metavar="FILE.onnx", help="float model")
    p.add_argument("--calib", required=True, metavar="DIR", help="calibration set (from `calib`)")
    p.add_argument("--out", required=True, metavar="FILE.onnx", help="int8 model to write")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--method", choices=METHODS, default="minmax",
                   help="activation range calibration (default minmax)")
    p.add_argument("--per-channel", action="store_true",
                   help="one weight scale per output channel (recommended for depthwise CNNs)")
    p.add_argument("--activation-type", choices=ACTIVATION_TYPES, default="uint8",
                   help="uint8 (default: ONNX Runtime's fast x86 path) or int8 (ARM)")
    p.add_argument("--percentile", type=float, default=99.999,
                   help="percentile kept by --method percentile (default 99.999)")
    p.add_argument("--mean", type=float, nargs="+", metavar="V",
                   help="per-channel RGB mean, 1 or 3 values (default: from the model's metadata)")
    p.add_argument("--scale", type=float, nargs="+", metavar="V",
                   help="per-channel scale, (x - mean) * scale (default: from the model's metadata)")
    p.add_argument("--no-preprocess", action="store_true",
                   help="skip ONNX Runtime's quant_pre_process (shape inference and folding)")
    p.add_argument("--eval-images", metavar="DIR", help="labeled images for top-1/top-5")
    p.add_argument("--eval-labels", metavar="FILE",
                   help="labels of --eval-images, the seed's val.txt format: '<file name> <class index>'")
    p.add_argument("--per-node", action="store_true", help="also compare every node's output")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if (args.eval_images is None) != (args.eval_labels is None):
        print("error: --eval-images and --eval-labels go together", file=sys.stderr)
        return 2
    settings = QuantizeSettings(method=args.method, per_channel=args.per_channel,
                                activation_type=args.activation_type, percentile=args.percentile,
                                preprocess=not args.no_preprocess)
    progress = sys.stderr.isatty()
    result = quantize_model(args.model, args.calib, args.out, settings, mean=args.mean,
                            scale=args.scale, progress=progress, force=args.force)
    report = similarity_report(args.model, args.out, args.calib, mean=result.mean,
                               scale=result.scale, per_node=args.per_node,
                               eval_images=args.eval_images, eval_labels=args.eval_labels,
                               progress=progress)
    report["settings"] = {"method": settings.method, "per_channel": settings.per_channel,
                          "activation_type": settings.activation_type,
                          "preprocess": settings.preprocess}
    report["seconds"] = result.seconds
    if args.json:
        print(json.dumps(report))
    else:
        print(format_report(report))
    return 0
