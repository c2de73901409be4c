"""The hand-off to hb_mapper, read the way hb_mapper reads it (test/vendor_reader.py: facts of the
vendor's loader, transformers and parameter parser, our own code), and the model facts every
command reads the same way."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from rdk_classifier import errors
from rdk_classifier.cli import main
from rdk_classifier.model_facts import (ModelFacts, ModelFactsError, parse_facts,
                                        read_model_facts, sidecar_path, write_model_facts)
from rdk_classifier.ptq import calibration as cal
from rdk_classifier.ptq import toolchain as tc
from rdk_classifier.zoo import PACKAGED_MODEL_DIR

from conftest import IMAGENET_DIR, PHOTOS_DIR
from onnx_models import HEAD_NAMES, lite0_head
from vendor_reader import load_calibration, parse_config, vendor_chain

LITE0_MEAN = ["127", "127", "127"]
LITE0_SCALE = ["0.0078125", "0.0078125", "0.0078125"]
INT8 = PACKAGED_MODEL_DIR / "efficientnet_lite0_int8.onnx"


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """The 22 committed photos in one folder (square, 4:3 and 3:2, portrait and landscape)."""
    d = tmp_path_factory.mktemp("photos")
    for p in list(IMAGENET_DIR.glob("*.jpg")) + list(PHOTOS_DIR.glob("*.png")):
        shutil.copyfile(p, d / p.name)
    return d


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def top1(session: ort.InferenceSession, tensor: np.ndarray) -> int:
    return int(np.argmax(session.run(None, {session.get_inputs()[0].name: tensor})[0]))


@pytest.mark.parametrize("size,layout", [
    (224, "NCHW"), (224, "NHWC"),
    pytest.param(288, "NCHW", marks=pytest.mark.slow), pytest.param(288, "NHWC", marks=pytest.mark.slow)])
def test_calibration_folder_and_yaml_read_as_hb_mapper_reads_them(tmp_path, photos, capsys,
                                                                   size, layout):
    """A user's 5-class model (EfficientNet-Lite0 backbone), annotated, calibrated and configured
    by the commands; then hb_mapper's reading: the YAML parsed and checked, every file of
    cal_data_dir loaded by np.fromfile(cal_data_type).reshape(input_shape), normalized by the
    YAML's mean/scale in its layout. The float model's top-1 on those tensors equals its top-1 on
    the photos through the vendor's transformer chain, photo by photo."""
    model = lite0_head(tmp_path / f"user_{size}_{layout}.onnx", size, layout)
    annotated = tmp_path / "annotated.onnx"
    assert run(["model-info", "--model", model, "--mean", *LITE0_MEAN, "--scale", *LITE0_SCALE,
                "--out", annotated], capsys)[0] == 0
    cal_dir = tmp_path / "work" / "calibration_data_rgb_f32"
    code, out, err = run(["calib", "--images", photos, "--model", annotated, "--out", cal_dir,
                          "--count", "0"], capsys)
    assert code == 0, err
    assert run(["toolchain-config", "--model", annotated, "--calib-dir", cal_dir,
                "--out", tmp_path / "work" / "tc"], capsys)[0] == 0

    conf = parse_config(tmp_path / "work" / "tc" / "config.yaml")
    assert conf["onnx_model"] == annotated.resolve() and conf["cal_data_dir"] == cal_dir.resolve()
    assert conf["layout"] == layout and conf["input_type_train"] == "rgb"
    assert conf["config"]["model_parameters"]["onnx_model"] == "../../annotated.onnx"
    assert conf["config"]["calibration_parameters"]["cal_data_dir"] == "../calibration_data_rgb_f32"
    loaded = load_calibration(conf["cal_data_dir"], conf["shape"], conf["dtype"])
    manifest = json.loads(cal.manifest_path(cal_dir).read_text())
    assert len(loaded) == len(manifest["files"]) == 22
    sources = [f["source"] for f in sorted(manifest["files"], key=lambda f: f["file"])]

    session = ort.InferenceSession(str(annotated), providers=["CPUExecutionProvider"])
    ch = (1, 3, 1, 1) if layout == "NCHW" else (1, 1, 1, 3)
    mean = np.array(conf["mean"], np.float32).reshape(ch)
    scale = np.array(conf["scale"], np.float32).reshape(ch)
    from_folder, from_photos = [], []
    for tensor, source in zip(loaded, sources):
        reference = vendor_chain(photos / source, size, layout, "rgb")
        np.testing.assert_array_equal(tensor, reference)  # byte-identical to the vendor's chain
        from_folder.append(top1(session, (tensor - mean) * scale))
        from_photos.append(top1(session, (reference.astype(np.float32) - mean) * scale))
    assert from_folder == from_photos
    assert len(set(from_photos)) >= 3  # a model that tells the photos apart


