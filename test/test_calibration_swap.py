"""``calib --force`` builds the whole new calibration set beside the old one and swaps it in only
when complete (``safe_io.replace_directory``): an error, Ctrl-C or SIGTERM on the way leaves the
old set and its manifest as they were, and no staging folder or lock behind (issue 21)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rdk_classifier import safe_io
from rdk_classifier.cli import main
from rdk_classifier.errors import CalibrationError, OutputError
from rdk_classifier.ptq import calibration as cal

from conftest import IMAGENET_DIR

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'test'}"}
SIZE = (32, 32)


def snapshot(out: Path) -> dict[str, bytes]:
    """The set and its manifest, byte for byte."""
    files = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    files["<manifest>"] = cal.manifest_path(out).read_bytes()
    return files


@pytest.fixture
def old_set(tmp_path) -> tuple[Path, dict[str, bytes]]:
    out = tmp_path / "cal"
    cal.build_calibration_set(IMAGENET_DIR, out, count=3, seed=0, size=SIZE)
    return out, snapshot(out)


def beside(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir())


@pytest.mark.parametrize("exchange", [True, False])
def test_force_swaps_in_the_whole_new_set_and_the_old_is_untouched_until_then(
        old_set, monkeypatch, exchange):
    out, before = old_set
    if not exchange:  # a system without renameat2(RENAME_EXCHANGE): rename aside, then in
        monkeypatch.setattr(safe_io, "exchange_paths", lambda a, b: False)
    real = cal.calibration_tensor
    seen = []

    def watching(image, target):  # every step of the build: the old set is still whole
        seen.append(snapshot(out) == before)
        return real(image, target)

    monkeypatch.setattr(cal, "calibration_tensor", watching)
    new = cal.build_calibration_set(IMAGENET_DIR, out, count=5, seed=1, size=SIZE,
                                    overwrite=True)
    assert len(seen) >= 5 and all(seen)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(e.file for e in new.entries) and len(names) == 5  # nothing old mixed in
    assert names != sorted(n for n in before if n != "<manifest>")
    loaded = cal.load_calibration_set(out, cal.CalibrationTarget(*SIZE))  # manifest == files
    assert [e.file for e in loaded.entries] == [e.file for e in new.entries]
    assert beside(out) == ["cal", "cal.manifest.json"]  # no stage, no lock, no parked old set


@pytest.mark.parametrize("failure", [KeyboardInterrupt, MemoryError, CalibrationError])
def test_an_error_midway_keeps_the_old_set_and_leaves_no_stage(old_set, monkeypatch, failure):
    out, before = old_set
    real = cal.calibration_tensor
    calls = []

    def failing(image, target):
        calls.append(1)
        if len(calls) == 3:  # two new tensors are already written to the stage
            staged = [p for p in out.parent.iterdir() if p.name.endswith(".partial")]
            assert len(staged) == 1 and len(list((staged[0] / "cal").iterdir())) == 2
            raise failure("injected")
        return real(image, target)

    monkeypatch.setattr(cal, "calibration_tensor", failing)
    with pytest.raises(failure, match="injected"):
        cal.build_calibration_set(IMAGENET_DIR, out, count=5, seed=1, size=SIZE, overwrite=True)
    assert snapshot(out) == before
    assert beside(out) == ["cal", "cal.manifest.json"]


def test_a_set_of_unreadable_images_keeps_the_old_set(old_set, tmp_path):
    out, before = old_set
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(CalibrationError, match="could be read"):
        cal.build_calibration_set(bad, out, size=SIZE, overwrite=True)
    assert snapshot(out) == before
    assert beside(out) == ["bad", "cal", "cal.manifest.json"]


def test_without_force_an_existing_set_is_refused_in_one_line(old_set, capsys):
    out, before = old_set
    code = main(["calib", "--images", str(IMAGENET_DIR), "--out", str(out), "--size", "32x32",
                 "--count", "2", "--seed", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "already holds a calibration set" in err
    assert "--force" in err
    assert snapshot(out) == before and beside(out) == ["cal", "cal.manifest.json"]


def test_an_empty_folder_is_taken_and_a_folder_of_other_files_never_replaced(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()  # `mkdir cal` first is common; an empty folder holds nothing to lose
    made = cal.build_calibration_set(IMAGENET_DIR, empty, count=2, size=SIZE)
    assert sorted(p.name for p in empty.iterdir()) == sorted(e.file for e in made.entries)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    for overwrite in (False, True):  # --force replaces a calibration set, not the user's files
        with pytest.raises(CalibrationError, match="did not write"):
            cal.build_calibration_set(IMAGENET_DIR, mine, count=2, size=SIZE,
                                      overwrite=overwrite)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert (mine / "notes.txt").read_text() == "keep"
    link = tmp_path / "link"
    link.symlink_to(mine)  # never written through, never replaced, even with --force
    with pytest.raises(OutputError, match="symbolic link"):
        cal.build_calibration_set(IMAGENET_DIR, link, count=2, size=SIZE, overwrite=True)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and link.is_symlink()
    assert beside(empty) == ["empty", "empty.manifest.json", "link", "mine"]


def test_a_legacy_set_with_its_manifest_inside_is_replaced_with_force(tmp_path):
    out = tmp_path / "cal"
    cal.build_calibration_set(IMAGENET_DIR, out, count=2, size=SIZE)
    (out / cal.LEGACY_MANIFEST_NAME).write_text("{}")  # what an older calib wrote in the folder
    with pytest.raises(CalibrationError, match="already holds"):
        cal.build_calibration_set(IMAGENET_DIR, out, count=2, size=SIZE)
    cal.build_calibration_set(IMAGENET_DIR, out, count=2, size=SIZE, overwrite=True)
    assert not (out / cal.LEGACY_MANIFEST_NAME).exists()
    cal.load_calibration_set(out, cal.CalibrationTarget(*SIZE))


SLOW_CALIB = """
import pathlib, sys, time
from rdk_classifier.ptq import calibration
real = calibration.calibration_tensor
calls = []
def slow(image, target):
    calls.append(1)
    if len(calls) == 3:                      # two new tensors are in the stage by now
        pathlib.Path(sys.argv[3]).touch()    # tells the test the run is under way
    if len(calls) >= 3:
        time.sleep(0.5)
    return real(image, target)
