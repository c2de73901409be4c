"""``quantize --model F.onnx --calib DIR --out F.onnx``: int8 QDQ model and hb_mapper-like report."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from ..ptq.quantization import (ACTIVATION_TYPES, DEFAULT_METHOD, METHODS, QuantizeSettings,
                                calibration_for, model_normalization, quantize_model)
from ..ptq.similarity import format_report, similarity_report

PREVIEW_NOTE = ("note: these CPU int8 figures PREVIEW the board, they do not predict it: hb_mapper "
                "calibrates and quantizes the BPU model its own way (calibration_type, int16 "
                "nodes); check the compiled .bin on the RDK (evaluate --model X.bin)")


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
    p.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD,
                   help=f"activation range calibration (default {DEFAULT_METHOD}: measured best "
                        f"with small calibration sets, bench/README.md)")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--per-channel", action="store_true", default=True, dest="per_channel",
                         help="one weight scale per output channel (the default: measured, "
                              "bench/README.md)")
    weights.add_argument("--per-tensor", action="store_false", dest="per_channel",
                         help="one weight scale per tensor")
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
    p.add_argument("--class-names", metavar="FILE", dest="class_names",
                   help="class names for --eval-* (default: the names the model records)")
    p.add_argument("--per-node", action="store_true", help="also compare every node's output")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=run)


def _check_inputs(args: argparse.Namespace) -> None:
    """Everything a run needs, checked before the minutes of quantizing: the model, its
    normalization, the calibration set against the model, the labels and class names."""
    info, _calib = calibration_for(args.model, args.calib)
    model_normalization(info, args.mean, args.scale, args.model)
    if args.eval_labels:
        from ..class_names import check_class_count, load_class_names
        from ..evaluation import read_labels

        samples = read_labels(args.eval_labels)
        if not Path(args.eval_images).is_dir():
            from ..errors import EvaluationError

            raise EvaluationError(f"image folder {args.eval_images} does not exist or is not a folder")
        names = (load_class_names(args.class_names) if args.class_names
                 else info.facts.class_names)
        if names is None:
            from .. import zoo

            if not any(Path(args.model).name == m.onnx_file for m in zoo.list_models()):
                from ..errors import ClassNamesError

                raise ClassNamesError(
                    f"{args.model} records no class names; give --class-names FILE (one per "
                    f"line) or record them: python -m rdk_classifier model-info --model "
                    f"{Path(args.model).name} --class-names FILE --out ANNOTATED.onnx")
            names = load_class_names(None)
        top = max((s.label for s in samples), default=0)
        if top >= len(names):
            from ..errors import LabelFileError

            raise LabelFileError(f"{args.eval_labels}: class index {top} is out of range for "
                                 f"{len(names)} classes")
        check_class_count(tuple(names), None, str(args.model), args.class_names)


def run(args: argparse.Namespace) -> int:
    if (args.eval_images is None) != (args.eval_labels is None):
        print("error: --eval-images and --eval-labels go together", file=sys.stderr)
        return 2
    _check_inputs(args)
    settings = QuantizeSettings(method=args.method, per_channel=args.per_channel,
                                activation_type=args.activation_type, percentile=args.percentile,
                                preprocess=not args.no_preprocess)
    progress = sys.stderr.isatty()
    result = quantize_model(args.model, args.calib, args.out, settings, mean=args.mean,
                            scale=args.scale, progress=progress, force=args.force)
    with tempfile.TemporaryDirectory(prefix="rdk_quant_eval_") as tmp:
        eval_float = None
        if args.eval_images and (args.mean is not None or args.scale is not None):
            # the float row runs with the same normalization as the int8 model: an annotated copy
            from ..model_facts import ModelFacts, write_model_facts

            eval_float = write_model_facts(
                args.model, ModelFacts(mean=tuple(result.mean), scale=tuple(result.scale)),  # type: ignore[arg-type]
                Path(tmp) / Path(args.model).name)
        report = similarity_report(args.model, args.out, args.calib, mean=result.mean,
                                   scale=result.scale, per_node=args.per_node,
                                   eval_images=args.eval_images, eval_labels=args.eval_labels,
                                   progress=progress, class_names=args.class_names,
                                   eval_float_model=eval_float)
    report["settings"] = {"method": settings.method, "per_channel": settings.per_channel,
                          "activation_type": settings.activation_type,
                          "preprocess": settings.preprocess}
    report["seconds"] = result.seconds
    report["note"] = PREVIEW_NOTE
    if args.json:
        print(json.dumps(report))
    else:
        print(format_report(report))
        print(PREVIEW_NOTE)
    return 0
