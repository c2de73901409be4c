"""The RDK boards a zoo model can run on, which one this is, and whether a model file fits it.

Facts (D-Robotics rdk_model_zoo: branch ``rdk_s`` download scripts and samples, the S-series
release manifest ``docs/release/s/models.yaml`` s-v1.1.2, the conversion READMEs and
``ptq_s.yaml``; the X5 zoo):

* RDK X5: BPU ``bayes-e``; compiled models are ``.bin`` (hb_mapper); ``hbm_runtime`` takes ONE
  packed NV12 input. Preinstalled models in ``/opt/hobot/model/x5/basic/``.
* RDK S100 / S100P / S600: BPU ``nash-e`` / ``nash-m`` / ``nash-p``; models are ``.hbm``
  (hb_compile), compiled per chip: an S100 model does not run on an S600. ``hbm_runtime`` takes
  TWO inputs, Y ``(1, H, W, 1)`` and UV ``(1, H/2, W/2, 2)``. Files under
  ``.../rdk_model_zoo/rdk_<soc>/...`` and ``/opt/hobot/model/<soc>/basic/``. The zoo publishes
  classification builds for s100 and s600 only; its download scripts give an S100P the s100
  build ("other (s100 / s100p / (null) / unknown) -> rdk_s100").
* The chip: ``/sys/class/boardinfo/soc_name`` (the zoo's scripts lower-case it and strip
  "()"); an S100P is told apart by ``/sys/class/boardinfo/board_type`` containing "s100p".

Which input contract a model has is read from the model itself (``backends.bpu``), never from
the board name; the board is used to pick the right FILE and to refuse a file built for another
chip before the runtime fails on it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import ModelError, SocMismatchError

SOCS = ("x5", "s100", "s100p", "s600")
#: the BPU architecture ("march") each chip's models are compiled for, as the vendor spells it
MARCH = {"x5": "bayes-e", "s100": "nash-e", "s100p": "nash-m", "s600": "nash-p"}
#: the model file suffix each chip's runtime takes
MODEL_SUFFIX = {"x5": ".bin", "s100": ".hbm", "s100p": ".hbm", "s600": ".hbm"}
#: the hbm_runtime input contract of each chip's zoo models
INPUT_CONTRACT = {"x5": "packed_nv12", "s100": "nv12_y_uv", "s100p": "nv12_y_uv",
                  "s600": "nv12_y_uv"}
#: whose builds a chip runs, in order of preference (S100P: the zoo's scripts fetch s100 builds)
RUNS_BUILDS_OF = {"x5": ("x5",), "s100": ("s100",), "s100p": ("s100p", "s100"),
                  "s600": ("s600",)}
#: Ubuntu + ROS 2 of each board's OS image (vendor docs)
OS_IMAGE = {"x5": "Ubuntu 22.04 + Humble", "s100": "Ubuntu 22.04 + Humble",
            "s100p": "Ubuntu 22.04 + Humble", "s600": "Ubuntu 24.04 + Jazzy"}

SOC_NAME_FILE = Path("/sys/class/boardinfo/soc_name")
BOARD_TYPE_FILE = Path("/sys/class/boardinfo/board_type")
#: overrides the detection (tests, a board whose sysfs says nothing, cross-checks on a PC)
SOC_ENV = "RDK_CLASSIFIER_SOC"

_TAGS = {"nashe": "s100", "nash-e": "s100", "nashm": "s100p", "nash-m": "s100p",
         "nashp": "s600", "nash-p": "s600", "bayese": "x5", "bayes-e": "x5",
         "rdk_s100p": "s100p", "rdk_s100": "s100", "rdk_s600": "s600", "rdk_x5": "x5",
         "s100p": "s100p", "s100": "s100", "s600": "s600", "x5": "x5"}


def normalize_soc(value: str | None, where: str = "SoC") -> str | None:
    """``"S100"`` -> ``"s100"``; None / "" / "auto" -> None; anything else is an error."""
    if value is None:
        return None
    text = str(value).strip().lower().strip("()").strip()
    if text in ("", "auto"):
        return None
    if text.startswith("rdk_") or text.startswith("rdk-"):
        text = text[4:]
    if text not in SOCS:
        raise ModelError(f"unknown {where} {value!r}; one of {', '.join(SOCS)} (or auto)")
    return text


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[:256].strip()
    except OSError:
        return None


def soc_from_sysfs(soc_name: str | None, board_type: str | None) -> str | None:
    """The chip from the boardinfo files' text, as the zoo's download scripts read it."""
    soc = (soc_name or "").strip().lower().replace("(", "").replace(")", "").strip()
    board = (board_type or "").strip().lower()
    if "s100p" in board or soc == "s100p":
        return "s100p"
    for name in ("s600", "s100", "x5"):
        if name in soc:
            return name
    return None


def detect_soc(override: str | None = None, *, soc_name_file: Path = SOC_NAME_FILE,
               board_type_file: Path = BOARD_TYPE_FILE) -> tuple[str | None, str]:
    """(the chip or None, where that came from). Order: ``override`` (CLI option / node
    parameter), ``$RDK_CLASSIFIER_SOC``, the boardinfo files. None: not an RDK board we know
    (a PC), which keeps the X5 files as the default."""
    soc = normalize_soc(override, "--soc")
    if soc is not None:
        return soc, "option"
    env = os.environ.get(SOC_ENV)
    soc = normalize_soc(env, f"${SOC_ENV}")
    if soc is not None:
        return soc, f"${SOC_ENV}"
    raw = _read(soc_name_file)
    soc = soc_from_sysfs(raw, _read(board_type_file))
    if soc is not None:
        return soc, f"{soc_name_file} ({raw!r})"
    if raw is not None:
        return None, f"{soc_name_file} says {raw!r} (not a chip this package knows)"
    return None, f"no {soc_name_file} (not an RDK board)"


def soc_of_file(path: str | Path) -> str | None:
    """The chip a model file was built for, where its name or folder says it (zoo layouts:
    ``rdk_s600/...``, ``/opt/hobot/model/s100/basic/``, ``..._nashe_...``); else None."""
    parts = [p.lower() for p in Path(path).parts]
    tokens = re.split(r"[_./\-]+", parts[-1]) if parts else []
    name = parts[-1] if parts else ""
    for tag in ("nash-e", "nash-m", "nash-p", "bayes-e"):
        if tag in name:
            return _TAGS[tag]
    for token in tokens:
        if token in ("nashe", "nashm", "nashp", "bayese"):
            return _TAGS[token]
    for folder in reversed(parts[:-1]):
        if folder in _TAGS:
            return _TAGS[folder]
    return None


def check_file_for_soc(path: str | Path, soc: str | None) -> None:
    """Refuse a model file built for another chip than ``soc`` (None: no check), with why."""
    if soc is None:
        return
    suffix = Path(path).suffix.lower()
    want = MODEL_SUFFIX[soc]
    if suffix in (".bin", ".hbm") and suffix != want:
        other = "the RDK X5 (bayes-e, hb_mapper)" if suffix == ".bin" else \
            "the S series (nash-e/nash-m/nash-p, hb_compile)"
        raise SocMismatchError(
            f"{path} is a {suffix} model, built for {other}; this board is an RDK "
            f"{soc.upper()} ({MARCH[soc]}), whose runtime takes {want} models only. Use the "
            f"{soc.upper()} build of the model (`python -m rdk_classifier zoo list --soc {soc}`)")
    built_for = soc_of_file(path)
    if built_for is not None and suffix in (".bin", ".hbm") and MODEL_SUFFIX[built_for] != suffix:
        built_for = None  # a folder name that cannot be right for this file type says nothing
    if built_for is not None and built_for not in RUNS_BUILDS_OF[soc]:
        raise SocMismatchError(
            f"{path} is built for the RDK {built_for.upper()} ({MARCH[built_for]}); this board "
            f"is an RDK {soc.upper()} ({MARCH[soc]}) and BPU models are compiled per chip. "
            f"Use the {soc.upper()} build (`python -m rdk_classifier zoo fetch NAME --soc {soc}`)")


def system_model_dir(soc: str) -> Path:
    """Where the board's OS image keeps its preinstalled models."""
    return Path("/opt/hobot/model") / soc / "basic"
