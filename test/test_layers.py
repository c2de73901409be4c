"""The layers of the package, as imports: the core imports no ROS module and nothing of ``ros/``
(the command-line shells in ``cli/`` sit above both: ``bag`` runs the ROS-message tooling of
``ros/``); only the node module and the rclpy feature checks (``ros/distro.py``) import rclpy;
the backends import no tool module. Read from the source with ``ast`` (lazy imports inside
functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rdk_classifier"
#: ROS 2 client libraries and message packages (anything that exists only in a ROS install)
ROS_MODULES = {"rclpy", "rcl_interfaces", "builtin_interfaces", "std_msgs", "sensor_msgs",
               "vision_msgs", "diagnostic_msgs", "diagnostic_updater", "launch", "launch_ros",
               "ament_index_python", "hbm_img_msgs", "ai_msgs", "cv_bridge", "rosidl_runtime_py"}
#: the modules that may import rclpy: the node, and the feature checks of the installed rclpy
RCLPY_MODULES = ("ros/node.py", "ros/distro.py")
#: what a backend may import from the package: the frame format, errors, small helpers
BACKEND_ALLOWED = {"errors", "frames", "normalization", "platform_info", "backends",
                   "boards"}  # boards: the per-chip facts the BPU backend checks a model against


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def _imports(path: Path) -> list[str]:
    """Absolute dotted names of everything a module imports (relative imports resolved)."""
    package = list(path.relative_to(PACKAGE.parent).parts[:-1])  # e.g. ["rdk_classifier", "ros"]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            out += [prefix] + [f"{prefix}.{a.name}" for a in node.names]
    return out


def _where(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


@pytest.mark.parametrize("path", _modules(), ids=_where)
def test_core_imports_no_ros(path):
    where = _where(path)
    if where.startswith("ros/"):
        return
    bad = [m for m in _imports(path) if m.split(".")[0] in ROS_MODULES
           or (m.startswith("rdk_classifier.ros") and not where.startswith("cli/"))]
    assert not bad, f"{_where(path)} (core) imports {bad}"


@pytest.mark.parametrize("path", _modules(), ids=_where)
def test_only_the_node_imports_rclpy(path):
    if _where(path) in RCLPY_MODULES:
        return
    bad = [m for m in _imports(path) if m.split(".")[0] in ("rclpy", "rcl_interfaces")]
    assert not bad, f"{_where(path)} imports {bad}; only {' and '.join(RCLPY_MODULES)} may"


@pytest.mark.parametrize("path", [p for p in _modules() if _where(p).startswith("backends/")],
                         ids=_where)
def test_backends_import_no_tool_module(path):
    ours = [m.split(".")[1] for m in _imports(path)
            if m.startswith("rdk_classifier.") and len(m.split(".")) > 1]
    bad = sorted(set(ours) - BACKEND_ALLOWED)
    assert not bad, f"{_where(path)} imports package modules {bad}"


def test_the_checks_see_real_imports():
    """The parser finds relative imports (else the tests above could never fail)."""
    names = _imports(PACKAGE / "ros" / "node.py")
    assert "rclpy" in names and any(n.startswith("rdk_classifier.classifier") for n in names)
    assert "rdk_classifier.frames" in _imports(PACKAGE / "backends" / "cpu.py")
