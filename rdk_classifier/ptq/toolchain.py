"""Files for the vendor toolchain: the hb_mapper YAML and the check / build scripts.

hb_mapper (D-Robotics OpenExplorer) runs only inside the vendor's docker. This module writes what a
user takes into it, in the format of the seed's section 4 (``RepVGG_deploy_config.yaml``,
``01_check.sh``, ``03_build.sh``), filled in from the ONNX model itself: its input name, shape and
layout, and the normalization recorded in its metadata (``mean_value`` / ``scale_value``, the keys
``tools/export_efficientnet_lite.py`` writes), so the compiled .bin takes raw NV12 like the zoo's.
"""

from __future__ import annotations

import os
import re
import shlex
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import yaml

from .. import safe_io
from ..errors import ModelError, ToolchainConfigError
from ..normalization import (IMAGENET_MEAN, IMAGENET_SCALE, format_triple, from_metadata,
                            parse_triple)

MARCH = "bayes-e"  # RDK X5; X3 models ("bernoulli2") do not run on X5
#: The seed's example normalization (ImageNet mean/std in 0..255 units), used when a model
#: carries none and the user gives none.
#: The seed's calibration directory name (02_preprocess.sh ``--dst_dir``).
SEED_CAL_DATA_DIR = "./calibration_data_rgb_f32"
CONFIG_NAME = "config.yaml"
CHECK_SCRIPT = "01_check.sh"
BUILD_SCRIPT = "03_build.sh"


@dataclass(frozen=True)
class OnnxInput:
    """The single image input of an ONNX model and how it expects to be fed."""

    name: str
    shape: tuple[int, ...]                 # fixed dims only (N, C, H, W) or (N, H, W, C)
    layout: str                            # "NCHW" or "NHWC"
    mean: tuple[float, ...] | None = None  # from the model's metadata, when recorded
    scale: tuple[float, ...] | None = None

    @property
    def height(self) -> int:
        return self.shape[2] if self.layout == "NCHW" else self.shape[1]

    @property
    def width(self) -> int:
        return self.shape[3] if self.layout == "NCHW" else self.shape[2]

    @property
    def shape_text(self) -> str:
        """hb_mapper's ``input_shape`` notation: ``1x3x224x224``."""
        return "x".join(str(d) for d in self.shape)


def import_onnx():
    """The ``onnx`` package, or an error that says how to get it (it is an optional dependency)."""
    try:
        import onnx
    except ImportError:
        raise ModelError("this command needs the onnx package: pip install onnx "
                         "(or pip install 'rdk_classifier[quantize]')") from None
    return onnx


def inspect_onnx(path: str | Path) -> OnnxInput:
    """Read the image input of an ONNX model (weights are not loaded)."""
    onnx = import_onnx()
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"ONNX model file not found: {path}")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, google.protobuf errors, ...
        raise ModelError(f"{path} is not a readable ONNX model: {exc}") from None
    weights = {t.name for t in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in weights]
    if len(inputs) != 1:
        raise ModelError(f"{path} has {len(inputs)} inputs; a classification model has one image input")
    inp = inputs[0]
    dims = inp.type.tensor_type.shape.dim
    shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in dims)
    if len(shape) != 4:
        raise ModelError(f"{path}: input {inp.name!r} has shape {shape}; expected 4-D (N, C, H, W)")
    if -1 in shape:
        raise ModelError(
            f"{path}: input {inp.name!r} has dynamic dims {shape}; the toolchain needs a fixed "
            "shape: re-export with batch 1 and a fixed height and width"
        )
    if shape[1] == 3:
        layout = "NCHW"
    elif shape[3] == 3:
        layout = "NHWC"
    else:
        raise ModelError(f"{path}: input shape {shape} has no 3-channel axis (NCHW or NHWC)")
    meta = {p.key: p.value for p in proto.metadata_props}
    mean, scale = from_metadata(meta)
    return OnnxInput(inp.name, shape, layout, mean, scale)


