"""Defects found by the review of the safety layer after issue 21: each test failed on the code
before its fix. Hostile input ends in one typed line, ``--force`` is never implied, and a write
that the file system refuses (disk full, file too large) is one line, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rdk_classifier.cli import main
from rdk_classifier.errors import CalibrationError, ModelError
from rdk_classifier.model_facts import read_model_facts
from rdk_classifier.ptq import calibration as cal

from conftest import IMAGENET_DIR

ROOT = Path(__file__).resolve().parents[1]
SIZE = (32, 32)
#: JSON nested deeper than Python's recursion limit: json.loads raises RecursionError, which is
#: not a ValueError (a few hundred kilobytes, well inside every size limit of these files)
DEEP_JSON = "[" * 100_000


def one_line_error(err: str) -> str:
    lines = [x for x in err.strip().splitlines() if x]
    assert len(lines) == 1 and lines[0].startswith("error: "), err[-2000:]
    assert "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------- deeply nested JSON: one line

def test_a_deeply_nested_calibration_manifest_is_one_line(tmp_path, capsys):
    out = tmp_path / "set"
    cal.build_calibration_set(IMAGENET_DIR, out, count=1, seed=0, size=SIZE)
    cal.manifest_path(out).write_text(DEEP_JSON)
    with pytest.raises(CalibrationError, match="is not JSON"):
        cal.load_calibration_set(out)
    code = main(["toolchain-config", "--model", str(ROOT / "rdk_classifier" / "models" /
                                                    "efficientnet_lite0_fp32.onnx"),
                 "--out", str(tmp_path / "tc"), "--calib-dir", str(out)])
    assert code == 2 and "is not JSON" in one_line_error(capsys.readouterr().err)


def test_a_deeply_nested_model_sidecar_is_one_line(tmp_path, capsys):
    model = tmp_path / "m.bin"
    model.write_bytes(b"not a model")
    (tmp_path / "m.bin.json").write_text(DEEP_JSON)
    with pytest.raises(ModelError, match="is not JSON"):
        read_model_facts(model)
    assert main(["model-info", "--model", str(model)]) == 2
    one_line_error(capsys.readouterr().err)


def test_deeply_nested_class_names_in_onnx_metadata_are_one_line(tmp_path, capsys):
    pytest.importorskip("onnx")
    from test_onnx_metadata import tiny_model

    model = tmp_path / "m.onnx"
    model.write_bytes(tiny_model([("class_names", DEEP_JSON)]))
    with pytest.raises(ModelError, match="class_names"):
        read_model_facts(model)
    assert main(["model-info", "--model", str(model)]) == 2
    one_line_error(capsys.readouterr().err)


# ------------------------------------------------------------- calib: --force never implied

def test_calib_never_replaces_a_file_beside_the_folder_without_force(tmp_path, capsys):
    """``<out>.manifest.json`` is a path calib writes: a file there (the user's, or a manifest
    whose set was deleted) is replaced only with --force, like every output."""
    out = tmp_path / "cal"
    mine = cal.manifest_path(out)
    mine.write_text("my notes")
    argv = ["calib", "--images", str(IMAGENET_DIR), "--out", str(out), "--size", "32x32",
            "--count", "2"]
    assert main(argv) == 2
    assert "--force" in one_line_error(capsys.readouterr().err)
    assert mine.read_text() == "my notes" and sorted(p.name for p in tmp_path.iterdir()) == [
        "cal.manifest.json"]
    out.mkdir()  # an empty folder is taken without --force, the file beside it still is not
    assert main(argv) == 2
    assert mine.read_text() == "my notes" and list(out.iterdir()) == []
    capsys.readouterr()
    assert main(argv + ["--force"]) == 0
    assert cal.load_calibration_set(out, cal.CalibrationTarget(*SIZE)).entries


def test_calib_never_deletes_files_that_arrive_in_its_folder_during_the_build(tmp_path,
                                                                              monkeypatch):
    """An empty folder is taken without --force, and a calibration set is replaced with it; the
    check of what the folder holds is made again just before the swap, so a file someone saves
    into it during the (minutes long) build is never deleted with the old folder."""
    real = cal.calibration_tensor
    for overwrite in (False, True):
        out = tmp_path / f"cal{int(overwrite)}"
        if overwrite:
            cal.build_calibration_set(IMAGENET_DIR, out, count=1, seed=0, size=SIZE)
        else:
            out.mkdir()
        before = sorted(p.name for p in out.iterdir())

        def arriving(image, target, out=out):
            (out / "notes.txt").write_text("saved meanwhile")
            return real(image, target)

        monkeypatch.setattr(cal, "calibration_tensor", arriving)
        with pytest.raises(CalibrationError, match="did not write"):
            cal.build_calibration_set(IMAGENET_DIR, out, count=2, seed=1, size=SIZE,
                                      overwrite=overwrite)
        assert (out / "notes.txt").read_text() == "saved meanwhile"
        assert sorted(p.name for p in out.iterdir()) == sorted(before + ["notes.txt"])
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no stage, lock


# ------------------------------------------------------------- a write the file system refuses

#: a child whose files may not grow past 4 KB (RLIMIT_FSIZE: each write past it fails with EFBIG,
#: as a full disk fails with ENOSPC), then the given code
SMALL_FILES = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel's SIGXFSZ ends the process
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
"""


