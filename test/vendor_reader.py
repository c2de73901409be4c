"""hb_mapper's side of the hand-off, written independently for the tests from the facts of the
vendor's sources (horizon_tc_ui: data/loader.py, data/transformer.py, the config parser's value
lists; D-Robotics rdk_model_zoo classification YAMLs). Nothing here is vendor code: it is what a
reader of those sources would write to check that our calibration folder and YAML are read as
intended."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import cv2
import numpy as np
import yaml

#: open values of the vendor's parameter lists
INPUT_TYPE_TRAIN = {"rgb", "bgr", "featuremap", "gray", "yuv444"}
INPUT_TYPE_RT = {"nv12", "yuv444", "rgb", "bgr", "gray", "featuremap"}
LAYOUTS = {"NHWC", "NCHW"}
NORM_TYPES = {"no_preprocess", "data_mean", "data_scale", "data_mean_and_scale"}
CALIBRATION_TYPES = {"kl", "max", "mix", "default", "load", "skip"}
CAL_DATA_TYPES = {"uint8": np.uint8, "float32": np.float32, "int32": np.int32,
                  "int16": np.int16, "int8": np.int8}
MARCHES = {"bernoulli2", "bayes", "bayes-e"}
COMPILE_MODES = {"bandwidth", "latency", "balance"}
OPTIMIZE_LEVELS = {"O0", "O1", "O2", "O3"}
NODE_TYPES = {"int8", "int16"}


def vendor_chain(path: Path, crop: int, layout: str = "NCHW", color: str = "rgb") -> np.ndarray:
    """The seed's calibration transformers on one photo: cv2.imread (BGR uint8), short side to
    int(crop * 256 / 224) with the long side int(short * long / short_side_len) (cv2 default
    bilinear), float32, crop rows from H // 2 - crop // 2 and columns from W // 2 - crop // 2,
    BGR -> RGB for rgb, HWC -> CHW for NCHW. Shape (1, ...)."""
    img = cv2.imread(str(path))
    short = int(crop * 256 / 224)
    h, w, _ = img.shape
    if h < w:
        img = cv2.resize(img, (int(short * (w / h)), short))
    else:
        img = cv2.resize(img, (short, int(short * (h / w))))
    img = img.astype(np.float32)
    H, W, _ = img.shape
    top, left = H // 2 - crop // 2, W // 2 - crop // 2
    img = img[top:top + crop, left:left + crop, :]
    if color == "rgb":
        img = img[:, :, [2, 1, 0]]
    if layout == "NCHW":
        img = np.transpose(img, (2, 0, 1))
    return img[None]


class ConfigRejected(ValueError):
    pass


def parse_config(config_path: Path) -> dict:
    """The YAML read and checked the way hb_mapper's parser does for the keys we write; relative
    paths resolved against the config's folder (the scripts cd there)."""
    cfg = yaml.safe_load(config_path.read_text())
    base = config_path.parent
    mp, ip = cfg["model_parameters"], cfg["input_parameters"]
    cp, cc = cfg["calibration_parameters"], cfg["compiler_parameters"]
    if mp["march"] not in MARCHES:
        raise ConfigRejected(f"march {mp['march']}")
    if Path(mp["onnx_model"]).is_absolute():
        raise ConfigRejected("onnx_model is absolute (the zoo's configs are relative)")
    onnx_model = (base / mp["onnx_model"]).resolve()
    if not onnx_model.is_file():
        raise ConfigRejected(f"onnx_model {mp['onnx_model']} not found from {base}")
    if ip["input_type_train"] not in INPUT_TYPE_TRAIN or ip["input_type_rt"] not in INPUT_TYPE_RT:
        raise ConfigRejected("input types")
    if ip["input_layout_train"] not in LAYOUTS or ip["norm_type"] not in NORM_TYPES:
        raise ConfigRejected("layout / norm_type")
    shape = [int(v) for v in str(ip["input_shape"]).split("x")]
    h_i, w_i = (2, 3) if ip["input_layout_train"] == "NCHW" else (1, 2)
    if ip["input_type_rt"] == "nv12" and (shape[h_i] % 2 or shape[w_i] % 2):
        raise ConfigRejected(f"nv12 input of odd size {shape}")
    mean = [float(v) for v in str(ip["mean_value"]).split()]
    scale = [float(v) for v in str(ip["scale_value"]).split()]
    if cp["calibration_type"] not in CALIBRATION_TYPES:
        raise ConfigRejected("calibration_type")
    if "max_percentile" in cp and not 0 < float(cp["max_percentile"]) <= 1:
        raise ConfigRejected("max_percentile")
    if cp["cal_data_type"] not in CAL_DATA_TYPES:
        raise ConfigRejected("cal_data_type")
    if Path(cp["cal_data_dir"]).is_absolute():
        raise ConfigRejected("cal_data_dir is absolute")
    for node, spec in (mp.get("node_info") or {}).items():
        if spec.get("ON") not in ("BPU", "CPU") or spec.get("InputType") not in NODE_TYPES:
            raise ConfigRejected(f"node_info {node}")
    if cc["compile_mode"] not in COMPILE_MODES or cc["optimize_level"] not in OPTIMIZE_LEVELS:
        raise ConfigRejected("compiler parameters")
    if "core_num" in cc and cc["core_num"] not in (1, 2):
        raise ConfigRejected("core_num")
    return {"onnx_model": onnx_model, "shape": shape, "layout": ip["input_layout_train"],
            "input_type_train": ip["input_type_train"], "mean": mean, "scale": scale,
            "cal_data_dir": (base / cp["cal_data_dir"]).resolve(),
            "dtype": CAL_DATA_TYPES[cp["cal_data_type"]], "config": cfg}


def load_calibration(cal_data_dir: Path, shape: list[int], dtype) -> list[np.ndarray]:
    """DirDataLoader + RawImagesDirLoader: every entry of the folder, sorted(os.listdir), joined
    as dir + '/' + name; the first path goes to a shell (md5sum); each file is
    np.fromfile(dtype).reshape(input_shape)."""
    names = sorted(os.listdir(cal_data_dir))
    if not names:
        raise ValueError(f"Directory {cal_data_dir} is empty")
    first = str(cal_data_dir) + "/" + names[0]
    if shlex.split(f"md5sum {first}") != ["md5sum", first]:
        raise ValueError(f"the shell would split {first!r}")
    return [np.fromfile(os.path.join(cal_data_dir, n), dtype=dtype).reshape(shape) for n in names]