def _relative(target: str | Path, base: Path) -> str:
    """A path as the scripts see it (they cd to their own directory): ``./...`` inside ``base``,
    absolute outside it."""
    target = Path(target)
    if not target.is_absolute():
        return str(target)
    try:
        rel = os.path.relpath(target.resolve(), base.resolve())
    except ValueError:  # another drive (Windows)
        return str(target)
    return str(target) if rel.startswith("..") else f"./{rel}"


def mapper_config(model: OnnxInput, onnx_model: str, name: str, *, cal_data_dir: str,
                  mean: Sequence[float], scale: Sequence[float], march: str = MARCH,
                  calibration_type: str = "default", input_type_rt: str = "nv12",
                  input_type_train: str = "rgb", compile_mode: str = "latency",
                  optimize_level: str = "O3") -> dict:
    """The hb_mapper ``makertbin`` configuration, every field of the seed's example in its order."""
    return {
        "model_parameters": {
            "onnx_model": onnx_model,
            "march": march,
            "layer_out_dump": False,
            "working_dir": name,
            "output_model_file_prefix": name,
            "debug_mode": "dump_calibration_data",
            "remove_node_type": "Quantize;Dequantize;Transpose;Cast;Reshape",
        },
        "input_parameters": {
            "input_name": model.name,
            "input_type_rt": input_type_rt,
            "input_type_train": input_type_train,
            "input_layout_train": model.layout,
            "input_shape": model.shape_text,
            "norm_type": "data_mean_and_scale",
            "mean_value": format_triple(mean),
            "scale_value": format_triple(scale),
        },
        "calibration_parameters": {
            "cal_data_dir": cal_data_dir,
            "cal_data_type": "float32",
            "calibration_type": calibration_type,
        },
        "compiler_parameters": {
            "compile_mode": compile_mode,
            "debug": False,
            "optimize_level": optimize_level,
        },
    }


_HEADER = """\
# hb_mapper makertbin configuration for {model}, written by `python -m rdk_classifier toolchain-config`.
# Field reference: the D-Robotics toolchain's "model conversion YAML configuration" documentation.
# Run 01_check.sh, then 03_build.sh, inside the OpenExplorer docker from this directory.
# The calibration data ({cal}) is float32 RGB NCHW 0..255, as written by
#   python -m rdk_classifier calib --images <photos> --out {cal} --size {h}x{w}
# Normalization ((x - mean_value) * scale_value) and NV12->RGB are compiled into the .bin:
# the runtime feeds raw NV12 of {h}x{w}.
"""

_CHECK = """\
#!/usr/bin/env bash
# Checks that hb_mapper can map every operator of the model (written by rdk_classifier).
set -ex
cd "$(dirname "$0")" || exit

model_type=onnx
onnx_model={onnx_model}
march={march}

hb_mapper checker --model-type "${{model_type}}" \\
                  --model "${{onnx_model}}" \\
                  --march "${{march}}"
"""

_BUILD = """\
#!/usr/bin/env bash
# Quantizes and compiles the model to <working_dir>/<prefix>.bin as config.yaml says
# (written by rdk_classifier).
set -e -v
cd "$(dirname "$0")" || exit

config_file=./{config}
model_type=onnx
# build model
hb_mapper makertbin --config "${{config_file}}" \\
                    --model-type "${{model_type}}"
"""


#: working_dir / output_model_file_prefix: a plain file name (it becomes a folder and a .bin)
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,199}")
_SAFE_MARCH = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def _check_text(value: str, what: str) -> str:
    """Refuse text that would break a YAML line or a shell line: control characters and line or
    paragraph separators (newline, NUL, U+2028, NEL...)."""
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value):
        raise ToolchainConfigError(f"{what} {value!r} contains a control or line-break character; "
                         f"rename it")
    return value


