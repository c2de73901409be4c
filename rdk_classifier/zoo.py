"""The model registry: one name resolves to everything needed to fetch, load and feed a model.

The data lives in ``zoo.yaml`` beside this module (parsed once). ``get_model`` looks a name up,
``resolve_model`` turns a name or a file path into a file on this machine and the runtime to run
it on, and ``rdk_classifier.download.fetch_model`` brings a missing ``.bin`` into the cache.

Length: the registry loader validates every field of zoo.yaml (71 rows) and resolves names, files
and runtimes; the table itself is data in zoo.yaml.
"""

from __future__ import annotations

import difflib
import functools
import os
import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from .normalization import IMAGENET_MEAN, IMAGENET_SCALE
from .errors import ModelError, ModelNotFoundError, ModelUnavailableHereError, UnknownModelError


DEFAULT_MODEL = "EfficientNet_Lite0_int8"

RUNTIMES = ("bpu", "cpu")
RESOLVE_RUNTIMES = ("auto", "bpu", "cpu")
RESIZE_MODES = ("direct", "letterbox", "center_crop")
OUTPUT_KINDS = ("logits", "probabilities", "unknown")

#: where RDK OS images preinstall some zoo models (mobilenetv1/v2 on X5)
SYSTEM_MODEL_DIR = Path("/opt/hobot/model/x5/basic")
SYSTEM_MODEL_DIR_ENV = "RDK_CLASSIFIER_SYSTEM_MODEL_DIR"
CACHE_DIR_ENV = "RDK_CLASSIFIER_CACHE"
BASE_URL_ENV = "RDK_CLASSIFIER_BASE_URL"
#: the .onnx models shipped inside the package
PACKAGED_MODEL_DIR = Path(__file__).resolve().parent / "models"
REGISTRY_FILE = Path(__file__).resolve().parent / "zoo.yaml"

_FIGURES = ("params_m", "float_top1", "quant_top1", "latency_ms", "latency_mt_ms", "fps")
_BIN_SUFFIX = "_224x224_nv12.bin"


