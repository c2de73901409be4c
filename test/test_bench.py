"""Benchmark: report shape and internal consistency (no timing thresholds: those live in bench/)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from conftest import PHOTOS_DIR

from rdk_classifier.frames import bgr_to_nv12
from rdk_classifier.benchmark import (encode_frame, interleaved_rounds, make_frames,
                                      procedural_frame,
                                      run_benchmark)
from rdk_classifier.frames import Preprocessor

SMALL = (320, 240)


def check_report(d: dict, threads: int, frames: int) -> None:
    assert {"model", "threads", "frames", "fps", "latency_ms", "stages_ms"} <= set(d)
    assert d["threads"] == threads and d["frames"] == frames
    assert sum(d["per_thread_frames"]) == frames and len(d["per_thread_frames"]) == threads
    lat = d["latency_ms"]
    assert {"mean", "p50", "p99", "min", "max"} <= set(lat)
    assert 0 < lat["min"] <= lat["p50"] <= lat["p99"] <= lat["max"]
    assert lat["min"] <= lat["mean"] <= lat["max"]
    st = d["stages_ms"]
    assert set(st) == {"preprocess", "inference", "postprocess"}
    assert all(v > 0 for v in st.values())
    # the stages are the latency, give or take the Python call around them
    total = sum(st.values())
    assert total <= lat["mean"] * 1.001
    assert total >= 0.8 * lat["mean"]
    assert d["fps"] > 0 and d["elapsed_s"] > 0
    # FPS is frames over wall time, and the wall time holds every thread's summed latencies
    assert d["fps"] <= threads * 1e3 / lat["mean"] * 1.001


@pytest.mark.parametrize("encoding", ["bgr8", "nv12", "jpeg"])
def test_one_thread_report_is_consistent(classifier, encoding):
    rep = run_benchmark(classifier, threads=1, frames=6, warmup=1, encoding=encoding, size=SMALL)
    d = rep.to_dict()
    check_report(d, 1, 6)
    assert d["input"] == encoding and d["size"] == list(SMALL) and d["source"] == "procedural"
    assert d["model"] == classifier.model_name
    assert d["machine"]["cores"] >= 1 and d["machine"]["cpu"]


def test_two_threads_split_the_frames(classifier):
    rep = run_benchmark(classifier, threads=2, frames=7, warmup=1, encoding="nv12", size=SMALL)
    d = rep.to_dict()
    check_report(d, 2, 7)
    assert d["per_thread_frames"] == [4, 3]


def test_frames_from_a_real_photo(classifier):
    rep = run_benchmark(classifier, threads=1, frames=2, warmup=0, encoding="bgr8", size=SMALL,
                        image=PHOTOS_DIR / "chelsea.png")
    assert rep.to_dict()["source"].endswith("chelsea.png")
    frames = make_frames(*SMALL, "bgr8", PHOTOS_DIR / "chelsea.png")
    # the photo frame is the real cat: the classifier sees a cat in it
    top = classifier.classify_raw(frames[0], *SMALL, "bgr8").top
    assert top[0].class_id in range(281, 288)


def test_procedural_frame_is_deterministic_and_textured():
    a = procedural_frame(*SMALL)
    assert a.shape == (240, 320, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, procedural_frame(*SMALL))
    assert not np.array_equal(a, procedural_frame(*SMALL, seed=1))
    # texture at fine scales (a JPEG of it costs what a camera picture costs), not noise alone
    lap = cv2.Laplacian(cv2.cvtColor(a, cv2.COLOR_BGR2GRAY), cv2.CV_32F)
    assert 3 < float(np.abs(lap).mean()) < 60
    assert a.std() > 25


def test_frames_are_distinct_and_encoded_like_a_camera():
    frames = make_frames(*SMALL, "bgr8")
    assert len(frames) == 4 and len({f.tobytes() for f in frames}) == 4
    nv12 = make_frames(*SMALL, "nv12")[0]
    assert nv12.size == 320 * 240 * 3 // 2
    np.testing.assert_array_equal(nv12, bgr_to_nv12(frames[0]))
    # a model-size NV12 of the frame is the same as the preprocessor's
    same = Preprocessor(240, 320, "direct").from_bgr(frames[0])
    np.testing.assert_array_equal(nv12, same)
    jpg = encode_frame(frames[0], "jpeg")
    assert jpg[:2] == b"\xff\xd8"
    decoded = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(decoded.astype(int) - frames[0]).mean() < 8  # q90 with 4:2:0 chroma


def test_nv12_frames_are_flips_of_the_first_made_as_nv12():
    w, h = SMALL
    bgr = make_frames(w, h, "bgr8")
    nv12 = make_frames(w, h, "nv12")
    assert len(nv12) == 4 and len({f.tobytes() for f in nv12}) == 4
    y0 = nv12[0][:w * h].reshape(h, w)
    uv0 = nv12[0][w * h:].reshape(h // 2, w // 2, 2)
    for frame, (rows, cols) in zip(nv12[1:], [(slice(None), slice(None, None, -1)),
                                              (slice(None, None, -1), slice(None)),
                                              (slice(None, None, -1), slice(None, None, -1))]):
        np.testing.assert_array_equal(frame[:w * h].reshape(h, w), y0[rows, cols])
        # whole chroma pairs move: U stays before V
        np.testing.assert_array_equal(frame[w * h:].reshape(h // 2, w // 2, 2), uv0[rows, cols])
    # and each is its BGR frame's picture (NV12's own rounding and 4:2:0 chroma apart)
    for frame, picture in zip(nv12, bgr):
        back = cv2.cvtColor(frame.reshape(h * 3 // 2, w), cv2.COLOR_YUV2BGR_NV12)
        assert np.abs(back.astype(int) - picture).mean() < 4


def test_interleaved_rounds_alternate_the_paths_round_by_round():
    calls: list[str] = []
    paths = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    times = interleaved_rounds(paths, rounds=3, per=2, warmup=1)
    assert calls == ["a", "b"] + ["a", "a", "b", "b"] * 3  # warm-up, then A x per, B x per ...
    assert set(times) == {"a", "b"} and all(len(v) == 3 for v in times.values())
    assert all(t >= 0 for v in times.values() for t in v)


def test_bad_arguments(classifier):
    for kwargs in ({"threads": 0}, {"frames": 0}, {"warmup": -1}, {"encoding": "yuyv"}):
        with pytest.raises(ValueError):
            run_benchmark(classifier, size=SMALL, **kwargs)
    with pytest.raises(ValueError, match="even"):
        make_frames(321, 240, "bgr8")


# --- the command -------------------------------------------------------------------------------------
def test_cli_json(capsys):
    from rdk_classifier.cli import main

    code = main(["bench", "--json", "--frames", "5", "--warmup", "1", "--threads", "2",
                 "--size", "320x240", "--input", "jpeg", "--backend", "cpu"])
    out, _ = capsys.readouterr()
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 1
    d = json.loads(lines[0])
    check_report(d, 2, 5)
    assert d["model"] == "EfficientNet_Lite0_int8" and d["input"] == "jpeg"


def test_cli_text_and_bad_options(capsys):
    from rdk_classifier.cli import main

    assert main(["bench", "--frames", "2", "--warmup", "0", "--size", "64x48",
                 "--backend", "cpu"]) == 0
    out, _ = capsys.readouterr()
    assert "latency ms:" in out and "FPS:" in out and "preprocess" in out
    for bad in ("--threads", "0"), ("--threads", "65"), ("--cpu-threads", "0"), ("--frames", "0"):
        with pytest.raises(SystemExit):  # argparse: the same ranges as the node's parameters
            main(["bench", *bad])
    with pytest.raises(SystemExit):
        main(["bench", "--size", "321x240"])
    assert main(["bench", "--frames", "1", "--size", "64x48", "--image", "/no/such.png",
                 "--backend", "cpu"]) == 2
    assert "no such image file" in capsys.readouterr().err


def test_model_only_is_the_network_on_a_ready_input(classifier):
    rep = run_benchmark(classifier, threads=2, frames=6, warmup=1, encoding="jpeg", size=SMALL)
    d = rep.to_dict()
    assert d["shared_model"] is True  # ONNX Runtime: one session for both threads
    mo = d["model_only"]
    assert mo["frames"] == 6 and mo["fps"] > 0
    assert 0 < mo["latency_ms"]["min"] <= mo["latency_ms"]["p50"] <= mo["latency_ms"]["max"]
    # what model_only times is the backend's own answer for that frame's input
    from rdk_classifier.benchmark import model_only_call
    nv12 = classifier.preprocessor.from_encoded(make_frames(*SMALL, "jpeg")[0])
    out = np.asarray(model_only_call(classifier.backend)(nv12)()).reshape(-1)
    np.testing.assert_array_equal(out, classifier.backend.infer(nv12))
