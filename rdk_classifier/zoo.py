"""The model registry: one name resolves to everything needed to fetch, load and feed a model.

The data lives in ``zoo.yaml`` beside this module (parsed once). ``get_model`` looks a name up,
``resolve_model`` turns a name or a file path into a file on this machine and the runtime to run
it on, and ``rdk_classifier.download.fetch_model`` brings a missing ``.bin`` into the cache.

Boards: every BPU model has one compiled file per chip (``ModelInfo.builds``: the X5 ``.bin``,
the S100/S600 ``.hbm``); ``resolve_model`` picks the file of this board's chip
(``boards.detect_soc``, or ``soc=``) and refuses a file built for another chip.

Length: the registry loader validates every field of zoo.yaml (82 rows, X5 and S-series builds)
and resolves names, files, chips and runtimes; the table itself is data in zoo.yaml.
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

from . import boards
from .normalization import IMAGENET_MEAN, IMAGENET_SCALE
from .errors import (ModelError, ModelNotFoundError, ModelUnavailableHereError, SocMismatchError,
                     UnknownModelError)


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
_BUILD_FIGURES = ("latency_ms", "fps", "fps_threads", "quant_top1", "float_top1")
_BIN_SUFFIX = "_224x224_nv12.bin"
#: the model file suffixes a path can have (.bin: X5, .hbm: S series, .onnx: CPU)
MODEL_SUFFIXES = (".bin", ".hbm", ".onnx")


@dataclass(frozen=True)
class SocBuild:
    """One compiled file of a model for one chip: where it is published, what it was compiled
    for, and the figures the zoo publishes for it (None where it publishes none)."""

    soc: str                     # x5 | s100 | s100p | s600 (boards.SOCS)
    file: str                    # the file name (.bin on X5, .hbm on the S series)
    url: str | None              # None: not published for download (preinstalled only)
    url_path: str | None         # the path under the zoo's base URL of that chip's files
    march: str                   # the BPU architecture it is compiled for (boards.MARCH)
    input_size: tuple[int, int]  # (height, width) of this build
    input_contract: str          # packed_nv12 (X5) | nv12_y_uv (S series), boards.INPUT_CONTRACT
    latency_ms: float | None = None
    fps: float | None = None
    #: the thread / submission count the FPS was measured with (None: as the source gives it)
    fps_threads: int | None = None
    quant_top1: float | None = None
    float_top1: float | None = None
    #: how the figures were obtained, in the source's words (board tool, toolchain estimate)
    measured: str | None = None

    @property
    def folder(self) -> str | None:
        """The archive folder of the file (``rdk_s100/ResNet``); None for a flat X5 file."""
        if not self.url_path or "/" not in self.url_path:
            return None
        return self.url_path.rsplit("/", 1)[0]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        d["folder"] = self.folder
        return d


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
    #: the compiled files per chip (the X5 one is bin_file/url above); empty for CPU models
    builds: tuple[SocBuild, ...] = ()
    #: further names that resolve to this model (e.g. the zoo tables' spellings)
    aliases: tuple[str, ...] = ()
    #: hb_mapper's input_type_train: the colour order the network was trained on
    input_type_train: str = "rgb"
    #: class names recorded with a user's model (None: ImageNet-1k for registry models)
    class_names: tuple[str, ...] | None = None
    #: a user's model file (not a registry row): its facts come from the file itself
    user_file: bool = False

    def build(self, soc: str) -> SocBuild | None:
        """The file this chip runs (its own build, or one it runs: an S100P runs s100 builds)."""
        for want in boards.RUNS_BUILDS_OF[soc]:
            for b in self.builds:
                if b.soc == want:
                    return b
        return None

    @property
    def socs(self) -> tuple[str, ...]:
        """The chips this model has a build for (the X5 row or the S builds)."""
        return tuple(b.soc for b in self.builds)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (tuples become lists)."""
        d = asdict(self)
        for key in ("input_size", "mean", "scale", "aliases"):
            d[key] = list(d[key])
        d["builds"] = [b.to_dict() for b in self.builds]
        return d


