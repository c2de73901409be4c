"""Class names: ImageNet-1k by default, or a user file with one name per line."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .errors import RdkClassifierError

IMAGENET_LABELS = Path(__file__).parent / "data" / "imagenet1k_labels.txt"


@lru_cache(maxsize=8)
def load_labels(path: str | Path | None = None) -> tuple[str, ...]:
    """Read a label file (line N = name of class N). ``None`` gives the packaged ImageNet-1k list."""
    p = Path(path) if path else IMAGENET_LABELS
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RdkClassifierError(f"cannot read label file {p}: {exc.strerror or exc}") from None
    names = tuple(line.strip() for line in lines if line.strip())
    if not names:
        raise RdkClassifierError(f"label file {p} has no names (expected one class name per line)")
    return names


def label_of(labels: tuple[str, ...], class_id: int) -> str:
    """The name of a class, or ``class_<id>`` where the label list is shorter than the output."""
    return labels[class_id] if 0 <= class_id < len(labels) else f"class_{class_id}"
