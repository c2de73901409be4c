"""Files for the vendor toolchain: the hb_mapper YAML and the check / build scripts.

hb_mapper (D-Robotics OpenExplorer) runs only inside the vendor's docker. This module writes what a
user takes into it, in the format of the seed's section 4 (``RepVGG_deploy_config.yaml``,
``01_check.sh``, ``03_build.sh``), filled in from the ONNX model itself: its input name, shape and
layout, and the facts recorded with it (``model_facts``: normalization, ``input_type_train``), so
the compiled .bin takes raw NV12 like the zoo's.

The YAML is written as the zoo writes its classification configs (D-Robotics rdk_model_zoo,
``samples/vision/classification/*/yaml/*.yaml``, read for facts): paths relative to the config's
folder, ``cal_data_type`` of the calibration files, and the per-model tuning keys the zoo uses
(``calibration_type: max`` + ``max_percentile``, ``optimization: set_all_nodes_int16``,
``node_info`` int16 nodes, ``jobs``), plus the keys hb_mapper's parser also takes (``per_channel``,
``core_num``). ``ZOO_TUNING`` holds the zoo's settings per model. The X5 config (``bayes-e``) is
``mapper_config``; another chip's format would sit beside it.
"""

from __future__ import annotations

import os
import re
import shlex
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import yaml

from .. import safe_io
from ..errors import ModelError, ToolchainConfigError
from ..model_facts import (ModelFacts, check_input_type, missing_normalization,
                           onnx_metadata_props, parse_facts)
from ..normalization import format_triple, parse_triple

MARCH = "bayes-e"  # RDK X5; X3 models ("bernoulli2") do not run on X5
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
    facts: ModelFacts = field(default_factory=ModelFacts)  # everything the metadata records
    #: QuantizeLinear/DequantizeLinear nodes: already quantized (not a float input for PTQ)
    quantized: bool = False

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
    facts = parse_facts(meta, f"{path} metadata")
    quantized = any(n.op_type in ("QuantizeLinear", "DequantizeLinear", "QLinearConv",
                                  "QLinearMatMul", "DynamicQuantizeLinear")
                    for n in proto.graph.node)
    return OnnxInput(inp.name, shape, layout, facts.mean, facts.scale, facts, quantized)


def softmax_nodes(path: str | Path) -> list[str]:
    """Names of the Softmax nodes of a model (the zoo runs them in int16 on the BPU)."""
    onnx = import_onnx()
    proto = onnx.load(str(path), load_external_data=False)
    return [n.name for n in proto.graph.node if n.op_type == "Softmax" and n.name]


def refuse_quantized(info: OnnxInput, path: str | Path) -> None:
    if info.quantized:
        raise ModelError(f"{path} is already quantized (QuantizeLinear/DequantizeLinear nodes, e.g. "
                         f"from `quantize`); give the float model: hb_mapper and quantize "
                         f"calibrate a float model themselves")


@dataclass(frozen=True)
class ModelFeed:
    """How a model file is fed: given values, else its metadata, else the zoo's row for a zoo
    file; a user model that says nothing is an error (``missing_normalization``)."""

    mean: tuple[float, float, float]
    scale: tuple[float, float, float]
    input_type: str = "rgb"
    zoo_name: str | None = None  # the registry model this file is, if any


def model_feed(path: str | Path, info: OnnxInput | None = None,
               mean: Sequence[float] | str | None = None, scale: Sequence[float] | str | None = None,
               input_type: str | None = None) -> ModelFeed:
    from .. import zoo

    path = Path(path)
    info = info or inspect_onnx(path)
    row = next((m for m in zoo.list_models() if path.name in (m.onnx_file, m.bin_file)), None)
    m = parse_triple(mean, "mean") if mean is not None else (
        info.facts.mean or (row.mean if row else None))
    s = parse_triple(scale, "scale") if scale is not None else (
        info.facts.scale or (row.scale if row else None))
    if m is None or s is None:
        raise missing_normalization(path)
    kind = check_input_type(input_type or info.facts.input_type_train
                            or (row.input_type_train if row else "rgb"))
    return ModelFeed(m, s, kind, row.name if row else None)