def write_toolchain_files(model_path: str | Path, out_dir: str | Path, *,
                          cal_data_dir: str | Path | None = None, name: str | None = None,
                          mean: Sequence[float] | None = None, scale: Sequence[float] | None = None,
                          march: str = MARCH, calibration_type: str = "default",
                          copy_model: bool = False, force: bool = False) -> dict[str, Path]:
    """Write the YAML and the two scripts into ``out_dir``; returns their paths by role.

    Mean and scale come from the arguments, else from the model's metadata, else the seed's
    ImageNet values. Paths inside the files are relative to ``out_dir`` where possible, so the
    folder can be mounted into the docker as it is (``copy_model`` puts the ONNX beside them).
    Existing files are kept unless ``force`` (then replaced atomically, never through a symlink);
    every value in the scripts is shell-quoted, and names with control characters are refused.
    """
    model_path = Path(model_path)
    info = inspect_onnx(model_path)
    mean = parse_triple(mean, "mean") if mean is not None else (info.mean or IMAGENET_MEAN)
    scale = parse_triple(scale, "scale") if scale is not None else (info.scale or IMAGENET_SCALE)
    if name is None:  # the model's stem, made a plain name
        stem = re.sub(r"[^A-Za-z0-9._+-]", "_", model_path.stem).lstrip(".-_") or "model"
        name = f"{stem[:150]}_{info.height}x{info.width}_nv12"
    if not _SAFE_NAME.fullmatch(name):
        raise ToolchainConfigError(f"name {name!r} is not a plain file name (letters, digits, '._+-', "
                         f"at most 200, not starting with a dot or dash); give --name")
    if not _SAFE_MARCH.fullmatch(march):
        raise ToolchainConfigError(f"march {march!r} is not a BPU architecture name (e.g. {MARCH})")
    _check_text(str(model_path), "model path")
    if cal_data_dir is not None:
        _check_text(str(cal_data_dir), "calibration folder")
    out = safe_io.ensure_directory(out_dir)
    copy_target = out / model_path.name if copy_model else None
    if copy_target is not None and copy_target.resolve() == model_path.resolve():
        copy_target = None  # the model is already in --out
    onnx_ref = f"./{model_path.name}" if copy_model else _relative(model_path.resolve(), out)
    cal_ref = SEED_CAL_DATA_DIR if cal_data_dir is None else _relative(Path(cal_data_dir).absolute(), out)
    _check_text(onnx_ref, "model path")
    _check_text(cal_ref, "calibration folder")
    config = mapper_config(info, onnx_ref, name, cal_data_dir=cal_ref, mean=mean, scale=scale,
                           march=march, calibration_type=calibration_type)

    paths = {"config": out / CONFIG_NAME, "check": out / CHECK_SCRIPT, "build": out / BUILD_SCRIPT}
    targets = list(paths.values()) + ([copy_target] if copy_target is not None else [])
    for target in targets:  # all checked before anything is written
        safe_io.check_output(target, force=force, inputs=[model_path], what="output")
    header = _HEADER.format(model=model_path.name, cal=cal_ref, h=info.height, w=info.width)
    body = yaml.safe_dump(config, sort_keys=False, default_flow_style=False, width=1000)
    if copy_target is not None:
        safe_io.copy_file(model_path, copy_target, force=force, inputs=[model_path])
    safe_io.write_text(paths["config"], header + "\n" + body, force=force, inputs=[model_path])
    safe_io.write_text(paths["check"], _CHECK.format(onnx_model=shlex.quote(onnx_ref),
                                                     march=shlex.quote(march)),
                       force=force, inputs=[model_path], executable=True)
    safe_io.write_text(paths["build"], _BUILD.format(config=CONFIG_NAME), force=force,
                       inputs=[model_path], executable=True)
    return paths


__all__ = ["OnnxInput", "inspect_onnx", "parse_triple", "mapper_config", "write_toolchain_files",
           "MARCH", "SEED_CAL_DATA_DIR"]
