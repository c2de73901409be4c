"""The README's quick start is what CI runs: the two commands must appear verbatim in .ci/run."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_quick_start_is_two_commands_run_verbatim_by_ci():
    commands = quick_start_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    for command in commands:
        assert command in ci_lines, f"README quick-start command not run by .ci/run: {command}"
    assert "pytest" in commands[1] and "classify" in commands[0]


# ----------------------------------------------------------------------------- the README's claims

def _declared_launch_arguments(path: Path) -> set[str]:
    """Names a launch file declares: DeclareLaunchArgument("name", ...) calls and, for
    classifier.launch.py, its ARGUMENTS table of (name, default, description)."""
    import ast

    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "DeclareLaunchArgument"
                and node.args and isinstance(node.args[0], ast.Constant)):
            names.add(node.args[0].value)
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "ARGUMENTS"
                                                for t in node.targets):
            names.update(row.elts[0].value for row in node.value.elts)  # type: ignore[attr-defined]
    return names


def test_readme_fallback_claim_matches_the_node_and_every_launch_file():
    from rdk_classifier import zoo
    from rdk_classifier.errors import ModelUnavailableHereError
    from rdk_classifier.ros.settings import SPECS

    text = " ".join((ROOT / "README.md").read_text().split())
    # the behaviour: off by default, a BPU model is refused on a machine without a BPU
    assert SPECS["fallback_to_cpu"].default is False
    assert "`fallback_to_cpu` is off by default" in text
    assert "is replaced by the default CPU model with a warning" not in text  # the old claim
    import bpu_doubles
    import pytest

    with pytest.MonkeyPatch.context() as mp:
        bpu_doubles.block_all_runtimes(mp)
        with pytest.raises(ModelUnavailableHereError, match="fallback_to_cpu:=true"):
            zoo.resolve_model("MobileOne_S1", runtime="auto")
    # every launch file that takes model:= also takes fallback_to_cpu:= (the README says so)
    for launch in sorted((ROOT / "launch").glob("*.launch.py")):
        names = _declared_launch_arguments(launch)
        assert "model" in names and "fallback_to_cpu" in names, launch.name
    assert ("ros2 launch rdk_classifier mipi_cam.launch.py model:=MobileOne_S1 "
            "fallback_to_cpu:=true") in text


def test_readme_classify_json_example_has_the_keys_classify_prints(classifier):
    import json

    text = (ROOT / "README.md").read_text()
    example = re.search(r"`classify --json` prints one object per image per line:\n`(\{.*?\})`;",
                        text).group(1)
    keys = re.findall(r'"(\w+)": ', example.split('"top"')[0]) + ["top", "timing_ms"]
    photo = ROOT / "test" / "data" / "photos" / "chelsea.png"
    printed = json.loads(json.dumps(classifier.classify_file(photo).to_dict()))
    assert keys == list(printed)
    assert "`model: NAME (runtime, file, resize MODE)`" in text


def test_readme_limits_are_the_code_limits():
    from rdk_classifier import budget
    from rdk_classifier.classifier import THREADS_RANGE, TOP_K_RANGE
    from rdk_classifier.evaluation import MAX_LABEL_LINE_BYTES, MAX_LABELLED_IMAGES

    text = " ".join((ROOT / "README.md").read_text().split())
    assert f"Memory budget: {budget.DEFAULT_MEMORY_BUDGET >> 20} MB" in text
    assert f"${budget.MEMORY_BUDGET_ENV}" in text
    assert f"lines of at most {MAX_LABEL_LINE_BYTES} bytes" in text
    assert f"default {MAX_LABELLED_IMAGES:,}" in text
    assert "--cpu-threads %d..%d" % THREADS_RANGE in text and "--top-k %d..%d" % TOP_K_RANGE in text


def test_readme_calibration_sets_are_staged_and_renamed(tmp_path, monkeypatch):
    """The overwrite rule's claim, by behaviour: the new set is built in a hidden folder beside
    --out while the old set stays whole, then exchanged with it (renameat2 where available)."""
    from conftest import IMAGENET_DIR
    from rdk_classifier import safe_io
    from rdk_classifier.cli import main
    from rdk_classifier.ptq import calibration as cal

    text = " ".join((ROOT / "README.md").read_text().split())
    assert "Calibration sets are staged and renamed" in text
    assert "swapped with the old set atomically (`safe_io.replace_directory`" in text
    out = tmp_path / "cal"
    argv = ["calib", "--images", str(IMAGENET_DIR), "--out", str(out), "--size", "32x32",
            "--count", "2"]
    assert main(argv) == 0
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    during, exchanged = [], []
    real_tensor, real_exchange = cal.calibration_tensor, safe_io.exchange_paths

    def tensor(image, target):
        stages = [p for p in tmp_path.iterdir() if p.name.startswith(".cal.")
                  and p.name.endswith(".partial")]
        during.append((len(stages), {p.name: p.read_bytes() for p in out.iterdir()} == old))
        return real_tensor(image, target)

    def exchange(a, b):
        exchanged.append((Path(a).parent.parent, Path(b)))
        return real_exchange(a, b)

    monkeypatch.setattr(cal, "calibration_tensor", tensor)
    monkeypatch.setattr(safe_io, "exchange_paths", exchange)
    assert main(argv + ["--seed", "5", "--count", "3", "--force"]) == 0
    assert during == [(1, True)] * 3  # staged beside, the old set whole meanwhile
    assert exchanged == [(tmp_path, out)]  # one swap of the stage with the old folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cal", "cal.manifest.json"]
    assert len(list(out.iterdir())) == 3


def readme_commands() -> list[str]:
    """Every `python -m rdk_classifier ...` of the README (code blocks and inline), one string
    each, the synopsis lines expanded: `[--opt A|B]` -> `--opt A` (every option, its first
    choice)."""
    text = (ROOT / "README.md").read_text()
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            m = re.search(r"(?:python3?|\.venv/bin/python) -m rdk_classifier (.*)", line)
            if m:
                found.append(m.group(1).split(" #")[0])
    found += re.findall(r"`python -m rdk_classifier ([^`]*)`", text)
    expanded = []
    for command in found:
        command = re.sub(r"[\[\]]", " ", command)
        command = re.sub(r"(\S+?)\|\S+", r"\1", command)  # a|b|c -> a
        expanded.append(" ".join(command.split()))
    return expanded


def test_every_readme_command_parses_with_the_cli(capsys):
    """Each command line the README shows is accepted by the command's own parser as written:
    the subcommand, every option, and every listed choice exist (placeholders stand as given)."""
    import shlex

    from rdk_classifier.cli import build_parser

    commands = readme_commands()
    assert len(commands) > 25
    seen = set()
    for command in commands:
        argv = shlex.split(command.replace("...", "").replace(" R G B", " 1 1 1"))
        seen.add(argv[0] if argv[0] != "zoo" else f"zoo {argv[1]}")
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            raise AssertionError(f"README command does not parse: {command}\n"
                                 f"{capsys.readouterr().err}") from None
    assert {"classify", "doctor", "evaluate", "bench", "bag", "calib", "quantize",
            "toolchain-config", "model-info", "zoo list", "zoo show", "zoo fetch"} <= seen
