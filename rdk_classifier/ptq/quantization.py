"""Post-training quantization to a QDQ int8 ONNX model (the seed's section 4, host side).

ONNX Runtime static quantization, fed with a calibration set (``calibration``) normalized as the
model was trained, ``(x - mean) * scale`` per channel; the normalization is recorded in the output's
metadata so every later consumer feeds it the same way. ``similarity`` compares the result.
"""

from __future__ import annotations

import contextlib
import json
import inspect
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from .. import safe_io
from ..errors import CalibrationError
from ..normalization import format_triple
from .calibration import (CalibrationReader, CalibrationSet, CalibrationTarget,
                          load_calibration_set, read_manifest)
from .toolchain import OnnxInput, import_onnx, inspect_onnx, model_feed, refuse_quantized

METHODS = ("minmax", "entropy", "percentile")
#: chosen by measurement with per-channel weights (bench/bench_calibration_methods.py,
#: bench/README.md): minmax agrees with fp32 as often as percentile and calibrates fastest;
#: entropy is far worse with small sets and slowest
DEFAULT_METHOD = "minmax"
ACTIVATION_TYPES = ("uint8", "int8")


@dataclass(frozen=True)
class QuantizeSettings:
    method: str = DEFAULT_METHOD    # minmax | entropy | percentile
    per_channel: bool = True        # measured: per-channel weights hold with 8-100 images
    activation_type: str = "uint8"  # uint8: ONNX Runtime's fast x86 path (U8S8); int8 for ARM
    percentile: float = 99.999      # for method percentile
    preprocess: bool = True         # onnxruntime's quant_pre_process (shape inference, folding)
    entropy_bins: int = 2048        # histogram bins for entropy (KL) calibration
    chunk: int = 16                 # calibration images held in memory at once


def model_normalization(model: OnnxInput, mean: Sequence[float] | str | None,
                        scale: Sequence[float] | str | None,
                        path: str | Path | None = None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and scale given by the user, else recorded in the model (else the zoo's, for a zoo
    file); an error that says what to give when none of them says."""
    feed = model_feed(path, model, mean, scale) if path is not None else None
    if feed is not None:
        return tuple(feed.mean), tuple(feed.scale)
    from ..model_facts import missing_normalization
    from ..normalization import parse_triple

    m = parse_triple(mean, "mean") if mean is not None else model.mean
    s = parse_triple(scale, "scale") if scale is not None else model.scale
    if m is None or s is None:
        raise missing_normalization(model.name)
    return tuple(m), tuple(s)


def registry_facts(model_path: str | Path, recorded: Mapping[str, str]) -> dict[str, str]:
    """The facts the registry holds for a registry model's float file (the shipped fp32 model)
    that the file does not record: its resize mode and class names. The int8 model is a file of
    the user's, which has only its own metadata, so it carries them and answers as the float
    model does (``espresso``, not ``class_967``); a user's float model gives nothing here."""
    from .. import zoo
    from ..class_names import load_class_names
    from ..model_facts import CLASS_NAMES_KEY, RESIZE_MODE_KEY

    row = zoo.registry_row_of_file(model_path)
    if row is None:
        return {}
    facts = {}
    if RESIZE_MODE_KEY not in recorded:
        facts[RESIZE_MODE_KEY] = row.resize_mode
    if CLASS_NAMES_KEY not in recorded:
        names = row.class_names if row.class_names is not None else load_class_names(None)
        facts[CLASS_NAMES_KEY] = json.dumps(list(names), ensure_ascii=False)
    return facts


def calibration_for(model_path: str | Path, calib_dir: str | Path,
                    input_type: str | None = None) -> tuple[OnnxInput, CalibrationSet]:
    """The model's input and its calibration set, checked against each other: size, layout,
    colour order and dtype, every file of the folder (before any long work)."""
    info = inspect_onnx(model_path)
    refuse_quantized(info, model_path)
    kind = input_type or info.facts.input_type_train or "rgb"
    data = read_manifest(calib_dir) if Path(calib_dir).is_dir() else None
    dtype = str(data.get("dtype", "float32")) if data else "float32"
    target = CalibrationTarget(info.height, info.width, info.layout, dtype, kind)
    return info, load_calibration_set(calib_dir, target)


@contextlib.contextmanager
def quiet_onnxruntime() -> Iterator[None]:
    """No wall of ONNX Runtime INFO lines (its C++ logger, the quantizer's Python logging and
    the calibrators' prints) while quantizing; warnings and errors still show."""
    import io

    import onnxruntime

    root = logging.getLogger()
    level = root.level
    onnxruntime.set_default_logger_severity(3)
    root.setLevel(max(level, logging.WARNING))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)
        onnxruntime.set_default_logger_severity(2)


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
        raise CalibrationError(f"unknown calibration method {settings.method!r}; choose one of "
                               f"{', '.join(METHODS)}")
    if settings.activation_type not in ACTIVATION_TYPES:
        raise CalibrationError(f"unknown activation type {settings.activation_type!r}; "
                               f"choose one of {', '.join(ACTIVATION_TYPES)}")
    model_path, out_path = Path(model_path), Path(out_path)
    safe_io.ensure_directory(out_path.parent)
    safe_io.check_output(out_path, force=force, inputs=[model_path], what="quantized model")
    info, calib = calibration_for(model_path, calib_dir)
    mean, scale = model_normalization(info, mean, scale, model_path)
    reader = CalibrationReader(calib.paths, info, mean, scale, progress=progress,
                               target=calib.target)

    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[settings.method]
    act = QuantType.QUInt8 if settings.activation_type == "uint8" else QuantType.QInt8
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rdk_quant_") as tmp, quiet_onnxruntime():
        source = model_path
        if settings.preprocess:
            source = Path(tmp) / "preprocessed.onnx"
            # symbolic shape inference (needs sympy) only helps dynamic shapes; ours are fixed
            quant_pre_process(str(model_path), str(source), skip_symbolic_shape=True)
        raw_out = Path(tmp) / "quantized.onnx"
        kwargs: dict[str, Any] = {}
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
    props.update(registry_facts(model_path, props))
    props.update({
        "mean_value": format_triple(mean),
        "scale_value": format_triple(scale),
        "quantization": (f"onnxruntime {onnxruntime.__version__} quantize_static QDQ, "
                         f"{settings.method}, {'per-channel' if settings.per_channel else 'per-tensor'}"
                         f" int8 weights, {settings.activation_type} activations, "
                         f"{len(calib.entries)} calibration images"),
        "quantization_method": settings.method,
        "quantization_per_channel": "true" if settings.per_channel else "false",
        "float_model": model_path.name,
    })
    if settings.method == "percentile":
        props["quantization_percentile"] = f"{settings.percentile:.10g}"
    if calib.input_type != "rgb" or "input_type_train" in props:
        props["input_type_train"] = calib.input_type
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, props)
    safe_io.write_bytes(out_path, proto.SerializeToString(), force=force, inputs=[model_path],
                        what="quantized model")
    return QuantizeResult(model_path, out_path, settings, mean, scale, len(calib.entries),
                          time.perf_counter() - start)


__all__ = ["ACTIVATION_TYPES", "DEFAULT_METHOD", "METHODS", "QuantizeResult", "QuantizeSettings",
           "calibration_for", "model_normalization", "quantize_model", "quiet_onnxruntime",
           "registry_facts"]