calibration.calibration_tensor = slow
from rdk_classifier.cli import main
sys.exit(main(["calib", "--images", sys.argv[1], "--out", sys.argv[2], "--size", "32x32",
               "--count", "8", "--seed", "1", "--force"]))
"""


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_calib_force_interrupted_by_a_signal_keeps_the_old_set(old_set, sig, code, spawn):
    out, before = old_set
    started = out.parent / "started"
    proc = spawn([sys.executable, "-c", SLOW_CALIB, str(IMAGENET_DIR), str(out),
                             str(started)], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 120
    while not started.exists():
        if proc.poll() is not None or time.monotonic() > end:
            proc.kill()
            pytest.fail(f"calib did not start (rc {proc.returncode}): {proc.communicate()[1]}")
        time.sleep(0.05)
    staged = [p for p in out.parent.iterdir() if p.name.endswith(".partial")]
    assert len(staged) == 1 and len(list((staged[0] / "cal").iterdir())) == 2  # built beside
    assert snapshot(out) == before  # the old set is whole while the new one is built
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err
    assert snapshot(out) == before
    assert beside(out) == ["cal", "cal.manifest.json", "started"]  # no stage, no lock


def test_a_signal_during_the_swap_waits_for_the_manifest(old_set, monkeypatch):
    """Ctrl-C that arrives while the set is being swapped in is delivered once the manifest
    beside it is written too: never the new set with the old manifest."""
    out, before = old_set
    real = safe_io.exchange_paths

    def interrupted_exchange(a, b):
        signal.raise_signal(signal.SIGINT)  # Python's handler would raise right here
        return real(a, b)

    monkeypatch.setattr(safe_io, "exchange_paths", interrupted_exchange)
    with pytest.raises(KeyboardInterrupt):
        cal.build_calibration_set(IMAGENET_DIR, out, count=4, seed=1, size=SIZE, overwrite=True)
    loaded = cal.load_calibration_set(out, cal.CalibrationTarget(*SIZE))  # manifest == files
    assert len(loaded.entries) == 4 and snapshot(out) != before
    assert beside(out) == ["cal", "cal.manifest.json"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored


def test_signals_held_delivers_a_held_signal_to_the_handler_after_the_block():
    got = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: got.append("handler"))
    try:
        with safe_io.signals_held():
            signal.raise_signal(signal.SIGTERM)
            got.append("block went on")
        assert got == ["block went on", "handler"]
    finally:
        signal.signal(signal.SIGTERM, previous)