@dataclass(frozen=True)
class ResolvedModel:
    """A model file on this machine and the runtime that will run it."""

    info: ModelInfo
    path: Path
    runtime: str  # "bpu" (a .bin / .hbm) or "cpu" (an .onnx)
    #: set when the model asked for cannot run here and this one runs instead (``fallback=True``)
    fallback_reason: str | None = None
    #: the chip build picked for this board (None: a CPU model, or a file given by path)
    build: SocBuild | None = None
    #: the board's chip it was resolved for (None: unknown, no chip checks)
    soc: str | None = None


# ----------------------------------------------------------------------------- registry loading

@dataclass(frozen=True)
class _Registry:
    base_url: str
    models: tuple[ModelInfo, ...]
    index: dict[str, ModelInfo]  # casefolded name / alias -> model
    s_base_url: str = ""


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


def _s_builds(name: str, rows: Any, s_base_url: str, input_size: tuple[int, int]
              ) -> list[SocBuild]:
    """The S-series builds of one model (zoo.yaml ``s_builds``), checked."""
    if rows is None:
        return []
    if not isinstance(rows, dict):
        raise ValueError(f"zoo.yaml s_builds.{name}: expected a mapping soc -> build")
    out = []
    for soc, row in rows.items():
        where = f"zoo.yaml s_builds.{name}.{soc}"
        if soc not in boards.SOCS or soc == "x5":
            raise ValueError(f"{where}: the chip must be one of s100, s100p, s600")
        if not isinstance(row, dict) or set(row) - {"file", "folder", "input_size", "figures"}:
            raise ValueError(f"{where}: keys are file, folder, input_size, figures")
        file, folder = row.get("file"), row.get("folder")
        if not (isinstance(file, str) and file.endswith(".hbm") and "/" not in file):
            raise ValueError(f"{where}: file must be an .hbm file name, got {file!r}")
        if not (isinstance(folder, str) and folder.startswith(f"rdk_{soc if soc != 's100p' else 's100'}")
                and ".." not in folder.split("/") and "://" not in folder):
            raise ValueError(f"{where}: folder must be a relative path under the chip's "
                             f"rdk_<soc>/ archive folder, got {folder!r}")
        size = row.get("input_size", list(input_size))
        figures = row.get("figures") or {}
        unknown = set(figures) - {*_BUILD_FIGURES, "measured"}
        if unknown:
            raise ValueError(f"{where}.figures: unknown keys {sorted(unknown)}")
        threads = figures.get("fps_threads")
        url_path = f"{folder}/{file}"
        out.append(SocBuild(
            soc=soc, file=file, url=s_base_url + url_path, url_path=url_path,
            march=boards.MARCH[soc], input_size=(int(size[0]), int(size[1])),
            input_contract=boards.INPUT_CONTRACT[soc],
            latency_ms=_figure(figures.get("latency_ms"), f"{where}.latency_ms"),
            fps=_figure(figures.get("fps"), f"{where}.fps"),
            fps_threads=int(threads) if threads is not None else None,
            quant_top1=_figure(figures.get("quant_top1"), f"{where}.quant_top1"),
            float_top1=_figure(figures.get("float_top1"), f"{where}.float_top1"),
            measured=figures.get("measured")))
    return out


def _build_info(row: dict, defaults: dict, base_url: str, s_rows: Any = None,
                s_base_url: str = "") -> ModelInfo:
    name = row.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"zoo.yaml: a model row has no name: {row!r}")
    runtime = row.get("runtime", "bpu")
    if runtime not in RUNTIMES:
        raise ValueError(f"zoo.yaml {name}: runtime must be one of {RUNTIMES}, got {runtime!r}")
    merged = {**defaults.get(runtime, {}), **row}
    known = {"name", "family", "runtime", "bin_file", "onnx_file", "onnx_url", "input_size",
             "resize_mode", "output_kind", "mean", "scale", "recommended", "seed", "aliases",
             "url_path", "preinstalled", "sha256", "figures"}
    unknown = set(merged) - known
    if unknown:
        raise ValueError(f"zoo.yaml {name}: unknown keys {sorted(unknown)}")
    bin_file = merged.get("bin_file")
    onnx_file = merged.get("onnx_file")
    if runtime == "bpu" and not bin_file and not s_rows:
        raise ValueError(f"zoo.yaml {name}: a bpu model needs bin_file (X5) or s_builds")
    if runtime == "cpu" and s_rows:
        raise ValueError(f"zoo.yaml {name}: a cpu model has no s_builds")
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
    other = merged.get("figures")  # published figures of a model outside the seed table
    if other is not None and (seed is not None or set(other) != set(_FIGURES)):
        raise ValueError(f"zoo.yaml {name}: figures needs exactly {_FIGURES}, and no seed")
    figures: dict[str, Any] = {k: _figure((seed or other or {}).get(k), f"zoo.yaml {name}.{k}")
               for k in _FIGURES}
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
    in_size = (int(size[0]), int(size[1]))
    builds: list[SocBuild] = []
    if bin_file:
        builds.append(SocBuild(
            soc="x5", file=bin_file, url=base_url + url_path if url_path else None,
            url_path=url_path, march=boards.MARCH["x5"], input_size=in_size,
            input_contract=boards.INPUT_CONTRACT["x5"], latency_ms=figures["latency_ms"],
            fps=figures["fps"], quant_top1=figures["quant_top1"],
            float_top1=figures["float_top1"],
            measured="RDK X5 (the zoo's published table)" if figures["fps"] is not None
            else None))
    builds += _s_builds(name, s_rows, s_base_url, in_size)
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
        builds=tuple(builds),
        **figures,
    )


