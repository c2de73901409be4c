"""Calibration folders as hostile input (``quantize --calib``, ``load_calibration_set``): a
manifest or tensor file that is huge (sparse), a FIFO or a device, or garbage, ends in one line
naming the limit (the memory budget and ``--memory-budget``, or the tensor's exact size) before
a byte of it is read. Fuzzed with a small derandomized example count (``FUZZ_EXAMPLES=N``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rdk_classifier import budget
from rdk_classifier.cli import main
from rdk_classifier.errors import BudgetError, CalibrationError
from rdk_classifier.ptq.calibration import (CALIB_EXT, build_calibration_set,
                                            load_calibration_set, manifest_path)

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FP32 = ROOT / "rdk_classifier" / "models" / "efficientnet_lite0_fp32.onnx"
PHOTOS = ROOT / "test" / "data" / "photos"
SCALE = max(1, int(os.environ.get("FUZZ_EXAMPLES", "1")))


@pytest.fixture(scope="module")
def calib_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("calib") / "set"
    build_calibration_set(PHOTOS, out, count=2, seed=0)
    return out


def copy_set(calib_set: Path, tmp_path: Path) -> Path:
    """The folder and the manifest beside it (hb_mapper reads every file IN the folder)."""
    target = tmp_path / "set"
    shutil.copytree(calib_set, target)
    shutil.copyfile(manifest_path(calib_set), manifest_path(target))
    return target


def quantize(capsys, calib: Path, out: Path, *extra: str) -> tuple[int, str]:
    code = main(["quantize", "--model", str(FP32), "--calib", str(calib), "--out", str(out),
                 "--no-preprocess", *extra])
    return code, capsys.readouterr().err


def sparse(path: Path, size: int = 2 << 30) -> None:
    with open(path, "wb") as f:
        f.truncate(size)


def test_a_2gb_sparse_manifest_is_refused_by_its_size(calib_set, tmp_path, capsys):
    calib = copy_set(calib_set, tmp_path)
    sparse(manifest_path(calib))
    code, err = quantize(capsys, calib, tmp_path / "q.onnx")
    assert code == 2 and "memory budget" in err and "--memory-budget" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "q.onnx").exists()


def test_the_budget_option_names_its_own_limit(calib_set, tmp_path, capsys):
    calib = copy_set(calib_set, tmp_path)
    with open(manifest_path(calib), "ab") as f:
        f.write(b" " * (2 << 20))  # valid JSON padded to 2 MB
    code, err = quantize(capsys, calib, tmp_path / "q.onnx", "--memory-budget", "1")
    assert code == 2 and "limit is 1048576" in err and "--memory-budget" in err
    assert budget.memory_budget() == budget.DEFAULT_MEMORY_BUDGET  # reset after the command


def test_a_2gb_sparse_tensor_file_is_refused_by_its_size(calib_set, tmp_path, capsys):
    calib = copy_set(calib_set, tmp_path)
    victim = sorted(calib.glob(f"*{CALIB_EXT}"))[0]
    sparse(victim)
    code, err = quantize(capsys, calib, tmp_path / "q.onnx")
    assert code == 2 and str(2 << 30) in err and "limit is" in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "q.onnx").exists()


def test_a_fifo_manifest_never_hangs(calib_set, tmp_path):
    calib = copy_set(calib_set, tmp_path)
    manifest_path(calib).unlink()
    os.mkfifo(manifest_path(calib))
    proc = subprocess.run([sys.executable, "-m", "rdk_classifier", "quantize", "--model", str(FP32),
                           "--calib", str(calib), "--out", str(tmp_path / "q.onnx")],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    # not a manifest (not a regular file): the folder is read as plain tensor files, no hang
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]


def test_a_tensor_file_that_is_a_device_link_is_refused(calib_set, tmp_path):
    calib = copy_set(calib_set, tmp_path)
    manifest_path(calib).unlink()  # a plain folder of tensor files
    for f in calib.glob(f"*{CALIB_EXT}"):
        f.unlink()
    (calib / f"zero{CALIB_EXT}").symlink_to("/dev/zero")
    # /dev/zero is not a regular file: the listing (is_file) or the read refuses it, never a hang
    with pytest.raises(CalibrationError, match="not a regular file"):
        load_calibration_set(calib)


def _bounded(n: int):
    return settings(max_examples=n * SCALE, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


@_bounded(120)
@given(st.one_of(st.binary(max_size=400),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                              lambda c: st.lists(c, max_size=4)
                              | st.dictionaries(st.sampled_from(["files", "file", "source",
                                                                 "height", "width", "skipped",
                                                                 "seed", "variants"]), c,
                                                max_size=5),
                              max_leaves=12).map(lambda v: __import__("json").dumps(v).encode())))
def test_any_manifest_gives_a_set_or_one_typed_line(tmp_path_factory, data):
    calib = tmp_path_factory.mktemp("fuzz") / "set"
    calib.mkdir()
    (calib / f"a{CALIB_EXT}").write_bytes(b"\0" * 16)
    manifest_path(calib).write_bytes(data)
    try:
        s = load_calibration_set(calib)
    except (CalibrationError, BudgetError) as exc:
        assert "\n" not in str(exc)
        return
    assert s.entries
