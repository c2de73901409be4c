"""Host-side post-training quantization (the seed's section 4), without the vendor toolchain.

Three steps, each usable alone:

1. ``build_calibration_set``: the seed's 02_preprocess. A seeded random sample of photos, each
   brought to the model size with the ``center_crop`` resize (short side to 256/224 of the target,
   centre crop), BGR -> RGB, HWC -> CHW, written as raw float32 values 0..255 with no header, one
   ``.rgb`` file per image (the seed's ``--pic_ext .rgb --saved_data_type float32``), plus a
   ``manifest.json``. hb_mapper reads the same directory (``cal_data_type: float32``).
2. ``quantize_model``: ONNX Runtime static quantization to a QDQ int8 model, fed with the
   calibration set normalized as the model was trained, ``(x - mean) * scale`` per channel.
3. ``similarity_report``: what hb_mapper prints after makertbin, for the float vs the int8 model:
   cosine similarity, L1, L2 and Chebyshev distance of the output (and optionally of every node's
   output) over the calibration images, and with labeled images the top-1/top-5 of both models run
   through the package's own classification path.
"""

from __future__ import annotations

import inspect
import json
import os
import random
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from . import safe_io
from .errors import FrameError, ModelError, RdkClassifierError
from .frames import IMAGE_SUFFIXES, load_image, resize_bgr
from .toolchain import OnnxInput, import_onnx, inspect_onnx, parse_triple

CALIB_EXT = ".rgb"
MANIFEST_NAME = "manifest.json"
CALIB_RESIZE_MODE = "center_crop"
METHODS = ("minmax", "entropy", "percentile")
ACTIVATION_TYPES = ("uint8", "int8")


class CalibrationError(RdkClassifierError, ValueError):
    """A calibration set cannot be built or read (missing, empty, wrong size)."""


# --- 1. calibration set -----------------------------------------------------------------------

@dataclass(frozen=True)
class CalibrationEntry:
    file: str    # name of the .rgb file inside the calibration directory
    source: str  # the photo it was made from, relative to the images directory


@dataclass
class CalibrationSet:
    """A directory of ``.rgb`` tensors (3 x height x width float32, RGB, 0..255)."""

    directory: Path
    height: int
    width: int
    entries: list[CalibrationEntry]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    seed: int | None = None
    images_dir: str | None = None

    @property
    def paths(self) -> list[Path]:
        return [self.directory / e.file for e in self.entries]

    def manifest(self) -> dict:
        return {
            "format": "raw float32, no header, C order, shape [1, 3, height, width] (NCHW), RGB, "
                      "values 0..255 not normalized",
            "dtype": "float32",
            "layout": "NCHW",
            "color": "rgb",
            "height": self.height,
            "width": self.width,
            "transform": f"resize mode {CALIB_RESIZE_MODE} (short side to 256/224 of the target, "
                         "centre crop), BGR->RGB, HWC->CHW",
            "seed": self.seed,
            "images_dir": self.images_dir,
            "files": [asdict(e) for e in self.entries],
            "skipped": [{"source": s, "error": r} for s, r in self.skipped],
        }


def parse_size(text: str) -> tuple[int, int]:
    """``"224x224"`` (height x width) or ``"224"`` -> (height, width)."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"size {text!r} is not HxW (e.g. 224x224)") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or min(values) <= 0 or any(v % 2 for v in values):
        raise ValueError(f"size {text!r} must be HxW with even positive numbers (e.g. 224x224)")
    return values[0], values[1]


def find_images(images_dir: str | Path) -> list[Path]:
    """Image files under a directory (recursively), in a stable order."""
    root = Path(images_dir)
    if not root.exists():
        raise CalibrationError(f"image directory not found: {root}")
    if not root.is_dir():
        raise CalibrationError(f"not a directory: {root}; give a directory of images")
    found = sorted((p for p in root.rglob("*")
                    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                   key=lambda p: p.relative_to(root).as_posix())
    if not found:
        raise CalibrationError(
            f"no images in {root} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return found


def calibration_tensor(bgr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One photo as the seed's calibration transform makes it: float32 (3, H, W), RGB, 0..255."""
    crop = resize_bgr(bgr, size, CALIB_RESIZE_MODE)
    if crop.ndim == 2:
        crop = np.repeat(crop[:, :, None], 3, axis=2)
    rgb = crop[:, :, 2::-1]  # BGR(A) -> RGB
    return np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32)


