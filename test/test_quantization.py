"""Calibration sets, int8 quantization and the float vs int8 report, on the committed photos."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rdk_classifier import errors
from rdk_classifier.ptq import calibration as cal
from rdk_classifier.ptq import quantization as q
from rdk_classifier.ptq import similarity as sim
from rdk_classifier.ptq import toolchain
from rdk_classifier.cli import calib as calib_cli
from rdk_classifier.cli import quantize as quantize_cli
from rdk_classifier.errors import ModelError
from rdk_classifier.zoo import PACKAGED_MODEL_DIR as MODELS

from conftest import IMAGENET_DIR, PHOTOS_DIR
from vendor_reader import vendor_chain

FP32 = MODELS / "efficientnet_lite0_fp32.onnx"
INT8 = MODELS / "efficientnet_lite0_int8.onnx"


def copy_images(dst: Path, names: list[str]) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for name in names:
        src = IMAGENET_DIR / name if name.startswith("imagenet_") else PHOTOS_DIR / name
        shutil.copyfile(src, dst / name)
    return dst


def cli(module, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    module.add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


# --- calibration set ----------------------------------------------------------------------------

def test_calibration_files_are_raw_float32_rgb_nchw_of_the_vendor_chain(tmp_path):
    images = copy_images(tmp_path / "img", ["imagenet_00_243.jpg", "coffee.png", "chelsea.png"])
    result = cal.build_calibration_set(images, tmp_path / "cal", count=None, seed=0)
    assert sorted(e.source for e in result.entries) == ["chelsea.png", "coffee.png", "imagenet_00_243.jpg"]
    # the folder holds the tensors only, named plainly in draw order; the manifest is beside it
    assert sorted(p.name for p in (tmp_path / "cal").iterdir()) == [e.file for e in result.entries]
    assert [e.file[:6] for e in result.entries] == ["00000_", "00001_", "00002_"]
    assert (tmp_path / "cal.manifest.json").is_file()
    for entry in result.entries:
        path = tmp_path / "cal" / entry.file
        assert path.stat().st_size == 3 * 224 * 224 * 4          # no header, float32
        raw = np.fromfile(path, dtype=np.float32)
        assert raw.min() >= 0 and raw.max() <= 255 and raw.max() > 100  # not normalized
        # byte-identical to the vendor's chain (short side 256 with int(), then crop), also on
        # the non-square photos (600x400 coffee, 451x300 chelsea)
        np.testing.assert_array_equal(raw.reshape(1, 3, 224, 224),
                                      vendor_chain(images / entry.source, 224))


def test_manifest_lists_source_and_file_and_reloads(tmp_path):
    images = copy_images(tmp_path / "img", ["imagenet_00_243.jpg", "imagenet_01_559.jpg"])
    built = cal.build_calibration_set(images, tmp_path / "cal", count=5, seed=3)
    manifest = json.loads(cal.manifest_path(tmp_path / "cal").read_text())
    assert manifest["dtype"] == "float32" and manifest["layout"] == "NCHW" and manifest["color"] == "rgb"
    assert (manifest["height"], manifest["width"], manifest["seed"]) == (224, 224, 3)
    assert {(f["source"], f["file"][6:]) for f in manifest["files"]} == {
        ("imagenet_00_243.jpg", "imagenet_00_243.rgb"), ("imagenet_01_559.jpg", "imagenet_01_559.rgb")}
    loaded = cal.load_calibration_set(tmp_path / "cal")
    assert loaded.entries == built.entries and (loaded.height, loaded.width) == (224, 224)


def test_random_sample_of_n_is_reproducible_per_seed(tmp_path):
    draws = {}
    for seed in (0, 0, 1):
        out = tmp_path / f"cal{len(draws)}_{seed}"
        draws.setdefault(seed, []).append(
            [e.source for e in cal.build_calibration_set(IMAGENET_DIR, out, count=3, seed=seed).entries])
    assert len(draws[0][0]) == 3 and len(set(draws[0][0])) == 3
    assert draws[0][0] == draws[0][1]
    assert draws[1][0] != draws[0][0]
    assert len(list((tmp_path / "cal0_0").glob("*.rgb"))) == 3


def test_other_sizes_layouts_and_dtypes(tmp_path):
    images = copy_images(tmp_path / "img", ["coffee.png"])
    for layout, dtype, color in [("NCHW", "float32", "rgb"), ("NHWC", "float32", "rgb"),
                                 ("NHWC", "uint8", "bgr")]:
        target = cal.CalibrationTarget(160, 160, layout, dtype, color)
        out = tmp_path / f"cal_{layout}_{dtype}_{color}"
        built = cal.build_calibration_set(images, out, target=target)
        raw = cal.read_calibration_file(built.paths[0], target)
        assert raw.dtype == np.dtype(dtype) and raw.shape == target.shape
        np.testing.assert_array_equal(raw, vendor_chain(images / "coffee.png", 160, layout, color))
        assert built.paths[0].suffix == f".{color}"
    with pytest.raises(errors.CalibrationError, match="another input size"):
        cal.read_calibration_file(built.paths[0], cal.CalibrationTarget(224, 224))
    # odd and non-square inputs are refused with the reason, before anything is written
    for size, why in [((299, 299), "odd.*NV12"), ((256, 320), "not square")]:
        with pytest.raises(errors.CalibrationError, match=why):
            cal.build_calibration_set(images, tmp_path / f"bad{size[0]}", size=size)
        assert not (tmp_path / f"bad{size[0]}").exists()


def test_unreadable_images_are_counted_skipped_and_replaced(tmp_path):
    images = copy_images(tmp_path / "img", ["imagenet_00_243.jpg", "imagenet_01_559.jpg", "coffee.png"])
    (images / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (images / "empty.png").write_bytes(b"")
    result = cal.build_calibration_set(images, tmp_path / "cal", count=None)
    assert sorted(s for s, _ in result.skipped) == ["broken.jpg", "empty.png"]
    assert len(result.entries) == 3
    manifest = json.loads(cal.manifest_path(tmp_path / "cal").read_text())
    assert sorted(s["source"] for s in manifest["skipped"]) == ["broken.jpg", "empty.png"]
    # a count smaller than the folder is still met when some draws are unreadable
    for seed in range(4):
        out = tmp_path / f"cal_n{seed}"
        assert len(cal.build_calibration_set(images, out, count=3, seed=seed).entries) == 3


def test_bad_image_folders_are_clear_errors(tmp_path):
    with pytest.raises(errors.CalibrationError, match="not found"):
        cal.build_calibration_set(tmp_path / "missing", tmp_path / "cal")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(errors.CalibrationError, match="no images"):
        cal.build_calibration_set(tmp_path / "empty", tmp_path / "cal")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.jpg").write_bytes(b"garbage")
    with pytest.raises(errors.CalibrationError, match="could be read"):
        cal.build_calibration_set(tmp_path / "bad", tmp_path / "cal2")
    with pytest.raises(errors.CalibrationError, match="count"):
        cal.build_calibration_set(IMAGENET_DIR, tmp_path / "cal3", count=0)


def test_existing_set_needs_overwrite(tmp_path):
    images = copy_images(tmp_path / "img", ["coffee.png", "chelsea.png"])
    cal.build_calibration_set(images, tmp_path / "cal")
    with pytest.raises(errors.CalibrationError, match="already holds"):
        cal.build_calibration_set(images, tmp_path / "cal")
    cal.build_calibration_set(images, tmp_path / "cal", count=1, overwrite=True)
    assert len(list((tmp_path / "cal").glob("*.rgb"))) == 1


def test_plain_directory_of_tensor_files_loads_against_the_model(tmp_path):
    (tmp_path / "cal").mkdir()
    np.zeros((3, 8, 8), np.float32).tofile(tmp_path / "cal" / "a.rgb")
    loaded = cal.load_calibration_set(tmp_path / "cal", cal.CalibrationTarget(8, 8))
    assert [e.file for e in loaded.entries] == ["a.rgb"] and loaded.height == 8
    with pytest.raises(errors.CalibrationError, match="another input size"):
        cal.load_calibration_set(tmp_path / "cal", cal.CalibrationTarget(16, 16))
    # anything else in the folder would be read by hb_mapper as a tensor
    for stray in ("README.md", ".hidden", "manifest.json"):
        (tmp_path / "cal" / stray).write_text("x")
        with pytest.raises(errors.CalibrationError):
            cal.load_calibration_set(tmp_path / "cal", cal.CalibrationTarget(8, 8))
        (tmp_path / "cal" / stray).unlink()
    (tmp_path / "none").mkdir()
    with pytest.raises(errors.CalibrationError, match="no calibration files"):
        cal.load_calibration_set(tmp_path / "none")
    with pytest.raises(errors.CalibrationError, match="not found"):
        cal.load_calibration_set(tmp_path / "missing")


def test_calib_cli(tmp_path, capsys):
    images = copy_images(tmp_path / "img", ["coffee.png", "chelsea.png"])
    (images / "broken.png").write_bytes(b"\x89PNG broken")
    assert cli(calib_cli, ["calib", "--images", str(images), "--out", str(tmp_path / "cal"),
                           "--count", "0", "--size", "96x96", "--layout", "NHWC"]) == 0
    out, err = capsys.readouterr()
    assert "wrote 2 calibration files (96x96, float32 RGB NHWC" in out
    assert "1 unreadable images skipped" in out and "skipped broken.png" in err
    assert all(p.stat().st_size == 3 * 96 * 96 * 4 for p in (tmp_path / "cal").glob("*.rgb"))
    manifest = json.loads(cal.manifest_path(tmp_path / "cal").read_text())
    assert (manifest["width"], manifest["height"], manifest["layout"]) == (96, 96, "NHWC")
    with pytest.raises(SystemExit):
        cli(calib_cli, ["calib", "--images", str(images), "--out", str(tmp_path / "c2"),
                        "--size", "63x96"])
    assert "even" in capsys.readouterr().err
    assert cli(calib_cli, ["calib", "--images", str(images), "--out", str(tmp_path / "c3"),
                           "--model", str(FP32)]) == 0
    assert json.loads(cal.manifest_path(tmp_path / "c3").read_text())["height"] == 224
    with pytest.raises(errors.CalibrationError):  # the main entry point turns it into exit status 2
        cli(calib_cli, ["calib", "--images", str(tmp_path / "nowhere"), "--out", str(tmp_path / "c4")])


def test_commands_are_registered_in_the_main_cli(capsys):
    from rdk_classifier.cli import main

    for command in ("calib", "quantize", "toolchain-config"):
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        assert "--model" in capsys.readouterr().out


# --- normalization and metrics --------------------------------------------------------------------

def test_normalize_per_channel_and_layouts():
    chw = np.arange(3 * 2 * 2, dtype=np.float32).reshape(1, 3, 2, 2) * 10
    mean, scale = (1.0, 2.0, 3.0), (0.5, 0.25, 2.0)
    out = cal.normalize(chw, mean, scale)
    assert out.shape == (1, 3, 2, 2) and out.dtype == np.float32
    for c in range(3):
        np.testing.assert_allclose(out[0, c], (chw[0, c] - mean[c]) * scale[c])
    nhwc = np.ascontiguousarray(chw.transpose(0, 2, 3, 1)).astype(np.uint8)
    np.testing.assert_allclose(cal.normalize(nhwc, mean, scale, "NHWC"), out.transpose(0, 2, 3, 1))


def test_similarity_metrics_on_known_vectors():
    s = sim.similarity(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
    assert s["cosine"] == pytest.approx(17 / np.sqrt(14 * 21))
    assert s["l1"] == pytest.approx(1 / 3)
    assert s["l2"] == pytest.approx(1 / 3)        # sqrt(1) / 3 elements
    assert s["chebyshev"] == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=1000), rng.normal(size=1000)
    s = sim.similarity(a, b)
    assert s["cosine"] == pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    assert s["l1"] == pytest.approx(np.mean(np.abs(a - b)))
    assert s["l2"] == pytest.approx(np.linalg.norm(a - b) / 1000)
    assert s["chebyshev"] == pytest.approx(np.max(np.abs(a - b)))
    assert sim.similarity(a, -a)["cosine"] == pytest.approx(-1.0)
    assert sim.similarity(np.zeros(4), np.zeros(4))["cosine"] == 1.0
    assert sim.similarity(np.zeros(4), np.ones(4))["cosine"] == 0.0
    with pytest.raises(ValueError):
        sim.similarity(np.ones(3), np.ones(4))


def test_similarity_stats_mean_and_worst():
    stats = sim.SimilarityStats()
    stats.add(np.array([1.0, 0.0]), np.array([1.0, 0.0]))   # cosine 1, cheb 0
    stats.add(np.array([1.0, 0.0]), np.array([0.0, 1.0]))   # cosine 0, cheb 1
    s = stats.summary()
    assert s["count"] == 2 and s["cosine_mean"] == pytest.approx(0.5) and s["cosine_min"] == 0.0
    assert s["chebyshev_mean"] == pytest.approx(0.5) and s["chebyshev_max"] == 1.0
    with pytest.raises(ValueError):
        sim.SimilarityStats().summary()


# --- quantization and report ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_quant(tmp_path_factory):
    """The fp32 default quantized on 4 photos (a few seconds)."""
    root = tmp_path_factory.mktemp("quant")
    images = copy_images(root / "img", ["imagenet_00_243.jpg", "imagenet_05_853.jpg",
                                        "imagenet_11_630.jpg", "coffee.png"])
    cal.build_calibration_set(images, root / "cal")
    out = root / "lite0_small_int8.onnx"
    result = q.quantize_model(FP32, root / "cal", out, q.QuantizeSettings(per_channel=True))
    return root, result


@pytest.mark.slow  # a PTQ round trip (small_quant: ~15 s, then ~15 s more)
def test_quantize_writes_a_qdq_int8_model_with_its_normalization(small_quant):
    import onnx

    root, result = small_quant
    model = onnx.load(str(result.quant_model))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    conv_weights = [n for n in model.graph.node if n.op_type == "DequantizeLinear"
                    and n.input[0].endswith("_quantized") and "conv" in n.input[0].lower()]
    assert conv_weights, "weights are stored quantized"
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["mean_value"] == "127 127 127" and meta["scale_value"] == "0.0078125 0.0078125 0.0078125"
    assert "per-channel" in meta["quantization"] and "4 calibration images" in meta["quantization"]
    # the registry's facts of the shipped float model travel into the int8 file (a user's file)
    assert meta["resize_mode"] == "center_crop" and json.loads(meta["class_names"])[967] == "espresso"
    assert result.calibration_images == 4
    assert result.quant_model.stat().st_size < 0.4 * FP32.stat().st_size


@pytest.mark.slow  # a PTQ round trip (small_quant: ~15 s, then ~15 s more)
def test_report_compares_float_and_int8_outputs(small_quant):
    root, result = small_quant
    report = sim.similarity_report(FP32, result.quant_model, root / "cal", per_node=True)
    out = report["output"]
    assert out["output"] == "logits" and out["count"] == 4
    assert 0.95 < out["cosine_mean"] <= 1.0 and out["cosine_min"] <= out["cosine_mean"]
    assert out["chebyshev_max"] >= out["chebyshev_mean"] > 0
    assert out["top1_agreement"] >= 0.75
    nodes = report["nodes"]
    assert nodes[-1]["tensor"] == "logits"
    assert nodes[-1]["cosine_mean"] == pytest.approx(out["cosine_mean"], abs=2e-3)
    clips = [n for n in nodes if n["op_type"] == "Clip"]
    assert len(clips) == 33 and all(n["cosine_mean"] > 0.9 for n in clips)
    text = sim.format_report(report)
    assert "Cosine Similarity" in text and "Chebyshev Distance" in text and "/_swish/Clip" in text
    from rdk_classifier.backends.onnx_session import cpu_int8_info

    cpu = cpu_int8_info()
    assert report["cpu"] == cpu.to_dict()
    assert f"computed on: {cpu.cpu}" in text and cpu.int8_kernels in text
    assert "U8S8" in text  # the default uint8 activations: where kernels differ is said


@pytest.mark.slow  # a PTQ round trip (small_quant: ~15 s, then ~15 s more)
def test_quantize_cli_json_report(small_quant, tmp_path, capsys):
    root, _ = small_quant
    out = tmp_path / "q.onnx"
    assert cli(quantize_cli, ["quantize", "--model", str(FP32), "--calib", str(root / "cal"),
                              "--out", str(out), "--json", "--per-tensor"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "PREVIEW" in report["note"]
    assert report["settings"] == {"method": "minmax", "per_channel": False,
                                  "activation_type": "uint8", "preprocess": True}
    assert report["calibration_images"] == 4 and report["quant_size_bytes"] == out.stat().st_size
    assert cli(quantize_cli, ["quantize", "--model", str(FP32), "--calib", str(root / "cal"),
                              "--out", str(out), "--eval-images", str(IMAGENET_DIR)]) == 2
    assert "go together" in capsys.readouterr().err


@pytest.mark.slow  # a PTQ round trip (small_quant: ~15 s, then ~15 s more)
def test_quantize_bad_inputs(small_quant, tmp_path):
    root, _ = small_quant
    with pytest.raises(errors.CalibrationError, match="not found"):
        q.quantize_model(FP32, tmp_path / "missing", tmp_path / "x.onnx")
    small = tmp_path / "cal64"
    cal.build_calibration_set(root / "img", small, count=1, size=(64, 64))
    with pytest.raises(errors.CalibrationError, match="rebuild it"):
        q.quantize_model(FP32, small, tmp_path / "x.onnx")
    with pytest.raises(errors.CalibrationError, match="method"):
        q.quantize_model(FP32, root / "cal", tmp_path / "x.onnx", q.QuantizeSettings(method="kl"))
    with pytest.raises(ValueError, match="3"):
        q.quantize_model(FP32, root / "cal", tmp_path / "x.onnx", mean=[1.0, 2.0])
    with pytest.raises(ModelError, match="not found"):
        q.quantize_model(tmp_path / "nope.onnx", root / "cal", tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_committed_int8_model_matches_the_float_model():
    """Measured on AVX2, AVX-512 VNNI and ARM alike (the package's sessions): the int8 default
    gives fp32's top-1 on all 20 committed ImageNet images, through the package's evaluation,
    which is exactly what the ``evaluate`` command reports."""
    from rdk_classifier.classifier import Classifier, ClassifierConfig
    from rdk_classifier.evaluation import evaluate, read_labels

    ev = sim.evaluate_models({"float": FP32, "int8": INT8}, IMAGENET_DIR, IMAGENET_DIR / "val.txt")
    assert ev["images"] == 20 and not ev["skipped"]
    assert ev["models"]["int8"]["top1_agreement"] == 1.0
    assert ev["models"]["float"]["top1_agreement"] == 1.0
    assert ev["models"]["int8"]["top1"] == ev["models"]["float"]["top1"] == 0.95
    assert ev["models"]["int8"]["top5"] == ev["models"]["float"]["top5"] == 0.95
    assert ev["per_image"][0]["float_top5"][0] == 243
    clf = Classifier.from_config(ClassifierConfig(model=str(INT8), backend="cpu"))
    direct = evaluate(clf, IMAGENET_DIR, read_labels(IMAGENET_DIR / "val.txt"))
    assert (direct.top1, direct.top5) == (ev["models"]["int8"]["top1"], ev["models"]["int8"]["top5"])


def test_committed_int8_model_output_similarity(tmp_path):
    photos = copy_images(tmp_path / "img", ["coffee.png", "chelsea.png"])
    for p in IMAGENET_DIR.glob("*.jpg"):
        shutil.copyfile(p, photos / p.name)
    cal.build_calibration_set(photos, tmp_path / "cal", count=None)
    info = toolchain.inspect_onnx(FP32)
    reader = cal.CalibrationReader(cal.load_calibration_set(tmp_path / "cal").paths, info,
                                 info.mean, info.scale)
    out = sim.compare_outputs(FP32, INT8, reader)
    assert out["count"] == 22
    assert out["cosine_mean"] >= 0.98 and out["top1_agreement"] == 1.0


def test_evaluation_skips_unreadable_labeled_images(tmp_path):
    images = copy_images(tmp_path / "img", ["imagenet_00_243.jpg", "imagenet_05_853.jpg"])
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff junk")
    labels = tmp_path / "val.txt"
    labels.write_text("imagenet_00_243.jpg 243\nmissing.jpg 1\nbroken.jpg 2\nimagenet_05_853.jpg 853\n")
    ev = sim.evaluate_models({"float": FP32}, images, labels)
    assert ev["images"] == 2
    assert sorted(s["source"] for s in ev["skipped"]) == ["broken.jpg", "missing.jpg"]
    assert ev["models"]["float"] == {"top1": 1.0, "top5": 1.0, "top1_agreement": 1.0}
    labels.write_text("missing.jpg 1\n")
    from rdk_classifier.evaluation import EvaluationError

    with pytest.raises(EvaluationError, match="none of the 1 images listed"):
        sim.evaluate_models({"float": FP32}, images, labels)


def test_quantize_carries_the_registry_facts_of_a_registry_float_model(tmp_path):
    """The README's PTQ workflow ends with `classify --model /tmp/lite0_int8.onnx`: the int8 model
    of the shipped fp32 one must answer with its class names and resize mode, not class_967."""
    facts = q.registry_facts(FP32, {})
    names = json.loads(facts["class_names"])
    assert facts["resize_mode"] == "center_crop" and len(names) == 1000 and names[967] == "espresso"
    assert q.registry_facts(FP32, {"resize_mode": "letterbox", "class_names": "[]"}) == {}
    mine = tmp_path / "mine.onnx"  # a user's float model: nothing is added to what it records
    shutil.copyfile(FP32, mine)
    assert q.registry_facts(mine, {}) == {}