def run_small_files(code: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SMALL_FILES + code, *argv], capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'test'}"})


def test_a_write_the_file_system_refuses_is_one_line_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    proc = run_small_files("""
from rdk_classifier.errors import OutputError
from rdk_classifier.safe_io import write_bytes
try:
    write_bytes(sys.argv[1], b"x" * 8192, force=True)
except OutputError as exc:
    print(exc)
""", str(target))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stdout.startswith(f"cannot write output {target}: File too large")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_calib_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path):
    out = tmp_path / "cal"
    proc = run_small_files("""
from rdk_classifier.cli import main
sys.exit(main(["calib", "--images", sys.argv[1], "--out", sys.argv[2], "--size", "32x32",
               "--count", "2"]))
""", str(IMAGENET_DIR), str(out))
    assert proc.returncode == 2
    assert "File too large" in one_line_error(proc.stderr)
    assert list(tmp_path.iterdir()) == []


def test_bag_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path):
    pytest.importorskip("rosbags")
    import hostile_bags as hb
    from rdk_classifier.ros.rosbags_types import humble_typestore

    ts = humble_typestore()
    src = tmp_path / "in"
    hb.write_bag(src, [(hb.IMG, hb.IMAGE, hb.T0 + i * hb.PERIOD,
                        hb.image(ts, 64, 48, hb.T0 + i * hb.PERIOD)) for i in range(40)])
    proc = run_small_files("""
from rdk_classifier.cli import main
sys.exit(main(["bag", sys.argv[1], "--out", sys.argv[2]]))
""", str(src), str(tmp_path / "out"))
    assert proc.returncode == 2
    errors = [x for x in proc.stderr.splitlines() if x.startswith("error: ")]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert len(errors) == 1 and "File too large" in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no stage, no lock


# ------------------------------------------------------------- ONNX files a user names

def corrupt_graph_model(tmp_path: Path) -> Path:
    """A model whose top-level fields (metadata) read well and whose graph is garbage."""
    onnx = pytest.importorskip("onnx")
    from test_onnx_metadata import tiny_model

    data = bytearray(tiny_model([("k", "v")]))
    proto = onnx.ModelProto()
    proto.ParseFromString(bytes(data))
    start = bytes(data).find(proto.graph.SerializeToString())
    data[start + 2:start + 12] = b"\xff" * 10
    path = tmp_path / "bad.onnx"
    path.write_bytes(bytes(data))
    return path


