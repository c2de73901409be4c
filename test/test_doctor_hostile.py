"""``doctor`` against hostile requests: a model that does not exist, and ``--out`` targets that
must never be replaced (symlink, device, folder, unwritable), checked before any check runs."""

from __future__ import annotations

import json
import os
import stat
import time

import pytest

from rdk_classifier import doctor, zoo
from test_doctor import run_cli


@pytest.fixture(autouse=True)
def isolated(model_dirs):
    """No real /opt/hobot, cache or BPU runtime."""
    return model_dirs[0]


@pytest.mark.parametrize("model, named", [
    ("NoSuchModel", "NoSuchModel"),
    ("ResNet1", "ResNet1"),                    # a typo: named, with the suggestion
    ("ResNet18", "ResNet18"),                  # a zoo model whose .bin is not here
    ("/nowhere/model.bin", "/nowhere/model.bin"),
    ("missing.onnx", "missing.onnx"),
])
def test_a_model_that_cannot_be_found_is_an_error_naming_it(capsys, model, named):
    t0 = time.monotonic()
    code, out, err = run_cli(capsys, "--runs", "1", "--model", model)
    assert code == 2 and out == ""
    assert named in err and "ALL CHECKS PASSED" not in out + err
    assert len(err.strip().splitlines()) == 1 and zoo.DEFAULT_MODEL not in err
    assert time.monotonic() - t0 < 30  # refused before any model is loaded (not a timed claim)


def test_a_bpu_model_on_a_machine_without_a_bpu_is_a_failed_check_that_names_it(capsys,
                                                                                isolated):
    (isolated / "resnet18_224x224_nv12.bin").write_bytes(b"x")
    code, out, _ = run_cli(capsys, "--json", "--runs", "1", "--model", "ResNet18")
    report = json.loads(out)
    assert code == 1 and not report["passed"]
    failed = [c for c in report["checks"] if not c["passed"]]
    assert [c["name"] for c in failed] == ["bpu: ResNet18"]
    assert "ResNet18" in report["cpu"]["note"] and zoo.DEFAULT_MODEL in report["cpu"]["note"]


def _kinds(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    link = tmp_path / "link.json"
    link.symlink_to(victim)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "inside").write_text("keep")
    return {"symlink": link, "folder": folder, "device": "/dev/null",
            "dangling symlink": tmp_path / "dangling"}


@pytest.mark.parametrize("kind", ["symlink", "folder", "device", "dangling symlink"])
@pytest.mark.parametrize("force", [False, True])
def test_out_never_replaces_what_is_not_a_regular_file(capsys, tmp_path, kind, force,
                                                       monkeypatch):
    targets = _kinds(tmp_path)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    target = targets[kind]
    before = os.lstat(target)
    ran = []
    monkeypatch.setattr(doctor, "run_doctor", lambda *a, **k: ran.append(1))
    code, out, err = run_cli(capsys, "--runs", "1", "--out", str(target),
                             *(["--force"] if force else []))
    assert code == 2 and ran == [] and out == "", err  # refused before any check ran
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    after = os.lstat(target)
    assert (after.st_ino, stat.S_IFMT(after.st_mode)) == (before.st_ino, stat.S_IFMT(before.st_mode))
    assert (tmp_path / "victim.txt").read_text() == "keep"
    assert (tmp_path / "folder" / "inside").read_text() == "keep"
    assert not (tmp_path / "nowhere").exists()


def test_out_into_an_unwritable_folder_is_one_line(capsys, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: permissions do not apply")
        ran = []
        monkeypatch.setattr(doctor, "run_doctor", lambda *a, **k: ran.append(1))
        code, _, err = run_cli(capsys, "--out", str(locked / "r.json"))
        assert code == 2 and ran == [] and "not writable" in err
        assert len(err.strip().splitlines()) == 1
    finally:
        locked.chmod(0o700)


def test_an_existing_report_is_refused_before_the_checks(capsys, tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("mine")
    ran = []
    monkeypatch.setattr(doctor, "run_doctor", lambda *a, **k: ran.append(1))
    code, _, err = run_cli(capsys, "--out", str(target))
    assert code == 2 and ran == [] and "--force" in err
    assert target.read_text() == "mine"


def test_out_puts_the_report_in_the_file_and_only_a_summary_on_stdout(capsys, tmp_path):
    target = tmp_path / "report.json"
    code, out, err = run_cli(capsys, "--runs", "1", "--out", str(target))
    assert code == 0 and "report written to" in err
    assert out.strip() == "rdk_classifier doctor: ALL CHECKS PASSED"
    assert json.loads(target.read_text())["passed"] is True
    code, out, _ = run_cli(capsys, "--runs", "1", "--json", "--out", str(target), "--force")
    assert code == 0 and json.loads(out) == {"passed": True, "failed": [],
                                             "report": str(target)}
    assert sorted(p.name for p in tmp_path.iterdir() if not p.is_dir()) == ["report.json"]


def test_an_interrupted_write_keeps_the_old_report(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("old")

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", fail)  # dies after writing, before the rename
    with pytest.raises(KeyboardInterrupt):
        doctor.write_report(target, "new", force=True)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir() if not p.is_dir()] == ["report.json"]  # no temp