def relative_ref(target: str | Path, base: Path) -> str:
    """A path as hb_mapper sees it (the scripts cd to the config's folder): relative to ``base``,
    ``./x`` inside it and ``../x`` beside it, as the zoo's configs write them; mount the common
    parent folder into the docker."""
    target = Path(target).absolute()
    try:
        rel = os.path.relpath(target.resolve(), base.resolve())
    except ValueError:  # another drive (Windows)
        return str(target)
    return rel if rel.startswith("..") else f"./{rel}"


#: hb_mapper's calibration_type values (horizon_tc_ui: autoq kl/max/mix/default, preq load/skip)
CALIBRATION_TYPES = ("default", "mix", "kl", "max", "load", "skip")
#: calibration_parameters.optimization values the zoo's classification configs use
OPTIMIZATIONS = ("set_all_nodes_int16", "set_model_output_int8", "set_model_output_int16")
#: the remove_node_type of the zoo's RepVGG / FasterNet / RepViT configs (raw BPU int32 outputs)
ZOO_REMOVE_NODE_TYPE = "Quantize;Dequantize;Transpose;Cast;Reshape"


@dataclass(frozen=True)
class Tuning:
    """The per-model hb_mapper settings the zoo's classification configs use (None: not written)."""

    calibration_type: str = "default"
    max_percentile: float | None = None      # with calibration_type max
    optimization: str | None = None          # e.g. set_all_nodes_int16
    per_channel: bool | None = None
    int16_nodes: tuple[str, ...] = ()        # node_info: these nodes in int16 on the BPU
    int16_softmax: bool = False              # node_info: every Softmax of the graph in int16
    remove_node_type: str | None = None
    jobs: int | None = None
    core_num: int | None = None

    def check(self) -> "Tuning":
        if self.calibration_type not in CALIBRATION_TYPES:
            raise ToolchainConfigError(f"calibration_type {self.calibration_type!r} is not one of "
                                       f"{', '.join(CALIBRATION_TYPES)}")
        if self.max_percentile is not None:
            if self.calibration_type != "max":
                raise ToolchainConfigError("max_percentile goes with calibration_type max")
            if not 0.5 <= self.max_percentile <= 1.0:
                raise ToolchainConfigError(f"max_percentile {self.max_percentile} is not in "
                                           f"0.5..1 (the zoo uses 0.999 - 0.99999)")
        if self.optimization is not None and self.optimization not in OPTIMIZATIONS:
            raise ToolchainConfigError(f"optimization {self.optimization!r} is not one of "
                                       f"{', '.join(OPTIMIZATIONS)}")
        if self.jobs is not None and not 1 <= self.jobs <= 1024:
            raise ToolchainConfigError(f"jobs {self.jobs} is not 1..1024")
        if self.core_num is not None and self.core_num not in (1, 2):
            raise ToolchainConfigError(f"core_num {self.core_num} is not 1 or 2 (the X5 has one "
                                       f"BPU core)")
        for name in self.int16_nodes:
            check_text(name, "node name")
        return self


_SOFTMAX16 = {"calibration_type": "max", "int16_softmax": True}
#: the zoo's per-model settings (its rdk_x5 classification YAMLs); node_info lists other than
#: int16 Softmax name nodes of the zoo's own exports and are not carried over
ZOO_TUNING: dict[str, dict[str, Any]] = {
    **{f"EdgeNeXt_{v}": {**_SOFTMAX16, "max_percentile": 0.999}
       for v in ("base", "small", "x_small", "xx_small")},
    "EfficientFormerv2_s0": {**_SOFTMAX16, "max_percentile": 0.999,
                             "optimization": "set_all_nodes_int16"},
    "EfficientFormerv2_s1": {**_SOFTMAX16, "max_percentile": 0.999},
    "EfficientFormerv2_s2": {**_SOFTMAX16, "max_percentile": 0.9995},
    "EfficientFormer_l1": {"optimization": "set_all_nodes_int16", "int16_softmax": True},
    "EfficientFormer_l3": {"optimization": "set_all_nodes_int16", "int16_softmax": True,
                           "jobs": 64},
    "EfficientViT_MSRA_m5": {**_SOFTMAX16, "max_percentile": 0.99999},
    **{f"MobileOne_S{k}": {"jobs": 32} for k in range(5)},
    **{name: {"remove_node_type": ZOO_REMOVE_NODE_TYPE}
       for name in ("FasterNet_S", "FasterNet_T0", "FasterNet_T1", "FasterNet_T2", "RepVGG_A0",
                    "RepVGG_A1", "RepVGG_A2", "RepVGG_B0", "RepVGG_B1g2", "RepVGG_B1g4",
                    "RepViT_m0_9", "RepViT_m1_0", "RepViT_m1_1")},
}


