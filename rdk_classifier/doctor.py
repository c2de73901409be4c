"""``doctor``: what this machine has, and whether the package's path works on it, in one report.

It is what a user runs first on a board and attaches to a bug. On any machine it records the OS
image, Python, the numpy / OpenCV / ONNX Runtime versions, the CPU and its int8-relevant ISA
flags, which BPU runtimes import (and why not), the ROS 2 distro if sourced, and the zoo models
already on the board. Then it checks the CPU path, and the BPU path with every runtime that
imports: it loads the model, records every input/output property the runtime exposes, runs the
two photos shipped with the package through the one path and checks the expected classes,
compares the runtimes on the same NV12, and times ``TIMED_RUNS`` inferences.

Length: the self-check covers the environment, both BPU runtimes' properties, photo checks and
timing, and formats one report; one command, one file.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import boards, zoo
from .backends.onnx_session import X64_QUANT_PRECISION, cpu_int8_info
from . import safe_io
from .errors import ModelNotFoundError, RdkClassifierError
from .platform_info import read_cpuinfo, runtime_features

#: the photos shipped as package data (rdk_classifier/data/photos/, CC0, see its README)
PHOTO_DIR = Path(__file__).resolve().parent / "data" / "photos"
#: (file, what it shows, ImageNet-1k classes that count as right)
PHOTO_CHECKS = (
    ("coffee.jpg", "espresso", frozenset({967})),
    ("chelsea.jpg", "a cat", frozenset({281, 282, 283, 284, 285})),  # tabby, tiger, Persian,
)                                                                    # Siamese, Egyptian cat
#: an expected class must be among this many best classes (quantized models reorder near ties)
PHOTO_TOP = 5
TIMED_RUNS = 100
WARMUP_RUNS = 5
ISA_FLAGS = ("avx2", "avx512_vnni", "avx_vnni", "asimddp")
#: a runtime comparison passes above this cosine and with the same top-1
COMPARE_MIN_COSINE = 0.999
OS_VERSION_FILES = ("/etc/version",)   # RDK OS images write their release there
DPKG_STATUS = "/var/lib/dpkg/status"


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass
class Report:
    environment: dict
    cpu: dict
    bpu: dict
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict:
        return {"passed": self.passed, "checks": [c.to_dict() for c in self.checks],
                "environment": self.environment, "cpu": self.cpu, "bpu": self.bpu}


# ----------------------------------------------------------------------------- environment

def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def os_image(version_files=OS_VERSION_FILES, os_release: str = "/etc/os-release",
             dpkg_status: str = DPKG_STATUS) -> dict:
    """The OS image where readable: RDK release file, os-release, kernel, hobot-* packages."""
    info: dict[str, Any] = {"kernel": platform.release(), "machine": platform.machine()}
    for path in version_files:
        text = _read(path)
        if text is not None and text.strip():
            info["rdk_version"] = text.strip().splitlines()[0].strip()
            info["rdk_version_file"] = str(path)
            break
    else:
        info["rdk_version"] = None
    text = _read(os_release) or ""
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    info["os"] = fields.get("PRETTY_NAME", "").strip('"') or None
    info["hobot_packages"] = hobot_packages(dpkg_status)
    return info


def hobot_packages(dpkg_status: str = DPKG_STATUS) -> dict[str, str]:
    """Installed D-Robotics ``hobot-*`` Debian packages and their versions (the BSP, spdev...)."""
    text = _read(dpkg_status)
    if not text:
        return {}
    found: dict[str, str] = {}
    for stanza in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines()
                      if ": " in line and not line.startswith(" "))
        name = fields.get("Package", "")
        if name.startswith("hobot-") and "installed" in fields.get("Status", ""):
            found[name] = fields.get("Version", "?")
    return dict(sorted(found.items()))


#: our flag name -> numpy's CPUID-based feature name (numpy has no AVX-VNNI entry)
_NUMPY_FEATURES = {"avx2": "AVX2", "avx512_vnni": "AVX512VNNI", "asimddp": "ASIMDDP"}


def cpu_info(cpuinfo: str = "/proc/cpuinfo", numpy_features: dict | None = None) -> dict:
    """CPU model and the ISA flags that decide ONNX Runtime's int8 kernels.

    ``isa`` is what the CPU executes, from numpy's own CPUID probe where numpy knows the flag
    (an emulator such as qemu shows the host's /proc/cpuinfo, not the emulated CPU), else from
    /proc/cpuinfo; ``isa_cpuinfo`` is /proc/cpuinfo alone."""
    model, flags = read_cpuinfo(cpuinfo)
    features = runtime_features() if numpy_features is None else numpy_features
    listed = {flag: flag in flags for flag in ISA_FLAGS}
    isa = {flag: bool(features[_NUMPY_FEATURES[flag]])
           if _NUMPY_FEATURES.get(flag) in features else listed[flag] for flag in ISA_FLAGS}
    info = {"model": model or platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "machine": platform.machine(), "isa": isa,
            "isa_cpuinfo": listed}
    # the architecture the cpuinfo describes (a report may be read on another machine)
    machine = ("aarch64" if "asimd" in flags else
               "x86_64" if {"sse2", "avx2"} & flags else None)
    int8 = cpu_int8_info(cpuinfo, runtime=features, machine=machine)
    info["int8_kernels"] = int8.int8_kernels
    if int8.saturating_without_setting:
        info["int8_note"] = (f"{int8.int8_kernels}: ONNX Runtime's u8s8 int8 kernels saturate "
                             f"here unless {X64_QUANT_PRECISION}=1, which every session of this "
                             f"package sets on such a CPU (other ONNX Runtime programs may not: their int8 "
                             f"outputs then stray further from fp32 than on VNNI or ARM CPUs)")
    return info


def _version(module: Any, dist: str | None = None) -> str | None:
    version = getattr(module, "__version__", None)
    if version is None and dist:
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return str(version) if version is not None else None


def packages() -> dict:
    out: dict[str, Any] = {}
    try:
        out["rdk_classifier"] = importlib.metadata.version("rdk_classifier")
    except importlib.metadata.PackageNotFoundError:
        out["rdk_classifier"] = None
    out["numpy"] = np.__version__
    try:
        import cv2

        out["opencv"] = cv2.__version__
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        out["opencv"] = f"not importable: {type(exc).__name__}: {exc}"
    try:
        import onnxruntime as ort

        out["onnxruntime"] = ort.__version__
        out["onnxruntime_providers"] = list(ort.get_available_providers())
    except Exception as exc:  # noqa: BLE001
        out["onnxruntime"] = f"not importable: {type(exc).__name__}: {exc}"
    return out


#: (import name, distribution names to ask for a version)
BPU_MODULES = (("hbm_runtime", ("hbm_runtime", "hbm-runtime")),
               ("hobot_dnn.pyeasy_dnn", ("hobot_dnn", "hobot-dnn")),
               ("hobot_dnn_rdkx5.pyeasy_dnn", ("hobot_dnn_rdkx5", "hobot-dnn-rdkx5")))


def bpu_runtimes() -> list[dict]:
    """Every BPU runtime module: whether it imports, its version, or the error."""
    from .backends.bpu import runtime_message

    out = []
    for name, dists in BPU_MODULES:
        entry: dict[str, Any] = {"module": name}
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # ImportError, or RuntimeError/OSError of a wrong-board build
            entry.update(imports=False, error=runtime_message(exc))
            out.append(entry)
            continue
        entry["imports"] = True
        entry["file"] = getattr(module, "__file__", None)
        version = None
        cls = getattr(module, "HB_HBMRuntime", None)
        if cls is not None and callable(getattr(cls, "version", None)):
            try:
                version = str(cls.version())
            except Exception as exc:  # noqa: BLE001
                version = f"error: {runtime_message(exc)}"
        for dist in dists:
            version = version or _version(None, dist)
        entry["version"] = version
        out.append(entry)
    return out


def ros_environment() -> dict:
    keys = ("ROS_DISTRO", "ROS_VERSION", "RMW_IMPLEMENTATION", "ROS_DOMAIN_ID",
            "ROS_LOCALHOST_ONLY")
    env: dict[str, str | bool | None] = {k: os.environ.get(k) for k in keys}
    env["sourced"] = bool(os.environ.get("ROS_DISTRO") and os.environ.get("AMENT_PREFIX_PATH"))
    return env


def board(soc_override: str | None = None) -> dict:
    """Which RDK chip this is (``soc_override`` = ``--soc``, else ``$RDK_CLASSIFIER_SOC``, else
    boardinfo) and what that means for its models."""
    soc, source = boards.detect_soc(soc_override)
    info: dict[str, Any] = {"soc": soc, "source": source}
    if soc is not None:
        info.update(march=boards.MARCH[soc], model_suffix=boards.MODEL_SUFFIX[soc],
                    input_contract=boards.INPUT_CONTRACT[soc], os_image=boards.OS_IMAGE[soc])
    return info


def board_models(soc: str | None = None) -> dict:
    """Which registry models are in the board's model directory already (this chip's files)."""
    if soc is None or soc == "x5":
        directory = zoo.system_model_dir()
        present = [m.name for m in zoo.list_models() if zoo.on_board(m) is not None]
    else:
        directory = zoo.board_model_dir(soc)
        present = [m.name for m in zoo.list_models()
                   if (b := m.build(soc)) is not None and (directory / b.file).is_file()]
    return {"directory": str(directory), "exists": directory.is_dir(), "present": present}


def environment(soc_override: str | None = None) -> dict:
    chip = board(soc_override)
    return {"os_image": os_image(), "python": {"version": platform.python_version(),
                                               "implementation": platform.python_implementation(),
                                               "executable": sys.executable},
            "packages": packages(), "cpu": cpu_info(), "bpu_runtimes": bpu_runtimes(),
            "ros2": ros_environment(), "board": chip,
            "board_models": board_models(chip["soc"])}


# ----------------------------------------------------------------------------- model checks

def photo_bytes() -> list[tuple[str, str, frozenset, bytes]]:
    out = []
    for name, what, classes in PHOTO_CHECKS:
        path = PHOTO_DIR / name
        try:
            out.append((name, what, classes, path.read_bytes()))
        except OSError as exc:
            raise RdkClassifierError(f"the doctor's photo {path} is missing ({exc}); reinstall "
                                     f"rdk_classifier") from exc
    return out


def _time_inference(backend, nv12: np.ndarray, runs: int) -> dict:
    from .benchmark import latency_summary

    for _ in range(WARMUP_RUNS):
        backend.infer(nv12)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        backend.infer(nv12)
        times.append((time.perf_counter() - t0) * 1e3)
    summary: dict[str, Any] = latency_summary(times)  # + runs (int) and fps (None: unknown)
    summary["runs"] = runs
    summary["fps_1_thread"] = 1000.0 / summary["mean"] if summary["mean"] > 0 else None
    return summary


def run_model(classifier, label: str, runs: int = TIMED_RUNS) -> tuple[dict, list[Check],
                                                                       dict[str, np.ndarray]]:
    """Photos through the one path, expected classes checked; then timed inferences."""
    checks, photos, nv12s = [], [], {}
    for name, what, classes, data in photo_bytes():
        nv12 = classifier.preprocessor.from_encoded(data)
        nv12s[name] = nv12
        result = classifier.classify_nv12(nv12, source=name, top=PHOTO_TOP)
        ids = [p.class_id for p in result.top]
        rank = next((i + 1 for i, c in enumerate(ids) if c in classes), None)
        top = [{"class_id": p.class_id, "label": p.label, "score": round(p.score, 5)}
               for p in result.top]
        photos.append({"photo": name, "shows": what, "expected": sorted(classes),
                       "rank": rank, "top": top})
        detail = (f"{what} at rank {rank} (top-1 {top[0]['label']} {top[0]['score']:.3f})"
                  if rank else f"no expected class ({what}) in the top {PHOTO_TOP}: "
                               + ", ".join(f"{t['label']} {t['score']:.3f}" for t in top))
        checks.append(Check(f"{label}: {name} shows {what}", rank is not None, detail))
    timing = _time_inference(classifier.backend, nv12s[PHOTO_CHECKS[0][0]], runs)
    return {"photos": photos, "timing_ms": timing}, checks, nv12s


def _cpu_properties(backend) -> dict:
    session = backend.session
    meta = session.get_modelmeta()

    def tensors(items):
        return [{"name": t.name, "shape": list(t.shape), "type": t.type} for t in items]

    return {"inputs": tensors(session.get_inputs()), "outputs": tensors(session.get_outputs()),
            "providers": list(session.get_providers()), "threads": backend.threads,
            "metadata": dict(meta.custom_metadata_map),
            "producer": f"{meta.producer_name} {meta.version}".strip()}


def check_cpu(model: str | None, runs: int = TIMED_RUNS) -> tuple[dict, list[Check]]:
    """The CPU path with ``model`` if it is a CPU model, else the default CPU model."""
    from .backends.cpu import CpuBackend
    from .classifier import Classifier
    from .frames import Preprocessor
    from .class_names import load_class_names

    name = zoo.DEFAULT_MODEL
    if model is not None:
        try:
            if zoo.get_model(model).runtime == "cpu":
                name = model
        except RdkClassifierError:
            if str(model).lower().endswith(".onnx"):
                name = model
    section: dict[str, Any] = {"model": name}
    if model is not None and name != model:
        section["note"] = (f"--model {model} is not a CPU model: the CPU path is checked with "
                           f"the default CPU model {name}")
    try:
        resolved = zoo.resolve_model(name, runtime="cpu")
        backend = CpuBackend(resolved.path, resolved.info.mean, resolved.info.scale, threads=1,
                             input_size=resolved.info.input_size)
    except RdkClassifierError as exc:
        section["error"] = str(exc)
        return section, [Check("cpu: model loads", False, str(exc))]
    section.update(path=str(resolved.path), resize_mode=resolved.info.resize_mode,
                   sha256_expected=resolved.info.sha256, properties=_cpu_properties(backend))
    checks = [Check("cpu: model loads", True, f"{resolved.info.name} from {resolved.path}")]
    spec = backend.input_spec
    classifier = Classifier(backend, Preprocessor(spec.height, spec.width,
                                                  resolved.info.resize_mode),
                            load_class_names(), resolved.info.name, top_k=PHOTO_TOP)
    try:
        results, photo_checks, _ = run_model(classifier, "cpu", runs)
    finally:
        classifier.close()
    section.update(results)
    return section, checks + photo_checks


def _pick_bpu_model(model: str | None, soc: str | None = None):
    """The BPU model to check: ``model`` if given, else one already on the board (this chip's
    file: the X5 .bin, the S-series .hbm)."""
    if model is not None:
        return zoo.resolve_model(model, runtime="bpu", soc=soc)
    candidates = sorted(zoo.list_models(), key=lambda m: not m.preinstalled)
    for info in candidates:
        if info.runtime != "bpu":
            continue
        if soc is not None and soc != "x5":
            build = info.build(soc)
            if build is not None and any(p.is_file() for p in zoo.build_candidates(build, soc)):
                return zoo.resolve_model(info.name, runtime="bpu", soc=soc)
        elif info.bin_file and zoo.find_local(info) is not None:
            return zoo.resolve_model(info.name, runtime="bpu", soc=soc)
    suffix = boards.MODEL_SUFFIX.get(soc or "x5")
    where = (f"{zoo.system_model_dir()} and {zoo.default_cache_dir()}" if soc in (None, "x5")
             else f"{zoo.board_model_dir(soc)} and {zoo.default_cache_dir() / soc}")
    fetch = zoo.fetch_command("ResNet18") + (f" --soc {soc}" if soc not in (None, "x5") else "")
    raise RdkClassifierError(
        f"no zoo {suffix} is on this machine (looked in {where}); fetch one with `{fetch}` or "
        f"pass --model FILE{suffix}")


def _is_bpu_model(model: str | None) -> bool:
    if model is None:
        return False
    if str(model).lower().endswith(".bin"):
        return True
    try:
        return zoo.get_model(model).runtime == "bpu"
    except RdkClassifierError:
        return False


def check_bpu(model: str | None, runs: int = TIMED_RUNS, soc: str | None = None
              ) -> tuple[dict, list[Check]]:
    """The BPU path with every runtime that imports, and the runtimes compared. ``soc``: the
    board's chip (None: unknown): its file is picked, and the model's input contract must be
    that chip's."""
    from .backends.bpu import BpuBackend, available_runtimes
    from .classifier import Classifier
    from .frames import Preprocessor
    from .class_names import load_class_names

    runtimes = available_runtimes()
    section: dict[str, Any] = {"available": bool(runtimes), "runtimes": runtimes}
    if not runtimes:
        section["reason"] = "no BPU runtime imports here (see environment.bpu_runtimes)"
        if _is_bpu_model(model):  # asked for and not checkable here: say so, never pass quietly
            return section, [Check(f"bpu: {model}", False, f"the BPU model {model} cannot be "
                                   f"checked here: no BPU runtime (hbm_runtime, hobot_dnn) "
                                   f"imports on this machine")]
        return section, []
    if model is not None and str(model).lower().endswith(".onnx"):
        model = None
    if model is not None:
        try:
            if zoo.get_model(model).runtime == "cpu":
                model = None
        except RdkClassifierError:
            pass
    try:
        resolved = _pick_bpu_model(model, soc)
    except RdkClassifierError as exc:
        section["error"] = str(exc)
        return section, [Check("bpu: a model to check", False, str(exc))]
    info = resolved.info
    section.update(model=info.name, path=str(resolved.path), resize_mode=info.resize_mode,
                   soc=soc, build=resolved.build.to_dict() if resolved.build else None,
                   per_runtime={})
    labels = load_class_names()
    checks: list[Check] = []
    outputs: dict[str, dict[str, np.ndarray]] = {}
    for runtime in runtimes:
        entry: dict[str, Any] = {}
        section["per_runtime"][runtime] = entry
        try:
            backend = BpuBackend(resolved.path, runtime=runtime, num_classes=len(labels),
                                 soc=soc)
        except RdkClassifierError as exc:
            entry["error"] = str(exc)
            checks.append(Check(f"bpu {runtime}: model loads", False, str(exc)))
            continue
        entry["properties"] = backend.describe()
        entry["input_contract"] = backend.input_contract
        checks.append(Check(f"bpu {runtime}: model loads", True,
                            f"{info.name}: input {backend.input_spec.width}x"
                            f"{backend.input_spec.height}, {backend.num_classes} classes"))
        if soc is not None:  # BpuBackend refused another contract: this one is the chip's
            checks.append(Check(f"bpu {runtime}: input contract", True,
                                f"{backend.input_contract}, as RDK {soc.upper()} models have"))
        spec = backend.input_spec
        classifier = Classifier(backend, Preprocessor(spec.height, spec.width, info.resize_mode),
                                labels, info.name, top_k=PHOTO_TOP)
        try:
            results, photo_checks, nv12s = run_model(classifier, f"bpu {runtime}", runs)
            outputs[runtime] = {name: np.asarray(backend.infer(nv12), np.float32).copy()
                                for name, nv12 in nv12s.items()}
        except RdkClassifierError as exc:
            entry["error"] = str(exc)
            checks.append(Check(f"bpu {runtime}: inference", False, str(exc)))
            continue
        finally:
            classifier.close()
        entry.update(results)
        checks.extend(photo_checks)
    if len(outputs) >= 2:
        section["comparison"], compare_checks = compare_runtimes(outputs)
        checks.extend(compare_checks)
    return section, checks


