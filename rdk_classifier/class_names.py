"""Class names: ImageNet-1k by default, or a user file with one name per line (line N = class N-1).

A class-names file is untrusted input (a node parameter, a CLI option), so it is read bounded:
a regular file of at most ``MAX_FILE_BYTES``, UTF-8 (a BOM and CRLF line ends are fine), at most
``MAX_CLASSES`` names (``vision_msgs/VisionClass.class_id`` is a uint16), no control characters.
Every name keeps the index of its line: trailing blank lines are dropped, a blank line inside the
list keeps its place as ``class_<N>``, and duplicate names are allowed (the original ImageNet-1k synset
words name two classes "crane"). The count is checked against the model at load
(``check_class_count``).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from pathlib import Path

from .errors import ClassNamesError
from .safe_io import read_bounded_text

IMAGENET_CLASS_NAMES = Path(__file__).parent / "data" / "imagenet1k_labels.txt"
#: vision_msgs/VisionClass.class_id is a uint16
MAX_CLASSES = 65535
MAX_FILE_BYTES = 4 << 20
MAX_NAME_LENGTH = 256


def placeholder(class_id: int) -> str:
    """The name of a class that has none (a blank line, or beyond the list)."""
    return f"class_{class_id}"


def parse_class_names(text: str, source: str = "<class names>") -> tuple[str, ...]:
    """One name per line; see the module docstring for the rules."""
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ClassNamesError(f"{source} has no class names (expected one name per line)")
    if len(lines) > MAX_CLASSES:
        raise ClassNamesError(f"{source} has {len(lines)} lines; at most {MAX_CLASSES} classes "
                              f"fit vision_msgs/VisionClass")
    names = []
    for number, raw in enumerate(lines, start=1):
        name = raw.strip()
        if len(name) > MAX_NAME_LENGTH:
            raise ClassNamesError(f"{source}:{number}: name is {len(name)} characters long; "
                                  f"the limit is {MAX_NAME_LENGTH}")
        if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
            raise ClassNamesError(f"{source}:{number}: name contains a control character")
        names.append(name or placeholder(number - 1))
    return tuple(names)


@lru_cache(maxsize=8)
def _load(path: str, version: tuple[int, ...]) -> tuple[str, ...]:
    p = Path(path)
    text = read_bounded_text(p, MAX_FILE_BYTES, "class-names file", ClassNamesError)
    return parse_class_names(text, str(p))


def load_class_names(path: str | Path | None = None) -> tuple[str, ...]:
    """The names of a class-names file; ``None`` gives the packaged ImageNet-1k list. Cached per
    file version (an edited file is read again)."""
    p = Path(path).expanduser() if path else IMAGENET_CLASS_NAMES
    try:
        st = p.stat()
        version: tuple[int, ...] = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        version = ()
    return _load(str(p), version)


def check_class_count(names: tuple[str, ...], num_classes: int | None, model: str,
                      source: str | None) -> None:
    """Refuse names that do not fit the model's output (None: the model did not say)."""
    if num_classes is None or len(names) == num_classes:
        return
    where = source or f"the ImageNet-1k list ({IMAGENET_CLASS_NAMES.name})"
    raise ClassNamesError(
        f"{model} has {num_classes} outputs but {where} names {len(names)} classes; give a "
        f"class-names file with exactly {num_classes} lines")


def class_name(names: tuple[str, ...], class_id: int) -> str:
    """The name of a class, or ``class_<id>`` outside the list."""
    return names[class_id] if 0 <= class_id < len(names) else placeholder(class_id)


__all__ = ["IMAGENET_CLASS_NAMES", "MAX_CLASSES", "MAX_FILE_BYTES", "check_class_count",
           "class_name", "load_class_names", "parse_class_names", "placeholder"]