def zoo_tuning(name: str) -> Tuning:
    """The zoo's settings for one of its models (by registry name, any case)."""
    for key, values in ZOO_TUNING.items():
        if key.casefold() == name.casefold():
            return Tuning(**values)
    raise ToolchainConfigError(f"no zoo tuning for {name!r}; presets: {', '.join(sorted(ZOO_TUNING))}")


#: quantize's ONNX Runtime methods as hb_mapper calibration settings (metadata of `quantize`)
_METHOD_TO_CALIBRATION = {"minmax": "max", "entropy": "kl", "percentile": "max"}


def tuning_from_quantized(path: str | Path, base: Tuning = Tuning()) -> Tuning:
    """Carry a `quantize` run's choices (recorded in its int8 model) over to hb_mapper."""
    meta = onnx_metadata_props(path)  # bounded: a FIFO, a device or a corrupt file is one line
    method = meta.get("quantization_method")
    if method not in _METHOD_TO_CALIBRATION:
        raise ToolchainConfigError(f"{path} records no quantize method (metadata "
                                   f"quantization_method); give the int8 model `quantize` wrote")
    percentile = None
    if method == "percentile":
        text = meta.get("quantization_percentile", "99.999")
        try:
            percentile = round(float(text) / 100, 8)
        except ValueError:
            raise ToolchainConfigError(f"{path}: metadata quantization_percentile "
                                       f"{text[:40]!r} is not a number") from None
    return replace(base, calibration_type=_METHOD_TO_CALIBRATION[method],
                   max_percentile=percentile,
                   per_channel=meta.get("quantization_per_channel") == "true" or None)


def mapper_config(model: OnnxInput, onnx_model: str, name: str, *, cal_data_dir: str,
                  mean: Sequence[float], scale: Sequence[float], march: str = MARCH,
                  input_type_rt: str = "nv12", input_type_train: str = "rgb",
                  cal_data_type: str = "float32", tuning: Tuning = Tuning(),
                  node_names: Sequence[str] = (), compile_mode: str = "latency",
                  optimize_level: str = "O3") -> dict:
    """The hb_mapper ``makertbin`` configuration for the X5, in the zoo's key order.
    ``node_names``: the Softmax nodes when ``tuning.int16_softmax``."""
    int16 = list(dict.fromkeys(list(tuning.int16_nodes)
                               + (list(node_names) if tuning.int16_softmax else [])))
    model_parameters: dict[str, Any] = {
        "onnx_model": onnx_model,
        "march": march,
        "layer_out_dump": False,
        "working_dir": name,
        "output_model_file_prefix": name,
    }
    if int16:
        model_parameters["node_info"] = {n: {"ON": "BPU", "InputType": "int16",
                                             "OutputType": "int16"} for n in int16}
    model_parameters["debug_mode"] = "dump_calibration_data"
    if tuning.remove_node_type:
        model_parameters["remove_node_type"] = tuning.remove_node_type
    calibration: dict[str, Any] = {
        "cal_data_dir": cal_data_dir,
        "cal_data_type": cal_data_type,
        "calibration_type": tuning.calibration_type,
    }
    if tuning.max_percentile is not None:
        calibration["max_percentile"] = tuning.max_percentile
    if tuning.per_channel is not None:
        calibration["per_channel"] = tuning.per_channel
    if tuning.optimization:
        calibration["optimization"] = tuning.optimization
    compiler: dict[str, Any] = {"compile_mode": compile_mode, "debug": False,
                                "optimize_level": optimize_level}
    if tuning.jobs is not None:
        compiler["jobs"] = tuning.jobs
    if tuning.core_num is not None:
        compiler["core_num"] = tuning.core_num
    return {
        "model_parameters": model_parameters,
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
        "calibration_parameters": calibration,
        "compiler_parameters": compiler,
    }