def compare_runtimes(outputs: dict[str, dict[str, np.ndarray]]) -> tuple[list[dict], list[Check]]:
    """The same NV12 through each runtime: the outputs must agree."""
    names = list(outputs)
    base, rows, checks = names[0], [], []
    for other in names[1:]:
        for photo, a in outputs[base].items():
            b = outputs[other][photo]
            denom = float(np.linalg.norm(a) * np.linalg.norm(b))
            cosine = float(np.dot(a, b) / denom) if denom else (1.0 if np.array_equal(a, b)
                                                                else 0.0)
            same_top1 = int(np.argmax(a)) == int(np.argmax(b))
            max_abs_diff = float(np.max(np.abs(a - b))) if a.size else 0.0
            rows.append({"runtimes": [base, other], "photo": photo, "max_abs_diff": max_abs_diff,
                         "cosine": cosine, "same_top1": same_top1})
            checks.append(Check(f"bpu: {base} and {other} agree on {photo}",
                                same_top1 and cosine >= COMPARE_MIN_COSINE,
                                f"cosine {cosine:.6f}, max |diff| {max_abs_diff:.4g}, "
                                f"same top-1 {same_top1}"))
    return rows, checks


def run_doctor(model: str | None = None, runs: int = TIMED_RUNS,
               soc: str | None = None) -> Report:
    """Every check; a ``model`` that does not exist is an error before any of them runs.
    ``soc``: the chip to check for (``--soc``; None or "auto": detected)."""
    env = environment(soc)
    check_requested_model(model, env["board"]["soc"])
    cpu, cpu_checks = check_cpu(model, runs)
    bpu, bpu_checks = check_bpu(model, runs, env["board"]["soc"])
    return Report(env, cpu, bpu, cpu_checks + bpu_checks)


