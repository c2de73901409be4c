"""Progress bars for the tools (tqdm), off unless asked for (e.g. stderr is a terminal)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # tqdm itself is imported when a bar is made, not with this module
    from typing import NoReturn

    from tqdm import tqdm

    ProgressBar = tqdm[NoReturn]  # a bar without an iterable (update() by hand)


def progress_bar(total: int, desc: str, unit: str, enabled: bool) -> ProgressBar:
    """A tqdm bar (a do-nothing one when not ``enabled``): a context manager with ``update``."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False, disable=not enabled)


__all__ = ["progress_bar"]
