"""hb_compile YAML and scripts for the RDK S100 / S100P / S600 (the S-series toolchain config)."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from rdk_classifier.cli import main
from rdk_classifier.ptq import toolchain as tc
from rdk_classifier.ptq import toolchain_s as ts
from rdk_classifier.zoo import PACKAGED_MODEL_DIR

FP32 = PACKAGED_MODEL_DIR / "efficientnet_lite0_fp32.onnx"

# The zoo's S-series PTQ config (rdk_model_zoo samples/vision/mobilenetv2/conversion/ptq_s.yaml,
# OE S 3.7.0, hb_compile), read there: the march per chip and the fixed values this package
# writes the same way (its other keys are empty or host settings and are left to the defaults).
VENDOR_MARCH = {"s100": "nash-e", "s100p": "nash-m", "s600": "nash-p"}
VENDOR_FIXED = {
    "input_parameters": {"input_type_rt": "nv12", "input_type_train": "rgb",
                         "input_layout_train": "NCHW", "norm_type": "data_mean_and_scale",
                         "input_space_and_range": "bt601_video"},
    "calibration_parameters": {"cal_data_type": "float32", "calibration_type": "default",
                               "quant_config": {}},
    "compiler_parameters": {"optimize_level": "O2", "compile_mode": "latency", "core_num": 1},
}


@pytest.mark.parametrize("soc", sorted(VENDOR_MARCH))
def test_yaml_has_the_vendor_keys_and_the_model_values(tmp_path, soc):
    out = tmp_path / soc
    paths = ts.write_s_toolchain_files(FP32, out, soc=soc, cal_data_dir=out / "cal")
    text = paths["config"].read_text()
    cfg = yaml.safe_load(text)
    assert cfg["model_parameters"] == {
        # relative to the config's folder, as the zoo writes (and as the X5 config does)
        "onnx_model": os.path.relpath(FP32.resolve(), out.resolve()),
        "march": VENDOR_MARCH[soc], "working_dir": "efficientnet_lite0_fp32_224x224_nv12",
        "output_model_file_prefix": "efficientnet_lite0_fp32_224x224_nv12"}
    for section, values in VENDOR_FIXED.items():
        for key, value in values.items():
            assert cfg[section][key] == value, (section, key)
    inp = cfg["input_parameters"]
    assert inp["input_shape"] == "1x3x224x224" and inp["input_name"]
    assert inp["mean_value"] == "127 127 127" and inp["scale_value"] == "0.0078125 0.0078125 0.0078125"
    assert cfg["calibration_parameters"]["cal_data_dir"] == "./cal"
    assert f"RDK {soc.upper()} (march {VENDOR_MARCH[soc]})" in text
    assert "Y (1, 224, 224, 1) + UV (1, 112, 112, 2)" in text


def test_scripts_call_hb_compile(tmp_path):
    out = tmp_path / "s600"
    ts.write_s_toolchain_files(FP32, out, soc="s600", copy_model=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "hb_compile"
    fake.write_text('#!/bin/sh\necho "$PWD|$*" >> "$HB_LOG"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "HB_LOG": str(tmp_path / "calls.txt")}
    for script in (tc.CHECK_SCRIPT, tc.BUILD_SCRIPT):
        subprocess.run(["bash", str(out / script)], cwd=tmp_path, env=env, check=True,
                       capture_output=True)
    assert (tmp_path / "calls.txt").read_text().splitlines() == [
        f"{out}|--model ./efficientnet_lite0_fp32.onnx --march nash-p",
        f"{out}|--config ./config.yaml",
    ]


def test_cli_soc_and_march(tmp_path, capsys):
    assert main(["toolchain-config", "--model", str(FP32), "--out", str(tmp_path / "a"),
                 "--soc", "s100p"]) == 0
    assert "config: " in capsys.readouterr().out
    assert yaml.safe_load((tmp_path / "a" / "config.yaml").read_text())[
        "model_parameters"]["march"] == "nash-m"
    assert main(["toolchain-config", "--model", str(FP32), "--out", str(tmp_path / "b"),
                 "--march", "nash-p"]) == 0  # the march alone picks the S600
    cfg = yaml.safe_load((tmp_path / "b" / "config.yaml").read_text())
    assert cfg["model_parameters"]["march"] == "nash-p" and "input_space_and_range" in \
        cfg["input_parameters"]
    assert main(["toolchain-config", "--model", str(FP32), "--out", str(tmp_path / "c"),
                 "--soc", "x5"]) == 0  # the X5 flow: hb_mapper, bayes-e
    cfg = yaml.safe_load((tmp_path / "c" / "config.yaml").read_text())
    assert cfg["model_parameters"]["march"] == "bayes-e"
    assert "hb_mapper" in (tmp_path / "c" / "01_check.sh").read_text()
    capsys.readouterr()


@pytest.mark.parametrize("argv, why", [
    (["--soc", "s100", "--march", "nash-p"], "disagree"),
    (["--soc", "x5", "--march", "nash-e"], "disagree"),
    (["--soc", "s600", "--march", "bernoulli2"], "not the RDK S600's (nash-p)"),
])
def test_cli_refuses_a_chip_and_march_that_do_not_fit(tmp_path, capsys, argv, why):
    code = main(["toolchain-config", "--model", str(FP32), "--out", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err
    assert code != 0 and why in err and "Traceback" not in err
    assert not (tmp_path / "o" / "config.yaml").exists()


@pytest.mark.parametrize("extra", [["--preset", "MobileOne_S1"], ["--per-channel"],
                                   ["--int16-softmax", "--jobs", "4"], ["--input-type", "bgr"]])
def test_x5_only_options_are_refused_for_an_s_chip_not_dropped(tmp_path, capsys, extra):
    code = main(["toolchain-config", "--model", str(FP32), "--out", str(tmp_path / "o"),
                 "--soc", "s100", *extra])
    err = capsys.readouterr().err
    assert code == 2 and extra[0] in err and "hb_mapper (RDK X5) options" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_an_x5_chip_is_not_an_s_chip(tmp_path):
    with pytest.raises(Exception, match="hb_mapper with march bayes-e"):
        ts.write_s_toolchain_files(FP32, tmp_path, soc="x5")
    with pytest.raises(Exception, match="not an S-series BPU"):
        ts.compile_config(None, "m.onnx", "m", march="bayes-e", cal_data_dir="c", mean=(0, 0, 0),
                          scale=(1, 1, 1))
