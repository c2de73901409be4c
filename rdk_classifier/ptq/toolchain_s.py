"""Files for the S-series toolchain (RDK S100 / S100P / S600): the ``hb_compile`` YAML and scripts.

The S boards' models are ``.hbm`` files compiled by ``hb_compile`` (OpenExplorer for the S series,
"OE S" 3.7.0 for the zoo's published builds), per chip: ``march`` ``nash-e`` (S100), ``nash-m``
(S100P), ``nash-p`` (S600). The X5's ``hb_mapper makertbin`` / ``bayes-e`` flow is
``toolchain.py``'s; this module only adds the S-series variant beside it.

Facts (D-Robotics rdk_model_zoo: ``samples/vision/mobilenetv2/conversion/ptq_s.yaml``, "PTQ
configuration for RDK S100 / S100P / S600 (OE S v3.7.0, hb_compile)", and the conversion README):

* the YAML sections are those of hb_mapper (``model_parameters``, ``input_parameters``,
  ``calibration_parameters``, ``compiler_parameters``), with ``input_type_rt: nv12``,
  ``input_type_train: rgb``, ``input_layout_train: NCHW``, ``norm_type: data_mean_and_scale``
  (mean x 255, 1 / (255 x std): the same numbers as the X5's), and S-only keys:
  ``input_space_and_range: bt601_video`` (OpenCV's I420 -> NV12 is BT.601 limited range),
  ``quant_config``, ``core_num``, ``optimize_level: O2``;
* commands: ``hb_compile --model M.onnx --march nash-e`` checks a model,
  ``hb_compile --config config.yaml`` quantizes and compiles it; the deployed model then takes
  Y (1, H, W, 1) + UV (1, H/2, W/2, 2), which ``backends.bpu`` feeds.

Not verified here: no S toolchain runs on this machine (it is the vendor's docker), so the YAML
is checked against the vendor's published config, not by ``hb_compile`` itself.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Sequence


from .. import boards, safe_io
from ..errors import ToolchainConfigError
from ..normalization import format_triple
from .toolchain import (CONFIG_NAME, SEED_CAL_DATA_DIR, OnnxInput, check_text, inspect_onnx,
                        model_feed, output_name, refuse_out_in_calibration, refuse_quantized,
                        relative_ref, write_config_files)

#: the chips of the S series and their march (the vendor's spelling)
S_MARCH = {soc: boards.MARCH[soc] for soc in ("s100", "s100p", "s600")}



def soc_for_march(march: str) -> str | None:
    """The S chip of a march name (``nash-e`` -> ``s100``), None for any other."""
    return next((soc for soc, m in S_MARCH.items() if m == march), None)


def compile_config(model: OnnxInput, onnx_model: str, name: str, *, march: str,
                   cal_data_dir: str, mean: Sequence[float], scale: Sequence[float],
                   calibration_type: str = "default") -> dict:
    """The ``hb_compile --config`` YAML, with the keys and values of the zoo's S-series config."""
    if march not in S_MARCH.values():
        raise ToolchainConfigError(f"march {march!r} is not an S-series BPU; one of "
                                   f"{', '.join(sorted(S_MARCH.values()))}")
    return {
        "model_parameters": {
            "onnx_model": onnx_model,
            "march": march,
            "working_dir": name,
            "output_model_file_prefix": name,
        },
        "input_parameters": {
            "input_name": model.name,
            "input_type_rt": "nv12",
            "input_type_train": "rgb",
            "input_layout_train": model.layout,
            "input_shape": model.shape_text,
            "norm_type": "data_mean_and_scale",
            "mean_value": format_triple(mean),
            "scale_value": format_triple(scale),
            "input_space_and_range": "bt601_video",
        },
        "calibration_parameters": {
            "cal_data_dir": cal_data_dir,
            "cal_data_type": "float32",
            "calibration_type": calibration_type,
            "quant_config": {},
        },
        "compiler_parameters": {
            "optimize_level": "O2",
            "compile_mode": "latency",
            "core_num": 1,
        },
    }


_HEADER = """\
# hb_compile configuration for {model} on the RDK {chip} (march {march}), written by
# `python -m rdk_classifier toolchain-config --soc {soc}`. Keys and values follow the zoo's S-series
# PTQ config (rdk_model_zoo samples/vision/mobilenetv2/conversion/ptq_s.yaml, OE S 3.7.0).
# Run 01_check.sh, then 03_build.sh, inside the S-series OpenExplorer docker from this directory.
# The calibration data ({cal}) is float32 RGB NCHW 0..255, as written by
#   python -m rdk_classifier calib --images <photos> --out {cal} --size {h}x{w}
# Normalization and NV12->RGB are compiled into the .hbm; at run time it takes
# Y (1, {h}, {w}, 1) + UV (1, {h2}, {w2}, 2). An .hbm runs only on the chip it is compiled for.
"""

_CHECK = """\
#!/usr/bin/env bash
# Checks that hb_compile can compile every operator of the model for {march}
# (written by rdk_classifier).
set -ex
cd "$(dirname "$0")" || exit

hb_compile --model {onnx_model} --march {march}
"""

