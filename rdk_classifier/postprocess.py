"""Raw model output -> probabilities -> top-k. The last stage of the one path.

Called once per frame on ~1000 values, so the fixed cost per call (numpy dispatch, temporaries)
matters more than the arithmetic: one float64 sum finds non-finite values (NaN/inf make it
non-finite) and tells a probability vector, and the copy is made only when one is needed.
"""

from __future__ import annotations

import numpy as np

from .errors import ModelOutputError

#: An output whose values are all >= -NEGATIVE_TOLERANCE and sum to 1 within SUM_TOLERANCE is
#: taken as probabilities (loose enough for dequantized softmax outputs of the BPU).
NEGATIVE_TOLERANCE = 1e-3
SUM_TOLERANCE = 2e-2


def is_probability_vector(values: np.ndarray) -> bool:
    """True when the output already is a probability distribution (e.g. MobileNetV1/V2 .bin)."""
    return bool(values.size and values.min() >= -NEGATIVE_TOLERANCE
                and abs(float(values.sum(dtype=np.float64)) - 1.0) <= SUM_TOLERANCE)


def softmax(values: np.ndarray) -> np.ndarray:
    shifted = values - values.max()
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum()
    return shifted


def to_probabilities(raw: np.ndarray) -> np.ndarray:
    """Flatten to float32 and apply softmax unless the values already are probabilities.
    The result is a new array (``raw`` is never modified)."""
    values = np.asarray(raw, dtype=np.float32).reshape(-1)
    total = float(values.sum(dtype=np.float64))  # NaN or inf when any value is (checked below)
    if not np.isfinite(total):
        finite = np.isfinite(values)
        if not finite.all():
            bad = int(values.size - np.count_nonzero(finite))
            raise ModelOutputError(f"model output has {bad} NaN or infinite values of "
                                   f"{values.size}; frame skipped")
    if values.size and abs(total - 1.0) <= SUM_TOLERANCE and values.min() >= -NEGATIVE_TOLERANCE:
        return values.copy()
    return softmax(values)  # a new array: ``values - max``


def top_k(probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores of the k largest values, highest first (ties: lower index first)."""
    k = max(0, min(int(k), probs.size))
    if k == 0:
        return np.empty(0, np.int64), np.empty(0, np.float32)
    part = np.argpartition(-probs, k - 1)[:k]
    order = np.lexsort((part, -probs[part]))
    idx = part[order]
    return idx, probs[idx]