def test_mismatched_odd_and_quantized_inputs_are_refused_before_writing(tmp_path, photos, capsys):
    meta = {"mean_value": "127 127 127", "scale_value": "0.0078125"}
    nchw = lite0_head(tmp_path / "nchw.onnx", 224, "NCHW", metadata=meta)
    nhwc = lite0_head(tmp_path / "nhwc.onnx", 224, "NHWC", metadata=meta)
    assert run(["calib", "--images", photos, "--model", nchw, "--out", tmp_path / "cal",
                "--count", "2"], capsys)[0] == 0
    # an NCHW set for an NHWC model: same byte count, wrong layout -> refused, nothing written
    code, _, err = run(["toolchain-config", "--model", nhwc, "--calib-dir", tmp_path / "cal",
                        "--out", tmp_path / "tc"], capsys)
    assert code == 2 and "NCHW" in err and "NHWC" in err and not (tmp_path / "tc").exists()
    code, _, err = run(["quantize", "--model", nhwc, "--calib", tmp_path / "cal",
                        "--out", tmp_path / "q.onnx"], capsys)
    assert code == 2 and "rebuild" in err and not (tmp_path / "q.onnx").exists()
    # another size
    big = lite0_head(tmp_path / "big.onnx", 288, "NCHW", metadata=meta)
    code, _, err = run(["toolchain-config", "--model", big, "--calib-dir", tmp_path / "cal",
                        "--out", tmp_path / "tc"], capsys)
    assert code == 2 and "288x288" in err
    # odd and non-square inputs: the reason, no file
    odd = lite0_head(tmp_path / "odd.onnx", 299, "NCHW", metadata=meta)
    for argv in (["calib", "--images", photos, "--model", odd, "--out", tmp_path / "c299"],
                 ["toolchain-config", "--model", odd, "--out", tmp_path / "t299"]):
        code, _, err = run(argv, capsys)
        assert code == 2 and "odd" in err and "NV12" in err
    assert not (tmp_path / "c299").exists() and not (tmp_path / "t299").exists()
    # an already quantized model is not a float input
    for argv in (["toolchain-config", "--model", INT8, "--out", tmp_path / "tq"],
                 ["quantize", "--model", INT8, "--calib", tmp_path / "cal", "--out", tmp_path / "qq.onnx"],
                 ["calib", "--images", photos, "--model", INT8, "--out", tmp_path / "cq"]):
        code, _, err = run(argv, capsys)
        assert code == 2 and "already quantized" in err
    # a stray file in the folder: hb_mapper would read it as a tensor
    (tmp_path / "cal" / "notes.txt").write_text("calibration photos from the warehouse")
    code, _, err = run(["toolchain-config", "--model", nchw, "--calib-dir", tmp_path / "cal",
                        "--out", tmp_path / "tc"], capsys)
    assert code == 2 and "notes.txt" in err


def test_calibration_file_names_are_plain_whatever_the_photo_names(tmp_path, capsys):
    images = tmp_path / "img"
    images.mkdir()
    for name in ("a b;$(touch pwned).png", "-rf .png", "ünïcode 猫.png"):
        shutil.copyfile(PHOTOS_DIR / "coffee.png", images / name)
    built = cal.build_calibration_set(images, tmp_path / "cal", count=None, size=(64, 64))
    for entry in built.entries:
        assert cal._SAFE_NAME.fullmatch(entry.file), entry.file
    load_calibration(tmp_path / "cal", [1, 3, 64, 64], np.float32)  # the shell sees one word
    assert not Path("pwned").exists()


