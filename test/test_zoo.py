"""The model registry: the seed table's 34 rows, lookups, resolution of names and files, the CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import bpu_doubles as doubles
from rdk_classifier import zoo
from rdk_classifier.errors import (ModelError, ModelNotFoundError, ModelUnavailableHereError,
                                   SocMismatchError, UnknownModelError)

BASE = "https://archive.d-robotics.cc/downloads/rdk_model_zoo/rdk_x5/"

# the model names of the seed's "Model Performance Data" table, in its order
SEED_NAMES = [
    "EdgeNeXt_base", "EdgeNeXt_small", "EdgeNeXt_x_small", "EdgeNeXt_xx_small",
    "EfficientFormer_l3", "EfficientFormer_l1", "EfficientFormerv2_s2", "EfficientFormerv2_s1",
    "EfficientFormerv2_s0", "EfficientViT_MSRA_m5", "FastViT_SA12", "FastViT_S12", "FastViT_T12",
    "FastViT_T8", "FasterNet_S", "FasterNet_T2", "FasterNet_T1", "FasterNet_T0", "RepVGG_B1g2",
    "RepVGG_B1g4", "RepVGG_B0", "RepVGG_A2", "RepVGG_A1", "RepVGG_A0", "RepViT_m1_1",
    "RepViT_m1_0", "RepViT_m0_9", "MobileOne_S4", "MobileOne_S3", "MobileOne_S2", "MobileOne_S1",
    "MobileOne_S0", "Mobilenetv2", "ResNet18",
]
SEED_BOLD = {"EdgeNeXt_x_small", "EfficientFormer_l1", "EfficientFormerv2_s1",
             "EfficientViT_MSRA_m5", "FastViT_T12", "FasterNet_T1", "RepVGG_A1", "RepViT_m1_0",
             "MobileOne_S1"}
# (family, params M, float top-1, quant top-1, latency ms, latency ms multi-thread, FPS), typed
# from the seed table
SEED_SAMPLES = {
    "EdgeNeXt_base": ("Transformer", 18.51, 78.21, 74.52, 8.80, 32.31, 113.35),
    "EfficientFormer_l1": ("Transformer", 12.3, 76.12, 65.38, 5.88, 20.69, 191.605),
    "EfficientViT_MSRA_m5": ("Transformer", 12.4, 73.75, 72.50, 6.34, 22.69, 174.70),
    "FastViT_S12": ("Transformer", 8.8, 76.50, 72.0, 5.86, 20.45, 193.87),
    "FasterNet_T0": ("CNN", 3.9, 71.75, 68.50, 1.41, 3.48, 1135.13),
    "RepVGG_A0": ("CNN", 8.30, 72.41, 51.75, 1.85, 5.21, 757.73),
    "MobileOne_S0": ("CNN", 2.1, 69.25, 67.58, 0.80, 1.59, 2453.17),
    "Mobilenetv2": ("CNN", 3.4, 72.0, 68.17, 1.42, 3.43, 1152.07),
    "ResNet18": ("CNN", 11.2, 71.49, 70.50, 2.95, 8.81, 448.79),
}
FIGURES = ("params_m", "float_top1", "quant_top1", "latency_ms", "latency_mt_ms", "fps")
FURTHER = ["MobileNetV1", "MobileNetV3", "MobileNetV4_conv_small", "MobileNetV4_conv_medium",
           "ResNeXt50_32x4d", "GoogLeNet", "VargConvNet", "EfficientNet_B2", "EfficientNet_B3",
           "EfficientNet_B4", "ConvNeXt_atto", "ConvNeXt_femto", "ConvNeXt_nano", "ConvNeXt_pico",
           "RepGhost_100", "RepGhost_111", "RepGhost_130", "RepGhost_150", "RepGhost_200"]


@pytest.fixture(autouse=True)
def isolated_dirs(model_dirs):
    """No test looks at the real /opt/hobot or ~/.cache, or sees a real BPU runtime."""
    return model_dirs


@pytest.fixture
def packaged(monkeypatch, tmp_path):
    """Stand-in package model directory holding both CPU models."""
    d = tmp_path / "models"
    d.mkdir()
    for name in ("efficientnet_lite0_int8.onnx", "efficientnet_lite0_fp32.onnx"):
        (d / name).write_bytes(b"onnx")
    monkeypatch.setattr(zoo, "PACKAGED_MODEL_DIR", d)
    return d


# ----------------------------------------------------------------------------- the data

def test_registry_has_the_34_seed_rows_in_order():
    seeded = [m.name for m in zoo.list_models() if m.in_seed_table]
    assert seeded == SEED_NAMES and len(seeded) == 34


@pytest.mark.parametrize("name", sorted(SEED_SAMPLES))
def test_seed_figures_as_published(name):
    info = zoo.get_model(name)
    family, *figures = SEED_SAMPLES[name]
    assert info.family == family
    assert [getattr(info, f) for f in FIGURES] == figures
    assert all(isinstance(getattr(info, f), float) for f in FIGURES)


#: X5 models outside the seed table whose figures the zoo publishes elsewhere (HGNetV2: the
#: sample's evaluator README, X5 release x5-v1.1.3)
OTHER_PUBLISHED = {f"HGNetV2_b{i}" for i in range(5)}
#: models the zoo publishes for the S series only (no X5 .bin)
S_ONLY = {"EfficientNet_Lite1", "EfficientNet_Lite2", "EfficientNet_Lite3", "EfficientNet_Lite4",
          "ResNet50", "ResNet152"}


def test_every_seed_row_has_all_figures_and_the_rest_none():
    for m in zoo.list_models():
        values = [getattr(m, f) for f in FIGURES]
        if m.in_seed_table or m.name in OTHER_PUBLISHED:
            assert all(isinstance(v, float) and v > 0 for v in values), m.name
        else:
            assert values == [None] * 6, m.name


def test_recommended_are_the_bold_rows():
    assert {m.name for m in zoo.list_models() if m.recommended} == SEED_BOLD


def test_families_follow_the_seed():
    fam = {m.name: m.family for m in zoo.list_models() if m.in_seed_table}
    assert [n for n in SEED_NAMES if fam[n] == "Transformer"] == SEED_NAMES[:14]
    assert all(fam[n] == "CNN" for n in SEED_NAMES[14:])


@pytest.mark.parametrize("name, bin_file", [
    ("EfficientViT_MSRA_m5", "EfficientViT_m5_224x224_nv12.bin"),
    ("Mobilenetv2", "mobilenetv2_224x224_nv12.bin"),
    ("ResNet18", "resnet18_224x224_nv12.bin"),
    ("EdgeNeXt_xx_small", "EdgeNeXt_xx_small_224x224_nv12.bin"),
    ("RepVGG_B1g4", "RepVGG_B1g4_224x224_nv12.bin"),
    ("MobileNetV1", "mobilenetv1_224x224_nv12.bin"),
    ("GoogLeNet", "googlenet_224x224_nv12.bin"),
    ("VargConvNet", "vargconvnet_224x224_nv12.bin"),
    ("ResNeXt50_32x4d", "ResNeXt50_32x4d_224x224_nv12.bin"),
    ("MobileNetV4_conv_medium", "MobileNetV4_conv_medium_224x224_nv12.bin"),
])
def test_bin_files_and_urls(name, bin_file):
    info = zoo.get_model(name)
    assert info.bin_file == bin_file
    assert info.url == BASE + bin_file
    assert info.runtime == "bpu" and info.input_size == (224, 224)


def test_further_zoo_models_are_there():
    names = {m.name for m in zoo.list_models()}
    assert set(FURTHER) <= names and set(YOLO_CLS) <= names and "EfficientNet_Lite0" in names
    assert set(OTHER_PUBLISHED) <= names and set(S_ONLY) <= names
    assert len(zoo.list_models()) == (34 + len(FURTHER) + len(YOLO_CLS) + 1 + 2
                                      + len(OTHER_PUBLISHED) + len(S_ONLY))


def test_every_bpu_model_is_complete():
    bins = [m.bin_file for m in zoo.list_models() if m.runtime == "bpu" and m.bin_file]
    assert len(bins) == len(set(bins))
    for m in zoo.list_models():
        if m.runtime != "bpu" or m.name in YOLO_CLS or m.name in S_ONLY:
            continue
        assert m.bin_file.endswith("_224x224_nv12.bin")
        assert m.url == (None if m.name == "EfficientNet_Lite0" else BASE + m.bin_file)
        assert m.url_path == (None if m.name == "EfficientNet_Lite0" else m.bin_file)
        assert m.mean == (123.675, 116.28, 103.53)
        assert m.scale == (0.01712475, 0.017507, 0.01742919)


# The zoo's download scripts (D-Robotics/rdk_model_zoo, branch rdk_x5), line for line:
# samples/vision/ultralytics_yolo/model/fulldownload.sh: BASE_URL=".../rdk_x5/ultralytics_YOLO",
#   wget -O "${model}" "${BASE_URL}/${model}"
# samples/vision/ultralytics_yolo26/model/fulldownload.sh:
#   BASE_URL=".../rdk_x5/Ultralytics_YOLO_OE_1.2.8/", wget ... "${BASE_URL}/${model}" (the script
#   doubles the slash; the registry keeps one)
_V8_11_BASE = "https://archive.d-robotics.cc/downloads/rdk_model_zoo/rdk_x5/ultralytics_YOLO"
_Y26_BASE = "https://archive.d-robotics.cc/downloads/rdk_model_zoo/rdk_x5/Ultralytics_YOLO_OE_1.2.8/"
YOLO_SCRIPT_URLS = {
    **{f"YOLOv8{s}_cls": f"{_V8_11_BASE}/yolov8{s}_cls_detect_bayese_640x640_nv12.bin"
       for s in "nsmlx"},
    **{f"YOLO11{s}_cls": f"{_V8_11_BASE}/yolo11{s}_cls_detect_bayese_640x640_nv12.bin"
       for s in "nsmlx"},
    **{f"YOLO26{s}_cls": f"{_Y26_BASE.rstrip('/')}/yolo26{s}_cls_bayese_224x224_nv12.bin"
       for s in "nsmlx"},
}
YOLO_CLS = list(YOLO_SCRIPT_URLS)


def test_yolo_cls_rows_follow_the_zoo():
    assert len(YOLO_CLS) == 15
    for name, url in YOLO_SCRIPT_URLS.items():
        m = zoo.get_model(name)
        assert m.url == url and m.url_path == url[len(BASE):] and m.bin_file == url.rsplit("/", 1)[1]
        assert m.input_size == (224, 224) and m.resize_mode == "direct"
        assert m.output_kind == "logits" and m.runtime == "bpu" and not m.in_seed_table
        assert m.mean == (0.0, 0.0, 0.0) and m.scale == (1 / 255,) * 3


@pytest.mark.parametrize("spelling, name", [
    ("RepGhostNet_100", "RepGhost_100"), ("RepGhostNet_200", "RepGhost_200"),
    ("Mobilenetv3_large_100", "MobileNetV3"), ("Mobilenetv4_conv_small", "MobileNetV4_conv_small"),
    ("MobileNetv1", "MobileNetV1"), ("Efficientnet_B4", "EfficientNet_B4"),
    ("YOLOv8n-CLS", "YOLOv8n_cls"), ("YOLO11x-CLS", "YOLO11x_cls"), ("YOLO26n Cls", "YOLO26n_cls"),
    ("yolo26s_cls_bayese", "YOLO26s_cls"), ("yolo11m_cls_detect_bayese_640x640_nv12", "YOLO11m_cls"),
    ("efficientnet_lite0_224x224_nv12.bin", "EfficientNet_Lite0"),
])
def test_the_zoo_tables_spellings_resolve(spelling, name):
    assert zoo.get_model(spelling).name == name


def test_preinstalled_rows():
    pre = {m.name: m.bin_file for m in zoo.list_models() if m.preinstalled}
    assert pre == {"MobileNetV1": "mobilenetv1_224x224_nv12.bin",
                   "Mobilenetv2": "mobilenetv2_224x224_nv12.bin",
                   "ResNet18": "resnet18_224x224_nv12.bin",
                   "GoogLeNet": "googlenet_224x224_nv12.bin",
                   "EfficientNet_Lite0": "efficientnet_lite0_224x224_nv12.bin"}


def test_sha256_of_the_shipped_cpu_models_is_right():
    import hashlib

    for name in ("EfficientNet_Lite0_int8", "EfficientNet_Lite0_fp32"):
        info = zoo.get_model(name)
        data = (zoo.PACKAGED_MODEL_DIR / info.onnx_file).read_bytes()
        assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert all(m.sha256 is None for m in zoo.list_models() if m.runtime == "bpu")


@pytest.mark.parametrize("row, message", [
    ({"url_path": "../x/a.bin"}, "url_path"), ({"url_path": "/abs/a.bin"}, "url_path"),
    ({"url_path": "sub/other.bin"}, "url_path"), ({"url_path": "http://evil/a.bin"}, "url_path"),
    ({"sha256": "ABC"}, "sha256"), ({"aliases": "x"}, "aliases"),
])
def test_bad_registry_rows_are_refused(row, message):
    base = {"name": "X", "bin_file": "a.bin"}
    with pytest.raises(ValueError, match=message):
        zoo._build_info({**base, **row}, {"bpu": {"input_size": [224, 224],
                                                  "resize_mode": "direct",
                                                  "output_kind": "logits", "mean": [0, 0, 0],
                                                  "scale": [1, 1, 1]}}, BASE)


def test_resize_modes_and_output_kinds():
    direct = {"MobileNetV1", "MobileNetV3", "MobileNetV4_conv_small", "MobileNetV4_conv_medium",
              *YOLO_CLS}
    probabilities = {"MobileNetV1", "Mobilenetv2"}
    for m in zoo.list_models():
        if m.runtime == "cpu":
            continue
        assert m.resize_mode == ("direct" if m.name in direct else "letterbox"), m.name
        assert m.output_kind == ("probabilities" if m.name in probabilities else "logits"), m.name


def test_cpu_models():
    assert zoo.DEFAULT_MODEL == "EfficientNet_Lite0_int8"
    int8 = zoo.get_model(zoo.DEFAULT_MODEL)
    fp32 = zoo.get_model("EfficientNet_Lite0_fp32")
    assert (int8.runtime, int8.onnx_file, int8.bin_file, int8.url) == \
        ("cpu", "efficientnet_lite0_int8.onnx", None, None)
    assert fp32.onnx_file == "efficientnet_lite0_fp32.onnx"
    for m in (int8, fp32):
        assert m.mean == (127.0, 127.0, 127.0) and m.scale == (0.0078125,) * 3
        assert m.resize_mode == "center_crop" and not m.in_seed_table


def test_registry_is_parsed_once():
    assert zoo.list_models()[5] is zoo.list_models()[5]
    assert zoo.get_model("resnet18") is zoo.get_model("ResNet18")


def test_model_info_is_frozen_and_serializable():
    info = zoo.get_model("FastViT_T12")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.fps = 1.0
    d = json.loads(json.dumps(info.to_dict()))
    assert d["input_size"] == [224, 224] and d["fps"] == 234.78 and d["recommended"] is True
    assert set(d) == {f.name for f in dataclasses.fields(zoo.ModelInfo)}


# ----------------------------------------------------------------------------- lookup

@pytest.mark.parametrize("query, name", [
    ("resnet18", "ResNet18"), ("RESNET18", "ResNet18"), ("MobileNetV2", "Mobilenetv2"),
    ("efficientvit_m5", "EfficientViT_MSRA_m5"),  # the .bin stem
    ("EfficientViT_m5_224x224_nv12.bin", "EfficientViT_MSRA_m5"),  # the file name
    ("  fastvit_t8 ", "FastViT_T8"), ("googlenet", "GoogLeNet"),
    ("efficientnet_lite0_int8", "EfficientNet_Lite0_int8"),
])
def test_names_resolve_case_insensitively(query, name):
    assert zoo.get_model(query).name == name


@pytest.mark.parametrize("query, suggestion", [
    ("resnet19", "ResNet18"), ("fastvit_t9", "FastViT_T8"), ("lite0", "EfficientNet_Lite0_int8"),
    ("RepVGG_A3", "RepVGG_A2"), ("mobileone_s5", "MobileOne_S4"),
])
def test_unknown_name_suggests_close_ones(query, suggestion):
    with pytest.raises(UnknownModelError) as err:
        zoo.get_model(query)
    assert suggestion in str(err.value) and "zoo list" in str(err.value)
    assert isinstance(err.value, KeyError)


def test_unknown_name_without_a_close_one():
    with pytest.raises(UnknownModelError) as err:
        zoo.get_model("vgg16")
    assert "did you mean" not in str(err.value)


# ----------------------------------------------------------------------------- resolve_model

def test_default_cpu_model_resolves_to_the_packaged_file(packaged):
    r = zoo.resolve_model(zoo.DEFAULT_MODEL)
    assert (r.info.name, r.path, r.runtime) == \
        (zoo.DEFAULT_MODEL, packaged / "efficientnet_lite0_int8.onnx", "cpu")
    assert zoo.resolve_model("efficientnet_lite0_fp32", runtime="cpu").path.name == \
        "efficientnet_lite0_fp32.onnx"


def test_missing_packaged_file_says_reinstall(monkeypatch, tmp_path):
    monkeypatch.setattr(zoo, "PACKAGED_MODEL_DIR", tmp_path / "nothing")
    with pytest.raises(ModelNotFoundError, match="reinstall"):
        zoo.resolve_model(zoo.DEFAULT_MODEL)


def test_cpu_model_on_bpu_is_refused(packaged):
    with pytest.raises(ModelError, match="no .bin"):
        zoo.resolve_model(zoo.DEFAULT_MODEL, runtime="bpu")


def test_bpu_model_prefers_the_system_dir(isolated_dirs):
    system, cache = isolated_dirs
    (cache / "resnet18_224x224_nv12.bin").write_bytes(b"cache")
    r = zoo.resolve_model("ResNet18", runtime="bpu")
    assert (r.path, r.runtime) == (cache / "resnet18_224x224_nv12.bin", "bpu")
    (system / "resnet18_224x224_nv12.bin").write_bytes(b"system")
    assert zoo.resolve_model("ResNet18", runtime="bpu").path == system / "resnet18_224x224_nv12.bin"


def test_explicit_dirs_override_the_environment(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "FastViT_T8_224x224_nv12.bin").write_bytes(b"x")
    r = zoo.resolve_model("FastViT_T8", runtime="bpu", cache_dir=mine)
    assert r.path == mine / "FastViT_T8_224x224_nv12.bin"
    r = zoo.resolve_model("FastViT_T8", runtime="bpu", system_dir=mine)
    assert r.path == mine / "FastViT_T8_224x224_nv12.bin"


def test_missing_bpu_model_gives_the_fetch_command():
    with pytest.raises(ModelNotFoundError) as err:
        zoo.resolve_model("efficientvit_m5", runtime="bpu")
    message = str(err.value)
    assert "python -m rdk_classifier zoo fetch EfficientViT_MSRA_m5" in message
    assert "EfficientViT_m5_224x224_nv12.bin" in message


def test_auto_uses_the_bpu_when_a_runtime_imports(monkeypatch, isolated_dirs):
    system, _ = isolated_dirs
    (system / "mobilenetv2_224x224_nv12.bin").write_bytes(b"x")
    doubles.install_hbm_runtime(monkeypatch)
    r = zoo.resolve_model("mobilenetv2")
    assert (r.info.name, r.runtime) == ("Mobilenetv2", "bpu")
    with pytest.raises(ModelNotFoundError, match="zoo fetch RepViT_m1_0"):
        zoo.resolve_model("RepViT_m1_0")


def test_auto_without_bpu_refuses_unless_fallback_is_asked_for(packaged, isolated_dirs):
    system, _ = isolated_dirs
    (system / "resnet18_224x224_nv12.bin").write_bytes(b"x")  # present, but no runtime to run it
    with pytest.raises(ModelUnavailableHereError, match="ResNet18 is a BPU model") as err:
        zoo.resolve_model("ResNet18")
    assert "no BPU runtime" in str(err.value) and "--fallback-cpu" in str(err.value)
    r = zoo.resolve_model("ResNet18", fallback=True)
    assert (r.info.name, r.runtime, r.path.name) == \
        (zoo.DEFAULT_MODEL, "cpu", "efficientnet_lite0_int8.onnx")
    assert "INSTEAD of ResNet18" in r.fallback_reason and zoo.DEFAULT_MODEL in r.fallback_reason
    assert zoo.resolve_model(zoo.DEFAULT_MODEL).fallback_reason is None


def test_auto_without_bpu_uses_a_local_onnx_of_the_model(monkeypatch, isolated_dirs):
    _, cache = isolated_dirs
    info = dataclasses.replace(zoo.get_model("RepViT_m1_0"), onnx_file="repvit_m1_0.onnx")
    monkeypatch.setattr(zoo, "get_model", lambda name: info)
    (cache / "repvit_m1_0.onnx").write_bytes(b"x")
    r = zoo.resolve_model("RepViT_m1_0")
    assert (r.info.name, r.runtime, r.path) == ("RepViT_m1_0", "cpu", cache / "repvit_m1_0.onnx")


def test_explicit_cpu_for_a_bpu_only_model_is_an_error(packaged):
    with pytest.raises(ModelNotFoundError, match="only as a BPU .bin"):
        zoo.resolve_model("ResNet18", runtime="cpu")


def test_bad_runtime_name():
    with pytest.raises(ValueError, match="auto, bpu, cpu"):
        zoo.resolve_model("ResNet18", runtime="gpu")


def test_unknown_onnx_file_gets_a_synthesized_info(tmp_path):
    from onnx_models import tiny_classifier
    from rdk_classifier.model_facts import ModelFacts, ModelFactsError, write_model_facts

    bare = tiny_classifier(tmp_path / "bare.onnx", 5)
    with pytest.raises(ModelFactsError, match="records no normalization"):  # never a guess
        zoo.resolve_model(str(bare))
    path = write_model_facts(bare, ModelFacts((1.0, 2.0, 3.0), (0.5,) * 3, "bgr",
                                              class_names=tuple("abcde")), tmp_path / "my_net.onnx")
    r = zoo.resolve_model(str(path))
    assert (r.runtime, r.path, r.info.name, r.info.onnx_file) == ("cpu", path, "my_net", "my_net.onnx")
    assert r.info.resize_mode == "center_crop" and r.info.mean == (1.0, 2.0, 3.0)
    assert r.info.input_type_train == "bgr" and r.info.class_names == tuple("abcde")
    assert r.info.user_file and not r.info.in_seed_table and r.info.fps is None
    with pytest.raises(ModelError, match="only compiled .bin"):
        zoo.resolve_model(str(path), runtime="bpu")


def test_bin_file_path_named_like_a_zoo_file_keeps_the_zoo_row(monkeypatch, tmp_path, packaged):
    path = tmp_path / "FasterNet_T1_224x224_nv12.bin"
    path.write_bytes(b"x")
    r = zoo.resolve_model(str(path), runtime="bpu")
    assert (r.runtime, r.path, r.info.name, r.info.fps) == ("bpu", path, "FasterNet_T1", 708.40)
    with pytest.raises(ModelError, match="ONNX Runtime cannot run it"):
        zoo.resolve_model(str(path), runtime="cpu")
    # auto on a machine without a BPU: refused, or the default CPU model when asked for
    with pytest.raises(ModelUnavailableHereError):
        zoo.resolve_model(str(path))
    assert zoo.resolve_model(str(path), fallback=True).info.name == zoo.DEFAULT_MODEL
    doubles.install_pyeasy_dnn(monkeypatch)
    assert zoo.resolve_model(str(path)).runtime == "bpu"


def test_missing_model_file_path(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not found"):
        zoo.resolve_model(str(tmp_path / "nothing.onnx"))


# ----------------------------------------------------------------------------- CLI

def cli(capsys, *argv):
    from rdk_classifier.cli import main

    code = main(["zoo", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_list_json_reproduces_the_seed_figures(capsys):
    code, out, _ = cli(capsys, "list", "--json")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == len(zoo.list_models())
    rows = {json.loads(line)["name"]: (json.loads(line), line) for line in lines}
    assert [n for n, (d, _) in rows.items() if d["in_seed_table"]] == SEED_NAMES
    for name, (family, *figures) in SEED_SAMPLES.items():
        d, line = rows[name]
        assert d["family"] == family and [d[f] for f in FIGURES] == figures
    for key in ("name", "family", "bin_file", "url", "input_size", *FIGURES, "recommended"):
        assert all(key in d for d, _ in rows.values())
    # the JSON text itself carries the seed's numbers
    assert '"fps": 191.605' in rows["EfficientFormer_l1"][1]
    assert '"float_top1": 72.0' in rows["Mobilenetv2"][1]
    assert '"quant_top1": 72.0' in rows["FastViT_S12"][1]
    assert '"fps": 2453.17' in rows["MobileOne_S0"][1]


def test_cli_list_filters(capsys):
    _, out, _ = cli(capsys, "list", "--json", "--family", "transformer")
    assert [json.loads(x)["name"] for x in out.splitlines()] == SEED_NAMES[:14]
    _, out, _ = cli(capsys, "list", "--json", "--recommended")
    assert {json.loads(x)["name"] for x in out.splitlines()} == SEED_BOLD


def test_cli_list_table(capsys):
    code, out, _ = cli(capsys, "list", "--recommended")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["name", "family", "runtime"]
    row = next(x for x in lines if x.startswith("EfficientFormer_l1 "))
    assert row.split() == ["EfficientFormer_l1", "Transformer", "bpu", "12.3", "76.12", "65.38",
                           "5.88", "20.69", "191.605", "*"]
    # aligned: every data row has the FPS column ending at the same place
    data = [x for x in lines[2:] if x and not x.startswith(("-", " ")) and x.endswith("*")]
    assert len(data) == 9 and len({len(x) for x in data}) == 1


def test_cli_list_marks_what_is_on_the_board(capsys, isolated_dirs):
    system, _ = isolated_dirs
    (system / "googlenet_224x224_nv12.bin").write_bytes(b"x")
    (system / "yolo26n_cls_bayese_224x224_nv12.bin").write_bytes(b"x")
    _, out, _ = cli(capsys, "list", "--json")
    rows = {json.loads(x)["name"]: json.loads(x) for x in out.splitlines()}
    assert {n for n, d in rows.items() if d["on_board"]} == {"GoogLeNet", "YOLO26n_cls"}
    assert rows["GoogLeNet"]["preinstalled"] is True and rows["YOLO26n_cls"]["preinstalled"] is False
    assert rows["YOLO26n_cls"]["url"] == YOLO_SCRIPT_URLS["YOLO26n_cls"]
    _, out, _ = cli(capsys, "list")
    marked = [line.split()[0] for line in out.splitlines() if line.rstrip().endswith(" yes")]
    assert marked == ["GoogLeNet", "YOLO26n_cls"]
    assert f"on board: 2 of these are in {system}" in out


def test_cli_show(capsys, isolated_dirs):
    code, out, _ = cli(capsys, "show", "efficientvit_m5")
    assert code == 0
    assert "EfficientViT_MSRA_m5" in out and "EfficientViT_m5_224x224_nv12.bin" in out
    assert "not present locally" in out and "zoo fetch EfficientViT_MSRA_m5" in out
    system, _ = isolated_dirs
    (system / "EfficientViT_m5_224x224_nv12.bin").write_bytes(b"x")
    _, out, _ = cli(capsys, "show", "EfficientViT_MSRA_m5", "--json")
    d = json.loads(out)
    assert d["local_path"] == str(system / "EfficientViT_m5_224x224_nv12.bin")
    assert d["fps"] == 174.70 and d["quant_top1"] == 72.50


def test_cli_unknown_name_suggests(capsys):
    code, out, err = cli(capsys, "show", "resnet19")
    assert code != 0 and out == ""
    assert "unknown model 'resnet19'" in err and "ResNet18" in err


# ----------------------------------------------------------------------------- chips (boards)
# The S-series files as the zoo's own download scripts and release manifest give them
# (D-Robotics/rdk_model_zoo, Apache-2.0; read there, the expected values written here):
# - branch rdk_s, samples/vision/mobilenetv2/model/download_model.sh and
#   samples/vision/resnet18/model/download_model.sh:
#   SOC=$(tr 'A-Z' 'a-z' </sys/class/boardinfo/soc_name)
#   MODEL_URL=".../rdk_model_zoo/rdk_${SOC}/MobileNet/mobilenetv2_224x224_nv12.hbm" (ResNet/resnet18_...)
# - commit "Add rdk_s : Bytetrack and Efficientnet", samples/vision/efficientnet/model/
#   download_model.sh: ".../rdk_model_zoo/rdk_s100/EfficientNet/efficientnet_lite0_224x224_nv12.hbm"
# - docs/release/s/models.yaml (s-v1.1.2): assets s100/<file> and s600/<file> with their URLs
#   for mobilenetv1..v4, resnet18/50/152 and efficientnet lite0..4.
ARCHIVE = "https://archive.d-robotics.cc/downloads/rdk_model_zoo/"
SCRIPT_TEMPLATES = {  # model -> the download script's URL with ${SOC} in it
    "Mobilenetv2": ARCHIVE + "rdk_${SOC}/MobileNet/mobilenetv2_224x224_nv12.hbm",
    "ResNet18": ARCHIVE + "rdk_${SOC}/ResNet/resnet18_224x224_nv12.hbm",
}
MANIFEST_S = {  # model -> (archive folder name, file name), published for s100 and s600
    "MobileNetV1": ("MobileNet", "mobilenetv1_224x224_nv12.hbm"),
    "Mobilenetv2": ("MobileNet", "mobilenetv2_224x224_nv12.hbm"),
    "MobileNetV3": ("MobileNet", "mobilenetv3_224x224_nv12.hbm"),
    "MobileNetV4_conv_small": ("MobileNet", "mobilenetv4_small_224x224_nv12.hbm"),
    "MobileNetV4_conv_medium": ("MobileNet", "mobilenetv4_medium_256x256_nv12.hbm"),
    "ResNet18": ("ResNet", "resnet18_224x224_nv12.hbm"),
    "ResNet50": ("ResNet", "resnet50_224x224_nv12.hbm"),
    "ResNet152": ("ResNet", "resnet152_224x224_nv12.hbm"),
    **{f"EfficientNet_Lite{i}": ("EfficientNet", f"efficientnet_lite{i}_{s}x{s}_nv12.hbm")
       for i, s in enumerate((224, 240, 260, 300, 380))},
}
#: docs/release/s/benchmarks.yaml (s-v1.1.2) for these files: (latency ms, FPS, how measured)
S100_FIGURES = {
    "Mobilenetv2": (0.2, 4968.89, "toolchain estimate"),
    "MobileNetV3": (0.38, 2616.81, "toolchain estimate"),
    "ResNet152": (2.23, 449.03, "toolchain estimate"),
    "EfficientNet_Lite0": (0.448, 4827.886, "hrt_model_exec"),
    "EfficientNet_Lite4": (0.915, 1487.055, "hrt_model_exec"),
}


def test_s_series_builds_are_the_manifest_rows():
    with_s = {m.name for m in zoo.list_models() if any(b.soc != "x5" for b in m.builds)}
    assert with_s == set(MANIFEST_S)
    for name, (folder, file) in MANIFEST_S.items():
        info = zoo.get_model(name)
        for soc in ("s100", "s600"):
            b = info.build(soc)
            assert b is not None and b.soc == soc, (name, soc)
            assert b.file == file
            assert b.url == f"{ARCHIVE}rdk_{soc}/{folder}/{file}"
            assert b.folder == f"rdk_{soc}/{folder}"
            assert b.march == {"s100": "nash-e", "s600": "nash-p"}[soc]
            assert b.input_contract == "nv12_y_uv"
            size = int(file.split("_")[-2].split("x")[0])
            assert b.input_size == (size, size)
        assert info.build("x5") is None or info.build("x5").file.endswith(".bin")


@pytest.mark.parametrize("name", sorted(SCRIPT_TEMPLATES))
@pytest.mark.parametrize("soc_name", ["S100", "s600"])
def test_s_urls_are_what_the_download_scripts_fetch(name, soc_name):
    soc = soc_name.lower()  # the script's tr 'A-Z' 'a-z'
    assert zoo.get_model(name).build(soc).url == SCRIPT_TEMPLATES[name].replace("${SOC}", soc)


def test_s100p_runs_the_s100_builds_as_the_zoo_scripts_fetch_them():
    for name in MANIFEST_S:
        info = zoo.get_model(name)
        assert info.build("s100p") == info.build("s100")


def test_x5_rows_are_unchanged_by_the_s_builds():
    info = zoo.get_model("ResNet18")
    assert info.bin_file == "resnet18_224x224_nv12.bin" and info.url == BASE + info.bin_file
    x5 = info.build("x5")
    assert (x5.file, x5.url, x5.march, x5.input_contract) == (
        info.bin_file, info.url, "bayes-e", "packed_nv12")
    assert zoo.get_model("MobileNetV4_conv_medium").input_size == (224, 224)  # X5 build
    for name in S_ONLY:
        assert zoo.get_model(name).build("x5") is None and zoo.get_model(name).bin_file is None


@pytest.mark.parametrize("name", sorted(S100_FIGURES))
def test_s100_published_figures(name):
    latency, fps, how = S100_FIGURES[name]
    b = zoo.get_model(name).build("s100")
    assert (b.latency_ms, b.fps, b.measured) == (latency, fps, how)
    assert zoo.get_model(name).build("s600").fps is None  # none published for S600


@pytest.mark.parametrize("variant, top1, latency, fps", [
    ("b0", 72.17, 1.96, 902.09), ("b4", 81.93, 5.29, 241.94)])
def test_hgnetv2_rows_for_x5(variant, top1, latency, fps):
    info = zoo.get_model(f"hgnetv2_{variant}")
    assert info.bin_file == f"hgnetv2_{variant}_224x224_nv12.bin"
    assert (info.quant_top1, info.latency_ms, info.fps) == (top1, latency, fps)
    assert info.socs == ("x5",) and not info.in_seed_table


def _fake_model(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a real model")
    return path


def test_a_zoo_name_on_an_s600_resolves_to_its_s600_file(tmp_path):
    system, cache = tmp_path / "system", tmp_path / "cache"
    _fake_model(cache / "s100" / "resnet18_224x224_nv12.hbm")
    with pytest.raises(ModelNotFoundError) as err:  # the s100 file does not count
        zoo.resolve_model("ResNet18", runtime="bpu", cache_dir=cache, system_dir=system,
                          soc="s600")
    assert "--soc s600" in str(err.value) and "rdk_s600/ResNet" in str(err.value)
    path = _fake_model(cache / "s600" / "resnet18_224x224_nv12.hbm")
    r = zoo.resolve_model("ResNet18", runtime="bpu", cache_dir=cache, system_dir=system,
                          soc="s600")
    assert (r.path, r.runtime, r.build.soc, r.build.march) == (path, "bpu", "s600", "nash-p")
    on_board = _fake_model(system / "resnet18_224x224_nv12.hbm")
    r = zoo.resolve_model("ResNet18", runtime="bpu", cache_dir=cache, system_dir=system,
                          soc="s600")
    assert r.path == on_board


def test_soc_from_the_environment(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    path = _fake_model(cache / "s100" / "mobilenetv2_224x224_nv12.hbm")
    monkeypatch.setenv("RDK_CLASSIFIER_SOC", "S100P")
    r = zoo.resolve_model("Mobilenetv2", runtime="bpu", cache_dir=cache,
                          system_dir=tmp_path / "none")
    assert r.path == path and r.build.soc == "s100"


@pytest.mark.parametrize("file, soc, why", [
    ("cache/s100/mobilenetv2_224x224_nv12.hbm", "s600", "RDK S100 (nash-e)"),
    ("rdk_s600/ResNet/resnet18_224x224_nv12.hbm", "s100", "RDK S600 (nash-p)"),
    ("yolo11n_cls_nashe_224x224_nv12.hbm", "s600", "RDK S100 (nash-e)"),
    ("resnet18_224x224_nv12.bin", "s100", "built for the RDK X5"),
    ("resnet18_224x224_nv12.bin", "s600", "built for the RDK X5"),
    ("resnet18_224x224_nv12.hbm", "x5", "built for the S series"),
])
def test_a_file_for_another_chip_is_refused_with_the_reason(tmp_path, file, soc, why):
    path = _fake_model(tmp_path / file)
    with pytest.raises(SocMismatchError) as err:
        zoo.resolve_model(str(path), runtime="bpu", soc=soc)
    message = str(err.value)
    assert why in message and soc.upper() in message and "\n" not in message


@pytest.mark.parametrize("file, soc", [
    ("cache/s600/mobilenetv2_224x224_nv12.hbm", "s600"),
    ("cache/s100/mobilenetv2_224x224_nv12.hbm", "s100p"),  # an S100P runs s100 builds
    ("resnet18_224x224_nv12.hbm", "s100"),  # nothing says which chip: the runtime decides
    ("resnet18_224x224_nv12.bin", "x5"),
])
def test_a_file_for_this_chip_is_accepted(tmp_path, file, soc):
    path = _fake_model(tmp_path / file)
    r = zoo.resolve_model(str(path), runtime="bpu", soc=soc)
    assert r.path == path and r.runtime == "bpu"


def test_a_model_without_a_build_for_this_chip_is_refused(tmp_path):
    with pytest.raises(SocMismatchError) as err:
        zoo.resolve_model("EdgeNeXt_base", runtime="bpu", soc="s600", cache_dir=tmp_path)
    assert "no build for the RDK S600" in str(err.value) and "X5" in str(err.value)
    with pytest.raises(SocMismatchError) as err:
        zoo.resolve_model("ResNet50", runtime="bpu", soc="x5", cache_dir=tmp_path)
    assert "no build for the RDK X5" in str(err.value) and "S100, S600" in str(err.value)
    with pytest.raises(SocMismatchError):
        zoo.resolve_model("ResNet50", runtime="bpu", soc=None, cache_dir=tmp_path)


def test_an_s_only_model_on_a_pc_falls_back_only_when_asked(tmp_path):
    with pytest.raises(ModelUnavailableHereError) as err:
        zoo.resolve_model("ResNet152", soc=None, cache_dir=tmp_path)
    assert "S series only" in str(err.value)
    r = zoo.resolve_model("ResNet152", soc=None, cache_dir=tmp_path, fallback=True)
    assert r.runtime == "cpu" and "ResNet152" in r.fallback_reason


def test_an_unknown_soc_is_an_error():
    with pytest.raises(ModelError, match="one of x5, s100, s100p, s600"):
        zoo.resolve_model("ResNet18", soc="s700")


def test_the_s_file_names_resolve_to_their_model():
    assert zoo.get_model("resnet50_224x224_nv12.hbm").name == "ResNet50"
    assert zoo.get_model("efficientnet_lite3_300x300_nv12").name == "EfficientNet_Lite3"


def test_cli_list_for_an_s_chip(capsys, isolated_dirs):
    system, _ = isolated_dirs
    (system / "efficientnet_lite0_224x224_nv12.hbm").write_bytes(b"x")
    code, out, _ = cli(capsys, "list", "--soc", "S100", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and {r["name"] for r in rows} == set(MANIFEST_S)
    lite0 = next(r for r in rows if r["name"] == "EfficientNet_Lite0")
    assert (lite0["file"], lite0["march"], lite0["input_contract"], lite0["on_board"]) == (
        "efficientnet_lite0_224x224_nv12.hbm", "nash-e", "nv12_y_uv", True)
    assert (lite0["latency_ms"], lite0["fps"], lite0["fps_threads"]) == (0.448, 4827.886, 2)
    assert lite0["url"] == ARCHIVE + "rdk_s100/EfficientNet/efficientnet_lite0_224x224_nv12.hbm"
    code, out, _ = cli(capsys, "list", "--soc", "s100p", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert {(r["soc"], r["board_soc"]) for r in rows} == {("s100", "s100p")}
    code, out, _ = cli(capsys, "list", "--soc", "s600")
    assert "13 models for the RDK S600 (nash-p, .hbm files" in out
    assert "resnet152_224x224_nv12.hbm" in out and "EdgeNeXt" not in out


def test_cli_list_for_the_x5_leaves_out_the_s_only_models(capsys):
    _, out, _ = cli(capsys, "list", "--soc", "x5", "--json")
    names = {json.loads(line)["name"] for line in out.splitlines()}
    assert "ResNet18" in names and "HGNetV2_b4" in names and "EfficientNet_Lite0_int8" in names
    assert not names & S_ONLY
    assert len(names) == len(zoo.list_models()) - len(S_ONLY)


def test_cli_soc_auto_off_board_and_a_bad_chip(capsys, monkeypatch):
    monkeypatch.delenv("RDK_CLASSIFIER_SOC", raising=False)
    if __import__("pathlib").Path("/sys/class/boardinfo/soc_name").exists():
        pytest.skip("this machine is an RDK board")
    code, _, err = cli(capsys, "list", "--soc", "auto")
    assert code != 0 and "cannot tell the chip" in err
    code, _, err = cli(capsys, "list", "--soc", "s700")
    assert code != 0 and "one of x5, s100, s100p, s600" in err


def test_cli_show_for_an_s_chip(capsys, isolated_dirs):
    code, out, _ = cli(capsys, "show", "ResNet50", "--soc", "s600")
    assert code == 0 and "build s600     resnet50_224x224_nv12.hbm (nash-p, nv12_y_uv" in out
    assert "zoo fetch ResNet50 --soc s600" in out
    code, _, err = cli(capsys, "show", "ResNet50", "--soc", "x5")
    assert code != 0 and "no build for the RDK X5" in err


def test_cli_fetch_for_an_s_chip_from_a_mirror(capsys, isolated_dirs, tmp_path):
    _, cache = isolated_dirs
    mirror = tmp_path / "mirror"
    for soc in ("s100", "s600"):
        (mirror / f"rdk_{soc}" / "ResNet").mkdir(parents=True)
        (mirror / f"rdk_{soc}" / "ResNet" / "resnet18_224x224_nv12.hbm").write_bytes(
            f"{soc} build".encode() * 100)
    code, out, _ = cli(capsys, "fetch", "ResNet18", "--soc", "s600", "--base-url", str(mirror),
                       "--no-progress")
    path = cache / "s600" / "resnet18_224x224_nv12.hbm"
    assert code == 0 and out.strip() == str(path)
    assert path.read_bytes().startswith(b"s600 build")
    code, out, _ = cli(capsys, "fetch", "ResNet18", "--soc", "s100p", "--base-url", str(mirror),
                       "--no-progress")  # an S100P gets the s100 build, in the s100 folder
    assert code == 0 and (cache / "s100" / "resnet18_224x224_nv12.hbm").read_bytes().startswith(
        b"s100 build")
    r = zoo.resolve_model("ResNet18", runtime="bpu", soc="s600")
    assert r.path == path and r.build.soc == "s600"
    code, _, err = cli(capsys, "fetch", "EdgeNeXt_base", "--soc", "s600", "--base-url",
                       str(mirror), "--no-progress")
    assert code != 0 and "no build for the RDK S600" in err


def test_classify_soc_option_refuses_a_file_of_another_chip(capsys, tmp_path):
    from rdk_classifier.cli import main

    model = _fake_model(tmp_path / "rdk_s100" / "resnet18_224x224_nv12.hbm")
    code = main(["classify", "--model", str(model), "--soc", "s600", "--backend", "bpu",
                 str(Path(__file__).parent / "data" / "photos" / "coffee.png")])
    err = capsys.readouterr().err
    assert code != 0 and "built for the RDK S100 (nash-e)" in err and "RDK S600" in err


def test_a_cpu_model_needs_no_chip(monkeypatch):
    monkeypatch.setenv("RDK_CLASSIFIER_SOC", "not-a-chip")
    assert zoo.resolve_model(zoo.DEFAULT_MODEL).runtime == "cpu"  # never asks which board
    with pytest.raises(ModelError, match="RDK_CLASSIFIER_SOC"):
        zoo.resolve_model("ResNet18", runtime="bpu")
