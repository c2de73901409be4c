"""Download zoo models: bounded, resumable only when provably the same file, installed only whole.

A transfer writes ``<dest>/<file>.part`` (opened with O_NOFOLLOW: a symlink there is refused) and
records the server's validator (ETag / Last-Modified) in ``.<file>.part.meta``. A later call resumes
with ``Range`` + ``If-Range``, and appends only when a 206 confirms the same file and offset; any
other answer starts over. The file is renamed to ``<dest>/<file>`` only when it is whole: its size
matches Content-Length / Content-Range, it is not empty and not an HTML page (a captive portal's
sign-in), it fits the size cap, and it matches the registry's sha256 when one is known.
Every transfer has a connect/stall timeout and an overall deadline; one fetch at a time per
destination file (an flock on ``.<file>.lock``).

Mirrors (``base_url=`` / ``--base-url`` / $RDK_CLASSIFIER_BASE_URL): ``http://``, ``https://``, a
local directory or ``file://`` URL (an offline fleet's mirror). Redirects to other schemes are
refused.

Length: http(s) with resume (If-Range), local mirrors, deadlines, size caps, HTML/empty detection,
sha256 and locking: each is a refusal a robot fleet needs, in one place.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import stat
import sys
import time
import urllib.parse
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from . import safe_io, zoo
from .errors import DownloadError, ModelError

if TYPE_CHECKING:
    import urllib.error
    import urllib.request

log = logging.getLogger(__name__)

CHUNK = 1 << 16
#: connect timeout and the longest silence while receiving (seconds)
TIMEOUT_S = 30.0
#: the whole transfer must end within this (seconds); a drip-feeding server cannot hold a robot
DEADLINE_S = 3600.0
#: largest file accepted (bytes); the zoo's largest X5 classification .bin is well under 200 MB
MAX_BYTES = 1 << 30
#: byte positions of at most 20 digits: int() refuses a string of over 4300 (a ValueError)
_CONTENT_RANGE = re.compile(r"bytes\s+(\d{1,20})-(\d{1,20})/(\d{1,20}(?!\d)|\*)", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d{1,20})(?!\d)", re.IGNORECASE)
_HTML_START = (b"<!doctype html", b"<html", b"<head", b"<?xml", b"<body")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _progress_bar(total: int | None, initial: int, name: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
                desc=name, disable=not (enabled and sys.stderr.isatty()), leave=False)


def _offline_hint() -> str:
    return (f"check the network, or download from a mirror with --base-url URL "
            f"(or ${zoo.BASE_URL_ENV})")


def fetch_model(name_or_info: str | zoo.ModelInfo, dest: Path | None = None,
                base_url: str | None = None, progress: bool = True, *,
                system_dir: Path | None = None, timeout: float = TIMEOUT_S,
                deadline: float = DEADLINE_S, max_bytes: int = MAX_BYTES,
                sha256: str | None = None) -> Path:
    """Make a zoo model's ``.bin`` available locally and return its path.

    Order: the board's preinstalled copy (/opt/hobot/model/x5/basic, or ``system_dir``), a
    complete file already in ``dest`` (default: the cache dir), else a download from
    ``base_url`` (default: $RDK_CLASSIFIER_BASE_URL, else the zoo's) into ``dest``.
    CPU models ship with the package and are returned as they are. ``sha256``: the expected
    digest (default: the registry's, when it has one); a cached or downloaded file that does
    not match is refused.
    """
    info = name_or_info if isinstance(name_or_info, zoo.ModelInfo) else zoo.get_model(name_or_info)
    if sha256 is None:
        sha256 = getattr(info, "sha256", None)
    if info.runtime == "cpu":
        path = zoo.find_local(info)
        if path is None:
            raise ModelError(f"{info.name} ships with the package but "
                             f"{zoo.local_candidates(info)[0]} is missing; reinstall rdk_classifier")
        return path
    if not info.bin_file:  # a hand-made ModelInfo; registry rows of BPU models all have one
        raise ModelError(f"{info.name}: a BPU model without a bin_file; nothing to fetch")
    system = Path(system_dir) if system_dir is not None else zoo.system_model_dir()
    preinstalled = system / info.bin_file
    if preinstalled.is_file():
        log.info("%s is preinstalled at %s", info.name, preinstalled)
        return preinstalled
    dest = Path(dest).expanduser() if dest is not None else zoo.default_cache_dir()
    final = dest / info.bin_file
    if final.is_file():
        check_model_file(final, sha256)
        return final
    if info.url_path is None:
        raise DownloadError(f"{info.name}: the zoo publishes no download of {info.bin_file}; it "
                            f"comes with the RDK X5 OS image in {system}")
    url_base = base_url or zoo.base_url()
    try:
        safe_io.ensure_directory(dest, "download folder")
    except safe_io.OutputError as exc:
        raise DownloadError(str(exc)) from None
    local = _local_mirror(url_base)
    if local is not None:
        copy_from_mirror(local / info.url_path, final, sha256=sha256, max_bytes=max_bytes)
    else:  # url_path may hold the zoo's sub-folders (e.g. ultralytics_YOLO/...)
        url = url_base.rstrip("/") + "/" + urllib.parse.quote(info.url_path)
        download(url, final, progress=progress, timeout=timeout, deadline=deadline,
                 max_bytes=max_bytes, sha256=sha256)
    return final


def _local_mirror(base: str) -> Path | None:
    """The directory of a local mirror (a path or file:// URL), None for http(s); DownloadError
    for any other scheme."""
    parsed = urllib.parse.urlsplit(base)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        if not parsed.hostname:
            raise DownloadError(f"mirror URL {base!r} has no host")
        return None
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise DownloadError(f"mirror {base!r}: file:// URLs must be local (file:///path)")
        return Path(urllib.parse.unquote(parsed.path))
    if scheme and len(scheme) > 1:  # (a one-letter "scheme" is a Windows drive)
        raise DownloadError(f"mirror {base!r}: only http://, https://, file:// or a local "
                            f"directory are accepted, not {scheme}://")
    return Path(base).expanduser()


def _normalize_sha256(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    digest = sha256.strip().lower()
    if not _SHA256.fullmatch(digest):
        raise DownloadError(f"expected sha256 {sha256!r} is not 64 hex digits")
    return digest


def _looks_like_html(head: bytes) -> bool:
    return head.lstrip()[:16].lower().startswith(_HTML_START)


def _file_sha256(path: Path) -> str:
    import hashlib  # OpenSSL's libcrypto, ~3.5 MB resident: only for a process that checks a digest

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_whole(path: Path, sha256: str | None, what: str) -> None:
    """DownloadError unless ``path`` is a plausible model: not empty, not HTML, right digest."""
    size = path.stat().st_size
    if size == 0:
        raise DownloadError(f"{what} is empty (0 bytes)")
    with open(path, "rb") as f:
        head = f.read(64)
    if _looks_like_html(head):
        raise DownloadError(f"{what} is an HTML page, not a model (a captive portal or an error "
                            f"page?)")
    digest = _normalize_sha256(sha256)
    if digest is not None:
        got = _file_sha256(path)
        if got != digest:
            raise DownloadError(f"{what} has sha256 {got}, the registry expects {digest}")


def check_model_file(path: Path, sha256: str | None = None) -> None:
    """DownloadError unless a local model file is plausible: not empty, not an HTML page, and
    of the expected sha256 when one is given."""
    try:
        _check_whole(path, sha256, str(path))
    except DownloadError as exc:
        raise DownloadError(f"{exc}; delete it and fetch again") from None


def copy_from_mirror(source: Path, final: Path, *, sha256: str | None = None,
                     max_bytes: int = MAX_BYTES) -> None:
    """Install ``source`` (a file of a local mirror) as ``final``, checked like a download."""
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise DownloadError(f"local mirror: cannot open {source}: {exc.strerror or exc}"
                            + ("; is the model in this mirror?"
                               if isinstance(exc, FileNotFoundError) else "")) from None
    with os.fdopen(fd, "rb") as src:
        st = os.fstat(src.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise DownloadError(f"local mirror: {source} is not a regular file")
        if st.st_size > max_bytes:
            raise DownloadError(f"local mirror: {source} is {st.st_size} bytes, over the "
                                f"{max_bytes}-byte limit")
        with safe_io.exclusive_claim(final, "download"):
            tmp = final.with_name(f".{final.name}.mirror")
            try:
                with safe_io.atomic_open(tmp, "wb", force=True, inputs=[source]) as out:
                    copied = 0
                    for block in iter(lambda: src.read(1 << 20), b""):
                        copied += len(block)
                        if copied > max_bytes:
                            raise DownloadError(f"local mirror: {source} grew over the "
                                                f"{max_bytes}-byte limit")
                        out.write(block)
                _check_whole(tmp, sha256, f"local mirror file {source}")
                _install(tmp, final)
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
    log.info("copied %s from the local mirror %s", final.name, source.parent)


@lru_cache(maxsize=1)
def _opener() -> "urllib.request.OpenerDirector":
    """The one URL opener of every download: http(s) only, redirects only to http(s) (urllib
    would also follow one to ftp://). Built on first use: the HTTP stack (urllib.request pulls in
    http.client, email and ssl, about 8 MB of memory) is imported only by a process that
    downloads, not by every command and node that imports the package."""
    import urllib.error
    import urllib.request

    class HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            scheme = urllib.parse.urlsplit(newurl).scheme.lower()
            if scheme not in ("http", "https"):
                raise urllib.error.HTTPError(newurl, code, f"redirect to a "
                                             f"{scheme or 'relative'}:// URL refused", headers, fp)
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), urllib.request.HTTPHandler(),
                    urllib.request.HTTPSHandler(), urllib.request.HTTPDefaultErrorHandler(),
                    HttpOnlyRedirects(), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def _meta_path(part: Path) -> Path:
    return part.with_name(f".{part.name}.meta")


def _read_meta(part: Path) -> dict:
    """The resume record, or {} (a missing, foreign or unreadable record means: start over)."""
    try:
        fd = os.open(_meta_path(part), os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW
                     | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return {}
    try:
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return {}
            data = json.loads(f.read(4096))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError, RecursionError):  # RecursionError: nested too deep
        return {}


def _write_meta(part: Path, meta: dict) -> None:
    with contextlib.suppress(OSError):
        safe_io.write_text(_meta_path(part), json.dumps(meta), force=True)


def _drop_part(part: Path) -> None:
    for p in (part, _meta_path(part)):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)


def _part_size(part: Path) -> int:
    """Bytes in the .part (0 when absent); DownloadError if it is not a regular file."""
    try:
        st = os.lstat(part)
    except FileNotFoundError:
        return 0
    if not stat.S_ISREG(st.st_mode):
        raise DownloadError(f"{part} is a symbolic link or not a regular file; refusing to write "
                            f"through it (remove it and fetch again)")
    return st.st_size


def _open_part(part: Path, append: bool):
    flags = (os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
             | (os.O_APPEND if append else os.O_TRUNC))
    try:
        fd = os.open(part, flags, 0o644)
    except OSError as exc:
        raise DownloadError(f"cannot write {part}: {exc.strerror or exc} (a symbolic link is "
                            f"never written through)") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DownloadError(f"{part} is not a regular file")
    return os.fdopen(fd, "ab" if append else "wb")


def _install(tmp: Path, final: Path) -> None:
    try:
        safe_io.check_output(final, what="model file")
        safe_io.install_file(tmp, final, False, "model file")  # no-clobber, FAT / exFAT too
    except FileExistsError:
        raise DownloadError(f"{final} appeared during the download; keeping it") from None
    except safe_io.OutputError as exc:
        raise DownloadError(str(exc)) from None
    except OSError as exc:
        raise DownloadError(f"cannot install {final}: {exc.strerror or exc}") from None


def download(url: str, final: Path, progress: bool = True, timeout: float = TIMEOUT_S, *,
             deadline: float = DEADLINE_S, max_bytes: int = MAX_BYTES,
             sha256: str | None = None) -> None:
    """Fetch ``url`` to ``final`` through ``final.part`` (resumed when the server confirms it is
    the same file), check it is whole, then rename. One fetch per ``final`` at a time."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise DownloadError(f"{url}: only http:// and https:// downloads are accepted")
    _normalize_sha256(sha256)
    if not deadline > 0:  # nan compares false with everything: it would switch the deadline off
        raise DownloadError(f"deadline {deadline} s is not a positive number of seconds "
                            f"(--deadline)")
    final = Path(final)
    try:
        claim = safe_io.exclusive_claim(final, "download")
        with claim:
            _download_locked(url, final, progress, timeout, deadline, max_bytes, sha256)
    except safe_io.OutputError as exc:
        raise DownloadError(str(exc)) from None


def _download_locked(url, final, progress, timeout, deadline, max_bytes, sha256) -> None:
    import urllib.error  # the HTTP stack, imported by a process that downloads (see _opener)
    import urllib.request
    from http.client import HTTPException

    part = final.with_name(final.name + ".part")
    started = time.monotonic()
    have = _part_size(part)
    meta = _read_meta(part) if have else {}
    validator = None
    if have and meta.get("url") == url:
        etag = meta.get("etag")
        validator = etag if isinstance(etag, str) and not etag.startswith("W/") \
            else meta.get("last_modified")
    headers = {"User-Agent": "rdk_classifier", "Accept-Encoding": "identity"}
    if have and isinstance(validator, str) and validator:
        headers["Range"] = f"bytes={have}-"
        headers["If-Range"] = validator
    elif have:
        log.info("%s: %s has no record of which file it belongs to; downloading from the start",
                 url, part)
        have = 0
    request = urllib.request.Request(url, headers=headers)
    try:
        response = _opener().open(request, timeout=_first_timeout(timeout, deadline))
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and "Range" in headers:
            _finish_after_416(exc, part, final, have, meta, sha256)
            return
        if 300 <= exc.code < 400 and "infinite loop" in str(exc.reason):
            raise DownloadError(f"{url}: too many redirects (a redirect loop); check the mirror "
                                f"URL (--base-url)") from None
        raise DownloadError(f"{url}: HTTP {exc.code} {_one_line(exc.reason)}"
                            + ("; is the model on this server?" if exc.code == 404 else "")) from None
    except (urllib.error.URLError, OSError, HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            raise DownloadError(f"cannot reach {url}: no answer within "
                                f"{_first_timeout(timeout, deadline):.1f} s"
                                + (" (deadline, --deadline)" if deadline < timeout else "")
                                + f"; {_offline_hint()}") from None
        raise DownloadError(f"cannot reach {url} ({_one_line(reason)}); {_offline_hint()}") from None

    with response:
        status = getattr(response, "status", 200)
        ctype = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype in ("text/html", "application/xhtml+xml"):
            raise DownloadError(f"{url}: the server sent an HTML page ({ctype}), not a model "
                                f"(a captive portal's sign-in or an error page?)")
        encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding not in ("identity", ""):
            raise DownloadError(f"{url}: the server sent the file with Content-Encoding "
                                f"{_one_line(encoding)[:40]!r}, not the file itself (identity); "
                                f"not installed (use a mirror that serves it unencoded)")
        etag = response.headers.get("ETag")
        if status == 206:
            start, total = _parse_content_range(response.headers.get("Content-Range"), url)
            same = (start == have and total is not None and total == meta.get("total")
                    and (etag is None or meta.get("etag") in (None, etag)))
            if not same:
                _drop_part(part)
                raise DownloadError(f"{url}: the server's partial answer (from byte {start} of "
                                    f"{total}) does not continue {part}; it was deleted, run the "
                                    f"fetch again")
            append = True
        elif status == 200:
            if have:
                log.info("%s: the file changed on the server or ranges are not supported; "
                         "downloading from the start", url)
            have = 0
            length = response.headers.get("Content-Length")
            # isdecimal, not isdigit: '\xb2' (latin-1 '²') is a digit that int() refuses
            total = (int(length) if length is not None and length.strip().isdecimal()
                     and len(length.strip()) <= 20 else None)
            append = False
        else:
            raise DownloadError(f"{url}: unexpected HTTP status {status}")
        if total is not None and total > max_bytes:
            raise DownloadError(f"{url}: the server announces {total} bytes, over the "
                                f"{max_bytes}-byte limit")
        if total is None and sha256 is None:
            raise DownloadError(f"{url}: the server sent no size and the registry no sha256, so "
                                f"a whole file cannot be told from a cut one")
        if not append:  # checked: only now is the old .part given up for this transfer
            _drop_part(part)
            _write_meta(part, {"url": url, "etag": etag,
                               "last_modified": response.headers.get("Last-Modified"),
                               "total": total})

        with _open_part(part, append) as out, \
                _progress_bar(total, have, final.name, progress) as bar:
            got = have
            try:
                while True:
                    left = deadline - (time.monotonic() - started)
                    if left <= 0:
                        raise _DeadlineExceeded()
                    _limit_wait(response, min(timeout, left))
                    chunk = response.read1(CHUNK)
                    if not chunk:
                        break
                    got += len(chunk)
                    if got > max_bytes or (total is not None and got > total):
                        out.flush()
                        _drop_part(part)
                        raise DownloadError(f"{url}: more data than announced ({got} bytes, "
                                            f"announced {total}, limit {max_bytes}); deleted")
                    out.write(chunk)
                    bar.update(len(chunk))
            except (OSError, HTTPException, _DeadlineExceeded) as exc:
                out.flush()
                kept = out.tell()
                if isinstance(exc, _DeadlineExceeded) or time.monotonic() - started >= deadline - 0.01:
                    why = f"did not finish within {deadline:g} s (deadline, --deadline)"
                else:
                    why = f"interrupted after {kept} bytes ({_one_line(exc)})"
                if kept == 0:  # nothing to resume: leave nothing behind
                    out.close()
                    _drop_part(part)
                    raise DownloadError(f"download of {url} {why}; nothing was kept") from None
                raise DownloadError(f"download of {url} {why}; the partial file {part} is kept "
                                    f"and the next fetch resumes it") from None
            except KeyboardInterrupt:  # Ctrl-C, SIGTERM: a partial file is kept for resuming
                out.flush()
                if out.tell() == 0:  # nothing to resume: leave nothing behind
                    out.close()
                    _drop_part(part)
                raise
            out.flush()
            os.fsync(out.fileno())
    _check_and_rename(part, final, total, url, sha256)


class _DeadlineExceeded(Exception):
    """The overall deadline passed between two reads."""


def _one_line(value: object, limit: int = 200) -> str:
    """A server-provided text (a reason, an error) as one short line."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit] + "..."


def _first_timeout(timeout: float, deadline: float) -> float:
    """The socket timeout of the connection and the response headers: never past the deadline."""
    return max(0.05, min(timeout, deadline))


def _limit_wait(response, seconds: float) -> None:
    """Let the next read wait at most ``seconds`` (the stall timeout or what is left of the
    deadline, whichever is sooner), so a silent server cannot hold the transfer past its
    deadline. http.client reads through ``fp.raw._sock``; without it the stall timeout stays."""
    sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(max(0.05, seconds))


def _parse_content_range(value: str | None, url: str) -> tuple[int, int | None]:
    match = _CONTENT_RANGE.match(value or "")
    if not match:
        raise DownloadError(f"{url}: partial response without a valid Content-Range "
                            f"({_one_line(repr(value))})")
    total = match.group(3)
    return int(match.group(1)), (int(total) if total != "*" else None)


def _finish_after_416(exc: urllib.error.HTTPError, part: Path, final: Path, have: int,
                      meta: dict, sha256: str | None) -> None:
    """Range not satisfiable: the .part is complete (check and rename it) or wrong (drop it)."""
    hdrs = exc.headers
    match = _UNSATISFIED_RANGE.match(hdrs.get("Content-Range", "") if hdrs else "")
    etag = hdrs.get("ETag") if hdrs else None
    if (match and int(match.group(1)) == have == meta.get("total")
            and (etag is None or meta.get("etag") in (None, etag))):
        _check_and_rename(part, final, have, exc.url or str(final), sha256)
        return
    _drop_part(part)
    raise DownloadError(f"{exc.url}: the partial download {part} did not match the server's file "
                        f"and was deleted; run the fetch again")


def _check_and_rename(part: Path, final: Path, total: int | None, url: str,
                      sha256: str | None) -> None:
    size = part.stat().st_size
    if total is not None and size != total:
        if size > total:
            _drop_part(part)
            raise DownloadError(f"{url}: got {size} bytes but the server announced {total}; the "
                                f"partial file was deleted, run the fetch again")
        raise DownloadError(f"{url}: got {size} of {total} bytes (connection closed early); the "
                            f"partial file {part} is kept and the next fetch resumes it")
    try:
        _check_whole(part, sha256, f"the download of {url}")
    except DownloadError as exc:
        _drop_part(part)
        raise DownloadError(f"{exc}; not installed (deleted)") from None
    _install(part, final)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_meta_path(part))
    log.info("saved %s (%d bytes)", final, size)


__all__ = ["DownloadError", "check_model_file", "copy_from_mirror", "download", "fetch_model"]