def _aliases(row: dict, info: ModelInfo) -> list[str]:
    keys = [info.name, *info.aliases]
    s_files = {b.file for b in info.builds if b.soc != "x5"}
    for file in (info.bin_file, info.onnx_file, *sorted(s_files)):
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
    s_base_url = str(data.get("s_base_url", ""))
    if s_base_url and not s_base_url.endswith("/"):
        s_base_url += "/"
    s_builds = dict(data.get("s_builds") or {})
    models: list[ModelInfo] = []
    index: dict[str, ModelInfo] = {}
    for row in data["models"]:
        info = _build_info(row, defaults, base_url, s_builds.pop(row.get("name"), None),
                           s_base_url)
        for key in _aliases(row, info):
            folded = key.casefold()
            other = index.get(folded)
            if other is not None and other is not info:
                raise ValueError(f"zoo.yaml: {key!r} names both {other.name} and {info.name}")
            index[folded] = info
        models.append(info)
    if s_builds:
        raise ValueError(f"zoo.yaml: s_builds for models that have no row: {sorted(s_builds)}")
    if DEFAULT_MODEL.casefold() not in index:
        raise ValueError(f"zoo.yaml: the default model {DEFAULT_MODEL} is missing")
    return _Registry(base_url, tuple(models), index, s_base_url)


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


def _is_row_file(path: Path, info: ModelInfo) -> bool:
    """A file named like ``info``'s file IS that file only when the registry cannot tell
    otherwise: it has no sha256 for it, the path is the shipped copy itself, or the bytes have
    the recorded sha256. A user's export that merely has the name (an fp32 model saved as
    ``efficientnet_lite0_int8.onnx``) is the user's model, never reported under the row's name."""
    if info.sha256 is None or path.name not in (info.bin_file, info.onnx_file):
        return True
    if info.onnx_file is not None and path.name == info.onnx_file:
        try:
            if os.path.samefile(path, PACKAGED_MODEL_DIR / info.onnx_file):
                return True
        except OSError:  # no shipped copy (a stripped install): compare the bytes
            pass
    from .download import _file_sha256

    return _file_sha256(path) == info.sha256


def registry_row_of_file(path: str | Path) -> ModelInfo | None:
    """The registry row whose file ``path`` is (``_is_row_file``), or None: a user's file."""
    p = Path(path)
    for info in _registry().models:
        if (p.name in (info.bin_file, info.onnx_file, *(b.file for b in info.builds))
                and _is_row_file(p, info)):
            return info
    return None


