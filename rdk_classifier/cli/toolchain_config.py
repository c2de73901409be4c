"""``toolchain-config --model F.onnx --out DIR``: hb_mapper YAML and scripts for the vendor docker."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..ptq.toolchain import (CALIBRATION_TYPES, MARCH, OPTIMIZATIONS, SEED_CAL_DATA_DIR,
                             ZOO_TUNING, Tuning, tuning_from_quantized, write_toolchain_files,
                             zoo_tuning)
from ..ptq.calibration import CAL_DATA_TYPES
from ..model_facts import INPUT_TYPES


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "toolchain-config", help="write the hb_mapper YAML and check/build scripts",
        description="Write config.yaml (hb_mapper makertbin as the zoo writes it: march bayes-e, "
                    "NV12 at run time, the model's layout and input_type_train, mean/scale "
                    "compiled in, paths relative to --out), 01_check.sh and 03_build.sh for the "
                    "D-Robotics OpenExplorer docker. Facts come from the model's metadata "
                    "(model-info) unless given; a model that records none is refused. A zoo "
                    "model gets the zoo's tuning; --preset applies a zoo model's tuning to "
                    "another export of it. The calibration folder is checked as hb_mapper "
                    "reads it.")
    p.add_argument("--model", required=True, metavar="FILE.onnx", help="float ONNX model")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the three files")
    p.add_argument("--calib-dir", metavar="DIR",
                   help="calibration set (from `calib`; default ./calibration_data_rgb_f32)")
    p.add_argument("--name", help="working_dir / output_model_file_prefix "
                                  "(default <model stem>_<H>x<W>_nv12)")
    p.add_argument("--mean", type=float, nargs="+", metavar="V", help="mean_value, 1 or 3 values")
    p.add_argument("--scale", type=float, nargs="+", metavar="V", help="scale_value, 1 or 3 values")
    p.add_argument("--input-type", choices=INPUT_TYPES, dest="input_type",
                   help="input_type_train (default: the model's metadata, else rgb)")
    p.add_argument("--march", default=MARCH, help=f"BPU architecture (default {MARCH}: RDK X5)")
    p.add_argument("--cal-data-type", choices=CAL_DATA_TYPES, dest="cal_data_type",
                   help="cal_data_type (default: the calibration set's)")
    t = p.add_argument_group("tuning (the keys of the zoo's classification configs)")
    t.add_argument("--preset", metavar="ZOO_MODEL", choices=sorted(ZOO_TUNING),
                   help="the zoo's tuning of this model (e.g. EdgeNeXt_small)")
    t.add_argument("--from-quantized", metavar="INT8.onnx", dest="from_quantized",
                   help="carry `quantize`'s method over (minmax -> max, percentile -> max + "
                        "max_percentile, entropy -> kl, per-channel)")
    t.add_argument("--calibration-type", choices=CALIBRATION_TYPES, dest="calibration_type",
                   help="hb_mapper calibration_type (default: default)")
    t.add_argument("--max-percentile", type=float, dest="max_percentile",
                   help="with calibration_type max (the zoo: 0.999 - 0.99999)")
    t.add_argument("--optimization", choices=OPTIMIZATIONS,
                   help="calibration optimization (the zoo: set_all_nodes_int16)")
    t.add_argument("--per-channel", action="store_true", default=None, dest="per_channel",
                   help="per_channel: True")
    t.add_argument("--int16-softmax", action="store_true", default=None, dest="int16_softmax",
                   help="node_info: every Softmax of the model in int16 on the BPU")
    t.add_argument("--int16-node", action="append", default=[], metavar="NODE", dest="int16_nodes",
                   help="node_info: this node in int16 on the BPU (repeatable)")
    t.add_argument("--remove-node-type", dest="remove_node_type",
                   help="remove_node_type, e.g. 'Quantize;Dequantize;Transpose;Cast;Reshape'")
    t.add_argument("--jobs", type=int, help="compiler jobs")
    t.add_argument("--core-num", type=int, dest="core_num", help="compiler core_num")
    p.add_argument("--copy-model", action="store_true",
                   help="copy the ONNX into --out so the folder is self-contained")
    p.add_argument("--force", action="store_true",
                   help="replace config.yaml and the scripts if --out already has them")
    p.add_argument("--soc", choices=("x5", "s100", "s100p", "s600"), default=None,
                   help="the board to compile for: x5 (default: hb_mapper, bayes-e) or an S "
                        "chip (hb_compile; march nash-e / nash-m / nash-p; an .hbm with Y + UV "
                        "inputs). --march nash-e/-m/-p selects the S chip too")
    p.set_defaults(func=run)


def tuning_of(args: argparse.Namespace) -> Tuning | None:
    """None (the zoo's for a zoo model) unless anything tuning-related was given."""
    given = {k: getattr(args, k) for k in ("calibration_type", "max_percentile", "optimization",
                                           "per_channel", "int16_softmax", "remove_node_type",
                                           "jobs", "core_num") if getattr(args, k) is not None}
    if args.int16_nodes:
        given["int16_nodes"] = tuple(args.int16_nodes)
    if args.preset is None and args.from_quantized is None and not given:
        return None
    base = zoo_tuning(args.preset) if args.preset else Tuning()
    if args.from_quantized:
        base = tuning_from_quantized(args.from_quantized, base)
    if "max_percentile" in given and "calibration_type" not in given:
        given["calibration_type"] = "max"
    from dataclasses import replace

    return replace(base, **given)


def run(args: argparse.Namespace) -> int:
    from ..ptq.toolchain_s import run_s_series  # the S-series flow lives in its own module

    if run_s_series(args):
        note_missing_calibration(args.calib_dir, args.out)
        return 0
    paths = write_toolchain_files(args.model, args.out, cal_data_dir=args.calib_dir,
                                  name=args.name, mean=args.mean, scale=args.scale,
                                  input_type=args.input_type, march=args.march,
                                  tuning=tuning_of(args), cal_data_type=args.cal_data_type,
                                  copy_model=args.copy_model, force=args.force)
    for role, path in paths.items():
        print(f"{role}: {path}")
    note_missing_calibration(args.calib_dir, args.out)
    return 0


def note_missing_calibration(calib_dir: str | None, out: str) -> None:
    """A config may be written before its calibration set exists (hb_mapper reads the set only
    at build time); say so on stderr, with the command that makes it, rather than nothing."""
    folder = Path(calib_dir) if calib_dir else Path(out) / SEED_CAL_DATA_DIR
    if not folder.exists():
        print(f"note: the calibration folder {folder} does not exist yet; make it with "
              f"`python -m rdk_classifier calib --images PHOTOS --model MODEL --out {folder}` "
              f"before running the build script", file=sys.stderr)