def test_yaml_tuning_as_the_zoo_writes_it(tmp_path):
    meta = {"mean_value": "127", "scale_value": "0.0078125", "input_type_train": "bgr"}
    model = lite0_head(tmp_path / "m.onnx", 224, "NCHW", metadata=meta)
    tc.write_toolchain_files(model, tmp_path / "a", tuning=tc.zoo_tuning("EdgeNeXt_small"))
    cfg = parse_config(tmp_path / "a" / "config.yaml")["config"]
    assert cfg["input_parameters"]["input_type_train"] == "bgr"   # from the model
    assert cfg["calibration_parameters"]["calibration_type"] == "max"
    assert cfg["calibration_parameters"]["max_percentile"] == 0.999
    assert "node_info" not in cfg["model_parameters"]               # Lite0 has no Softmax
    tc.write_toolchain_files(model, tmp_path / "b", tuning=tc.Tuning(
        optimization="set_all_nodes_int16", per_channel=True, jobs=8, core_num=1,
        int16_nodes=("/Gather",)))
    cfg = parse_config(tmp_path / "b" / "config.yaml")["config"]
    assert cfg["calibration_parameters"]["optimization"] == "set_all_nodes_int16"
    assert cfg["calibration_parameters"]["per_channel"] is True
    assert (cfg["compiler_parameters"]["jobs"], cfg["compiler_parameters"]["core_num"]) == (8, 1)
    assert cfg["model_parameters"]["node_info"] == {
        "/Gather": {"ON": "BPU", "InputType": "int16", "OutputType": "int16"}}
    with pytest.raises(errors.ToolchainConfigError, match="max_percentile"):
        tc.write_toolchain_files(model, tmp_path / "c", tuning=tc.Tuning(max_percentile=0.99))
    # the zoo's own model gets the zoo's tuning without asking (none for EfficientNet-Lite0)
    assert tc.zoo_tuning("EfficientViT_MSRA_m5").max_percentile == 0.99999
    assert tc.zoo_tuning("efficientformerv2_s0").optimization == "set_all_nodes_int16"


def test_model_facts_roundtrip_and_fuzzed_values(tmp_path):
    facts = ModelFacts((1.0, 2.0, 3.0), (0.5, 0.5, 0.5), "bgr", "letterbox", ("a", "b c"))
    assert parse_facts(facts.to_metadata()) == facts
    for bad in ({"mean_value": "1 2"}, {"scale_value": "0 0 0"}, {"input_type_train": "rgba"},
                {"resize_mode": "stretch"}, {"class_names": "not json"},
                {"class_names": "[]"}, {"class_names": '["a\\u0000b"]'},
                {"mean_value": "nan"}):
        with pytest.raises(ModelFactsError):
            parse_facts(bad)
    # a .bin carries its facts in a sidecar
    model_bin = tmp_path / "mine_224x224_nv12.bin"
    model_bin.write_bytes(b"not really a bin")
    written = write_model_facts(model_bin, ModelFacts(class_names=("x", "y"), resize_mode="direct"))
    assert written == sidecar_path(model_bin) and written.name == "mine_224x224_nv12.bin.json"
    assert read_model_facts(model_bin) == ModelFacts(resize_mode="direct", class_names=("x", "y"))


