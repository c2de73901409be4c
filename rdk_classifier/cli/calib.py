"""``calib --images DIR --model M --out DIR``: a calibration set hb_mapper reads as intended."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..ptq.calibration import (CAL_DATA_TYPES, CALIB_INPUT_TYPES, LAYOUTS, CalibrationTarget,
                               build_calibration_set, manifest_path)
from .common import frame_size


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "calib", help="build a calibration set (the seed's 02_preprocess)",
        description="Draw a seeded random sample of images and bring each through the vendor's "
                    "calibration chain (resize the short side to 256/224 of the input, centre "
                    "crop, BGR->RGB, HWC->CHW for NCHW models) into raw tensor files of the "
                    "model's layout, colour order and dtype (hb_mapper cal_data_type). The folder "
                    "gets ONLY tensor files (hb_mapper reads every file in it); the manifest goes "
                    "beside it, <out>.manifest.json. Odd or non-square inputs are refused.")
    p.add_argument("--images", required=True, metavar="DIR", help="folder of photos (searched recursively)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder for the calibration set")
    p.add_argument("--count", type=int, default=100, metavar="N",
                   help="images to draw (default 100; the seed recommends 100-300; 0 = all)")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed of the draw and of the variants (default 0)")
    p.add_argument("--variants", type=int, default=0, metavar="N",
                   help="per photo also write its mirror image and N seeded random crops with "
                        "brightness changes (default 0; --count then counts photos)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--model", metavar="M",
                      help=".onnx file or zoo model: size, layout and colour order from it")
    size.add_argument("--size", type=frame_size, metavar="WxH",
                      help="input size without a model (default 224x224; with --layout, "
                           "--input-type)")
    p.add_argument("--layout", choices=LAYOUTS, help="with --size: NCHW (default) or NHWC")
    p.add_argument("--input-type", choices=CALIB_INPUT_TYPES, dest="input_type",
                   help="colour order (default: the model's input_type_train, else rgb)")
    p.add_argument("--dtype", choices=CAL_DATA_TYPES, default="float32",
                   help="tensor type, hb_mapper cal_data_type (default float32)")
    p.add_argument("--force", action="store_true",
                   help="replace a calibration set already in --out: the new set is built beside "
                        "it and swapped in whole; an interrupted run keeps the old one")
    p.set_defaults(func=run)


def target_of(args: argparse.Namespace) -> CalibrationTarget:
    if args.model and args.model.lower().endswith(".onnx"):
        from ..ptq.toolchain import inspect_onnx, model_feed, refuse_quantized

        info = inspect_onnx(args.model)
        refuse_quantized(info, args.model)
        kind = model_feed(args.model, info, input_type=args.input_type).input_type
        return CalibrationTarget(info.height, info.width, info.layout, args.dtype, kind)
    if args.model:
        from .. import zoo

        row = zoo.get_model(args.model)
        return CalibrationTarget(row.input_size[0], row.input_size[1], "NCHW", args.dtype,
                                 args.input_type or row.input_type_train)
    w, h = args.size or (224, 224)
    return CalibrationTarget(h, w, args.layout or "NCHW", args.dtype, args.input_type or "rgb")


def run(args: argparse.Namespace) -> int:
    if args.variants < 0:
        print("error: --variants must be >= 0", file=sys.stderr)
        return 2
    if args.count < 0:
        print("error: --count must be >= 0 (0 = all images)", file=sys.stderr)
        return 2
    target = target_of(args).check()
    calib = build_calibration_set(args.images, args.out, count=args.count or None, seed=args.seed,
                                  overwrite=args.force, progress=sys.stderr.isatty(),
                                  variants=args.variants, target=target)
    for source, reason in calib.skipped:
        print(f"warning: skipped {source}: {reason}", file=sys.stderr)
    for warning in calib.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {len(calib.entries)} calibration files ({target.width}x{target.height}, "
          f"{target.dtype} {target.input_type.upper()} {target.layout}) to {Path(args.out)}; "
          f"manifest {manifest_path(args.out)}"
          + (f"; {len(calib.skipped)} unreadable images skipped" if calib.skipped else ""))
    return 0