# ----------------------------------------------------------------------------- output

def write_report(path: str | Path, text: str, force: bool = False) -> Path:
    """Write ``text`` to ``path`` through the package's safe writer: a temporary file in the same
    folder renamed into place; never through a symlink, never onto a device or a folder; an
    existing file is replaced only with ``force`` (and kept until the new one is whole)."""
    return safe_io.write_text(Path(path).expanduser(), text, force=force, what="doctor report")


def check_report_path(path: str | Path, force: bool = False) -> Path:
    """OutputError now (before any check runs) unless ``write_report`` may write ``path``."""
    return safe_io.check_output(Path(path).expanduser(), force=force, what="doctor report")


def check_requested_model(model: str | None, soc: str | None = None) -> None:
    """A model asked for by name or file must exist: UnknownModelError / ModelNotFoundError
    naming it (never a quiet check of the default model in its place). ``soc``: the board's
    chip, whose build of a zoo model is looked for (None or x5: the .bin)."""
    if model is None:
        return
    spec = str(model).strip()
    path = Path(spec).expanduser()
    if path.suffix.lower() in (".bin", ".hbm", ".onnx") and not zoo.is_model_name(spec):
        if not path.is_file():
            raise ModelNotFoundError(f"--model {spec}: model file not found")
        return
    info = zoo.get_model(spec)  # UnknownModelError with suggestions
    if info.runtime == "bpu" and soc not in (None, "x5"):
        build = info.build(soc)
        if build is None:
            raise ModelNotFoundError(f"--model {info.name}: no build for the {soc} is published")
        if not any(p.is_file() for p in zoo.build_candidates(build, soc)):
            raise ModelNotFoundError(f"--model {info.name}: {build.file} is not on this machine; "
                                     f"download it with `{zoo.fetch_command(info.name)} --soc {soc}`")
        return
    if info.runtime == "bpu" and zoo.find_local(info) is None:
        where = " or ".join(str(p.parent) for p in zoo.local_candidates(info))
        raise ModelNotFoundError(f"--model {info.name}: {info.bin_file} is not in {where}; "
                                 f"download it with `{zoo.fetch_command(info.name)}`")


