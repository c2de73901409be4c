"""The package's face: the public names re-exported from ``rdk_classifier``, typed (py.typed),
and the README's Python API example run as a user runs it. Importing the face pulls in no ROS
module and nothing of ``rdk_classifier.ros``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHELSEA = ROOT / "test" / "data" / "photos" / "chelsea.png"


def python_api_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    return code


def run_python(code: str, cwd: Path | str = ROOT) -> str:
    """``python -c code`` in a fresh interpreter that sees only this checkout; its stdout."""
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_readme_python_api_example_runs():
    stdout = run_python(python_api_example())
    first, second = stdout.splitlines()
    # chelsea.png is a near tie between cat classes: assert the shape, and a cat on top
    assert first.startswith("test/data/photos/chelsea.png: ") and first.count("(") == 5
    assert re.match(r"(tiger cat|Egyptian Mau|tabby cat) 0\.\d+ \d+\.\d+$", second)


def test_the_one_liner_of_the_issue_works():
    code = ("from rdk_classifier import Classifier; "
            f"print(Classifier.from_model().classify_file({str(CHELSEA)!r}))")
    stdout = run_python(code, cwd="/")
    assert "chelsea.png: " in stdout and " cat (28" in stdout


def test_every_public_name_resolves_and_no_ros_is_imported():
    code = ("import sys, rdk_classifier as r; "
            "[getattr(r, n) for n in r.__all__]; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('rclpy', 'rosbags', 'sensor_msgs', 'vision_msgs', 'std_msgs') "
            "or m.startswith('rdk_classifier.ros')))")
    assert run_python(code).strip() == "[]"


def test_classifying_offline_imports_no_http_stack():
    """urllib.request pulls in http.client, email and ssl (about 8 MB of memory), hashlib
    OpenSSL's libcrypto (3.5 MB): only a process that downloads or checks a digest imports them,
    not one that classifies with a model it has (every node pays for what is imported)."""
    code = ("import sys, rdk_classifier as r, rdk_classifier.cli.bench, rdk_classifier.cli.classify; "
            "c = r.Classifier.from_model(); "
            "print(c.classify_file('test/data/photos/chelsea.png').top[0].class_id); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('ssl', 'http', 'email', '_hashlib') or m == 'urllib.request'))")
    class_id, modules = run_python(code).strip().splitlines()
    assert class_id.isdigit() and modules == "[]"


def test_the_face_names_are_the_real_objects():
    import rdk_classifier as r
    from rdk_classifier import classifier, download, errors, frames, zoo

    assert r.Classifier is classifier.Classifier and r.Result is classifier.Result
    assert r.fetch_model is download.fetch_model and r.get_model is zoo.get_model
    assert r.Frame is frames.Frame and issubclass(r.DecodeError, errors.RdkClassifierError)
    assert r.get_model(r.DEFAULT_MODEL).name == r.DEFAULT_MODEL


def test_py_typed_is_shipped():
    assert (ROOT / "rdk_classifier" / "py.typed").is_file()
    assert '"py.typed"' in (ROOT / "setup.py").read_text()


def test_context_manager_closes_and_str_is_one_line(classifier):
    from rdk_classifier import Classifier

    with Classifier.from_model(backend="cpu") as clf:
        result = clf.classify_image(np.full((64, 64, 3), 128, np.uint8), source="gray")
        closed = []
        real_close = clf.backend.close
        clf.backend.close = lambda: closed.append(1) or real_close()
    assert closed == [1]
    line = str(result)
    assert "\n" not in line and line.startswith("gray: ") and line.count("(") == 5


@pytest.mark.parametrize("name", ["Classifier", "ClassifierConfig", "Result", "fetch_model",
                                  "list_models", "RdkClassifierError"])
def test_public_names_are_in_all(name):
    import rdk_classifier

    assert name in rdk_classifier.__all__