def test_every_command_reads_the_same_facts(tmp_path, photos, capsys):
    """A user model without metadata: every command that feeds it refuses with what to give;
    annotated once, classify, evaluate and bench need no flags, and agree."""
    bare = lite0_head(tmp_path / "bare.onnx", 160, "NHWC")
    for argv in (["classify", "--model", bare, "--backend", "cpu", photos / "coffee.png"],
                 ["bench", "--model", bare, "--backend", "cpu", "--frames", "2", "--warmup", "0"],
                 ["evaluate", "--model", bare, "--backend", "cpu", "--images", IMAGENET_DIR,
                  "--labels", IMAGENET_DIR / "val.txt"],
                 ["calib", "--images", photos, "--model", bare, "--out", tmp_path / "c"],
                 ["toolchain-config", "--model", bare, "--out", tmp_path / "t"]):
        code, out, err = run(argv, capsys)
        assert code == 2 and "records no normalization" in err and "model-info" in err, (argv, err)
    names = tmp_path / "names.txt"
    names.write_text("\n".join(HEAD_NAMES) + "\n")
    model = tmp_path / "mine.onnx"
    assert run(["model-info", "--model", bare, "--mean", *LITE0_MEAN, "--scale", *LITE0_SCALE,
                "--class-names", names, "--resize-mode", "center_crop", "--out", model],
               capsys)[0] == 0
    four = tmp_path / "four.txt"
    four.write_text("a\nb\nc\nd\n")
    code, _, err = run(["model-info", "--model", bare, "--class-names", four, "--out",
                        tmp_path / "x.onnx"], capsys)
    assert code == 2 and "5 outputs but 4 class names" in err
    code, out, _ = run(["model-info", "--model", model], capsys)
    assert "class_names: 5 (bull_mastiff" in out and "resize_mode: center_crop" in out
    code, out, err = run(["classify", "--model", model, "--backend", "cpu", "--json",
                          IMAGENET_DIR / "imagenet_00_243.jpg"], capsys)
    assert code == 0, err
    assert json.loads(out.splitlines()[0])["top"][0]["label"] == "bull_mastiff"
    code, out, err = run(["bench", "--model", model, "--backend", "cpu", "--frames", "2",
                          "--warmup", "0"], capsys)
    assert code == 0, err                                   # no class names needed
    bare_names = tmp_path / "nameless.onnx"
    write_model_facts(bare, ModelFacts((127.0,) * 3, (0.0078125,) * 3), bare_names)
    assert run(["bench", "--model", bare_names, "--backend", "cpu", "--frames", "2",
                "--warmup", "0"], capsys)[0] == 0          # nor when the model records none


def test_evaluate_says_its_preprocessing_and_the_zoo_figure(capsys):
    import argparse

    from rdk_classifier.cli import evaluate as ev_cli
    from rdk_classifier.evaluation import evaluate, read_labels

    code, out, _ = run(["evaluate", "--images", IMAGENET_DIR, "--labels", IMAGENET_DIR / "val.txt",
                        "--backend", "cpu", "--json"], capsys)
    d = json.loads(out)
    assert code == 0 and d["preprocessing"] == "center_crop"
    code, out, _ = run(["evaluate", "--images", IMAGENET_DIR, "--labels", IMAGENET_DIR / "val.txt",
                        "--backend", "cpu", "--resize-mode", "letterbox"], capsys)
    assert "preprocessing: letterbox (aspect kept, padded with grey 127; given)" in out
    # a zoo model the seed published figures for: the seed's 256/224 centre crop, not the
    # letterbox its runtime uses, and top-1 in % beside the zoo's figure
    mode, why = ev_cli.preprocessing_of(argparse.Namespace(resize_mode=None, model="FastViT_T12"))
    assert mode == "center_crop" and "seed" in why
    from rdk_classifier.classifier import Classifier

    clf = Classifier.from_model(backend="cpu")
    report = evaluate(clf, IMAGENET_DIR, read_labels(IMAGENET_DIR / "val.txt"))
    text = ev_cli.format_text(report, False, {"preprocessing": "center_crop",
                                              "preprocessing_source": why,
                                              "zoo_float_top1": 79.5, "zoo_quant_top1": 77.3})
    assert "top-1: 95.00 % (19/20)  [zoo: float 79.5 %, quantized 77.3 %" in text