def format_text(report: Report) -> str:
    """The report for people: the checks first, then what the machine has."""
    env, lines = report.environment, []
    lines.append(f"rdk_classifier doctor: {'ALL CHECKS PASSED' if report.passed else 'SOME CHECKS FAILED'}")
    for c in report.checks:
        lines.append(f"  [{'ok' if c.passed else 'FAIL'}] {c.name}: {c.detail}")
    image = env["os_image"]
    lines.append("")
    lines.append(f"OS image   : {image.get('rdk_version') or '-'} / {image.get('os') or '-'} "
                 f"(kernel {image['kernel']}, {image['machine']})")
    if image.get("hobot_packages"):
        lines.append("  hobot packages: " + ", ".join(f"{k} {v}" for k, v in
                                                       image["hobot_packages"].items()))
    py, pk, cpu = env["python"], env["packages"], env["cpu"]
    lines.append(f"Python     : {py['version']} ({py['executable']})")
    lines.append(f"packages   : rdk_classifier {pk.get('rdk_classifier')}, numpy {pk['numpy']}, "
                 f"OpenCV {pk['opencv']}, ONNX Runtime {pk['onnxruntime']}")
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in cpu["isa"].items())
    lines.append(f"CPU        : {cpu['model']}, {cpu['cores']} cores; {flags}")
    if cpu.get("int8_note"):
        lines.append(f"  note: {cpu['int8_note']}")
    for rt in env["bpu_runtimes"]:
        state = (f"imports, version {rt.get('version') or '?'}" if rt["imports"]
                 else f"does not import ({rt['error']})")
        lines.append(f"BPU runtime: {rt['module']} {state}")
    ros = env["ros2"]
    lines.append(f"ROS 2      : {ros['ROS_DISTRO'] + ' (sourced)' if ros['sourced'] else 'not sourced'}")
    chip = env.get("board", {})
    lines.append(f"board      : RDK {chip['soc'].upper()} ({chip['march']}, {chip['model_suffix']} "
                 f"models, {chip['input_contract']} input; {chip['source']})"
                 if chip.get("soc") else f"board      : not an RDK chip this package knows "
                                         f"({chip.get('source', '-')})")
    board = env["board_models"]
    lines.append(f"on board   : {', '.join(board['present']) or 'none'} ({board['directory']})")
    for label, section in (("CPU", report.cpu), ("BPU", report.bpu)):
        lines.append("")
        if label == "BPU" and not section.get("available"):
            lines.append(f"BPU path: not checked: {section.get('reason')}")
            continue
        lines.append(f"{label} path: model {section.get('model')} ({section.get('path', '-')}"
                     + (f", resize {section['resize_mode']}" if section.get("resize_mode") else "")
                     + ")")
        if section.get("note"):
            lines.append(f"  note: {section['note']}")
        parts = section.get("per_runtime", {"cpu": section}) if label == "BPU" else {"onnxruntime": section}
        for runtime, entry in parts.items():
            if "error" in entry:
                lines.append(f"  {runtime}: {entry['error']}")
                continue
            t = entry.get("timing_ms")
            if t:
                lines.append(f"  {runtime}: {t['runs']} inferences: mean {t['mean']:.2f} ms, "
                             f"p50 {t['p50']:.2f}, p99 {t['p99']:.2f}, min {t['min']:.2f}, "
                             f"max {t['max']:.2f}")
            props = entry.get("properties")
            if props:
                text = json.dumps(props, sort_keys=True)
                lines.append(f"  {runtime} properties: {text[:2000]}"
                             + (" ... (all of it in --json)" if len(text) > 2000 else ""))
        for row in section.get("comparison", []):
            lines.append(f"  {row['runtimes'][0]} vs {row['runtimes'][1]} on {row['photo']}: "
                         f"cosine {row['cosine']:.6f}, max |diff| {row['max_abs_diff']:.4g}")
    lines.append("")
    lines.append("Attach `python -m rdk_classifier doctor --json --out report.json` to a bug report.")
    return "\n".join(lines)