_BUILD = """\
#!/usr/bin/env bash
# Quantizes and compiles the model to <working_dir>/<prefix>.hbm as config.yaml says
# (written by rdk_classifier).
set -e -v
cd "$(dirname "$0")" || exit

hb_compile --config ./{config}
"""


def write_s_toolchain_files(model_path: str | Path, out_dir: str | Path, *, soc: str,
                            cal_data_dir: str | Path | None = None, name: str | None = None,
                            mean: Sequence[float] | None = None,
                            scale: Sequence[float] | None = None,
                            calibration_type: str = "default", copy_model: bool = False,
                            force: bool = False) -> dict[str, Path]:
    """Write the hb_compile YAML and the two scripts for one S chip into ``out_dir``."""
    if soc not in S_MARCH:
        raise ToolchainConfigError(
            f"--soc {soc}: the S-series toolchain config is for s100, s100p or s600; the RDK X5 "
            f"uses hb_mapper with march bayes-e (toolchain-config without --soc)")
    march = S_MARCH[soc]
    model_path = Path(model_path)
    info = inspect_onnx(model_path)
    refuse_quantized(info, model_path)
    # given, else recorded with the model, else the zoo's for a zoo file; never a guess
    feed = model_feed(model_path, info, mean, scale)
    mean, scale = feed.mean, feed.scale
    name = output_name(model_path, info, name)
    check_text(str(model_path), "model path")
    refuse_out_in_calibration(out_dir, cal_data_dir)
    out = safe_io.ensure_directory(out_dir)
    copy_target = out / model_path.name if copy_model else None
    if copy_target is not None and copy_target.resolve() == model_path.resolve():
        copy_target = None
    onnx_ref = f"./{model_path.name}" if copy_model else relative_ref(model_path, out)
    cal_ref = (SEED_CAL_DATA_DIR if cal_data_dir is None
               else relative_ref(Path(cal_data_dir).absolute(), out))
    check_text(onnx_ref, "model path")
    check_text(cal_ref, "calibration folder")
    config = compile_config(info, onnx_ref, name, march=march, cal_data_dir=cal_ref, mean=mean,
                            scale=scale, calibration_type=calibration_type)
    header = _HEADER.format(model=model_path.name, chip=soc.upper(), march=march, soc=soc,
                            cal=cal_ref, h=info.height, w=info.width, h2=info.height // 2,
                            w2=info.width // 2)
    return write_config_files(out, model_path, header=header, config=config,
                              check=_CHECK.format(onnx_model=shlex.quote(onnx_ref),
                                                  march=shlex.quote(march)),
                              build=_BUILD.format(config=CONFIG_NAME), copy_target=copy_target,
                              force=force)


def _X5_ONLY_OPTIONS(args) -> list[tuple[str, object]]:  # noqa: N802 (a table, read as one)
    """The toolchain-config options the S-series writer has no key for, with their values: given
    for an S chip they would be dropped without a word, so they are refused."""
    return [("--preset", args.preset), ("--from-quantized", args.from_quantized),
            ("--max-percentile", args.max_percentile), ("--optimization", args.optimization),
            ("--per-channel", args.per_channel), ("--int16-softmax", args.int16_softmax),
            ("--int16-node", args.int16_nodes), ("--remove-node-type", args.remove_node_type),
            ("--jobs", args.jobs), ("--core-num", args.core_num),
            ("--input-type", args.input_type), ("--cal-data-type", args.cal_data_type)]


def run_s_series(args) -> bool:
    """``toolchain-config`` for an S chip (``--soc s100|s100p|s600`` or ``--march nash-*``):
    write the files and print them, True; False when the X5 flow applies."""
    soc = getattr(args, "soc", None)
    by_march = soc_for_march(args.march)
    if soc in (None, "x5") and by_march is None:
        return False
    if soc == "x5" or (soc is not None and by_march is not None and by_march != soc):
        chips = ", ".join(f"{m} ({c})" for c, m in S_MARCH.items())
        raise ToolchainConfigError(
            f"--soc {soc} and --march {args.march} disagree: the RDK X5 compiles with hb_mapper "
            f"for bayes-e; the S chips with hb_compile for {chips}")
    if soc is None:
        soc = by_march
    elif args.march not in (boards.MARCH["x5"], S_MARCH[soc]):
        raise ToolchainConfigError(f"--march {args.march} is not the RDK {soc.upper()}'s "
                                   f"({S_MARCH[soc]})")
    assert soc is not None
    ignored = [flag for flag, value in _X5_ONLY_OPTIONS(args) if value]
    if ignored:
        raise ToolchainConfigError(
            f"{', '.join(ignored)} {'is' if len(ignored) == 1 else 'are'} hb_mapper (RDK X5) "
            f"options; the S-series config takes --calib-dir, --name, --mean, --scale, "
            f"--calibration-type and --copy-model (leave the others out for --soc {soc})")
    paths = write_s_toolchain_files(args.model, args.out, soc=soc, cal_data_dir=args.calib_dir,
                                    name=args.name, mean=args.mean, scale=args.scale,
                                    calibration_type=args.calibration_type or "default",
                                    copy_model=args.copy_model, force=args.force)
    for role, path in paths.items():
        print(f"{role}: {path}")
    return True


__all__ = ["S_MARCH", "compile_config", "run_s_series", "soc_for_march",
           "write_s_toolchain_files"]
