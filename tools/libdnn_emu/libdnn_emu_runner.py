"""The network side of the libdnn emulator (tools/libdnn_emu/libdnn_emu.c calls it).

The emulated ``hbDNNInfer`` hands over the image it has already read from NV12 and normalized, as
float32 in the network's own layout; this module runs the container's ONNX on the CPU with ONNX
Runtime and writes the float32 scores back into the library's buffer. The library quantizes and
lays them out as the container declares. Loaded into the process that uses the BPU bindings (they
are Python extensions); it needs numpy and onnxruntime there.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

_sessions: list[ort.InferenceSession | None] = []


def load(path: str, offset: int, size: int) -> int:
    """Open the ONNX stored at ``offset`` (``size`` bytes) of the container; its id for run()."""
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(size)
    if len(data) != size:
        raise ValueError(f"{path}: the ONNX part is truncated ({len(data)} of {size} bytes)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    # int8 as the BPU computes it (wide accumulators): x86 AVX2 kernels would otherwise add u8*s8
    # pairs in 16 bits and saturate (an ONNX Runtime setting; ignored by the other kernels)
    options.add_session_config_entry("session.x64quantprecision", "1")
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    if len(session.get_inputs()) != 1:
        raise ValueError(f"{path}: the network needs exactly one input")
    _sessions.append(session)
    return len(_sessions) - 1


def release(model_id: int) -> None:
    """The model was released (hbDNNRelease): drop its session."""
    _sessions[model_id] = None


def run(model_id: int, image: memoryview, out: memoryview, height: int, width: int) -> None:
    """image: float32 (1, 3, H, W) or (1, H, W, 3) as the network's input declares; out: the
    float32 scores buffer, filled in place (its size must be the network's output size)."""
    session = _sessions[model_id]
    if session is None:
        raise ValueError(f"model {model_id} was released")
    spec = session.get_inputs()[0]
    nhwc = len(spec.shape) == 4 and spec.shape[3] == 3
    shape = (1, height, width, 3) if nhwc else (1, 3, height, width)
    x = np.frombuffer(image, dtype=np.float32).reshape(shape)
    scores = np.asarray(session.run(None, {spec.name: x})[0], dtype=np.float32).reshape(-1)
    dst = np.frombuffer(out, dtype=np.float32)
    if dst.size != scores.size:
        raise ValueError(f"the network gives {scores.size} scores; the container declares "
                         f"{dst.size}")
    dst[:] = scores
