"""``classify IMAGE --boxes FILE.json`` as a user runs it: each image's object gets its boxes, each
with the answer of its crop cut out by hand; hostile box files give one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from box_scenes import scene

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rdk_classifier", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_classify_boxes_json(tmp_path, classifier):
    canvas, places = scene()
    image = tmp_path / "scene.png"
    cv2.imwrite(str(image), canvas)
    rects = [rect for _, rect in places[:3]] + [(5000, 10, 20, 20)]
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([dict(zip(("x_offset", "y_offset", "width", "height"), r))
                                 for r in rects]))
    proc = run_cli("classify", str(image), "--boxes", str(boxes), "--json", "--backend", "cpu")
    assert proc.returncode == 1  # the last box lies outside the image
    (obj,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert set(obj) == {"source", "model", "resize_mode", "top", "timing_ms", "boxes"}
    assert len(obj["top"]) == 5
    assert [b["box"]["x_offset"] for b in obj["boxes"]] == [r[0] for r in rects]
    for b, (x, y, w, h) in zip(obj["boxes"][:3], rects):
        by_hand = classifier.classify_image(np.ascontiguousarray(canvas[y:y + h, x:x + w]))
        assert [t["class_id"] for t in b["top"]] == [p.class_id for p in by_hand.top]
        assert b["crop"] == {"x_offset": x, "y_offset": y, "width": w, "height": h}
    assert obj["boxes"][1]["top"][0]["label"] == "espresso"
    assert "outside" in obj["boxes"][3]["error"] and "top" not in obj["boxes"][3]
    assert "box 3" in proc.stderr and "1 of 1 images had boxes" in proc.stderr
    text = run_cli("classify", str(image), "--boxes", str(boxes), "--backend", "cpu")
    assert "box 1 (700, 80, 600x400): label 967" in text.stdout


def test_classify_boxes_hostile_file(tmp_path, capsys):
    from rdk_classifier.cli import main

    image = Path(__file__).parent / "data" / "photos" / "coffee.png"
    for content in ["{not json", '[{"x_offset": -1, "y_offset": 0, "width": 1, "height": 1}]',
                    "[" * 50000, json.dumps([{"x_offset": 0, "y_offset": 0, "width": 1,
                                              "height": 1, "evil" * 100: 1}])]:
        f = tmp_path / "b.json"
        f.write_text(content)
        assert main(["classify", str(image), "--boxes", str(f)]) == 2
        out, err = capsys.readouterr()
        (line,) = err.strip().splitlines()
        assert out == "" and line.startswith(f"error: {f}: ") and len(line) < 400


def test_classify_boxes_reads_and_decodes_each_file_once(monkeypatch, capsys, tmp_path):
    """The whole image and its boxes come from one bounded read and one decode; the whole-image
    answer is the one plain ``classify`` gives (a PNG: no reduced decode either way)."""
    from rdk_classifier import frames
    from rdk_classifier.cli import main

    image = Path(__file__).parent / "data" / "photos" / "coffee.png"
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([{"x_offset": 10, "y_offset": 10, "width": 100, "height": 80}]))
    assert main(["classify", str(image), "--json", "--backend", "cpu"]) == 0
    plain = json.loads(capsys.readouterr().out)
    reads, decodes = [], []
    real_read, real_decode = frames.read_image_file, frames.decode_image
    monkeypatch.setattr(frames, "read_image_file",
                        lambda *a, **k: reads.append(a) or real_read(*a, **k))
    monkeypatch.setattr(frames, "decode_image",
                        lambda *a, **k: decodes.append(a) or real_decode(*a, **k))
    from rdk_classifier.cli import classify as classify_cli
    monkeypatch.setattr(classify_cli, "read_image_file", frames.read_image_file)
    assert main(["classify", str(image), "--boxes", str(boxes), "--json", "--backend", "cpu"]) == 0
    (obj,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(reads) == 1 and len(decodes) == 1
    assert [t["class_id"] for t in obj["top"]] == [t["class_id"] for t in plain["top"]]
    assert [t["score"] for t in obj["top"]] == [t["score"] for t in plain["top"]]
    assert len(obj["boxes"]) == 1 and "top" in obj["boxes"][0]


def test_classify_boxes_refuses_what_is_not_a_regular_file(tmp_path, capsys):
    import os

    from rdk_classifier.cli import main

    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([{"x_offset": 0, "y_offset": 0, "width": 10, "height": 10}]))
    assert main(["classify", str(fifo), "--boxes", str(boxes), "--backend", "cpu"]) == 1
    assert "not a regular file" in capsys.readouterr().err