def readme_walkthrough() -> list[list[str]]:
    import re
    import shlex

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("## Your own model, end to end", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```bash\n(.*?)```", section, re.S)[0]
    return [shlex.split(line)[3:] for line in block.splitlines()
            if line.startswith("python -m rdk_classifier ")]


def test_your_own_model_end_to_end(tmp_path, capsys):
    """README "Your own model, end to end", every local step verbatim, on a 5-class 160x160 NHWC
    model without metadata: no ImageNet anywhere, and the hand-off hb_mapper reads."""
    from onnx_models import HEAD_CLASSES

    model = lite0_head(tmp_path / "exported.onnx", 160, "NHWC")
    names = tmp_path / "names.txt"
    names.write_text("\n".join(HEAD_NAMES) + "\n")
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in sorted(IMAGENET_DIR.glob("*.jpg"))[8:16]:
        shutil.copyfile(p, photos / p.name)
    val = tmp_path / "val"
    val.mkdir()
    labels = []
    for line in (IMAGENET_DIR / "val.txt").read_text().splitlines():
        name, label = line.split()
        if int(label) in HEAD_CLASSES:
            shutil.copyfile(IMAGENET_DIR / name, val / name)
            labels.append(f"{name} {HEAD_CLASSES.index(int(label))}")
    (tmp_path / "val.txt").write_text("\n".join(labels) + "\n")
    env = {"$MODEL": model, "$NAMES": names, "$WORK": tmp_path / "work", "$PHOTOS": photos,
           "$VAL_IMAGES": val, "$VAL_LABELS": tmp_path / "val.txt"}
    (tmp_path / "work").mkdir()
    outputs = {}
    steps = readme_walkthrough()
    assert [s[0] for s in steps] == ["model-info", "calib", "quantize", "toolchain-config",
                                     "classify", "bench"]
    for argv in steps:
        for key, value in env.items():
            argv = [a.replace(key, str(value)) for a in argv]
        code, out, err = run(argv, capsys)
        assert code == 0, (argv, err)
        outputs[argv[0]] = out
    assert "accuracy on 6 labeled images" in outputs["quantize"]
    float_row = next(line for line in outputs["quantize"].splitlines()
                     if line.startswith("float ") and line.split()[1].endswith("%"))
    assert float_row.split()[1] == "100.0%"          # the 5-class head on its own 6 photos
    assert "PREVIEW the board" in outputs["quantize"]
    assert "INFO" not in outputs["quantize"]          # quiet ONNX Runtime
    predicted = [line for line in outputs["classify"].splitlines() if line.startswith("  ")]
    assert predicted and all(any(n in line for n in HEAD_NAMES) for line in predicted)
    conf = parse_config(tmp_path / "work" / "hb" / "config.yaml")
    assert conf["layout"] == "NHWC" and conf["shape"] == [1, 160, 160, 3]
    assert conf["config"]["model_parameters"]["onnx_model"] == "../mine.onnx"
    assert conf["config"]["calibration_parameters"]["calibration_type"] == "max"  # minmax carried
    loaded = load_calibration(conf["cal_data_dir"], conf["shape"], conf["dtype"])
    assert len(loaded) == 8


def test_fuzz_model_facts_parser():
    """Metadata is untrusted (anyone's ONNX, a sidecar file): any map of texts parses to facts
    or raises the one typed error."""
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import given, settings
    from hypothesis import strategies as st

    keys = st.sampled_from(["mean_value", "scale_value", "input_type_train", "resize_mode",
                            "class_names", "other"])
    values = st.one_of(st.text(max_size=40), st.sampled_from(
        ["1 2 3", "0.5", "rgb", "bgr", "center_crop", '["a", "b"]', "[1]", "1e309", "-0"]))

    @settings(max_examples=300, deadline=None)
    @given(st.dictionaries(keys, values, max_size=5))
    def check(meta):
        try:
            facts = parse_facts(meta)
        except ModelFactsError:
            return
        assert parse_facts(facts.to_metadata()) == facts

    assert hypothesis is not None
    check()


def test_a_users_bin_carries_its_facts_in_the_sidecar(tmp_path):
    from rdk_classifier import zoo

    model_bin = tmp_path / "waste_160x160_nv12.bin"
    model_bin.write_bytes(b"compiled elsewhere")
    r = zoo.resolve_model(str(model_bin), runtime="bpu")
    assert r.info.class_names is None and r.info.resize_mode == "center_crop"
    write_model_facts(model_bin, ModelFacts(class_names=HEAD_NAMES, resize_mode="letterbox"))
    r = zoo.resolve_model(str(model_bin), runtime="bpu")
    assert r.info.class_names == HEAD_NAMES and r.info.resize_mode == "letterbox"


def test_quantize_choices_carry_over_to_hb_mapper(tmp_path):
    meta = {"mean_value": "127", "scale_value": "0.0078125"}
    for method, extra, expected in [
            ("minmax", {}, ("max", None)), ("entropy", {}, ("kl", None)),
            ("percentile", {"quantization_percentile": "99.99"}, ("max", 0.9999))]:
        int8 = lite0_head(tmp_path / f"{method}.onnx", 224, metadata={
            **meta, "quantization_method": method, "quantization_per_channel": "true", **extra})
        t = tc.tuning_from_quantized(int8)
        assert (t.calibration_type, t.max_percentile, t.per_channel) == (*expected, True)
    with pytest.raises(errors.ToolchainConfigError, match="records no quantize method"):
        tc.tuning_from_quantized(lite0_head(tmp_path / "plain.onnx", 224, metadata=meta))
