"""Atomic, no-clobber, no-symlink writes (safe_io) and the commands that use them (issue 11)."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from rdk_classifier import safe_io
from rdk_classifier.ptq import toolchain as tc
from rdk_classifier.zoo import PACKAGED_MODEL_DIR
from rdk_classifier.errors import OutputError, OutputExistsError, ToolchainConfigError

ROOT = Path(__file__).resolve().parents[1]

FP32 = PACKAGED_MODEL_DIR / "efficientnet_lite0_fp32.onnx"


def test_write_is_atomic_and_never_replaces_without_force(tmp_path):
    target = tmp_path / "out.txt"
    safe_io.write_text(target, "one")
    with pytest.raises(OutputExistsError, match="--force"):
        safe_io.write_text(target, "two")
    assert target.read_text() == "one"
    safe_io.write_text(target, "three", force=True)
    assert target.read_text() == "three"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # no temp file left


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with safe_io.atomic_open(target, force=True) as f:
            f.write(b"half")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_symlinks_are_never_written_through_or_replaced(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    link = tmp_path / "link.txt"
    link.symlink_to(victim)
    dangling = tmp_path / "dangling.txt"
    dangling.symlink_to(tmp_path / "nowhere")
    for path in (link, dangling):
        for force in (False, True):
            with pytest.raises(OutputError, match="symbolic link"):
                safe_io.write_text(path, "evil", force=force)
    assert victim.read_text() == "precious" and not (tmp_path / "nowhere").exists()


def test_an_input_is_never_an_output(tmp_path):
    src = tmp_path / "m.onnx"
    src.write_bytes(b"float")
    hard = tmp_path / "hard.onnx"
    os.link(src, hard)
    for out in (src, tmp_path / "." / "m.onnx", hard):
        with pytest.raises(OutputError, match="input"):
            safe_io.write_bytes(out, b"int8", force=True, inputs=[src])
    assert src.read_bytes() == b"float"


def test_new_files_get_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        p = safe_io.write_text(tmp_path / "a.sh", "x", executable=True)
        q = safe_io.write_text(tmp_path / "b.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o755
    assert stat.S_IMODE(q.stat().st_mode) == 0o644


def test_unwritable_or_invalid_outputs_are_one_line_errors(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        safe_io.write_text(tmp_path / "no" / "such" / "f.txt", "x")
    with pytest.raises(OutputError, match="control character"):
        safe_io.write_text(tmp_path / "a\nb.txt", "x")
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError):
        safe_io.write_text(tmp_path / "file" / "x.txt", "x")
    with pytest.raises(OutputError, match="a file of that name"):
        safe_io.ensure_directory(tmp_path / "file")


def test_staged_directory_appears_whole_or_not_at_all(tmp_path):
    final = tmp_path / "bag"
    with pytest.raises(KeyboardInterrupt):
        with safe_io.staged_directory(final) as inner:
            inner.mkdir()
            (inner / "bag_0.mcap").write_bytes(b"partial")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []  # nothing staged, no lock file left
    with safe_io.staged_directory(final) as inner:
        inner.mkdir()
        (inner / "bag_0.mcap").write_bytes(b"whole")
    assert (final / "bag_0.mcap").read_bytes() == b"whole"
    with pytest.raises(OutputExistsError):
        with safe_io.staged_directory(final):
            pass


def test_exclusive_claim_refuses_a_second_writer(tmp_path):
    with safe_io.exclusive_claim(tmp_path / "out"):
        with pytest.raises(OutputError, match="another process"):
            with safe_io.exclusive_claim(tmp_path / "out"):
                pass
    with safe_io.exclusive_claim(tmp_path / "out"):  # released
        pass


# --- toolchain-config -------------------------------------------------------------------------
def test_toolchain_names_are_never_executed(tmp_path):
    model = tmp_path / "m$(touch PWNED).onnx"
    shutil.copyfile(FP32, model)
    out = tmp_path / "out"
    paths = tc.write_toolchain_files(model, out, copy_model=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "hb_mapper").write_text('#!/bin/sh\nprintf "%s\\n" "$@" >> "$HB_LOG"\n')
    (bin_dir / "hb_mapper").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "HB_LOG": str(tmp_path / "calls.txt")}
    for role in ("check", "build"):
        subprocess.run(["bash", str(paths[role])], cwd=tmp_path, env=env, check=True,
                       capture_output=True)
    assert not (tmp_path / "PWNED").exists() and not (out / "PWNED").exists()
    args = (tmp_path / "calls.txt").read_text().splitlines()
    assert "./m$(touch PWNED).onnx" in args  # passed as one literal argument
    cfg = yaml.safe_load((out / tc.CONFIG_NAME).read_text())
    assert cfg["model_parameters"]["onnx_model"] == "./m$(touch PWNED).onnx"
    assert cfg["model_parameters"]["working_dir"] == "m__touch_PWNED__224x224_nv12"


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "x\nmarch: bernoulli2"}, "plain file name"),
    ({"name": "a b"}, "plain file name"),
    ({"march": "bayes-e; rm -rf ~"}, "march"),
    ({"cal_data_dir": "cal\nextra: 1"}, "line-break"),
])
def test_toolchain_refuses_names_that_cannot_be_written_safely(tmp_path, kwargs, match):
    with pytest.raises(ToolchainConfigError, match=match):
        tc.write_toolchain_files(FP32, tmp_path / "o", **kwargs)
    assert not any((tmp_path / "o").glob("*")) if (tmp_path / "o").exists() else True


def test_toolchain_keeps_a_hand_edited_config_and_never_chmods_it(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    config = out / tc.CONFIG_NAME
    config.write_text("# my edits\n")
    config.chmod(0o600)
    with pytest.raises(OutputExistsError):
        tc.write_toolchain_files(FP32, out)
    assert config.read_text() == "# my edits\n" and not (out / tc.CHECK_SCRIPT).exists()
    victim = tmp_path / "victim.sh"
    victim.write_text("mine")
    victim.chmod(0o600)
    config.unlink()
    (out / tc.CHECK_SCRIPT).symlink_to(victim)
    with pytest.raises(OutputError, match="symbolic link"):
        tc.write_toolchain_files(FP32, out, force=True)
    assert victim.read_text() == "mine" and stat.S_IMODE(victim.stat().st_mode) == 0o600
    (out / tc.CHECK_SCRIPT).unlink()
    tc.write_toolchain_files(FP32, out)
    tc.write_toolchain_files(FP32, out, force=True)
    assert yaml.safe_load(config.read_text())["model_parameters"]["march"] == tc.MARCH


# --- quantize / calib -------------------------------------------------------------------------
def test_quantize_never_writes_onto_its_own_model(tmp_path):
    from rdk_classifier.ptq.quantization import quantize_model

    model = tmp_path / "m.onnx"
    shutil.copyfile(FP32, model)
    before = model.read_bytes()
    for out in (model, tmp_path / "sub" / ".." / "m.onnx"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(OutputError, match="input"):
            quantize_model(model, tmp_path / "calib", out, force=True)
    existing = tmp_path / "int8.onnx"
    existing.write_bytes(b"keep")
    with pytest.raises(OutputExistsError):
        quantize_model(model, tmp_path / "calib", existing)
    link = tmp_path / "link.onnx"
    link.symlink_to(existing)
    with pytest.raises(OutputError, match="symbolic link"):
        quantize_model(model, tmp_path / "calib", link, force=True)
    assert model.read_bytes() == before and existing.read_bytes() == b"keep"


def test_quantize_cli_reports_onto_input_as_one_error(tmp_path, capsys):
    from rdk_classifier.cli import main

    model = tmp_path / "m.onnx"
    shutil.copyfile(FP32, model)
    assert main(["quantize", "--model", str(model), "--calib", str(tmp_path),
                 "--out", str(model)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "input" in err and err.count("\n") == 1


def test_calib_set_is_kept_without_force_and_a_symlinked_manifest_is_not_followed(tmp_path):
    from conftest import PHOTOS_DIR
    from rdk_classifier.ptq.calibration import build_calibration_set, manifest_path
    from rdk_classifier.errors import CalibrationError

    out = tmp_path / "cal"
    calib = build_calibration_set(PHOTOS_DIR, out, count=2, size=(32, 32))
    assert len(calib.entries) == 2 and not list(out.glob(".*.tmp"))
    with pytest.raises(CalibrationError, match="already holds"):
        build_calibration_set(PHOTOS_DIR, out, count=2, size=(32, 32))
    victim = tmp_path / "victim.json"
    victim.write_text("mine")
    manifest = manifest_path(out)  # beside the folder: hb_mapper reads every file in it
    manifest.unlink()
    manifest.symlink_to(victim)
    with pytest.raises(OutputError, match="symbolic link"):  # refused before the set is touched
        build_calibration_set(PHOTOS_DIR, out, count=2, size=(32, 32), overwrite=True)
    assert victim.read_text() == "mine" and len(list(out.iterdir())) == 2


# ----------------------------------------------------------------------------- replace_directory

def _tree(d):
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file()}


def test_replace_directory_builds_a_new_folder_whole(tmp_path):
    with safe_io.replace_directory(tmp_path / "set") as stage:
        assert stage.is_dir() and stage.parent.parent == tmp_path  # hidden, beside the target
        assert stage.parent.name.startswith(".set.") and not (tmp_path / "set").exists()
        (stage / "a.rgb").write_bytes(b"a")
    assert _tree(tmp_path / "set") == {"a.rgb": b"a"}
    assert [p.name for p in tmp_path.iterdir()] == ["set"]  # no stage, no lock


@pytest.mark.parametrize("exchange", [True, False])
def test_replace_directory_swaps_the_old_set_only_when_the_new_one_is_whole(tmp_path, monkeypatch,
                                                                            exchange):
    if not exchange:  # a system without renameat2(RENAME_EXCHANGE): rename aside, then in
        monkeypatch.setattr(safe_io, "exchange_paths", lambda a, b: False)
    old = tmp_path / "set"
    old.mkdir()
    (old / "old_1.rgb").write_bytes(b"old")
    (old / "manifest.json").write_text("{}")
    with pytest.raises(OutputExistsError):
        with safe_io.replace_directory(old):
            raise AssertionError("never reached: refused before the block")
    with safe_io.replace_directory(old, force=True) as stage:
        (stage / "new_1.rgb").write_bytes(b"new")
        assert _tree(old) == {"old_1.rgb": b"old", "manifest.json": b"{}"}  # untouched so far
    assert _tree(old) == {"new_1.rgb": b"new"}  # nothing of the old set mixed in
    assert [p.name for p in tmp_path.iterdir()] == ["set"]


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, OSError, MemoryError])
def test_an_interrupted_replacement_keeps_the_old_folder(tmp_path, interrupt):
    old = tmp_path / "set"
    old.mkdir()
    (old / "old.rgb").write_bytes(b"old")
    with pytest.raises(interrupt):
        with safe_io.replace_directory(old, force=True) as stage:
            (stage / "new.rgb").write_bytes(b"half")
            raise interrupt()
    assert _tree(old) == {"old.rgb": b"old"}
    assert [p.name for p in tmp_path.iterdir()] == ["set"]


def test_replace_directory_refuses_a_symlink_a_file_and_an_input(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    (tmp_path / "file").write_text("x")
    for target, match, inputs in ((tmp_path / "link", "symbolic link", []),
                                  (tmp_path / "file", "not a directory", []),
                                  (real, "input", [real])):
        with pytest.raises(OutputError, match=match):
            with safe_io.replace_directory(target, force=True, inputs=inputs):
                raise AssertionError("never reached")
    assert real.is_dir() and (tmp_path / "file").read_text() == "x"


SLOW_REPLACE = """
import signal, sys, time
from pathlib import Path
from rdk_classifier import safe_io
def stop(*_):
    raise KeyboardInterrupt
