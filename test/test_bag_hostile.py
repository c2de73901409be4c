"""``bag`` (and ``bag --detections``) against hostile bags: frames and detection sets that never
match (caches bounded by bytes), detection sets with huge strings, compressed messages and MCAP
chunks that inflate far past their size on disk (refused before or while inflating, by the
memory budget), damaged sqlite3 input in box mode, and fuzzed detection messages. Each ends in a
one-line error or a correct result; a failed run leaves no output. Peak memory of the scale
cases is measured in a child process (an upper bound: a child starts at its parent's RSS).

The bags are made small (zstd of zeros) so the suite stays fast; ``--memory-budget`` is lowered
instead of making the bags gigabytes large. bench/bench_hostile_scale.py runs the full sizes."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("rosbags")
from rosbags.rosbag2 import CompressionMode  # noqa: E402

from box_messages import detection_array  # noqa: E402
from child_cli import run_cli_child  # noqa: E402
from hostile_bags import DET, IMAGE, IMG, PERIOD, T0, image, write_bag  # noqa: E402
from rdk_classifier.cli import main as cli_main  # noqa: E402
from rdk_classifier.ros import detections as det  # noqa: E402
from rdk_classifier.ros.detections import DETECTION_2D_ARRAY  # noqa: E402
from rdk_classifier.ros.rosbags_types import humble_typestore  # noqa: E402

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SCALE = max(1, int(os.environ.get("FUZZ_EXAMPLES", "1")))


def test_4k_frames_that_never_match_stay_within_the_budget(tmp_path):
    """The issue's case: 4K frames whose stamps never match reached 1.7 GB (64 waiting)."""
    ts = humble_typestore()
    records = []
    for i in range(24):  # 24 x 24.9 MB of frames, a few hundred KB compressed
        stamp = T0 + i * PERIOD
        records.append((IMG, IMAGE, stamp, image(ts, 3840, 2160, stamp)))
        records.append((DET, DETECTION_2D_ARRAY, stamp + 1,
                        detection_array(ts, stamp + 7, [(10, 10, 100, 100, "obj", 0.9, "a")])))
    write_bag(tmp_path / "in", records, compression=CompressionMode.STORAGE)
    rc, err, peak_kb = run_cli_child("bag", str(tmp_path / "in"), "--topic", IMG, "--detections",
                                 DET, "--out", str(tmp_path / "out"), "--backend", "cpu",
                                 "--no-progress", "--memory-budget", "100")
    assert rc == 1 and "no detection set matched a frame" in err, err
    assert peak_kb < 1 << 20, peak_kb  # under 1 GB (was 1.7 GB)


def test_detection_sets_with_huge_strings_are_bounded_by_bytes(tmp_path, capsys):
    ts = humble_typestore()
    records = []
    for i in range(6):
        stamp = T0 + i * PERIOD
        huge = "x" * (3 << 20)  # a 3 MB id; never matched
        records.append((DET, DETECTION_2D_ARRAY, stamp,
                        detection_array(ts, stamp + 5, [(0, 0, 10, 10, "obj", 0.5, huge)])))
        records.append((IMG, IMAGE, stamp + 1, image(ts, 64, 48, stamp)))
    write_bag(tmp_path / "in", records, compression=CompressionMode.STORAGE)
    rc = cli_main(["bag", str(tmp_path / "in"), "--topic", IMG, "--detections", DET, "--out",
                   str(tmp_path / "out"), "--backend", "cpu", "--no-progress",
                   "--memory-budget", "8"])
    out, err = capsys.readouterr()
    # each 3 MB set is over a quarter of 8 MB: none may wait; named with the budget option
    assert rc == 1 and "6 message(s) larger than their share" in err and "--memory-budget" in err
    assert "no detection set matched" in err


