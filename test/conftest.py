"""Shared fixtures: the committed real images and a default-model classifier."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

# A shell that starts the suite in the background without job control (`cmd &` in a script,
# nohup) leaves SIGINT ignored, and an ignored signal stays ignored across exec: the Ctrl-C tests'
# children would then never see their SIGINT. A handler (unlike SIG_IGN) is reset to the default
# at exec, so restoring Python's own here gives every child a working Ctrl-C again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

DATA = Path(__file__).parent / "data"
IMAGENET_DIR = DATA / "imagenet"
PHOTOS_DIR = DATA / "photos"


def imagenet_samples() -> list[tuple[Path, int]]:
    """The 20 labelled ImageNet validation images (file, class index) from val.txt."""
    rows = (line.split() for line in (IMAGENET_DIR / "val.txt").read_text().splitlines() if line.strip())
    return [(IMAGENET_DIR / name, int(label)) for name, label in rows]


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    return cv2.imread(str(PHOTOS_DIR / "chelsea.png"))


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    return cv2.imread(str(PHOTOS_DIR / "coffee.png"))


@pytest.fixture(scope="session")
def classifier():
    from rdk_classifier.classifier import Classifier

    return Classifier.from_model(backend="cpu")


@pytest.fixture
def model_dirs(monkeypatch, tmp_path) -> tuple[Path, Path]:
    """Empty stand-ins for /opt/hobot/model/x5/basic and the download cache, no download mirror
    set, and no BPU runtime importable: (system dir, cache dir)."""
    import bpu_doubles
    from rdk_classifier import zoo

    system, cache = tmp_path / "hobot", tmp_path / "cache"
    system.mkdir()
    cache.mkdir()
    monkeypatch.setenv(zoo.SYSTEM_MODEL_DIR_ENV, str(system))
    monkeypatch.setenv(zoo.CACHE_DIR_ENV, str(cache))
    monkeypatch.delenv(zoo.BASE_URL_ENV, raising=False)
    bpu_doubles.block_all_runtimes(monkeypatch)
    return system, cache


@pytest.fixture
def spawn():
    """``subprocess.Popen`` for tests that signal a child: a child still running when the test
    ends (a failed wait, a lost signal) is killed, never left behind to load the machine."""
    children: list[subprocess.Popen] = []

    def start(*args, **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(*args, **kwargs)
        children.append(proc)
        return proc

    yield start
    for proc in children:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
