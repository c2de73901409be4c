"""CPU backend: the same NV12 the BPU gets, run through ONNX Runtime.

It mirrors what the compiled .bin does inside the BPU: NV12 -> RGB, then ``(x - mean) * scale``
per channel, then the float or int8 (QDQ) network. So CPU and BPU see identical input bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import BackendUnavailableError, ModelError
from ..frames import nv12_to_rgb
from ..toolchain import parse_triple
from .base import InputSpec


def _load_onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - onnxruntime is a hard dependency
        raise BackendUnavailableError(
            f"the CPU backend needs onnxruntime ({exc}); install it with: pip install onnxruntime"
        ) from None
    return onnxruntime


class CpuBackend:
    """An ONNX classification model with one image input (NCHW or NHWC, 3 channels, batch 1).

    The normalization recorded in the file's metadata (``mean_value`` / ``scale_value``, written by
    ``quantize`` and the export script) wins over the ``mean`` / ``scale`` given, so a renamed or
    user-made model is fed the way it was trained.
    """

    name = "cpu"

    def __init__(self, path: str | Path, mean: Sequence[float], scale: Sequence[float],
                 threads: int = 1, input_size: tuple[int, int] | None = None) -> None:
        ort = _load_onnxruntime()
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"ONNX model file not found: {path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, int(threads))
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"onnxruntime cannot load {path}: {exc}") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(f"{path} has {len(inputs)} inputs; a classification model has one image input")
        self._input_name = inputs[0].name
        self._output_name = self.session.get_outputs()[0].name
        shape = list(inputs[0].shape)
        if len(shape) != 4:
            raise ModelError(f"{path}: input shape {shape} is not 4-D (N, C, H, W)")
        self._nhwc = shape[1] != 3 and shape[3] == 3
        h, w = (shape[1], shape[2]) if self._nhwc else (shape[2], shape[3])
        if not isinstance(h, int) or not isinstance(w, int):
            if input_size is None:
                raise ModelError(f"{path}: input height/width are dynamic ({h}, {w}); give input_size")
            h, w = input_size
        self.input_spec = InputSpec(int(h), int(w))
        self.threads = options.intra_op_num_threads
        self.path = path
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            if "mean_value" in meta:
                mean = parse_triple(meta["mean_value"], "mean_value")
            if "scale_value" in meta:
                scale = parse_triple(meta["scale_value"], "scale_value")
        except ValueError as exc:
            raise ModelError(f"{path}: bad normalization metadata: {exc}") from None
        self._mean = np.asarray(mean, np.float32).reshape(3)
        self._scale = np.asarray(scale, np.float32).reshape(3)
        # reused for every frame: the normalized input tensor
        layout = (1, h, w, 3) if self._nhwc else (1, 3, h, w)
        self._tensor = np.empty(layout, np.float32)

    def to_tensor(self, nv12: np.ndarray) -> np.ndarray:
        """NV12 -> the normalized float tensor the network takes (a reused buffer)."""
        h, w = self.input_spec.height, self.input_spec.width
        if nv12.size != self.input_spec.nv12_size:
            raise ValueError(f"NV12 input has {nv12.size} bytes, model needs {self.input_spec.nv12_size}")
        rgb = nv12_to_rgb(nv12, h, w)
        if self._nhwc:
            dst = self._tensor[0]
            np.subtract(rgb, self._mean, out=dst)
            dst *= self._scale
        else:
            dst = self._tensor[0]
            np.subtract(rgb.transpose(2, 0, 1), self._mean[:, None, None], out=dst)
            dst *= self._scale[:, None, None]
        return self._tensor

    def infer(self, nv12: np.ndarray) -> np.ndarray:
        tensor = self.to_tensor(nv12)
        out = self.session.run([self._output_name], {self._input_name: tensor})[0]
        return np.asarray(out, np.float32).reshape(-1)

    def close(self) -> None:
        self.session = None