@pytest.mark.parametrize("mode", [CompressionMode.MESSAGE, CompressionMode.STORAGE])
@pytest.mark.parametrize("detections", [False, True])
def test_a_message_that_inflates_past_the_budget_is_refused(tmp_path, capsys, mode, detections):
    """64 MB of pixels in a few KB of zstd: refused by the budget before (chunk index) or while
    (bounded inflation) it is inflated, in one line naming --memory-budget; no output left."""
    ts = humble_typestore()
    records = [(IMG, IMAGE, T0, image(ts, 4096, 5462, T0)),  # 67 MB
               (DET, DETECTION_2D_ARRAY, T0 + 1,
                detection_array(ts, T0, [(0, 0, 10, 10, "obj", 0.5, "a")]))]
    write_bag(tmp_path / "in", records, compression=mode)
    assert sum(f.stat().st_size for f in (tmp_path / "in").iterdir()) < 1 << 20
    argv = ["bag", str(tmp_path / "in"), "--topic", IMG, "--out", str(tmp_path / "out"),
            "--backend", "cpu", "--no-progress"] + (["--detections", DET] if detections else [])
    rc = cli_main(argv + ["--memory-budget", "16"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert "memory budget" in err[0] and "--memory-budget" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no output, stage or lock
    # with a budget that holds it, the same bag is classified
    rc = cli_main(argv + ["--memory-budget", "256"])
    err = capsys.readouterr().err
    assert rc == 0 and (tmp_path / "out").is_dir(), err


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_box_mode_counts_a_damaged_input_like_plain_bag(tmp_path, capsys, storage):
    ts = humble_typestore()
    records = []
    for i in range(12):
        stamp = T0 + i * PERIOD
        records.append((IMG, IMAGE, stamp, image(ts, 320, 240, stamp)))
        records.append((DET, DETECTION_2D_ARRAY, stamp + 1,
                        detection_array(ts, stamp, [(10, 10, 200, 150, "obj", 0.9, "a")])))
    write_bag(tmp_path / "in", records, storage=storage)
    store = next(p for p in (tmp_path / "in").iterdir() if p.suffix in (".mcap", ".db3"))
    data = bytearray(store.read_bytes())
    at = len(data) * 60 // 100
    data[at:at + 200_000] = bytes(min(200_000, len(data) - at))
    store.write_bytes(bytes(data))
    for detections in ([], ["--detections", DET]):
        out = tmp_path / f"out{len(detections)}"
        rc = cli_main(["bag", str(tmp_path / "in"), "--topic", IMG, *detections, "--out",
                       str(out), "--backend", "cpu", "--no-progress"])
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        assert rc in (1, 2), captured.err
        if rc == 2:  # the reader refuses the file as a whole: one clear line
            assert len(captured.err.strip().splitlines()) == 1 and not out.exists()
        else:  # damage counted, what was read is kept
            text = captured.err + captured.out
            assert ("unreadable" in text or "could be read" in text) and out.is_dir()
    assert len({p.name for p in tmp_path.iterdir()}) in (1, 2, 3)


def _bounded(n: int):
    return settings(max_examples=n * SCALE, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


_TS = humble_typestore()
_VALID = bytes(_TS.serialize_cdr(
    detection_array(_TS, T0, [(10, 10, 50, 40, "obj", 0.9, "a"), (0, 0, 5, 5, "x", 0.1, "b")]),
    DETECTION_2D_ARRAY))


@_bounded(300)
@given(st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), max_size=8),
       st.integers(0, len(_VALID)))
def test_a_mutated_detection_message_is_skipped_or_read(flips, cut):
    """What the box bag tool does with each detection record: deserialize (any failure: counted
    as a corrupt message), then boxes_from_message (FrameError: a bad frame) or boxes."""
    from rdk_classifier.errors import FrameError

    data = bytearray(_VALID[:cut] if cut else _VALID)
    for at, value in flips:
        if at < len(data):
            data[at] = value
    try:
        msg = _TS.deserialize_cdr(bytes(data), DETECTION_2D_ARRAY)
    except Exception:  # the bag tool counts it as "corrupt message"
        return
    try:
        boxes = det.boxes_from_message(msg)
    except FrameError:
        return
    assert len(boxes) <= len(msg.detections)


def test_bounded_inflation_of_each_compressor():
    """The decompressors put in rosbags' place: whole frames (several in a row too), stopped
    at the limit (BudgetError naming --memory-budget), truncated data a ValueError (the bag tool
    counts it as a damaged input); rosbags' own decompressors are back after the block."""
    import importlib

    import lz4.frame
    from rosbags.rosbag2 import reader as reader_module
    from rosbags.rosbag2 import storage_mcap

    from rdk_classifier.errors import BudgetError
    from rdk_classifier.ros.bag_limits import bounded_inflation

    try:
        zstd = importlib.import_module("compression.zstd")
    except ImportError:
        zstd = importlib.import_module("backports.zstd")
    before = (dict(storage_mcap.DECOMPRESSORS), reader_module.zstd)
    big = bytes(20 << 20)
    with bounded_inflation(limit=8 << 20):
        table = storage_mcap.DECOMPRESSORS
        two = zstd.compress(b"ab" * 100) + zstd.compress(b"cd" * 10)
        assert table["zstd"](two, 220) == b"ab" * 100 + b"cd" * 10
        assert table["lz4"](lz4.frame.compress(b"xyz" * 50), 150) == b"xyz" * 50
        small = os.urandom(5000)
        for name, compress in (("zstd", zstd.compress), ("lz4", lz4.frame.compress)):
            packed = compress(big)
            with pytest.raises(BudgetError, match="--memory-budget"):
                table[name](packed, len(big))  # declared 20 MB, limit 8 MB
            with pytest.raises(BudgetError):
                table[name](packed, 1000)  # lies about its size: stopped at the declared size
            cut = compress(small)
            with pytest.raises(ValueError, match="truncated"):
                table[name](cut[: len(cut) // 2], len(small))
        with pytest.raises(BudgetError):
            reader_module.zstd.decompress(zstd.compress(big))  # message mode
        assert reader_module.zstd.decompress(zstd.compress(b"ok")) == b"ok"
    assert (dict(storage_mcap.DECOMPRESSORS), reader_module.zstd) == before
