"""hb_mapper YAML and scripts: every field of the seed's example, values read from the model."""

from __future__ import annotations

import argparse
import os
import stat
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml
from onnx import TensorProto, helper, numpy_helper

from rdk_classifier.ptq import toolchain as tc
from rdk_classifier.zoo import PACKAGED_MODEL_DIR
from rdk_classifier.cli import toolchain_config as tc_cli
from rdk_classifier.errors import ModelError, NormalizationError

FP32 = PACKAGED_MODEL_DIR / "efficientnet_lite0_fp32.onnx"

#: The keys of the seed's RepVGG_deploy_config.yaml (section 4.4), section by section, in order.
SEED_FIELDS = {
    "model_parameters": ["onnx_model", "march", "layer_out_dump", "working_dir",
                         "output_model_file_prefix", "debug_mode", "remove_node_type"],
    "input_parameters": ["input_name", "input_type_rt", "input_type_train", "input_layout_train",
                         "input_shape", "norm_type", "mean_value", "scale_value"],
    "calibration_parameters": ["cal_data_dir", "cal_data_type", "calibration_type"],
    "compiler_parameters": ["compile_mode", "debug", "optimize_level"],
}


def tiny_model(path: Path, shape=(1, 3, 8, 8), inputs: int = 1, meta: dict | None = None) -> Path:
    """A one-Conv ONNX model (no metadata unless given) for layouts and error paths."""
    nchw = shape[1] == 3 or -1 in shape
    w = numpy_helper.from_array(np.ones((4, 3, 1, 1), np.float32), "w")
    dims = [d if d != -1 else "batch" for d in shape]
    xs = [helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, dims) for i in range(inputs)]
    nodes = [helper.make_node("Transpose", ["x0"], ["t"], perm=[0, 3, 1, 2])] if not nchw else []
    nodes.append(helper.make_node("Conv", ["x0" if nchw else "t", "w"], ["y"]))
    graph = helper.make_graph(nodes, "tiny", xs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    if meta:
        helper.set_model_props(model, meta)
    onnx.save(model, str(path))
    return path


def load_config(out: Path) -> dict:
    return yaml.safe_load((out / tc.CONFIG_NAME).read_text())


def test_yaml_carries_every_seed_field_with_the_model_values(tmp_path):
    out = tmp_path / "tc"
    # the seed's example is RepVGG's config: the zoo's RepVGG tuning gives every one of its keys
    paths = tc.write_toolchain_files(FP32, out, cal_data_dir=out / "calibration_data_rgb_f32",
                                     tuning=tc.zoo_tuning("RepVGG_A0"))
    assert set(paths) == {"config", "check", "build"}
    cfg = load_config(out)
    assert {k: list(v) for k, v in cfg.items()} == SEED_FIELDS
    mp, ip, cp, cc = (cfg[k] for k in SEED_FIELDS)
    # relative to the config's folder, as the zoo writes it (the scripts cd there)
    assert mp["onnx_model"] == os.path.relpath(FP32.resolve(), out.resolve())
    assert (out / mp["onnx_model"]).resolve() == FP32.resolve()
    assert mp["march"] == "bayes-e"
    assert mp["layer_out_dump"] is False and cc["debug"] is False
    assert mp["working_dir"] == mp["output_model_file_prefix"] == "efficientnet_lite0_fp32_224x224_nv12"
    assert mp["debug_mode"] == "dump_calibration_data"
    assert mp["remove_node_type"] == "Quantize;Dequantize;Transpose;Cast;Reshape"
    assert ip["input_name"] == "input" and ip["input_shape"] == "1x3x224x224"
    assert (ip["input_type_rt"], ip["input_type_train"], ip["input_layout_train"]) == ("nv12", "rgb", "NCHW")
    assert ip["norm_type"] == "data_mean_and_scale"
    assert [float(v) for v in ip["mean_value"].split()] == [127.0] * 3
    assert [float(v) for v in ip["scale_value"].split()] == [1 / 128] * 3
    assert cp == {"cal_data_dir": "./calibration_data_rgb_f32", "cal_data_type": "float32",
                  "calibration_type": "default"}
    assert (cc["compile_mode"], cc["optimize_level"]) == ("latency", "O3")


def test_options_and_defaults(tmp_path):
    bare = tiny_model(tmp_path / "bare.onnx")
    # a user model that records no normalization: an error saying what to give, no file written
    with pytest.raises(ModelError, match="records no normalization.*model-info.*--mean"):
        tc.write_toolchain_files(bare, tmp_path / "a")
    assert not (tmp_path / "a").exists()
    tc.write_toolchain_files(bare, tmp_path / "a", mean=[123.675, 116.28, 103.53],
                             scale=[0.01712475, 0.017507, 0.01742919])
    ip = load_config(tmp_path / "a")["input_parameters"]
    assert ip["mean_value"] == "123.675 116.28 103.53"
    assert ip["scale_value"] == "0.01712475 0.017507 0.01742919"
    assert ip["input_name"] == "x0" and ip["input_shape"] == "1x3x8x8"
    assert load_config(tmp_path / "a")["calibration_parameters"]["cal_data_dir"] == tc.SEED_CAL_DATA_DIR
    assert "remove_node_type" not in load_config(tmp_path / "a")["model_parameters"]

    tc.write_toolchain_files(bare, tmp_path / "b", name="mine", mean=[120], scale=[0.5, 0.25, 0.125],
                             tuning=tc.Tuning(calibration_type="kl"), copy_model=True)
    cfg = load_config(tmp_path / "b")
    assert cfg["model_parameters"]["onnx_model"] == "./bare.onnx"
    assert (tmp_path / "b" / "bare.onnx").read_bytes() == bare.read_bytes()
    assert cfg["model_parameters"]["working_dir"] == "mine"
    assert cfg["input_parameters"]["mean_value"] == "120 120 120"
    assert cfg["input_parameters"]["scale_value"] == "0.5 0.25 0.125"
    assert cfg["calibration_parameters"]["calibration_type"] == "kl"

    nhwc = tiny_model(tmp_path / "nhwc.onnx", shape=(1, 8, 8, 3), meta={"mean_value": "1 2 3",
                                                                         "scale_value": "0.5"})
    info = tc.inspect_onnx(nhwc)
    assert (info.layout, info.height, info.width) == ("NHWC", 8, 8)
    assert info.mean == (1.0, 2.0, 3.0) and info.scale == (0.5, 0.5, 0.5)
    tc.write_toolchain_files(nhwc, tmp_path / "c")
    assert load_config(tmp_path / "c")["input_parameters"]["input_layout_train"] == "NHWC"


def test_bad_models_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        tc.inspect_onnx(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00\x01 not protobuf")
    with pytest.raises(ModelError, match="not a readable ONNX"):
        tc.inspect_onnx(tmp_path / "junk.onnx")
    with pytest.raises(ModelError, match="dynamic"):
        tc.inspect_onnx(tiny_model(tmp_path / "dyn.onnx", shape=(-1, 3, 8, 8)))
    with pytest.raises(ModelError, match="2 inputs"):
        tc.inspect_onnx(tiny_model(tmp_path / "two.onnx", inputs=2))
    with pytest.raises(ModelError, match="3-channel"):
        tc.inspect_onnx(tiny_model(tmp_path / "c4.onnx", shape=(1, 4, 8, 8)))
    with pytest.raises(ModelError, match="not found"):
        tc.write_toolchain_files(tmp_path / "missing.onnx", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_parse_triple():
    assert tc.parse_triple("1,2,3", "mean") == (1.0, 2.0, 3.0)
    assert tc.parse_triple("5", "mean") == (5.0, 5.0, 5.0)
    assert tc.parse_triple([0.5], "scale") == (0.5, 0.5, 0.5)
    with pytest.raises(NormalizationError, match="2 values"):
        tc.parse_triple("1 2", "mean")
    with pytest.raises(NormalizationError, match="not 1 or 3 numbers"):
        tc.parse_triple("a b c", "mean")


def test_scripts_call_hb_mapper_like_the_seed(tmp_path):
    """Run the scripts with a stand-in hb_mapper on PATH that records its arguments."""
    out = tmp_path / "tc"
    tc.write_toolchain_files(FP32, out, copy_model=True)
    for script in (tc.CHECK_SCRIPT, tc.BUILD_SCRIPT):
        assert os.stat(out / script).st_mode & stat.S_IXUSR
        assert (out / script).read_text().startswith("#!/usr/bin/env bash\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "hb_mapper"
    fake.write_text('#!/bin/sh\necho "$PWD|$*" >> "$HB_LOG"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "HB_LOG": str(tmp_path / "calls.txt")}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for script in (tc.CHECK_SCRIPT, tc.BUILD_SCRIPT):  # run from another directory on purpose
        subprocess.run(["bash", str(out / script)], cwd=elsewhere, env=env, check=True,
                       capture_output=True)
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert calls == [
        f"{out}|checker --model-type onnx --model ./efficientnet_lite0_fp32.onnx --march bayes-e",
        f"{out}|makertbin --config ./config.yaml --model-type onnx",
    ]
    assert (out / "efficientnet_lite0_fp32.onnx").is_file()


def test_toolchain_config_cli(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    tc_cli.add_parser(parser.add_subparsers())
    from rdk_classifier.cli import main

    assert main(["toolchain-config", "--model", str(FP32), "--out", str(tmp_path / "o"),
                 "--calib-dir", str(tmp_path / "o" / "cal"), "--scale", "1", "2"]) == 2
    err = capsys.readouterr().err
    assert "2 values" in err and err.startswith("error: ") and "Traceback" not in err
    args = parser.parse_args(["toolchain-config", "--model", str(FP32), "--out", str(tmp_path / "o"),
                              "--calib-dir", str(tmp_path / "o" / "cal"), "--march", "bayes-e"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert f"config: {tmp_path / 'o' / 'config.yaml'}" in printed
    assert load_config(tmp_path / "o")["calibration_parameters"]["cal_data_dir"] == "./cal"


def test_a_missing_calibration_folder_is_noted_not_silent(tmp_path, capsys):
    from rdk_classifier.cli import main

    model = str(PACKAGED_MODEL_DIR / "efficientnet_lite0_fp32.onnx")
    assert main(["toolchain-config", "--model", model, "--out", str(tmp_path / "a"),
                 "--calib-dir", str(tmp_path / "later")]) == 0
    err = capsys.readouterr().err
    assert f"calibration folder {tmp_path / 'later'} does not exist yet" in err
    assert "calib --images" in err and len(err.strip().splitlines()) == 1
    # without --calib-dir the config names ./calibration_data_rgb_f32 beside it
    assert main(["toolchain-config", "--model", model, "--out", str(tmp_path / "b")]) == 0
    assert "calibration_data_rgb_f32 does not exist yet" in capsys.readouterr().err
    (tmp_path / "c" / "calibration_data_rgb_f32").mkdir(parents=True)  # there: nothing to say
    assert main(["toolchain-config", "--model", model, "--out", str(tmp_path / "c")]) == 0
    assert capsys.readouterr().err == ""
