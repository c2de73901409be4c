"""``calib --images DIR --out DIR``: a calibration set like the seed's 02_preprocess."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..ptq.calibration import CALIB_EXT, MANIFEST_NAME, build_calibration_set
from .common import frame_size


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "calib", help="build a calibration set (the seed's 02_preprocess)",
        description="Draw a seeded random sample of images, bring each to the model size with the "
                    "calibration transform (short side to 256/224 of the target, centre crop), "
                    f"BGR->RGB, NCHW, and write raw float32 0..255 '{CALIB_EXT}' files plus "
                    f"{MANIFEST_NAME}. Feed the directory to `quantize --calib` or to hb_mapper "
                    "(cal_data_type: float32). Unreadable images are reported and skipped.")
    p.add_argument("--images", required=True, metavar="DIR", help="folder of photos (searched recursively)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder for the calibration set")
    p.add_argument("--count", type=int, default=100, metavar="N",
                   help="images to draw (default 100; the seed recommends 100-300; 0 = all)")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed of the draw and of the variants (default 0)")
    p.add_argument("--variants", type=int, default=0, metavar="N",
                   help="per photo also write its mirror image and N seeded random crops with "
                        "brightness changes (default 0; 4 is what made the shipped int8 model "
                        "from 8 photos; --count then counts photos)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--size", type=frame_size, metavar="WxH",
                      help="model input size, width x height (default 224x224)")
    size.add_argument("--model", metavar="M", help="take the size from this .onnx file or zoo model")
    p.add_argument("--force", action="store_true", help="replace a calibration set already in --out")
    p.set_defaults(func=run)


def _size_of_model(spec: str) -> tuple[int, int]:
    if spec.lower().endswith(".onnx"):
        from ..ptq.toolchain import inspect_onnx

        info = inspect_onnx(spec)
        return info.height, info.width
    from .. import zoo

    return zoo.get_model(spec).input_size


def run(args: argparse.Namespace) -> int:
    size = (args.size[1], args.size[0]) if args.size else (
        _size_of_model(args.model) if args.model else (224, 224))  # (height, width)
    if args.variants < 0:
        print("error: --variants must be >= 0", file=sys.stderr)
        return 2
    if args.count < 0:
        print("error: --count must be >= 0 (0 = all images)", file=sys.stderr)
        return 2
    calib = build_calibration_set(args.images, args.out, count=args.count or None, seed=args.seed,
                                  size=size, overwrite=args.force, progress=sys.stderr.isatty(),
                                  variants=args.variants)
    for source, reason in calib.skipped:
        print(f"warning: skipped {source}: {reason}", file=sys.stderr)
    for warning in calib.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {len(calib.entries)} calibration files ({size[1]}x{size[0]}, float32 RGB NCHW) "
          f"and {MANIFEST_NAME} to {Path(args.out)}"
          + (f"; {len(calib.skipped)} unreadable images skipped" if calib.skipped else ""))
    return 0