def _unique_name(stem: str, used: set[str]) -> str:
    name, k = f"{stem}{CALIB_EXT}", 2
    while name in used:
        name, k = f"{stem}_{k}{CALIB_EXT}", k + 1
    used.add(name)
    return name


def _prepare_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise CalibrationError(f"output {out} exists and is not a directory")
    safe_io.ensure_directory(out, "calibration folder")
    ours = [p for p in out.iterdir() if p.suffix == CALIB_EXT or p.name == MANIFEST_NAME]
    if ours and not overwrite:
        raise CalibrationError(
            f"{out} already holds a calibration set ({len(ours)} files); choose an empty "
            "directory or overwrite it (--force)")
    for p in ours:
        p.unlink()


def build_calibration_set(images_dir: str | Path, out_dir: str | Path, count: int | None = 100,
                          seed: int = 0, size: tuple[int, int] = (224, 224),
                          overwrite: bool = False, progress: bool = False) -> CalibrationSet:
    """Write a calibration set of up to ``count`` images (all when None) drawn with ``seed``.

    Unreadable images are recorded in ``skipped`` and replaced by the next ones in the draw, so
    the set still reaches ``count`` when enough readable images exist.
    """
    if count is not None and count <= 0:
        raise CalibrationError(f"count must be positive, got {count}")
    root = Path(images_dir)
    candidates = find_images(root)
    random.Random(seed).shuffle(candidates)
    wanted = len(candidates) if count is None else min(count, len(candidates))
    out = Path(out_dir)
    _prepare_out_dir(out, overwrite)

    result = CalibrationSet(out, size[0], size[1], [], [], seed, str(root.resolve()))
    used: set[str] = set()
    with _progress(total=wanted, desc="calibration set", unit="img", enabled=progress) as bar:
        for path in candidates:
            if len(result.entries) >= wanted:
                break
            source = path.relative_to(root).as_posix()
            try:
                tensor = calibration_tensor(load_image(path), size)
            except (FrameError, OSError) as exc:  # undecodable, vanished, unreadable
                result.skipped.append((source, str(exc)))
                continue
            name = _unique_name(path.stem, used)
            safe_io.write_bytes(out / name, tensor.tobytes(), what="calibration file")
            result.entries.append(CalibrationEntry(name, source))
            bar.update(1)
    safe_io.write_text(out / MANIFEST_NAME, json.dumps(result.manifest(), indent=1) + "\n",
                       what="calibration manifest")
    if not result.entries:
        raise CalibrationError(
            f"none of the {len(candidates)} images in {root} could be read; first error: "
            f"{result.skipped[0][1] if result.skipped else 'none'}")
    return result