@dataclass(frozen=True)
class ModelInfo:
    """One registry row. Figures are the seed table's (None where the table has no row)."""

    name: str
    family: str | None
    runtime: str  # "bpu" or "cpu"
    bin_file: str | None
    onnx_file: str | None
    url: str | None
    onnx_url: str | None
    input_size: tuple[int, int]  # (height, width)
    resize_mode: str
    output_kind: str  # a hint; the postprocessing checks the actual output
    mean: tuple[float, float, float]
    scale: tuple[float, float, float]
    params_m: float | None
    float_top1: float | None
    quant_top1: float | None
    latency_ms: float | None
    latency_mt_ms: float | None
    fps: float | None
    recommended: bool
    in_seed_table: bool
    #: path of the file under the zoo's base URL (sub-folders for some models); None: not
    #: published for download (it ships with the RDK OS image)
    url_path: str | None = None
    #: the RDK X5 OS image installs this .bin in /opt/hobot/model/x5/basic/ (vendor sources)
    preinstalled: bool = False
    #: SHA-256 of the model file, hex; None where unknown
    sha256: str | None = None
    #: further names that resolve to this model (e.g. the zoo tables' spellings)
    aliases: tuple[str, ...] = ()
    #: hb_mapper's input_type_train: the colour order the network was trained on
    input_type_train: str = "rgb"
    #: class names recorded with a user's model (None: ImageNet-1k for registry models)
    class_names: tuple[str, ...] | None = None
    #: a user's model file (not a registry row): its facts come from the file itself
    user_file: bool = False

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (tuples become lists)."""
        d = asdict(self)
        for key in ("input_size", "mean", "scale", "aliases"):
            d[key] = list(d[key])
        return d


@dataclass(frozen=True)
class ResolvedModel:
    """A model file on this machine and the runtime that will run it."""

    info: ModelInfo
    path: Path
    runtime: str  # "bpu" (a .bin) or "cpu" (an .onnx)
    #: set when the model asked for cannot run here and this one runs instead (``fallback=True``)
    fallback_reason: str | None = None


# ----------------------------------------------------------------------------- registry loading

@dataclass(frozen=True)
class _Registry:
    base_url: str
    models: tuple[ModelInfo, ...]
    index: dict[str, ModelInfo]  # casefolded name / alias -> model


def _figure(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: expected a number or null, got {value!r}")
    return float(value)


def _triple(value: Any, where: str) -> tuple[float, float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise ValueError(f"{where}: expected 3 numbers, got {value!r}")
    a, b, c = value
    return float(a), float(b), float(c)


def _build_info(row: dict, defaults: dict, base_url: str) -> ModelInfo:
    name = row.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"zoo.yaml: a model row has no name: {row!r}")
    runtime = row.get("runtime", "bpu")
    if runtime not in RUNTIMES:
        raise ValueError(f"zoo.yaml {name}: runtime must be one of {RUNTIMES}, got {runtime!r}")
    merged = {**defaults.get(runtime, {}), **row}
    known = {"name", "family", "runtime", "bin_file", "onnx_file", "onnx_url", "input_size",
             "resize_mode", "output_kind", "mean", "scale", "recommended", "seed", "aliases",
             "url_path", "preinstalled", "sha256"}
    unknown = set(merged) - known
    if unknown:
        raise ValueError(f"zoo.yaml {name}: unknown keys {sorted(unknown)}")
    bin_file = merged.get("bin_file")
    onnx_file = merged.get("onnx_file")
    if runtime == "bpu" and not bin_file:
        raise ValueError(f"zoo.yaml {name}: a bpu model needs bin_file")
    if runtime == "cpu" and not onnx_file:
        raise ValueError(f"zoo.yaml {name}: a cpu model needs onnx_file")
    size = merged.get("input_size")
    if not isinstance(size, (list, tuple)) or len(size) != 2 or any(int(v) <= 0 or int(v) % 2
                                                                    for v in size):
        raise ValueError(f"zoo.yaml {name}: input_size must be [height, width], even, got {size!r}")
    if merged.get("resize_mode") not in RESIZE_MODES:
        raise ValueError(f"zoo.yaml {name}: resize_mode must be one of {RESIZE_MODES}")
    if merged.get("output_kind") not in OUTPUT_KINDS:
        raise ValueError(f"zoo.yaml {name}: output_kind must be one of {OUTPUT_KINDS}")
    seed = merged.get("seed")
    if seed is not None and set(seed) != set(_FIGURES):
        raise ValueError(f"zoo.yaml {name}: seed needs exactly {_FIGURES}")
    figures: dict[str, Any] = {k: _figure((seed or {}).get(k), f"zoo.yaml {name}.{k}") for k in _FIGURES}
    url_path = merged.get("url_path", bin_file) if bin_file else None
    if url_path is not None and (not isinstance(url_path, str) or url_path.startswith("/")
                                 or ".." in url_path.split("/") or "://" in url_path
                                 or url_path.rsplit("/", 1)[-1] != bin_file):
        raise ValueError(f"zoo.yaml {name}: url_path must be a relative path ending in "
                         f"{bin_file!r}, got {url_path!r}")
    sha256 = merged.get("sha256")
    if sha256 is not None and not (isinstance(sha256, str) and len(sha256) == 64
                                   and all(c in "0123456789abcdef" for c in sha256)):
        raise ValueError(f"zoo.yaml {name}: sha256 must be 64 lower-case hex digits")
    aliases = merged.get("aliases", ())
    if not isinstance(aliases, (list, tuple)) or not all(isinstance(a, str) and a
                                                         for a in aliases):
        raise ValueError(f"zoo.yaml {name}: aliases must be a list of names")
    return ModelInfo(
        name=name,
        family=merged.get("family"),
        runtime=runtime,
        bin_file=bin_file,
        onnx_file=onnx_file,
        url=base_url + url_path if url_path else None,
        onnx_url=merged.get("onnx_url"),
        input_size=(int(size[0]), int(size[1])),
        resize_mode=merged["resize_mode"],
        output_kind=merged["output_kind"],
        mean=_triple(merged.get("mean"), f"zoo.yaml {name}.mean"),
        scale=_triple(merged.get("scale"), f"zoo.yaml {name}.scale"),
        recommended=bool(merged.get("recommended", False)),
        in_seed_table=seed is not None,
        url_path=url_path,
        preinstalled=bool(merged.get("preinstalled", False)),
        sha256=sha256,
        aliases=tuple(aliases),
        **figures,
    )


def _aliases(row: dict, info: ModelInfo) -> list[str]:
    keys = [info.name, *info.aliases]
    for file in (info.bin_file, info.onnx_file):
        if file:
            keys.append(file)
            keys.append(Path(file).stem)
    if info.bin_file and info.bin_file.endswith(_BIN_SUFFIX):
        keys.append(info.bin_file[: -len(_BIN_SUFFIX)])
    return keys


@functools.lru_cache(maxsize=1)
def _registry() -> _Registry:
    data = yaml.load(REGISTRY_FILE.read_text(encoding="utf-8"),
                     Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    base_url = str(data["base_url"])
    if not base_url.endswith("/"):
        base_url += "/"
    defaults = data.get("defaults", {})
    models: list[ModelInfo] = []
    index: dict[str, ModelInfo] = {}
    for row in data["models"]:
        info = _build_info(row, defaults, base_url)
        for key in _aliases(row, info):
            folded = key.casefold()
            other = index.get(folded)
            if other is not None and other is not info:
                raise ValueError(f"zoo.yaml: {key!r} names both {other.name} and {info.name}")
            index[folded] = info
        models.append(info)
    if DEFAULT_MODEL.casefold() not in index:
        raise ValueError(f"zoo.yaml: the default model {DEFAULT_MODEL} is missing")
    return _Registry(base_url, tuple(models), index)


# ----------------------------------------------------------------------------- public API

def base_url() -> str:
    """The zoo's download location: $RDK_CLASSIFIER_BASE_URL if set, else the registry's."""
    url = os.environ.get(BASE_URL_ENV) or _registry().base_url
    return url if url.endswith("/") else url + "/"


def list_models() -> list[ModelInfo]:
    """All models, in registry order (CPU models, the seed table's rows, then the rest)."""
    return list(_registry().models)


def get_model(name: str) -> ModelInfo:
    """Look a model up by name (case-insensitive; the .bin file name or its stem work too)."""
    reg = _registry()
    info = reg.index.get(str(name).strip().casefold())
    if info is not None:
        return info
    names = [m.name for m in reg.models]
    by_fold = {n.casefold(): n for n in names}
    query = str(name).strip().casefold()
    contains = [f for f in by_fold if query and query in f]
    similar = difflib.get_close_matches(query, list(by_fold), n=5, cutoff=0.6)
    close = list(dict.fromkeys(contains + similar))[:5]
    hint = f"did you mean {', '.join(by_fold[c] for c in close)}? " if close else ""
    raise UnknownModelError(
        f"unknown model {name!r}; {hint}`python -m rdk_classifier zoo list` shows all "
        f"{len(names)} models")


def default_cache_dir() -> Path:
    """Where downloaded models go: $RDK_CLASSIFIER_CACHE, else ~/.cache/rdk_classifier."""
    env = os.environ.get(CACHE_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rdk_classifier"


def system_model_dir() -> Path:
    """The board's preinstalled model directory ($RDK_CLASSIFIER_SYSTEM_MODEL_DIR overrides)."""
    env = os.environ.get(SYSTEM_MODEL_DIR_ENV)
    return Path(env).expanduser() if env else SYSTEM_MODEL_DIR


def on_board(info: ModelInfo, system_dir: Path | None = None) -> Path | None:
    """The model's file in the board's preinstalled model directory, or None."""
    if not info.bin_file:
        return None
    path = (Path(system_dir) if system_dir is not None else system_model_dir()) / info.bin_file
    return path if path.is_file() else None


def fetch_command(name: str) -> str:
    return f"python -m rdk_classifier zoo fetch {name}"


def local_candidates(info: ModelInfo, cache_dir: Path | None = None,
                     system_dir: Path | None = None) -> list[Path]:
    """Every place this model's file is looked for, in order of preference."""
    if info.runtime == "cpu":
        return [PACKAGED_MODEL_DIR / info.onnx_file] if info.onnx_file else []
    if not info.bin_file:
        return []
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    system = Path(system_dir) if system_dir is not None else system_model_dir()
    return [system / info.bin_file, cache / info.bin_file]


def find_local(info: ModelInfo, cache_dir: Path | None = None,
               system_dir: Path | None = None) -> Path | None:
    """The model's file on this machine, or None."""
    for path in local_candidates(info, cache_dir, system_dir):
        if path.is_file():
            return path
    return None


def _find_onnx_of_bpu_model(info: ModelInfo, cache_dir: Path | None) -> Path | None:
    """An ONNX export of a BPU model, if the registry names one and it is in the cache."""
    if not info.onnx_file:
        return None
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache / info.onnx_file
    return path if path.is_file() else None


def _bpu_runtime_available() -> bool:
    from .backends.bpu import available_runtime  # lazy: the runtimes exist only on boards

    return available_runtime() is not None


def _info_for_file(path: Path) -> ModelInfo:
    """The registry row of a file named like a registry file, else a row made from the facts the
    file records (``model_facts``): a user's ONNX without normalization is an error, never fed
    with a guessed ImageNet mean/scale."""
    suffix = path.suffix.lower()
    for info in _registry().models:
        if path.name in (info.bin_file, info.onnx_file):
            return info
    from .model_facts import missing_normalization, read_model_facts

    facts = read_model_facts(path)
    if suffix != ".bin" and (facts.mean is None or facts.scale is None):
        raise missing_normalization(path)
    # input_size is nominal: the backend reads the real one from the model file. A .bin has its
    # normalization compiled in: mean/scale are unused there.
    return ModelInfo(
        name=path.stem, family=None, runtime="bpu" if suffix == ".bin" else "cpu",
        bin_file=path.name if suffix == ".bin" else None,
        onnx_file=path.name if suffix == ".onnx" else None, url=None, onnx_url=None,
        input_size=(224, 224), resize_mode=facts.resize_mode or "center_crop",
        output_kind="unknown", mean=facts.mean or IMAGENET_MEAN,
        scale=facts.scale or IMAGENET_SCALE, params_m=None, float_top1=None,
        quant_top1=None, latency_ms=None, latency_mt_ms=None, fps=None, recommended=False,
        in_seed_table=False, input_type_train=facts.input_type_train or "rgb",
        class_names=facts.class_names, user_file=True)


def _fallback_to_default(info: ModelInfo, why: str, fallback: bool) -> ResolvedModel:
    """The default CPU model in place of one that cannot run here, only when asked for: a
    silent substitute would give another model's answers under this model's name."""
    if not fallback:
        raise ModelUnavailableHereError(
            f"{why}. Run it on an RDK X5, choose a CPU model ({DEFAULT_MODEL} or "
            f"EfficientNet_Lite0_fp32, or an .onnx file), or allow the CPU default explicitly "
            f"(--fallback-cpu on the command line, fallback_to_cpu:=true for the node)")
    default = resolve_model(DEFAULT_MODEL, runtime="cpu")
    reason = (f"{why}; running the CPU model {DEFAULT_MODEL} INSTEAD of {info.name} "
              f"(its answers and speed, not those of {info.name})")
    return dataclasses.replace(default, fallback_reason=reason)


def resolve_model(spec: str, runtime: str = "auto", cache_dir: Path | None = None, *,
                  system_dir: Path | None = None, fallback: bool = False) -> ResolvedModel:
    """Turn a zoo name or a model file path into a file on this machine and its runtime.

    ``runtime``: ``bpu`` needs a .bin, ``cpu`` an .onnx; ``auto`` picks the BPU when a BPU runtime
    imports and the model is a .bin, else the CPU. A BPU-only model under ``auto`` on a machine
    without a BPU is an error (``ModelUnavailableHereError``) unless ``fallback``: then the default
    CPU model runs and ``fallback_reason`` says why (callers log it and name it). ``system_dir``
    replaces /opt/hobot/model/x5/basic (tests; also $RDK_CLASSIFIER_SYSTEM_MODEL_DIR).
    """
    if runtime not in RESOLVE_RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RESOLVE_RUNTIMES)}, got {runtime!r}")
    spec = str(spec).strip()
    as_path = Path(spec).expanduser()
    if as_path.suffix.lower() in (".bin", ".onnx") and (as_path.is_file() or os.sep in spec
                                                       or not _known(spec)):
        return _resolve_file(as_path, runtime, fallback)

    info = get_model(spec)
    if info.runtime == "cpu":
        if runtime == "bpu":
            raise ModelError(f"{info.name} is a CPU (ONNX) model and has no .bin for the BPU; "
                             f"choose a zoo model (`python -m rdk_classifier zoo list`) or "
                             f"runtime auto/cpu")
        path = find_local(info)
        if path is None:
            assert info.onnx_file is not None  # _build_info: every cpu row names its file
            raise ModelNotFoundError(
                f"{info.name}: {PACKAGED_MODEL_DIR / info.onnx_file} is missing; it ships with "
                f"the package, so reinstall rdk_classifier")
        return ResolvedModel(info, path, "cpu")

    # a BPU model
    if runtime == "bpu" or (runtime == "auto" and _bpu_runtime_available()):
        path = find_local(info, cache_dir, system_dir)
        if path is None:
            where = " or ".join(str(p.parent) for p in local_candidates(info, cache_dir, system_dir))
            raise ModelNotFoundError(
                f"{info.name}: {info.bin_file} is not in {where}; download it with "
                f"`{fetch_command(info.name)}`"
                + (f" --dest {cache_dir}" if cache_dir is not None else "")
                + f" (from {info.url})")
        return ResolvedModel(info, path, "bpu")

    onnx = _find_onnx_of_bpu_model(info, cache_dir)
    if onnx is not None:
        return ResolvedModel(info, onnx, "cpu")
    if runtime == "cpu":
        raise ModelNotFoundError(
            f"{info.name} exists only as a BPU .bin ({info.bin_file}) and no ONNX of it is on this "
            f"machine; on the CPU use {DEFAULT_MODEL} or EfficientNet_Lite0_fp32, or pass the path "
            f"of an .onnx export")
    return _fallback_to_default(
        info, f"{info.name} is a BPU model (.bin), no BPU runtime (hbm_runtime, hobot_dnn) "
              f"imports on this machine, and no ONNX of it is available locally", fallback)


def _known(spec: str) -> bool:
    return spec.casefold() in _registry().index


def _resolve_file(path: Path, runtime: str, fallback: bool) -> ResolvedModel:
    if not path.is_file():
        raise ModelNotFoundError(f"model file not found: {path}")
    info = _info_for_file(path)
    if path.suffix.lower() == ".onnx":
        if runtime == "bpu":
            raise ModelError(f"{path} is an ONNX model; the BPU runs only compiled .bin models "
                             f"(use runtime cpu or auto)")
        return ResolvedModel(info, path, "cpu")
    if runtime == "cpu":
        raise ModelError(f"{path} is a BPU .bin model; ONNX Runtime cannot run it (use runtime "
                         f"bpu or auto, or pass an .onnx file)")
    if runtime == "bpu" or _bpu_runtime_available():
        return ResolvedModel(info, path, "bpu")
    return _fallback_to_default(info, f"{path} is a BPU model (.bin) and no BPU runtime "
                                      f"(hbm_runtime, hobot_dnn) imports on this machine", fallback)
