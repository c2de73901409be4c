"""``model-info --model F``: show the facts a model records; with values, record them."""

from __future__ import annotations

import argparse
import json

from ..class_names import load_class_names
from ..model_facts import INPUT_TYPES, RESIZE_MODES, ModelFacts, read_model_facts, sidecar_path, \
    write_model_facts
from ..normalization import parse_triple


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "model-info", help="show or record a model's normalization, colour order, resize mode "
                           "and class names",
        description="Without values: print what the model records (ONNX metadata, or the "
                    "<name>.bin.json sidecar of a .bin). With values: write them into a copy of "
                    "the ONNX (--out) or into the .bin's sidecar, on top of what it records, so "
                    "classify, evaluate, bench, calib, quantize, toolchain-config and the node "
                    "need no flags for them.")
    p.add_argument("--model", required=True, metavar="FILE", help=".onnx or .bin model file")
    p.add_argument("--mean", type=float, nargs="+", metavar="V",
                   help="per-channel mean in 0..255 units, 1 or 3 values, training channel order")
    p.add_argument("--scale", type=float, nargs="+", metavar="V",
                   help="per-channel scale, (x - mean) * scale (1/std in 0..255 units)")
    p.add_argument("--input-type", choices=INPUT_TYPES, dest="input_type",
                   help="colour order the model was trained on (hb_mapper input_type_train)")
    p.add_argument("--resize-mode", choices=RESIZE_MODES, dest="resize_mode",
                   help="how frames are fitted to the input (center_crop: the seed's and the "
                        "calibration's resize short side then crop)")
    p.add_argument("--class-names", metavar="FILE", dest="class_names",
                   help="class names, one per line, as many as the model has outputs")
    p.add_argument("--out", metavar="FILE.onnx", help="annotated copy of an ONNX model")
    p.add_argument("--force", action="store_true", help="replace --out (or the sidecar)")
    p.add_argument("--json", action="store_true", help="print the facts as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    given = ModelFacts(
        mean=parse_triple(args.mean, "mean") if args.mean else None,
        scale=parse_triple(args.scale, "scale") if args.scale else None,
        input_type_train=args.input_type, resize_mode=args.resize_mode,
        class_names=load_class_names(args.class_names) if args.class_names else None)
    if given != ModelFacts() or args.out:
        written = write_model_facts(args.model, given, args.out, force=args.force)
        facts = read_model_facts(written if str(written).endswith(".onnx") else args.model)
        where = written
    else:
        facts = read_model_facts(args.model)
        where = args.model
    if args.json:
        print(json.dumps(facts.to_dict() | {"file": str(where)}))
        return 0
    d = facts.to_dict()
    if where != args.model:
        print(f"wrote {where}")
    elif str(args.model).lower().endswith(".bin"):
        print(f"facts of {args.model} (from {sidecar_path(args.model)})")
    for key in ("mean", "scale", "input_type_train", "resize_mode"):
        print(f"{key}: {d[key] if d[key] is not None else '(not recorded)'}")
    names = d["class_names"]
    print(f"class_names: {len(names)} ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})"
          if names else "class_names: (not recorded)")
    return 0