def _info_for_file(path: Path) -> ModelInfo:
    """The registry row of a registry model's file (named like it, and of its sha256 where the
    registry records one: ``_is_row_file``), else a row made from the facts the file records
    (``model_facts``): a user's ONNX without normalization is an error, never fed with a guessed
    ImageNet mean/scale."""
    suffix = path.suffix.lower()
    row = registry_row_of_file(path)
    if row is not None:
        return row
    from .model_facts import missing_normalization, read_model_facts

    facts = read_model_facts(path)
    if suffix == ".onnx" and (facts.mean is None or facts.scale is None):
        raise missing_normalization(path)
    # input_size is nominal: the backend reads the real one from the model file. A compiled
    # model (.bin, .hbm) has its normalization compiled in: mean/scale are unused there.
    return ModelInfo(
        name=path.stem, family=None, runtime="cpu" if suffix == ".onnx" else "bpu",
        bin_file=path.name if suffix in (".bin", ".hbm") else None,
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
        boards_of = ", ".join(f"RDK {s.upper()}" for s in info.socs) or "an RDK X5"
        raise ModelUnavailableHereError(
            f"{why}. Run it on a board it is built for ({boards_of}), choose a CPU model "
            f"({DEFAULT_MODEL} or "
            f"EfficientNet_Lite0_fp32, or an .onnx file), or allow the CPU default explicitly "
            f"(--fallback-cpu on the command line, fallback_to_cpu:=true for the node)")
    default = resolve_model(DEFAULT_MODEL, runtime="cpu")
    reason = (f"{why}; running the CPU model {DEFAULT_MODEL} INSTEAD of {info.name} "
              f"(its answers and speed, not those of {info.name})")
    return dataclasses.replace(default, fallback_reason=reason)


def s_base_url() -> str:
    """Where the S-series builds are published (the archive root; folders per chip)."""
    return _registry().s_base_url


def build_candidates(build: SocBuild, board_soc: str, cache_dir: Path | None = None,
                     system_dir: Path | None = None) -> list[Path]:
    """Where an S-series build is looked for: the board's model folder
    (/opt/hobot/model/<soc>/basic, or ``system_dir`` / $RDK_CLASSIFIER_SYSTEM_MODEL_DIR), then
    the cache's folder of that chip (``<cache>/<soc>/``: s100 and s600 files share names)."""
    system = Path(system_dir) if system_dir is not None else board_model_dir(board_soc)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return [system / build.file, cache / build.soc / build.file]


def board_model_dir(soc: str) -> Path:
    """The board's preinstalled model folder of a chip (/opt/hobot/model/<soc>/basic;
    $RDK_CLASSIFIER_SYSTEM_MODEL_DIR overrides)."""
    env = os.environ.get(SYSTEM_MODEL_DIR_ENV)
    return Path(env).expanduser() if env else boards.system_model_dir(soc)


def build_for(info: ModelInfo, soc: str) -> SocBuild:
    """The build of ``info`` this chip runs; SocMismatchError naming the chips it has if none."""
    build = info.build(soc)
    if build is None:
        have = ", ".join(b.soc.upper() for b in info.builds) or "none"
        raise SocMismatchError(
            f"{info.name} has no build for the RDK {soc.upper()} ({boards.MARCH[soc]}); the zoo "
            f"publishes it for: {have}. `python -m rdk_classifier zoo list --soc {soc}` lists "
            f"the models of this board")
    return build


def _resolve_s_series(info: ModelInfo, soc: str, runtime: str, cache_dir: Path | None,
                      system_dir: Path | None, fallback: bool) -> ResolvedModel:
    """A BPU model on an S-series board: its .hbm for this chip."""
    build = build_for(info, soc)
    if runtime == "cpu" or (runtime == "auto" and not _bpu_runtime_available()):
        onnx = _find_onnx_of_bpu_model(info, cache_dir)
        if onnx is not None:
            return ResolvedModel(info, onnx, "cpu")
        if runtime == "cpu":
            raise ModelNotFoundError(
                f"{info.name} exists only as compiled BPU files and no ONNX of it is on this "
                f"machine; on the CPU use {DEFAULT_MODEL} or EfficientNet_Lite0_fp32")
        return _fallback_to_default(
            info, f"{info.name} is a BPU model and hbm_runtime does not import here", fallback)
    candidates = build_candidates(build, soc, cache_dir, system_dir)
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise ModelNotFoundError(
            f"{info.name}: {build.file} (the RDK {build.soc.upper()} build) is not in "
            f"{' or '.join(str(p.parent) for p in candidates)}; download it with "
            f"`{fetch_command(info.name)} --soc {soc}` (from {build.url})")
    return ResolvedModel(info, path, "bpu", build=build, soc=soc)


def resolve_model(spec: str, runtime: str = "auto", cache_dir: Path | None = None, *,
                  system_dir: Path | None = None, fallback: bool = False,
                  soc: str | None = "auto") -> ResolvedModel:
    """Turn a zoo name or a model file path into a file on this machine and its runtime.

    ``runtime``: ``bpu`` needs a .bin / .hbm, ``cpu`` an .onnx; ``auto`` picks the BPU when a BPU
    runtime imports and the model is compiled for it, else the CPU. A BPU-only model under
    ``auto`` on a machine without a BPU is an error (``ModelUnavailableHereError``) unless
    ``fallback``: then the default CPU model runs and ``fallback_reason`` says why (callers log
    it and name it). ``system_dir`` replaces the board's model folder (/opt/hobot/model/<soc>/basic;
    tests; also $RDK_CLASSIFIER_SYSTEM_MODEL_DIR).

    ``soc``: the board's chip (x5, s100, s100p, s600); "auto" detects it
    (``boards.detect_soc``: $RDK_CLASSIFIER_SOC, /sys/class/boardinfo/soc_name), None skips the
    chip logic (the X5 files, as on a PC). On an S-series chip a zoo name resolves to that chip's
    .hbm; a file built for another chip is refused (``SocMismatchError``) before any runtime
    sees it.
    """
    if runtime not in RESOLVE_RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RESOLVE_RUNTIMES)}, got {runtime!r}")
    given = None if soc == "auto" else boards.normalize_soc(soc)

    def chip() -> str | None:  # detected only where a BPU model needs it (a CPU model runs anywhere)
        return boards.detect_soc()[0] if soc == "auto" else given

    spec = str(spec).strip()
    as_path = Path(spec).expanduser()
    if as_path.suffix.lower() in MODEL_SUFFIXES and (as_path.is_file() or os.sep in spec
                                                     or not _known(spec)):
        return _resolve_file(as_path, runtime, fallback,
                             None if as_path.suffix.lower() == ".onnx" else chip())

    info = get_model(spec)
    board = chip() if info.runtime == "bpu" else None
    if info.runtime == "bpu" and board is not None and board != "x5":
        return _resolve_s_series(info, board, runtime, cache_dir, system_dir, fallback)
    if info.runtime == "bpu" and not info.bin_file:
        if runtime != "cpu" and board is not None:
            build_for(info, board)  # raises: no X5 build
        onnx = _find_onnx_of_bpu_model(info, cache_dir)
        if onnx is not None:
            return ResolvedModel(info, onnx, "cpu")
        why = (f"{info.name} is compiled for the S series only "
               f"({', '.join(b.soc.upper() for b in info.builds)}) and has no RDK X5 .bin")
        if runtime == "bpu":
            raise SocMismatchError(f"{why}; on an S-series board it resolves to its .hbm "
                                   f"(set the chip with --soc or ${boards.SOC_ENV})")
        return _fallback_to_default(info, why, fallback)
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
        build = info.build("x5")
        if path is None:
            where = " or ".join(str(p.parent) for p in local_candidates(info, cache_dir, system_dir))
            raise ModelNotFoundError(
                f"{info.name}: {info.bin_file} is not in {where}; download it with "
                f"`{fetch_command(info.name)}`"
                + (f" --dest {cache_dir}" if cache_dir is not None else "")
                + f" (from {info.url})")
        return ResolvedModel(info, path, "bpu", build=build, soc=board)

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


def is_model_name(spec: str) -> bool:
    """``spec`` is a registry name or alias (case-insensitive), not a file path."""
    return spec.strip().casefold() in _registry().index


_known = is_model_name


def _resolve_file(path: Path, runtime: str, fallback: bool, board: str | None = None
                  ) -> ResolvedModel:
    if not path.is_file():
        raise ModelNotFoundError(f"model file not found: {path}")
    info = _info_for_file(path)
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        if runtime == "bpu":
            raise ModelError(f"{path} is an ONNX model; the BPU runs only compiled .bin/.hbm "
                             f"models (use runtime cpu or auto)")
        return ResolvedModel(info, path, "cpu")
    if runtime == "cpu":
        raise ModelError(f"{path} is a compiled BPU {suffix} model; ONNX Runtime cannot run it "
                         f"(use runtime bpu or auto, or pass an .onnx file)")
    boards.check_file_for_soc(path, board)
    if runtime == "bpu" or _bpu_runtime_available():
        return ResolvedModel(info, path, "bpu", soc=board)
    return _fallback_to_default(info, f"{path} is a BPU model ({suffix}) and no BPU runtime "
                                      f"(hbm_runtime, hobot_dnn) imports on this machine", fallback)