def load_calibration_set(calib_dir: str | Path) -> CalibrationSet:
    """A calibration set written by ``build_calibration_set`` or any directory of ``.rgb`` files
    (then height and width are 0: they come from the model)."""
    root = Path(calib_dir)
    if not root.is_dir():
        raise CalibrationError(f"calibration directory not found: {root}")
    manifest = root / MANIFEST_NAME
    if manifest.is_file():
        try:
            data = json.loads(manifest.read_text())
            entries = [CalibrationEntry(f["file"], f["source"]) for f in data["files"]]
            height, width = int(data["height"]), int(data["width"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CalibrationError(f"{manifest} is not a calibration manifest: {exc}") from None
        missing = [e.file for e in entries if not (root / e.file).is_file()]
        if missing:
            raise CalibrationError(f"{root}: {len(missing)} files of the manifest are missing "
                                   f"(first: {missing[0]}); rebuild the set")
        skipped = [(s["source"], s["error"]) for s in data.get("skipped", [])]
        result = CalibrationSet(root, height, width, entries, skipped, data.get("seed"),
                                data.get("images_dir"))
    else:
        files = sorted(p.name for p in root.iterdir() if p.suffix == CALIB_EXT and p.is_file())
        result = CalibrationSet(root, 0, 0, [CalibrationEntry(f, f) for f in files])
    if not result.entries:
        raise CalibrationError(f"no calibration files ({CALIB_EXT}) in {root}; build them with "
                               "`python -m rdk_classifier calib --images DIR --out DIR`")
    return result


def read_calibration_file(path: str | Path, height: int, width: int) -> np.ndarray:
    """One ``.rgb`` file as float32 (1, 3, height, width)."""
    data = np.fromfile(path, dtype=np.float32)
    if data.size != 3 * height * width:
        raise CalibrationError(
            f"{path} holds {data.size * 4} bytes; a 3x{height}x{width} float32 tensor is "
            f"{3 * height * width * 4}: the set was built for another input size (calib --size)")
    return data.reshape(1, 3, height, width)


def normalize(chw: np.ndarray, mean: Sequence[float], scale: Sequence[float],
              layout: str = "NCHW") -> np.ndarray:
    """``(x - mean) * scale`` per channel of an RGB (1, 3, H, W) tensor, in the model's layout."""
    m = np.asarray(mean, np.float32).reshape(1, 3, 1, 1)
    s = np.asarray(scale, np.float32).reshape(1, 3, 1, 1)
    x = (chw.reshape(1, 3, *chw.shape[-2:]).astype(np.float32) - m) * s
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1) if layout == "NHWC" else x)


