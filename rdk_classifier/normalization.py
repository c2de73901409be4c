"""Per-channel input normalization ``(x - mean) * scale`` and how model files record it.

The zoo's .bin models carry it compiled in (``norm_type: data_mean_and_scale``); ONNX models made
by this package record it as metadata ``mean_value`` / ``scale_value`` (hb_mapper's spelling), which
the CPU backend and ``quantize`` read back.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from .errors import NormalizationError

#: ImageNet mean and scale (1/std) on 0..255 RGB, as the zoo's models were trained
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_SCALE = (0.01712475, 0.017507, 0.01742919)
MEAN_KEY, SCALE_KEY = "mean_value", "scale_value"




Triple = tuple[float, float, float]


def parse_triple(text: str | Sequence[float], what: str) -> Triple:
    """``"127 127 127"``, ``"127"``, ``"1,2,3"`` or a sequence -> three floats (one per channel)."""
    parts = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    try:
        values = [float(v) for v in parts]
    except (TypeError, ValueError):
        raise NormalizationError(f"{what} {text!r} is not 1 or 3 numbers") from None
    if len(values) == 1:
        values *= 3
    if len(values) != 3:
        raise NormalizationError(f"{what} {text!r} has {len(values)} values; give 1 or 3 "
                                 f"(one per channel)")
    return (values[0], values[1], values[2])


def format_triple(values: Sequence[float]) -> str:
    return " ".join(f"{v:.10g}" for v in values)


def from_metadata(meta: Mapping[str, str]) -> tuple[Triple | None, Triple | None]:
    """Mean and scale recorded in an ONNX file's metadata map (None where absent)."""
    mean = parse_triple(meta[MEAN_KEY], MEAN_KEY) if MEAN_KEY in meta else None
    scale = parse_triple(meta[SCALE_KEY], SCALE_KEY) if SCALE_KEY in meta else None
    return mean, scale


__all__ = ["IMAGENET_MEAN", "IMAGENET_SCALE", "MEAN_KEY", "SCALE_KEY", "NormalizationError",
           "format_triple", "from_metadata", "parse_triple"]