signal.signal(signal.SIGTERM, stop)
with safe_io.replace_directory(sys.argv[1], force=True) as stage:
    for i in range(1000):
        (stage / f"new_{i}.rgb").write_bytes(b"n" * 1000)
        if i == 5:
            Path(sys.argv[2]).write_text("started")
        time.sleep(0.01)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_the_build_keeps_the_old_folder(tmp_path, sig, spawn):
    old = tmp_path / "set"
    old.mkdir()
    (old / "old.rgb").write_bytes(b"old")
    started = tmp_path / "started"
    proc = spawn([sys.executable, "-c", SLOW_REPLACE, str(old), str(started)],
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(sig)
    proc.wait(60)
    assert proc.returncode != 0
    assert _tree(old) == {"old.rgb": b"old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set", "started"]


def test_exchange_paths_swaps_two_folders(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a")
    (b / "x").write_text("b")
    if not safe_io.exchange_paths(a, b):
        pytest.skip("no renameat2(RENAME_EXCHANGE) here")
    assert (a / "x").read_text() == "b" and (b / "x").read_text() == "a"


def test_copy_file_streams_and_keeps_the_rules(tmp_path):
    src = tmp_path / "model.onnx"
    src.write_bytes(os.urandom(3 << 20))
    dst = tmp_path / "copy.onnx"
    safe_io.copy_file(src, dst)
    assert dst.read_bytes() == src.read_bytes()
    with pytest.raises(OutputExistsError):
        safe_io.copy_file(src, dst)
    with pytest.raises(OutputError, match="input"):
        safe_io.copy_file(src, src, force=True, inputs=[src])
    with pytest.raises(OutputError, match="not a regular file"):
        safe_io.copy_file("/dev/zero", tmp_path / "zero")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.onnx", "model.onnx"]
