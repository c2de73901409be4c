"""``toolchain-config --model F.onnx --out DIR``: hb_mapper YAML and scripts for the vendor docker."""

from __future__ import annotations

import argparse

from ..ptq.toolchain import MARCH, write_toolchain_files

#: hb_mapper's calibration_type values
CALIBRATION_TYPES = ("default", "mix", "kl", "max", "load", "skip")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "toolchain-config", help="write the hb_mapper YAML and check/build scripts",
        description="Write config.yaml (hb_mapper makertbin, the seed's format: march bayes-e, "
                    "NV12 at run time, RGB NCHW training input, mean/scale compiled in), "
                    "01_check.sh and 03_build.sh for the D-Robotics OpenExplorer docker. Input "
                    "name, shape and layout come from the model; mean/scale from its metadata "
                    "unless given (else the seed's ImageNet values).")
    p.add_argument("--model", required=True, metavar="FILE.onnx", help="float ONNX model")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the three files")
    p.add_argument("--calib-dir", metavar="DIR",
                   help="calibration set (from `calib`; default ./calibration_data_rgb_f32)")
    p.add_argument("--name", help="working_dir / output_model_file_prefix "
                                  "(default <model stem>_<H>x<W>_nv12)")
    p.add_argument("--mean", type=float, nargs="+", metavar="V", help="mean_value, 1 or 3 values")
    p.add_argument("--scale", type=float, nargs="+", metavar="V", help="scale_value, 1 or 3 values")
    p.add_argument("--march", default=MARCH, help=f"BPU architecture (default {MARCH}: RDK X5)")
    p.add_argument("--calibration-type", choices=CALIBRATION_TYPES, default="default",
                   help="hb_mapper calibration_type (default: default)")
    p.add_argument("--copy-model", action="store_true",
                   help="copy the ONNX into --out so the folder is self-contained")
    p.add_argument("--force", action="store_true",
                   help="replace config.yaml and the scripts if --out already has them")
    p.add_argument("--soc", choices=("x5", "s100", "s100p", "s600"), default=None,
                   help="the board to compile for: x5 (default: hb_mapper, bayes-e) or an S "
                        "chip (hb_compile; march nash-e / nash-m / nash-p; an .hbm with Y + UV "
                        "inputs). --march nash-e/-m/-p selects the S chip too")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..ptq.toolchain_s import run_s_series  # the S-series flow lives in its own module

    if run_s_series(args):
        return 0
    paths = write_toolchain_files(args.model, args.out, cal_data_dir=args.calib_dir,
                                  name=args.name, mean=args.mean, scale=args.scale,
                                  march=args.march, calibration_type=args.calibration_type,
                                  copy_model=args.copy_model, force=args.force)
    for role, path in paths.items():
        print(f"{role}: {path}")
    return 0
