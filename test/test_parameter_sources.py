"""One source for every node parameter: the table in ``ros/settings.PARAMETERS``. The settings
dataclass, the core's ClassifierConfig, the launch file's arguments and the help texts that
name defaults must agree with it (config/classifier.yaml is checked in test_node.py)."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

from rdk_classifier.classifier import ClassifierConfig
from rdk_classifier.ros.settings import PARAMETERS, SPECS, NodeSettings

ROOT = Path(__file__).resolve().parents[1]
#: launch arguments that are not node parameters (or map onto the topic lists)
LAUNCH_ONLY = {"image_topic", "compressed_image_topic", "hbmem_topic", "params_file",
               "namespace", "node_name", "log_level"}


def _launch_arguments(path: Path) -> dict[str, str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ARGUMENTS":
            return {ast.literal_eval(t.elts[0]): ast.literal_eval(t.elts[2]) for t in node.value.elts}
    raise AssertionError(f"{path} has no ARGUMENTS table")


def test_settings_defaults_are_the_parameter_table():
    defaults = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                for f in dataclasses.fields(NodeSettings)}
    for spec in PARAMETERS:
        want = () if spec.default is None else spec.default
        got = defaults[spec.name]
        assert (tuple(got) if isinstance(got, (list, tuple)) else got) == \
            (tuple(want) if isinstance(want, list) else want), spec.name
    assert set(defaults) == set(SPECS)


def test_classifier_config_defaults_agree_with_the_node():
    node_to_config = NodeSettings().classifier_config()
    core = ClassifierConfig()
    for name in ("model", "backend", "top_k", "threads", "bpu_core", "bpu_priority",
                 "fallback_to_cpu"):
        assert getattr(node_to_config, name) == getattr(core, name), name


def test_launch_arguments_are_node_parameters_and_their_help_states_the_real_default():
    args = _launch_arguments(ROOT / "launch" / "classifier.launch.py")
    unknown = set(args) - LAUNCH_ONLY - set(SPECS)
    assert not unknown, f"launch arguments that are no node parameter: {sorted(unknown)}"
    checked = 0
    for name, help_text in args.items():
        if name in LAUNCH_ONLY:
            continue
        stated = re.search(r"else ([\w.]+)", help_text)
        if stated:  # "(empty: params_file, else 5)" must be the table's default
            assert stated.group(1).lower() == str(SPECS[name].default).lower(), name
            checked += 1
    assert checked >= 4  # backend, fallback_to_cpu, lazy, top_k at least