def test_model_info_rewrite_of_a_corrupt_onnx_is_one_line(tmp_path, capsys):
    bad = corrupt_graph_model(tmp_path)
    code = main(["model-info", "--model", str(bad), "--mean", "1", "2", "3", "--scale", "1", "1",
                 "1", "--out", str(tmp_path / "out.onnx")])
    assert code == 2 and "not a readable ONNX model" in one_line_error(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx"]


@pytest.mark.parametrize("kind", ["missing", "corrupt", "fifo", "device"])
def test_from_quantized_is_read_bounded_and_refused_in_one_line(tmp_path, kind):
    """``toolchain-config --from-quantized F`` reads only F's metadata: a FIFO never hangs,
    /dev/zero is not read until memory runs out, a missing or corrupt file is one line."""
    path = {"missing": tmp_path / "missing.onnx", "device": Path("/dev/zero"),
            "fifo": tmp_path / "pipe.onnx", "corrupt": None}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    if kind == "corrupt":
        path = corrupt_graph_model(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "rdk_classifier", "toolchain-config", "--model",
         str(ROOT / "rdk_classifier" / "models" / "efficientnet_lite0_fp32.onnx"),
         "--out", str(tmp_path / "tc"), "--from-quantized", str(path)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    one_line_error(proc.stderr)
    assert not (tmp_path / "tc").exists()


# ------------------------------------------------------------- toolchain-config into the set

@pytest.mark.parametrize("soc", [None, "s100"])
@pytest.mark.parametrize("inside", ["", "sub"])
def test_toolchain_config_never_writes_into_its_calibration_folder(tmp_path, capsys, soc, inside):
    """hb_mapper / hb_compile read EVERY entry of cal_data_dir as a tensor: config.yaml and the
    scripts written into it (or a sub-folder of it) would spoil the set; refused before any
    write."""
    fp32 = ROOT / "rdk_classifier" / "models" / "efficientnet_lite0_fp32.onnx"
    calib = tmp_path / "cal"
    assert main(["calib", "--images", str(IMAGENET_DIR), "--out", str(calib), "--model",
                 str(fp32), "--count", "1"]) == 0
    before = sorted(p.name for p in calib.iterdir())
    capsys.readouterr()
    out = calib / inside if inside else calib
    code = main(["toolchain-config", "--model", str(fp32), "--out", str(out), "--calib-dir",
                 str(calib)] + (["--soc", soc] if soc else []))
    assert code == 2 and "calibration folder" in one_line_error(capsys.readouterr().err)
    assert sorted(p.name for p in calib.iterdir()) == before


# ------------------------------------------------------------- a bag folder's metadata.yaml

@pytest.mark.parametrize("case", ["nested", "sparse", "device", "fifo"])
@pytest.mark.parametrize("detections", [False, True])
def test_a_hostile_bag_metadata_file_is_one_line(tmp_path, capsys, case, detections):
    """rosbags reads metadata.yaml whole and parses it recursively: it is checked first (a
    regular file of at most MAX_METADATA_BYTES), and a nesting too deep is one line, in plain
    ``bag`` and ``bag --detections``."""
    pytest.importorskip("rosbags")
    import hostile_bags as hb
    from rdk_classifier.ros.bag_limits import MAX_METADATA_BYTES
    from rdk_classifier.ros.rosbags_types import humble_typestore

    src = tmp_path / "in"
    hb.write_bag(src, [(hb.IMG, hb.IMAGE, hb.T0, hb.image(humble_typestore(), 64, 48, hb.T0))])
    meta = src / "metadata.yaml"
    meta.unlink()
    if case == "nested":
        meta.write_text("[" * 100_000)
    elif case == "sparse":
        with open(meta, "wb") as f:
            f.truncate(MAX_METADATA_BYTES + 1)
    elif case == "device":
        meta.symlink_to("/dev/zero")
    else:
        os.mkfifo(meta)
    argv = ["bag", str(src), "--out", str(tmp_path / "out")]
    if detections:
        argv += ["--topic", hb.IMG, "--detections", hb.DET]
    assert main(argv) == 2
    why = "metadata.yaml is nested too deep" if case == "nested" else (
        "the limit is" if case == "sparse" else "is not a regular file")
    assert why in one_line_error(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_a_malformed_quantize_percentile_in_from_quantized_is_one_line(tmp_path, capsys):
    pytest.importorskip("onnx")
    from test_onnx_metadata import tiny_model

    int8 = tmp_path / "int8.onnx"
    int8.write_bytes(tiny_model([("quantization_method", "percentile"),
                                 ("quantization_percentile", "x" * 10_000)]))
    code = main(["toolchain-config", "--model", str(ROOT / "rdk_classifier" / "models" /
                                                    "efficientnet_lite0_fp32.onnx"),
                 "--out", str(tmp_path / "tc"), "--from-quantized", str(int8)])
    line = one_line_error(capsys.readouterr().err)
    assert code == 2 and "quantization_percentile" in line and len(line) < 400
    assert not (tmp_path / "tc").exists()


# ------------------------------------------------------------- the swap refused by the system

@pytest.mark.parametrize("exchange", [True, False])
def test_a_swap_the_system_refuses_is_one_line_and_keeps_the_old_set(tmp_path, capsys,
                                                                      monkeypatch, exchange):
    """``--out`` a mount point (an SD card or USB stick mounted there): rename() and
    renameat2() of it fail with EBUSY. Shown here by refusing both with EBUSY (no mount in a
    test): one line, the old set and its manifest as they were, no stage left."""
    import errno

    out = tmp_path / "cal"
    cal.build_calibration_set(IMAGENET_DIR, out, count=1, seed=0, size=SIZE)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    manifest = cal.manifest_path(out).read_bytes()
    real_rename = os.rename

    def busy(*args, **kwargs):
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY))

    def rename(src, dst):
        if Path(dst) == out or Path(src) == out:
            busy()
        return real_rename(src, dst)

    from rdk_classifier import safe_io

    monkeypatch.setattr(safe_io, "exchange_paths", busy if exchange else lambda a, b: False)
    monkeypatch.setattr(os, "rename", rename)
    code = main(["calib", "--images", str(IMAGENET_DIR), "--out", str(out), "--size", "32x32",
                 "--count", "2", "--force"])
    assert code == 2 and "busy" in one_line_error(capsys.readouterr().err).lower()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert cal.manifest_path(out).read_bytes() == manifest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cal", "cal.manifest.json"]
