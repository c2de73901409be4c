"""The one small interface every inference runtime implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class InputSpec:
    """What a backend wants as input: packed NV12 of height x width (both even)."""

    height: int
    width: int

    @property
    def nv12_size(self) -> int:
        return self.height * self.width * 3 // 2


class Backend(Protocol):
    """A loaded model that takes one packed NV12 frame and returns its raw float output.

    ``infer`` receives a C-contiguous flat ``uint8`` array of ``height*width*3//2`` bytes
    (Y plane, then interleaved UV) and returns a float32 vector (one value per class),
    already dequantized.

    ``max_concurrent``: how many threads may be inside ``infer`` of one instance at once (None:
    any number). The CPU backend allows any (ONNX Runtime's ``InferenceSession.run`` is
    thread-safe, and the tensor buffer is per thread); the BPU runtimes one (one model object,
    one buffer set, a synchronous forward). ``concurrency_of`` reads it, 1 where it is absent.
    """

    name: str  # "cpu" or "bpu"
    input_spec: InputSpec
    max_concurrent: int | None

    def infer(self, nv12: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


def concurrency_of(backend: object) -> int | None:
    """How many callers ``backend.infer`` takes at once: its ``max_concurrent`` (None = any),
    1 for a backend that does not say."""
    value = getattr(backend, "max_concurrent", 1)
    return None if value is None else max(1, int(value))