_HEADER = """\
# hb_mapper makertbin configuration for {model}, written by `python -m rdk_classifier toolchain-config`.
# Field reference: the D-Robotics toolchain's "model conversion YAML configuration" documentation.
# Run 01_check.sh, then 03_build.sh, inside the OpenExplorer docker from this directory.
# The calibration data ({cal}) is {dtype} {color} {layout} 0..255, as written by
#   python -m rdk_classifier calib --images <photos> --model <this model> --out {cal}
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


def check_text(value: str, what: str) -> str:
    """Refuse text that would break a YAML line or a shell line: control characters and line or
    paragraph separators (newline, NUL, U+2028, NEL...)."""
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value):
        raise ToolchainConfigError(f"{what} {value!r} contains a control or line-break character; "
                         f"rename it")
    return value


def write_toolchain_files(model_path: str | Path, out_dir: str | Path, *,
                          cal_data_dir: str | Path | None = None, name: str | None = None,
                          mean: Sequence[float] | None = None, scale: Sequence[float] | None = None,
                          input_type: str | None = None, march: str = MARCH,
                          tuning: Tuning | None = None, cal_data_type: str | None = None,
                          copy_model: bool = False, force: bool = False) -> dict[str, Path]:
    """Write the YAML and the two scripts into ``out_dir``; returns their paths by role.

    Mean, scale and ``input_type_train`` come from the arguments, else from the facts the model
    records, else from the zoo's row for a zoo file; a user model that says nothing is an error.
    ``tuning``: None gives the zoo's settings for a zoo model, defaults otherwise. Everything is
    checked before anything is written: a quantized (QDQ) model, an odd or non-square input, a
    calibration folder that hb_mapper would misread (stray files, another size, layout or dtype).
    Paths inside the files are relative to ``out_dir`` (``./x`` or ``../x``), as the zoo's;
    existing files are kept unless ``force``; every value in the scripts is shell-quoted.
    """
    from .calibration import CalibrationTarget, check_calibration_size, load_calibration_set

    model_path = Path(model_path)
    info = inspect_onnx(model_path)
    refuse_quantized(info, model_path)
    feed = model_feed(model_path, info, mean, scale, input_type)
    try:
        check_calibration_size(info.height, info.width)
    except Exception as exc:
        raise ToolchainConfigError(str(exc)) from None
    if tuning is None:
        tuning = zoo_tuning(feed.zoo_name) if feed.zoo_name in ZOO_TUNING else Tuning()
    tuning.check()
    name = output_name(model_path, info, name)
    if not _SAFE_MARCH.fullmatch(march):
        raise ToolchainConfigError(f"march {march!r} is not a BPU architecture name (e.g. {MARCH})")
    check_text(str(model_path), "model path")
    dtype = cal_data_type or "float32"
    refuse_out_in_calibration(out_dir, cal_data_dir)
    if cal_data_dir is not None:
        check_text(str(cal_data_dir), "calibration folder")
        if Path(cal_data_dir).exists():  # checked as hb_mapper will read it
            calib = load_calibration_set(cal_data_dir, CalibrationTarget(
                info.height, info.width, info.layout, cal_data_type or _set_dtype(cal_data_dir),
                feed.input_type))
            dtype = calib.dtype
    out = safe_io.ensure_directory(out_dir)
    copy_target = out / model_path.name if copy_model else None
    if copy_target is not None and copy_target.resolve() == model_path.resolve():
        copy_target = None  # the model is already in --out
    onnx_ref = f"./{model_path.name}" if copy_model else relative_ref(model_path, out)
    cal_ref = SEED_CAL_DATA_DIR if cal_data_dir is None else relative_ref(Path(cal_data_dir), out)
    check_text(onnx_ref, "model path")
    check_text(cal_ref, "calibration folder")
    softmax = softmax_nodes(model_path) if tuning.int16_softmax else []
    config = mapper_config(info, onnx_ref, name, cal_data_dir=cal_ref, mean=feed.mean,
                           scale=feed.scale, march=march, input_type_train=feed.input_type,
                           cal_data_type=dtype, tuning=tuning, node_names=softmax)

    header = _HEADER.format(model=model_path.name, cal=cal_ref, h=info.height, w=info.width,
                            dtype=dtype, color=feed.input_type.upper(), layout=info.layout)
    return write_config_files(out, model_path, header=header, config=config,
                              check=_CHECK.format(onnx_model=shlex.quote(onnx_ref),
                                                  march=shlex.quote(march)),
                              build=_BUILD.format(config=CONFIG_NAME), copy_target=copy_target,
                              force=force)


def refuse_out_in_calibration(out_dir: str | Path, cal_data_dir: str | Path | None) -> None:
    """The toolchain reads EVERY entry of ``cal_data_dir`` as a tensor: the config and scripts
    written into it, or into a folder inside it, would spoil the set."""
    if cal_data_dir is None:
        return
    out, cal = Path(out_dir).resolve(), Path(cal_data_dir).resolve()
    if out == cal or cal in out.parents:
        raise ToolchainConfigError(
            f"--out {out_dir} is (inside) the calibration folder {cal_data_dir}; hb_mapper reads "
            f"every entry of cal_data_dir as a tensor: choose another --out")


def output_name(model_path: Path, info: OnnxInput, name: str | None) -> str:
    """The compiled model's name: ``name`` if given, else the model's stem made a plain name;
    refused unless a plain file name."""
    if name is None:
        stem = re.sub(r"[^A-Za-z0-9._+-]", "_", model_path.stem).lstrip(".-_") or "model"
        name = f"{stem[:150]}_{info.height}x{info.width}_nv12"
    if not _SAFE_NAME.fullmatch(name):
        raise ToolchainConfigError(f"name {name!r} is not a plain file name (letters, digits, '._+-', "
                                   f"at most 200, not starting with a dot or dash); give --name")
    return name


def write_config_files(out: Path, model_path: Path, *, header: str, config: dict, check: str,
                       build: str, copy_target: Path | None, force: bool) -> dict[str, Path]:
    """The config (``header`` + YAML of ``config``) and the two scripts into ``out``, with the
    model copied there first when ``copy_target``; every target checked before anything is
    written, each written through the safe writer. Their paths by role."""
    paths = {"config": out / CONFIG_NAME, "check": out / CHECK_SCRIPT, "build": out / BUILD_SCRIPT}
    targets = list(paths.values()) + ([copy_target] if copy_target is not None else [])
    for target in targets:  # all checked before anything is written
        safe_io.check_output(target, force=force, inputs=[model_path], what="output")
    body = yaml.safe_dump(config, sort_keys=False, default_flow_style=False, width=1000)
    if copy_target is not None:
        safe_io.copy_file(model_path, copy_target, force=force, inputs=[model_path])
    safe_io.write_text(paths["config"], header + "\n" + body, force=force, inputs=[model_path])
    safe_io.write_text(paths["check"], check, force=force, inputs=[model_path], executable=True)
    safe_io.write_text(paths["build"], build, force=force, inputs=[model_path], executable=True)
    return paths


def _set_dtype(cal_data_dir: str | Path) -> str:
    """The dtype a calibration folder's manifest records (float32 without one)."""
    from .calibration import read_manifest

    data = read_manifest(cal_data_dir)
    return str(data.get("dtype", "float32")) if data else "float32"


__all__ = ["CALIBRATION_TYPES", "MARCH", "ModelFeed", "OPTIMIZATIONS", "OnnxInput",
           "SEED_CAL_DATA_DIR", "Tuning", "ZOO_TUNING", "inspect_onnx", "mapper_config",
           "model_feed", "parse_triple", "refuse_quantized", "softmax_nodes",
           "tuning_from_quantized", "write_toolchain_files", "zoo_tuning"]
