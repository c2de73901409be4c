"""CPU backend: the same NV12 the BPU gets, run through ONNX Runtime.

It mirrors what the compiled .bin does inside the BPU: NV12 -> RGB, then ``(x - mean) * scale``
per channel, then the float or int8 (QDQ) network. So CPU and BPU see identical input bytes.
A model that cannot work (batch > 1, not three colour channels, a non-float input, more than
one output) is refused at load, with the shapes in the message, instead of failing every frame.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ..errors import FrameSizeError, ModelError
from ..frames import nv12_to_bgr, nv12_to_rgb
from ..normalization import NormalizationError, from_metadata
from .base import InputSpec
from .onnx_session import create_session

#: ONNX element types the normalized image can be fed as
_FLOAT_INPUT = "tensor(float)"


def _static(dim) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


class CpuBackend:
    """An ONNX classification model with one float image input (NCHW or NHWC, 3 channels,
    batch 1) and one output of ``num_classes`` scores.

    The normalization recorded in the file's metadata (``mean_value`` / ``scale_value``, written by
    ``quantize`` and the export script) wins over the ``mean`` / ``scale`` given, so a renamed or
    user-made model is fed the way it was trained.
    """

    name = "cpu"
    #: any number of threads may call ``infer`` at once: ``InferenceSession.run`` is thread-safe
    #: and every thread normalizes into its own tensor buffer
    max_concurrent: int | None = None

    def __init__(self, path: str | Path, mean: Sequence[float], scale: Sequence[float],
                 threads: int = 1, input_size: tuple[int, int] | None = None,
                 spinning: bool | None = None, input_type: str = "rgb") -> None:
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"ONNX model file not found: {path}")
        try:
            self.session = create_session(path, threads=threads, spinning=spinning)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"onnxruntime cannot load {path}: {exc}") from None
        self.path = path
        self.threads = max(1, int(threads))
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1:
            raise ModelError(f"{path} has {len(inputs)} inputs; a classification model has one "
                             f"image input")
        if len(outputs) != 1:
            raise ModelError(f"{path} has {len(outputs)} outputs; a classification model has one "
                             f"output of class scores")
        inp = inputs[0]
        self._input_name, self._output_name = inp.name, outputs[0].name
        if inp.type != _FLOAT_INPUT:
            raise ModelError(f"{path}: input {inp.name!r} is {inp.type}; the CPU backend feeds a "
                             f"normalized float32 image ({_FLOAT_INPUT})")
        shape = list(inp.shape)
        if len(shape) != 4:
            raise ModelError(f"{path}: input shape {shape} is not 4-D (N, C, H, W or N, H, W, C)")
        if _static(shape[0]) not in (None, 1):
            raise ModelError(f"{path}: input shape {shape} has batch {shape[0]}; the package "
                             f"classifies one frame at a time (batch 1)")
        if shape[1] == 3:
            self._nhwc = False
        elif shape[3] == 3:
            self._nhwc = True
        else:
            raise ModelError(f"{path}: input shape {shape} has no 3-channel axis (NCHW or NHWC); "
                             f"NV12 becomes RGB, three channels")
        h, w = (shape[1], shape[2]) if self._nhwc else (shape[2], shape[3])
        if _static(h) is None or _static(w) is None:
            if input_size is None:
                raise ModelError(f"{path}: input height/width are dynamic ({h}, {w}); give "
                                 f"input_size")
            h, w = input_size
        self.input_spec = InputSpec(int(h), int(w))
        metadata = self.session.get_modelmeta().custom_metadata_map
        try:
            meta_mean, meta_scale = from_metadata(metadata)
        except NormalizationError as exc:
            raise ModelError(f"{path}: bad normalization metadata: {exc}") from None
        input_type = metadata.get("input_type_train", input_type)
        if input_type not in ("rgb", "bgr"):
            raise ModelError(f"{path} was trained on {input_type!r} input; the CPU backend feeds "
                             f"rgb or bgr (on the BPU, hb_mapper compiles the conversion in)")
        #: NV12 -> the colour order the network was trained on, in one conversion
        self._to_colour = nv12_to_bgr if input_type == "bgr" else nv12_to_rgb
        self._mean = self._channels(meta_mean or mean, "mean", path)
        self._scale = self._channels(meta_scale or scale, "scale", path)
        # reused for every frame of a thread: the normalized input tensor (one per thread, so
        # threads sharing the backend never write into the tensor another one is running)
        self._layout = (1, h, w, 3) if self._nhwc else (1, 3, h, w)
        self._buffers = threading.local()
        # (v - mean) * scale of every byte value v, per channel, computed in float32 exactly as
        # the arithmetic on the whole image would be: normalizing is one table look-up per pixel
        # (OpenCV's LUT), bit-identical to subtracting and scaling, at about half the cost
        self._lut = (np.arange(256, dtype=np.float32)[None, :] - self._mean[:, None]) \
            * self._scale[:, None]
        self._lut_hwc = np.ascontiguousarray(self._lut.T).reshape(1, 256, 3)
        self.num_classes = self._output_size(outputs[0].shape)

    @staticmethod
    def _channels(values: Sequence[float], what: str, path: Path) -> np.ndarray:
        arr = np.asarray(values, np.float32).reshape(-1)
        if arr.size != 3:
            raise ModelError(f"{path}: {what} needs 3 values (one per channel), got {arr.size}")
        return arr

    def _output_size(self, shape: Sequence) -> int:
        """Classes in the output: from a static shape, else from one inference of a gray frame
        (which also pays ONNX Runtime's first-run cost at load instead of on the first frame)."""
        dims = [d for d in map(_static, shape) if d is not None]
        if dims and len(dims) == len(shape):
            size = int(np.prod(dims))
        else:
            gray = np.full(self.input_spec.nv12_size, 128, np.uint8)
            size = int(np.asarray(self._run(gray)).size)
        if size < 1:
            raise ModelError(f"{self.path}: output shape {list(shape)} holds no class scores")
        if dims and dims[0] not in (None, 1) and size != dims[0]:
            raise ModelError(f"{self.path}: output shape {list(shape)} has batch {dims[0]}; "
                             f"expected one row of class scores")
        return size

    def to_tensor(self, nv12: np.ndarray) -> np.ndarray:
        """NV12 -> the normalized float tensor the network takes (a buffer reused by the calling
        thread: valid until its next call)."""
        h, w = self.input_spec.height, self.input_spec.width
        if nv12.size != self.input_spec.nv12_size:
            raise FrameSizeError(f"NV12 input has {nv12.size} bytes, model needs "
                                 f"{self.input_spec.nv12_size}")
        rgb = self._to_colour(nv12, h, w)  # (B, G, R for a BGR-trained network)
        tensor = getattr(self._buffers, "tensor", None)
        if tensor is None:
            tensor = self._buffers.tensor = np.empty(self._layout, np.float32)
        dst = tensor[0]
        if self._nhwc:
            cv2.LUT(rgb, self._lut_hwc, dst=dst)
        else:
            for c, plane in enumerate(cv2.split(rgb)):
                cv2.LUT(plane, self._lut[c], dst=dst[c])
        return tensor

    def _run(self, nv12: np.ndarray) -> np.ndarray:
        return self.run_tensor(self.to_tensor(nv12))

    def run_tensor(self, tensor: np.ndarray) -> np.ndarray:
        """The network alone on a ready input tensor (what ``hrt_model_exec perf`` times)."""
        return self.session.run([self._output_name], {self._input_name: tensor})[0]

    def infer(self, nv12: np.ndarray) -> np.ndarray:
        return np.asarray(self._run(nv12), np.float32).reshape(-1)

    def close(self) -> None:
        self.session = None
