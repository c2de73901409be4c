"""Download zoo models: resumable, size-checked, and never a truncated file under the final name.

A transfer writes ``<dest>/<file>.part``; a later call resumes it with an HTTP Range request; only
a complete file (its size checked against Content-Length / Content-Range) is renamed, atomically,
to ``<dest>/<file>``. Mirrors: ``base_url=`` / ``--base-url`` / $RDK_CLASSIFIER_BASE_URL.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path

from . import zoo
from .errors import DownloadError, ModelError

log = logging.getLogger(__name__)

CHUNK = 1 << 16
TIMEOUT_S = 30.0
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)", re.IGNORECASE)


def _progress_bar(total: int | None, initial: int, name: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
                desc=name, disable=not (enabled and sys.stderr.isatty()), leave=False)


def _offline_hint() -> str:
    return (f"check the network, or download from a mirror with --base-url URL "
            f"(or ${zoo.BASE_URL_ENV})")


def fetch_model(name_or_info: str | zoo.ModelInfo, dest: Path | None = None,
                base_url: str | None = None, progress: bool = True, *,
                system_dir: Path | None = None, timeout: float = TIMEOUT_S) -> Path:
    """Make a zoo model's ``.bin`` available locally and return its path.

    Order: the board's preinstalled copy (/opt/hobot/model/x5/basic, or ``system_dir``), a
    complete file already in ``dest`` (default: the cache dir), else a download from
    ``base_url`` (default: $RDK_CLASSIFIER_BASE_URL, else the zoo's) into ``dest``.
    CPU models ship with the package and are returned as they are.
    """
    info = name_or_info if isinstance(name_or_info, zoo.ModelInfo) else zoo.get_model(name_or_info)
    if info.runtime == "cpu":
        path = zoo.find_local(info)
        if path is None:
            raise ModelError(f"{info.name} ships with the package but "
                             f"{zoo.local_candidates(info)[0]} is missing; reinstall rdk_classifier")
        return path
    system = Path(system_dir) if system_dir is not None else zoo.system_model_dir()
    preinstalled = system / info.bin_file
    if preinstalled.is_file():
        log.info("%s is preinstalled at %s", info.name, preinstalled)
        return preinstalled
    dest = Path(dest).expanduser() if dest is not None else zoo.default_cache_dir()
    final = dest / info.bin_file
    if final.is_file():
        return final
    if info.url_path is None:
        raise DownloadError(f"{info.name}: the zoo publishes no download of {info.bin_file}; it "
                            f"comes with the RDK X5 OS image in {system}")
    url_base = base_url or zoo.base_url()
    url = url_base.rstrip("/") + "/" + info.url_path
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create {dest}: {exc}") from exc
    download(url, final, progress=progress, timeout=timeout)
    return final


def download(url: str, final: Path, progress: bool = True, timeout: float = TIMEOUT_S) -> None:
    """Fetch ``url`` to ``final`` through ``final.part`` (resumed if present), then rename."""
    part = final.with_name(final.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": "rdk_classifier", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            _finish_after_416(exc, part, final, have)
            return
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}"
                            + ("; is the model on this server?" if exc.code == 404 else "")) from exc
    except (urllib.error.URLError, OSError, HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot reach {url} ({reason}); {_offline_hint()}") from exc

    with response:
        status = getattr(response, "status", 200)
        if status == 206:
            start, total = _parse_content_range(response.headers.get("Content-Range"), url)
            if start != have:
                raise DownloadError(f"{url}: server resumed at byte {start}, expected {have}; "
                                    f"delete {part} and retry")
            mode = "ab"
        elif status == 200:
            if have:
                log.info("%s: server ignored the range request; downloading from the start", url)
            have = 0
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None and length.isdigit() else None
            mode = "wb"
        else:
            raise DownloadError(f"{url}: unexpected HTTP status {status}")

        with open(part, mode) as out, _progress_bar(total, have, final.name, progress) as bar:
            try:
                while True:
                    chunk = response.read(CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    bar.update(len(chunk))
            except (OSError, HTTPException) as exc:
                out.flush()
                raise DownloadError(
                    f"download of {url} interrupted after {out.tell()} bytes ({exc}); the partial "
                    f"file {part} is kept and the next fetch resumes it") from exc
            out.flush()
            os.fsync(out.fileno())
    _check_and_rename(part, final, total, url)


def _parse_content_range(value: str | None, url: str) -> tuple[int, int | None]:
    match = _CONTENT_RANGE.match(value or "")
    if not match:
        raise DownloadError(f"{url}: partial response without a valid Content-Range ({value!r})")
    total = match.group(3)
    return int(match.group(1)), (int(total) if total != "*" else None)


def _finish_after_416(exc: urllib.error.HTTPError, part: Path, final: Path, have: int) -> None:
    """Range not satisfiable: the .part is complete (rename it) or wrong (drop it, retry)."""
    match = _UNSATISFIED_RANGE.match(exc.headers.get("Content-Range", "") if exc.headers else "")
    if match and int(match.group(1)) == have:
        _check_and_rename(part, final, have, exc.url or str(final))
        return
    part.unlink(missing_ok=True)
    raise DownloadError(f"{exc.url}: the partial download {part} did not match the server's file "
                        f"and was deleted; run the fetch again")


def _check_and_rename(part: Path, final: Path, total: int | None, url: str) -> None:
    size = part.stat().st_size
    if total is not None and size != total:
        if size > total:
            part.unlink(missing_ok=True)
            raise DownloadError(f"{url}: got {size} bytes but the server announced {total}; the "
                                f"partial file was deleted, run the fetch again")
        raise DownloadError(f"{url}: got {size} of {total} bytes (connection closed early); the "
                            f"partial file {part} is kept and the next fetch resumes it")
    if total is None:
        log.warning("%s: the server sent no size, so %d bytes could not be checked", url, size)
    os.replace(part, final)
    log.info("saved %s (%d bytes)", final, size)
