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
    already dequantized. A backend object is not thread-safe: one per worker thread.
    """

    name: str  # "cpu" or "bpu"
    input_spec: InputSpec

    def infer(self, nv12: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...
