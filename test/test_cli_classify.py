"""``python -m rdk_classifier classify`` as a user runs it: real files, JSON lines, bad files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import IMAGENET_DIR, PHOTOS_DIR

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rdk_classifier", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_classify_json_one_object_per_image(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    missing = tmp_path / "missing.png"
    proc = run_cli("classify", "--json", str(PHOTOS_DIR), str(bad), str(missing),
                   str(IMAGENET_DIR / "imagenet_17_22.jpg"))
    assert proc.returncode == 1
    lines = proc.stdout.strip().splitlines()
    objs = [json.loads(line) for line in lines]
    assert [Path(o["source"]).name for o in objs] == ["chelsea.png", "coffee.png", "imagenet_17_22.jpg"]
    for o in objs:
        assert set(o) == {"source", "model", "resize_mode", "top", "timing_ms"}
        assert o["model"] == "EfficientNet_Lite0_int8"
        scores = [t["score"] for t in o["top"]]
        assert len(o["top"]) == 5 and scores == sorted(scores, reverse=True)
        assert all(0.0 <= s <= 1.0 for s in scores)
        assert all(isinstance(t["class_id"], int) and isinstance(t["label"], str) for t in o["top"])
        assert set(o["timing_ms"]) == {"preprocess", "inference", "postprocess"}
    assert objs[1]["top"][0]["label"] == "espresso"
    assert objs[2]["top"][0]["class_id"] == 22  # bald eagle
    assert "broken.jpg" in proc.stderr and "missing.png" in proc.stderr
    assert "2 of 5 images could not be classified" in proc.stderr


def test_classify_text_like_the_seed_log():
    proc = run_cli("classify", "--top-k", "3", str(PHOTOS_DIR / "coffee.png"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == ("model: EfficientNet_Lite0_int8 (cpu, efficientnet_lite0_int8.onnx, "
                        "resize center_crop)")
    assert lines[1].startswith(str(PHOTOS_DIR / "coffee.png")) and "inference" in lines[1]
    assert lines[2].startswith("  label 967, prob ") and lines[2].endswith("class espresso")
    assert len(lines) == 5


def test_classify_a_bpu_model_without_a_bpu_fails_or_names_the_fallback(tmp_path):
    photo = str(PHOTOS_DIR / "coffee.png")
    proc = run_cli("classify", "--json", "--model", "RepViT_m1_0", photo)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "RepViT_m1_0 is a BPU model" in proc.stderr and "--fallback-cpu" in proc.stderr
    assert "model:=" not in proc.stderr and "Traceback" not in proc.stderr
    fake = tmp_path / "RepViT_m1_0_224x224_nv12.bin"
    fake.write_bytes(b"<html>captive portal</html>")  # a garbage file under the model's name
    proc = run_cli("classify", "--json", "--model", str(fake), photo)
    assert proc.returncode == 2 and proc.stdout == ""
    proc = run_cli("classify", "--json", "--fallback-cpu", "--model", "RepViT_m1_0", photo)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["model"] == "EfficientNet_Lite0_int8"
    assert "INSTEAD of RepViT_m1_0" in proc.stderr


def test_classify_unknown_model_suggests_names():
    proc = run_cli("classify", "--model", "MobileOne_S9", str(PHOTOS_DIR / "coffee.png"))
    assert proc.returncode == 2
    assert "MobileOne_S" in proc.stderr and "Traceback" not in proc.stderr


def test_classify_fp32_model_and_resize_mode():
    proc = run_cli("classify", "--json", "--model", "EfficientNet_Lite0_fp32", "--resize-mode",
                   "letterbox", "--top-k", "1", str(PHOTOS_DIR / "coffee.png"))
    assert proc.returncode == 0, proc.stderr
    obj = json.loads(proc.stdout)
    assert [t["class_id"] for t in obj["top"]] == [967]


def test_classify_empty_folder(tmp_path):
    proc = run_cli("classify", str(tmp_path))
    assert proc.returncode == 1 and "no image files" in proc.stderr


def test_workers_keep_the_output_of_one_worker(tmp_path):
    """--workers 3 shares one model over threads; the lines (answers, bad files on stderr, order)
    are those of one worker."""
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    args = ["classify", "--json", "--model", "EfficientNet_Lite0_fp32", str(IMAGENET_DIR),
            str(bad), str(PHOTOS_DIR)]
    one, three = run_cli(*args), run_cli(*args, "--workers", "3")
    assert one.returncode == three.returncode == 1

    def answers(proc):
        return [(o["source"], [(t["class_id"], round(t["score"], 5)) for t in o["top"]])
                for o in map(json.loads, proc.stdout.splitlines())]

    a1, a3 = answers(one), answers(three)
    assert len(a1) == len(list(IMAGENET_DIR.glob("*.jpg"))) + 2
    assert a1 == a3
    assert [s for s, _ in a3] == sorted(s for s, _ in a3 if "imagenet" in s) + \
        [str(PHOTOS_DIR / "chelsea.png"), str(PHOTOS_DIR / "coffee.png")]
    assert one.stderr.splitlines()[-1] == three.stderr.splitlines()[-1] == \
        f"1 of {len(a1) + 1} images could not be classified"
    assert run_cli("classify", "--workers", "0", str(bad)).returncode == 2


def test_workers_are_bounded_like_evaluate():
    """--workers takes 1..64 as evaluate does (each worker is a thread with a decoded image and
    2 x N images are read ahead): 100000 is refused in one line, not run as 100000 threads."""
    proc = run_cli("classify", "--workers", "100000", str(PHOTOS_DIR))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "100000 is outside 1..64" in proc.stderr.splitlines()[-1]


def test_the_shipped_model_by_file_answers_exactly_as_by_name(tmp_path, monkeypatch, capsys):
    """Issue 21: `classify --model FILE.onnx` of the shipped model (its path, or a byte-identical
    copy under the same name elsewhere) is the registry's model: same top-5, same resize mode
    printed, same name; an fp32 export saved under the int8 file's name is not passed off as it."""
    import shutil

    from rdk_classifier.cli import main
    from rdk_classifier.zoo import PACKAGED_MODEL_DIR

    monkeypatch.chdir(ROOT)
    (tmp_path / "copy").mkdir()
    (tmp_path / "impostor").mkdir()
    shutil.copyfile(PACKAGED_MODEL_DIR / "efficientnet_lite0_int8.onnx",
                    tmp_path / "copy" / "efficientnet_lite0_int8.onnx")
    shutil.copyfile(PACKAGED_MODEL_DIR / "efficientnet_lite0_fp32.onnx",
                    tmp_path / "impostor" / "efficientnet_lite0_int8.onnx")
    photo = "test/data/photos/chelsea.png"

    def classify(model: str) -> tuple[list[str], dict]:
        assert main(["classify", "--model", model, photo]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert main(["classify", "--json", "--model", model, photo]) == 0
        obj = json.loads(capsys.readouterr().out)
        return [lines[0]] + lines[2:], {k: obj[k] for k in ("model", "resize_mode", "top")}

    by_name = classify("EfficientNet_Lite0_int8")
    assert by_name[0][0] == ("model: EfficientNet_Lite0_int8 (cpu, efficientnet_lite0_int8.onnx, "
                             "resize center_crop)")
    assert by_name[1]["resize_mode"] == "center_crop" and len(by_name[1]["top"]) == 5
    for model in ("rdk_classifier/models/efficientnet_lite0_int8.onnx",
                  str(tmp_path / "copy" / "efficientnet_lite0_int8.onnx")):
        assert classify(model) == by_name, model
    text, obj = classify(str(tmp_path / "impostor" / "efficientnet_lite0_int8.onnx"))
    assert obj["model"] == "efficientnet_lite0_int8"  # a user's file: its own name, no row's
    assert [t["label"] for t in obj["top"]] == [f"class_{t['class_id']}" for t in obj["top"]]
    assert [t["score"] for t in obj["top"]] != [t["score"] for t in by_name[1]["top"]]