class CalibrationReader:
    """ONNX Runtime ``CalibrationDataReader`` over a calibration set (also a plain iterator)."""

    def __init__(self, files: Sequence[Path], model: OnnxInput, mean: Sequence[float],
                 scale: Sequence[float], progress: bool = False, desc: str = "calibrating") -> None:
        self.files = list(files)
        self.model = model
        self.mean, self.scale = mean, scale
        self.progress, self.desc = progress, desc
        self._iter: Iterator[Path] | None = None
        self._bar = None

    def __len__(self) -> int:
        return len(self.files)

    def tensor(self, path: Path) -> np.ndarray:
        raw = read_calibration_file(path, self.model.height, self.model.width)
        return normalize(raw, self.mean, self.scale, self.model.layout)

    def get_next(self) -> dict | None:
        if self._iter is None:
            self._iter = iter(self.files)
            self._bar = _progress(len(self.files), self.desc, "img", self.progress)
        path = next(self._iter, None)
        if path is None:
            self._bar.close()
            return None
        self._bar.update(1)
        return {self.model.name: self.tensor(path)}

    def rewind(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._iter, self._bar = None, None

    def __iter__(self):
        self.rewind()
        return self

    def __next__(self) -> dict:
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item


# --- 2. quantization --------------------------------------------------------------------------

@dataclass(frozen=True)
class QuantizeSettings:
    method: str = "minmax"          # minmax | entropy | percentile
    per_channel: bool = False
    activation_type: str = "uint8"  # uint8: ONNX Runtime's fast x86 path (U8S8); int8 for ARM
    percentile: float = 99.999      # for method percentile
    preprocess: bool = True         # onnxruntime's quant_pre_process (shape inference, folding)
    entropy_bins: int = 2048        # histogram bins for entropy (KL) calibration
    chunk: int = 16                 # calibration images held in memory at once


def model_normalization(model: OnnxInput, mean: Sequence[float] | str | None,
                        scale: Sequence[float] | str | None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and scale given by the user, else recorded in the model; an error when neither."""
    mean = parse_triple(mean, "mean") if mean is not None else model.mean
    scale = parse_triple(scale, "scale") if scale is not None else model.scale
    if mean is None or scale is None:
        raise ModelError(
            "the model records no normalization (metadata mean_value / scale_value); give it: "
            "--mean R G B --scale R G B (e.g. ImageNet 123.675 116.28 103.53 and "
            "0.01712475 0.017507 0.01742919)")
    return tuple(mean), tuple(scale)


class _Take:
    """The next ``n`` items of a calibration reader (one chunk)."""

    def __init__(self, reader: CalibrationReader, n: int) -> None:
        self.reader, self.left = reader, n

    def get_next(self) -> dict | None:
        if self.left <= 0:
            return None
        self.left -= 1
        return self.reader.get_next()


def _calibrate(model: Path, reader: CalibrationReader, method, settings: QuantizeSettings,
               tmp: Path) -> Path:
    """Activation ranges of ``model`` over the reader, saved as an ONNX Runtime calibration cache."""
    from onnxruntime.quantization.calibrate import (CalibrationMethod, create_calibrator,
                                                    save_tensors_data)

    options: dict = {}
    if method == CalibrationMethod.Entropy:
        options = {"num_bins": settings.entropy_bins, "num_quantized_bins": 128}
    elif method == CalibrationMethod.Percentile:
        options = {"percentile": settings.percentile}
    calibrator = create_calibrator(model, None, augmented_model_path=str(tmp / "augmented.onnx"),
                                   calibrate_method=method, extra_options=options)
    reader.rewind()
    for _ in range(0, len(reader), settings.chunk):
        calibrator.collect_data(_Take(reader, settings.chunk))
    ranges = calibrator.compute_data()
    del calibrator
    reader.rewind()
    cache = tmp / "calibration_ranges.json"
    save_tensors_data(ranges, cache)
    return cache


@dataclass
class QuantizeResult:
    float_model: Path
    quant_model: Path
    settings: QuantizeSettings
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    calibration_images: int
    seconds: float


def quantize_model(model_path: str | Path, calib_dir: str | Path, out_path: str | Path,
                   settings: QuantizeSettings = QuantizeSettings(),
                   mean: Sequence[float] | None = None, scale: Sequence[float] | None = None,
                   progress: bool = False, force: bool = False) -> QuantizeResult:
    """Write the QDQ int8 model of ``model_path`` calibrated on ``calib_dir`` to ``out_path``
    (never onto the float model itself; an existing ``out_path`` only with ``force``)."""
    onnx = import_onnx()
    import onnxruntime
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if settings.method not in METHODS:
        raise ValueError(f"unknown calibration method {settings.method!r}; choose one of {', '.join(METHODS)}")
    if settings.activation_type not in ACTIVATION_TYPES:
        raise ValueError(f"unknown activation type {settings.activation_type!r}; "
                         f"choose one of {', '.join(ACTIVATION_TYPES)}")
    model_path, out_path = Path(model_path), Path(out_path)
    safe_io.ensure_directory(out_path.parent)
    safe_io.check_output(out_path, force=force, inputs=[model_path], what="quantized model")
    info = inspect_onnx(model_path)
    mean, scale = model_normalization(info, mean, scale)
    calib = load_calibration_set(calib_dir)
    if calib.height and (calib.height, calib.width) != (info.height, info.width):
        raise CalibrationError(
            f"calibration set {calib.directory} is {calib.height}x{calib.width}, the model input is "
            f"{info.height}x{info.width}; rebuild it with calib --size {info.height}x{info.width}")
    reader = CalibrationReader(calib.paths, info, mean, scale, progress=progress)

    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[settings.method]
    act = QuantType.QUInt8 if settings.activation_type == "uint8" else QuantType.QInt8
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rdk_quant_") as tmp:
        source = model_path
        if settings.preprocess:
            source = Path(tmp) / "preprocessed.onnx"
            # symbolic shape inference (needs sympy) only helps dynamic shapes; ours are fixed
            quant_pre_process(str(model_path), str(source), skip_symbolic_shape=True)
        raw_out = Path(tmp) / "quantized.onnx"
        kwargs = {}
        if "calibration_cache_path" in inspect.signature(quantize_static).parameters:
            # Calibrate here, in chunks (bounded memory) and with the histogram sizes each method
            # needs: through quantize_static, entropy keeps 128 bins for 128 quantized bins and
            # degenerates to min/max. The ranges reach quantize_static as its calibration cache.
            kwargs["calibration_cache_path"] = str(
                _calibrate(source, reader, method, settings, Path(tmp)))
        elif settings.method == "percentile":
            kwargs["extra_options"] = {"CalibPercentile": settings.percentile}
        quantize_static(str(source), str(raw_out), reader, quant_format=QuantFormat.QDQ,
                        per_channel=settings.per_channel, activation_type=act,
                        weight_type=QuantType.QInt8, calibrate_method=method, **kwargs)
        proto = onnx.load(str(raw_out))
    props = {p.key: p.value for p in onnx.load(str(model_path), load_external_data=False).metadata_props}
    props.update({
        "mean_value": " ".join(f"{v:.10g}" for v in mean),
        "scale_value": " ".join(f"{v:.10g}" for v in scale),
        "quantization": (f"onnxruntime {onnxruntime.__version__} quantize_static QDQ, "
                         f"{settings.method}, {'per-channel' if settings.per_channel else 'per-tensor'}"
                         f" int8 weights, {settings.activation_type} activations, "
                         f"{len(calib.entries)} calibration images"),
        "float_model": model_path.name,
    })
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, props)
    safe_io.write_bytes(out_path, proto.SerializeToString(), force=force, inputs=[model_path],
                        what="quantized model")
    return QuantizeResult(model_path, out_path, settings, mean, scale, len(calib.entries),
                          time.perf_counter() - start)


# --- 3. similarity report ---------------------------------------------------------------------

def similarity(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """hb_mapper's four figures for two tensors of the same size.

    cosine similarity; L1 = mean absolute difference; L2 = Euclidean norm of the difference
    divided by the element count; Chebyshev = largest absolute difference. Two all-zero tensors
    have cosine 1, one all-zero tensor against a non-zero one has cosine 0.
    """
    a = np.asarray(reference, np.float64).reshape(-1)
    b = np.asarray(other, np.float64).reshape(-1)
    if a.size != b.size:
        raise ValueError(f"cannot compare tensors of {a.size} and {b.size} elements")
    if a.size == 0:
        raise ValueError("cannot compare empty tensors")
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        cosine = 1.0 if na == nb else 0.0
    else:
        cosine = float(np.dot(a, b) / (na * nb))
    d = np.abs(a - b)
    return {"cosine": cosine, "l1": float(d.mean()), "l2": float(np.sqrt(np.dot(d, d)) / d.size),
            "chebyshev": float(d.max())}


class SimilarityStats:
    """Running mean / worst of ``similarity`` over many tensor pairs."""

    def __init__(self) -> None:
        self.count = 0
        self._sum = {"cosine": 0.0, "l1": 0.0, "l2": 0.0, "chebyshev": 0.0}
        self.cosine_min = float("inf")
        self.chebyshev_max = 0.0

    def add(self, reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
        s = similarity(reference, other)
        self.count += 1
        for k, v in s.items():
            self._sum[k] += v
        self.cosine_min = min(self.cosine_min, s["cosine"])
        self.chebyshev_max = max(self.chebyshev_max, s["chebyshev"])
        return s

    def summary(self) -> dict[str, float | int]:
        if not self.count:
            raise ValueError("no tensor pairs compared")
        mean = {f"{k}_mean": v / self.count for k, v in self._sum.items()}
        return {"count": self.count, **mean, "cosine_min": self.cosine_min,
                "chebyshev_max": self.chebyshev_max}


def _session(model: str | Path | bytes, optimize: bool = True, threads: int = 1):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def compare_outputs(float_model: str | Path, quant_model: str | Path, reader: CalibrationReader,
                    threads: int = 1) -> dict:
    """Output similarity and top-1 agreement of two models over the calibration tensors."""
    f_sess, q_sess = _session(float_model, threads=threads), _session(quant_model, threads=threads)
    stats, agree = SimilarityStats(), 0
    for feed in reader:
        f_out = f_sess.run(None, feed)[0]
        q_out = q_sess.run(None, feed)[0]
        stats.add(f_out, q_out)
        agree += int(np.argmax(f_out) == np.argmax(q_out))
    summary = stats.summary()
    return {"output": f_sess.get_outputs()[0].name, **summary, "top1_agreement": agree / stats.count}


def _float_node_outputs(proto) -> list[tuple[str, str, str]]:
    """(node name, op type, output tensor) of every float-valued node output, in graph order."""
    onnx = import_onnx()

    inferred = onnx.shape_inference.infer_shapes(proto)
    types = {v.name: v.type.tensor_type.elem_type
             for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    rows = []
    for node in proto.graph.node:
        if node.op_type == "Constant":
            continue
        for out in node.output:
            if out and types.get(out) == onnx.TensorProto.FLOAT:
                rows.append((node.name or out, node.op_type, out))
    return rows


def _with_outputs(proto, names: Iterable[str]) -> bytes:
    onnx = import_onnx()

    proto = _copy(proto)
    present = {o.name for o in proto.graph.output}
    for name in names:
        if name not in present:
            proto.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    return proto.SerializeToString()


def _copy(proto):
    clone = type(proto)()
    clone.CopyFrom(proto)
    return clone


def _dequantized_names(proto) -> dict[str, str]:
    """tensor -> the output of its QuantizeLinear -> DequantizeLinear pair in a QDQ model."""
    dq_of = {}
    for node in proto.graph.node:
        if node.op_type == "DequantizeLinear":
            dq_of.setdefault(node.input[0], node.output[0])
    return {node.input[0]: dq_of[node.output[0]] for node in proto.graph.node
            if node.op_type == "QuantizeLinear" and node.output[0] in dq_of}


def compare_nodes(float_model: str | Path, quant_model: str | Path,
                  reader: CalibrationReader) -> list[dict]:
    """Per-node similarity of the float and the QDQ model (hb_mapper's per-node table).

    A node's int8 value is its output after quantize -> dequantize (what the next node gets; a
    ReLU6 the quantizer folded into that range is clipped there), or the plain output where the
    quantizer left it float. Both models run unoptimized, the QDQ one as ONNX defines it, so a
    node's figure is the error accumulated up to that node. Float nodes with no counterpart in
    the QDQ model are not listed.
    """
    onnx = import_onnx()

    f_proto = onnx.load(str(float_model))
    q_proto = onnx.load(str(quant_model))
    q_produced = {o: n.op_type for n in q_proto.graph.node for o in n.output}
    dequantized = _dequantized_names(q_proto)
    rows = []
    for name, op, tensor in _float_node_outputs(f_proto):
        if tensor in dequantized:
            rows.append((name, op, tensor, dequantized[tensor]))
        elif tensor in q_produced:  # left float, or a graph output (then the DQ writes it)
            rows.append((name, op, tensor, tensor))
    f_names = [r[2] for r in rows]
    q_names = [r[3] for r in rows]
    f_sess = _session(_with_outputs(f_proto, f_names), optimize=False)
    q_sess = _session(_with_outputs(q_proto, q_names), optimize=False)
    stats = [SimilarityStats() for _ in rows]
    for feed in reader:
        f_vals = f_sess.run(f_names, feed)
        q_vals = q_sess.run(q_names, feed)
        for st, fv, qv in zip(stats, f_vals, q_vals):
            st.add(fv, qv)
    return [{"node": name, "op_type": op, "tensor": tensor, **st.summary()}
            for (name, op, tensor, _), st in zip(rows, stats)]


def read_labels_file(path: str | Path) -> list[tuple[str, int]]:
    """The seed's ``val.txt`` as (file name, class index) pairs, parsed by the evaluator's reader
    (``rdk_classifier.evaluation.read_labels``); its errors become ``CalibrationError``."""
    from .evaluation import LabelFileError, read_labels

    try:
        return [(s.name, s.label) for s in read_labels(path)]
    except LabelFileError as exc:
        raise CalibrationError(str(exc)) from None


def evaluate_models(models: dict[str, str | Path], images_dir: str | Path, labels_path: str | Path,
                    resize_mode: str | None = None, progress: bool = False) -> dict:
    """Top-1/top-5 of each model on labeled images through the package's classification path,
    and how often each model's top-1 equals the first model's."""
    from .classifier import Classifier

    items = read_labels_file(labels_path)
    root = Path(images_dir)
    if not root.is_dir():
        raise CalibrationError(f"evaluation image directory not found: {root}")
    classifiers = {name: Classifier.from_model(str(path), backend="cpu", resize_mode=resize_mode,
                                               threads=1)
                   for name, path in models.items()}
    first = next(iter(models))
    hits = {name: {"top1": 0, "top5": 0, "agree": 0} for name in models}
    per_image, skipped = [], []
    try:
        with _progress(total=len(items), desc="evaluating", unit="img", enabled=progress) as bar:
            for file_name, label in items:
                bar.update(1)
                try:
                    bgr = load_image(root / file_name)
                except (FrameError, OSError) as exc:
                    skipped.append({"source": file_name, "error": str(exc)})
                    continue
                tops = {name: [p.class_id for p in clf.classify_image(bgr, source=file_name, top=5).top]
                        for name, clf in classifiers.items()}
                for name, top in tops.items():
                    hits[name]["top1"] += int(top[0] == label)
                    hits[name]["top5"] += int(label in top)
                    hits[name]["agree"] += int(top[0] == tops[first][0])
                per_image.append({"source": file_name, "label": label,
                                  **{f"{name}_top5": top for name, top in tops.items()}})
    finally:
        for clf in classifiers.values():
            clf.close()
    n = len(per_image)
    if not n:
        raise CalibrationError(f"none of the {len(items)} labeled images could be read from {root}")
    return {
        "images": n,
        "models": {name: {"top1": h["top1"] / n, "top5": h["top5"] / n,
                          "top1_agreement": h["agree"] / n} for name, h in hits.items()},
        "reference": first,
        "per_image": per_image,
        "skipped": skipped,
    }


def similarity_report(float_model: str | Path, quant_model: str | Path, calib_dir: str | Path,
                      mean: Sequence[float] | None = None, scale: Sequence[float] | None = None,
                      per_node: bool = False, eval_images: str | Path | None = None,
                      eval_labels: str | Path | None = None, progress: bool = False) -> dict:
    """The float vs int8 comparison as one JSON-able dict (see ``format_report``)."""
    info = inspect_onnx(float_model)
    mean, scale = model_normalization(info, mean, scale)
    calib = load_calibration_set(calib_dir)
    reader = CalibrationReader(calib.paths, info, mean, scale, progress=progress, desc="comparing")
    report = {
        "float_model": str(float_model),
        "quant_model": str(quant_model),
        "float_size_bytes": os.path.getsize(float_model),
        "quant_size_bytes": os.path.getsize(quant_model),
        "calibration_dir": str(calib.directory),
        "calibration_images": len(calib.entries),
        "mean": list(mean), "scale": list(scale),
        "output": compare_outputs(float_model, quant_model, reader),
    }
    if per_node:
        reader.desc = "per-node comparison"
        report["nodes"] = compare_nodes(float_model, quant_model, reader)
    if eval_images is not None and eval_labels is not None:
        report["evaluation"] = evaluate_models({"float": float_model, "int8": quant_model},
                                               eval_images, eval_labels, progress=progress)
    return report


def format_report(report: dict) -> str:
    """hb_mapper-style text tables of a ``similarity_report``."""
    out = report["output"]
    lines = [
        f"float model: {report['float_model']} ({report['float_size_bytes'] / 1e6:.1f} MB)",
        f"int8 model:  {report['quant_model']} ({report['quant_size_bytes'] / 1e6:.1f} MB)",
        f"compared on {report['calibration_images']} calibration images of {report['calibration_dir']}",
    ]
    if "settings" in report:
        s = report["settings"]
        lines.append(f"quantization: {s['method']}, {'per-channel' if s['per_channel'] else 'per-tensor'}"
                     f" weights, {s['activation_type']} activations ({report.get('seconds', 0):.1f} s)")
    header = (f"{'Node':<44} {'Type':<18} {'Cosine Similarity':>17} {'L1 Distance':>12} "
              f"{'L2 Distance':>12} {'Chebyshev Distance':>19}")
    if "nodes" in report:
        lines += ["", "per node (mean over images; cumulative error up to the node):", "=" * len(header),
                  header, "-" * len(header)]
        for row in report["nodes"]:
            name = row["node"] if len(row["node"]) <= 44 else "..." + row["node"][-41:]
            lines.append(f"{name:<44} {row['op_type']:<18} {row['cosine_mean']:>17.6f} "
                         f"{row['l1_mean']:>12.6f} {row['l2_mean']:>12.6f} {row['chebyshev_mean']:>19.6f}")
    head = f"{'Output':<24} {'Cosine Similarity':>17} {'L1 Distance':>12} {'L2 Distance':>12} {'Chebyshev Distance':>19}"
    lines += ["", "model output (mean over images):", "=" * len(head), head, "-" * len(head),
              f"{out['output']:<24} {out['cosine_mean']:>17.6f} {out['l1_mean']:>12.6f} "
              f"{out['l2_mean']:>12.6f} {out['chebyshev_mean']:>19.6f}",
              f"worst image: cosine {out['cosine_min']:.6f}, Chebyshev {out['chebyshev_max']:.6f}; "
              f"same top-1 on {out['top1_agreement'] * 100:.1f} % of the calibration images"]
    ev = report.get("evaluation")
    if ev:
        lines += ["", f"accuracy on {ev['images']} labeled images "
                      f"({len(ev['skipped'])} unreadable, skipped):",
                  f"{'model':<8} {'top-1':>7} {'top-5':>7} {'same top-1 as ' + ev['reference']:>22}"]
        for name, m in ev["models"].items():
            lines.append(f"{name:<8} {m['top1'] * 100:>6.1f}% {m['top5'] * 100:>6.1f}% "
                         f"{m['top1_agreement'] * 100:>21.1f}%")
    return "\n".join(lines)


def _progress(total: int, desc: str, unit: str, enabled: bool):
    """A tqdm bar (a do-nothing one when not ``enabled``): context manager with ``update``."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False, disable=not enabled)


__all__ = [
    "CALIB_EXT", "MANIFEST_NAME", "METHODS", "CalibrationEntry", "CalibrationError",
    "CalibrationReader", "CalibrationSet", "QuantizeResult", "QuantizeSettings",
    "build_calibration_set", "calibration_tensor", "compare_nodes", "compare_outputs",
    "evaluate_models", "find_images", "format_report", "load_calibration_set", "model_normalization",
    "normalize", "parse_size", "quantize_model", "read_calibration_file", "read_labels_file",
    "similarity", "similarity_report", "SimilarityStats",
]
