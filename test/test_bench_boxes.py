"""bench/bench_boxes.py: the report's shape and consistency (timings themselves live in bench/)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bench_boxes  # noqa: E402


def test_bench_boxes_report_is_consistent():
    out = bench_boxes.run(runs=1, encodings=("nv12", "bgr8"), counts=(1, 5))
    assert {"machine", "frame", "model", "inference_ms_per_box", "rows"} <= set(out)
    assert [(r["input"], r["boxes"]) for r in out["rows"]] == \
        [("nv12", 1), ("nv12", 5), ("bgr8", 1), ("bgr8", 5)]
    for r in out["rows"]:
        assert r["ours_frame_ms"] > 0 and r["naive_frame_ms"] > 0 and r["frame_setup_ms"] >= 0
        assert abs(r["naive_over_ours"] - r["naive_frame_ms"] / r["ours_frame_ms"]) < 0.01 + \
            0.01 * r["naive_over_ours"]
    boxes = bench_boxes.make_boxes(20, seed=3)
    assert all(0 <= b.x_offset and b.x_offset + b.width <= bench_boxes.W
               and b.y_offset + b.height <= bench_boxes.H for b in boxes)
