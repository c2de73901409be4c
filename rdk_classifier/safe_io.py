"""Every file the package writes goes through here: nothing half-written, nothing replaced by
surprise, nothing written through a symlink, nothing written onto the command's own input.

A file is written to a temporary name in its target directory (same file system), flushed, and
then put in place: without ``force`` by ``link()`` (atomic and fails if the name exists, so two
writers cannot both win), with ``force`` by ``rename()`` (atomic replace). Either way a reader sees
the old file or the whole new one. The target name is checked with ``lstat``: a symlink there is
refused (``rename`` would replace the link, writing through it would hit a file elsewhere), and so
is any path that is the same file (device and inode) or the same resolved path as an input.
Directories (a calibration set, a bag) are built under a hidden temporary name beside the target
and renamed into place when complete (``staged_directory``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import signal
import stat
import tempfile
import threading
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Union

from .errors import OutputError, OutputExistsError

PathLike = Union[str, os.PathLike]






def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.resolve() == b.resolve():
            return True
    except (OSError, RuntimeError):  # a symlink loop
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output(path: PathLike, *, force: bool = False, inputs: Iterable[PathLike] = (),
                 what: str = "output", directory: bool = False) -> Path:
    """Raise OutputError unless ``path`` may be written; returns it as a Path.

    Refused: a name with a control character (newline, NUL...), a symlink (even with ``force``),
    a path that is one of ``inputs`` (compared after resolving and by device/inode), an existing
    entry without ``force`` (and with ``force``, one of the wrong kind), a missing parent folder.
    """
    p = Path(path)
    text = os.fspath(p)
    if not text or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise OutputError(f"{what} path {text!r} is empty or has a control character; "
                          f"choose a plain name")
    for source in inputs:
        if source is not None and _same_file(p, Path(source)):
            raise OutputError(f"{what} {p} is also an input of this command ({source}); "
                              f"write to another path")
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        st = None
    except OSError as exc:  # ENOTDIR, ENAMETOOLONG, EACCES on a parent...
        raise OutputError(f"cannot write {what} {p}: {exc.strerror or exc}") from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise OutputError(f"{what} {p} is a symbolic link; refusing to write through or "
                              f"replace it (remove it or choose another path)")
        if not force:
            raise OutputExistsError(f"{what} {p} exists already; choose another path or "
                                    f"replace it with --force")
        kind_ok = stat.S_ISDIR(st.st_mode) if directory else stat.S_ISREG(st.st_mode)
        if not kind_ok:
            raise OutputError(f"{what} {p} exists and is not a "
                              f"{'directory' if directory else 'regular file'}; not replacing it")
    parent = p.parent
    if not parent.is_dir():
        raise OutputError(f"cannot write {what} {p}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {what} {p}: folder {parent} is not writable")
    return p


def _umask() -> int:
    """The process umask, read without changing it (os.umask(0) would briefly give every other
    thread's new files mode 0666)."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)  # no /proc (not Linux): the brief change is at least restrictive
    os.umask(mask)
    return mask


def install_file(tmp: Path, final: Path, force: bool, what: str) -> None:
    """Put the complete file ``tmp`` at ``final`` (same folder): with ``force`` replacing what is
    there; else never over an existing entry (``link()`` then unlink, atomic no-clobber; where
    the file system has no hard links, FAT / exFAT / some FUSE, a last check and ``rename()``).
    OutputExistsError if ``final`` appeared meanwhile."""
    if force:
        os.replace(tmp, final)
        return
    try:
        os.link(tmp, final)  # atomic, and EEXIST if someone else got there first
    except FileExistsError:
        raise OutputExistsError(f"{what} {final} appeared while it was written; not replacing "
                                f"it (use --force)") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # no hard links here (FAT, some FUSE): check again and rename (a small race remains)
        if os.path.lexists(final):
            raise OutputExistsError(f"{what} {final} appeared while it was written; not "
                                    f"replacing it (use --force)") from None
        os.rename(tmp, final)
        return
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "wb", *, force: bool = False,
                inputs: Iterable[PathLike] = (), executable: bool = False,
                what: str = "output") -> Iterator[IO]:
    """A file object for a new version of ``path``; put in place only if the block succeeds."""
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    final = check_output(path, force=force, inputs=inputs, what=what)
    try:
        fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"cannot write {what} {final}: {exc.strerror or exc}") from None
    tmp = Path(name)
    try:
        # mkstemp makes 0600; give the file the mode a plain open() would have (umask applied)
        os.fchmod(fd, (0o777 if executable else 0o666) & ~_umask())
        f: IO[Any] = (os.fdopen(fd, "w", encoding="utf-8") if mode == "w"
                      else os.fdopen(fd, "wb"))
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        install_file(tmp, final, force, what)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            # the file system refused the write (disk full, file too large, I/O error): one line
            raise OutputError(f"cannot write {what} {final}: {exc.strerror or exc}") from None
        raise


def write_bytes(path: PathLike, data: bytes, **kwargs) -> Path:
    """Write ``data`` to ``path`` atomically (see ``atomic_open`` for the keyword arguments)."""
    with atomic_open(path, "wb", **kwargs) as f:
        f.write(data)
    return Path(path)


def write_text(path: PathLike, text: str, **kwargs) -> Path:
    with atomic_open(path, "w", **kwargs) as f:
        f.write(text)
    return Path(path)


def copy_file(source: PathLike, path: PathLike, **kwargs) -> Path:
    """Copy the regular file ``source`` to ``path`` atomically (see ``atomic_open`` for the
    keyword arguments), streamed in 1 MB blocks: a model of any size costs no more memory."""
    with open_bounded(Path(source), 1 << 62, "file to copy") as src, \
            atomic_open(path, "wb", **kwargs) as out:
        shutil.copyfileobj(src, out, 1 << 20)
    return Path(path)


def ensure_directory(path: PathLike, what: str = "output folder") -> Path:
    """Create a folder (and its parents); OutputError with one line when that is impossible."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"cannot create {what} {p}: a file of that name exists") from None
    except OSError as exc:
        raise OutputError(f"cannot create {what} {p}: {exc.strerror or exc}") from None
    if not p.is_dir():
        raise OutputError(f"cannot create {what} {p}: not a directory (dangling link?)")
    return p


@contextlib.contextmanager
def exclusive_claim(path: PathLike, what: str = "output") -> Iterator[Path]:
    """Hold an exclusive lock on ``path`` (via ``<dir>/.<name>.lock``) while the block runs, so a
    second run with the same output fails at once instead of racing the first.

    The lock file is removed when the block ends, while still locked. A run that opened the old
    lock file before it was removed sees, once it holds the lock, that the name no longer leads to
    the file it locked, and starts over on the new one: two runs never hold different inodes."""
    p = Path(path)
    lock = p.with_name(f".{p.name}.lock")
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        try:
            fd = os.open(lock, flags, 0o644)
        except OSError as exc:
            raise OutputError(f"cannot claim {what} {p}: {lock}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputError(f"{what} {p} is being written by another process (lock {lock}); "
                              f"wait for it or choose another path") from None
        try:
            same = os.path.samestat(os.fstat(fd), os.lstat(lock))
        except OSError:  # removed by the run that held it before us
            same = False
        if same:
            break
        os.close(fd)
    else:  # pragma: no cover - a hundred removals in a row: someone deletes it on purpose
        raise OutputError(f"cannot claim {what} {p}: {lock} keeps disappearing")
    try:
        yield p
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def exchange_paths(a: PathLike, b: PathLike) -> bool:
    """Swap two existing entries atomically (Linux ``renameat2(RENAME_EXCHANGE)``): a reader sees
    the old or the new one under each name, never none. False where the system cannot (not Linux,
    an old kernel or C library, a file system without it); the caller then falls back."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), os.fspath(a))


def _swap_in(new: Path, final: Path, parking: Path) -> None:
    """Put the complete folder ``new`` at ``final`` (an existing folder): exchanged atomically
    where the system can; else the old one is renamed to ``parking`` first and put back if the
    second rename fails. Afterwards the old folder is at ``new`` (exchange) or ``parking``."""
    if exchange_paths(new, final):
        return
    os.rename(final, parking)
    try:
        os.rename(new, final)
    except BaseException:
        os.rename(parking, final)
        raise


@contextlib.contextmanager
def staged_directory(path: PathLike, *, force: bool = False, inputs: Iterable[PathLike] = (),
                     what: str = "output") -> Iterator[Path]:
    """A hidden empty folder beside ``path``; the block fills ``<yielded>/<name>`` (which does
    not exist yet, for writers that insist on creating it), and on success it is renamed to
    ``path`` (with ``force``, swapped with the old folder, which is then removed). On failure or
    interruption everything staged is removed and an old folder is untouched. Holds
    ``exclusive_claim``.
    """
    final = check_output(path, force=force, inputs=inputs, what=what, directory=True)
    with exclusive_claim(final, what):
        try:
            stage = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.",
                                          suffix=".partial"))
        except OSError as exc:
            raise OutputError(f"cannot write {what} {final}: {exc.strerror or exc}") from None
        inner = stage / final.name
        try:
            yield inner
            if not inner.exists():
                raise OutputError(f"{what} {final} was not written")
            check_output(final, force=force, what=what, directory=True)  # again: late arrivals
            try:
                if force and os.path.lexists(final):
                    _swap_in(inner, final, stage / ".replaced")
                else:
                    os.rename(inner, final)
            except OSError as exc:  # EBUSY (a mount point), EXDEV...: the old folder is in place
                raise OutputError(f"cannot put {what} {final} in place: "
                                  f"{exc.strerror or exc}") from None
        finally:
            shutil.rmtree(stage, ignore_errors=True)


@contextlib.contextmanager
def signals_held(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back while a few renames that belong together run (a folder
    swapped in and the manifest beside it): a signal that arrives meanwhile is delivered when
    the block ends, so it never falls between them. Only the main thread can set handlers;
    elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: caught.append(signum))
                for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(caught):
            signal.raise_signal(sig)


@contextlib.contextmanager
def replace_directory(path: PathLike, *, force: bool = False, inputs: Iterable[PathLike] = (),
                      what: str = "output folder") -> Iterator[Path]:
    """The new version of folder ``path``, built completely before it replaces anything.

    Yields an empty hidden folder beside ``path``; when the block ends normally it becomes
    ``path``: renamed into place, or (an existing folder, only with ``force``) swapped with the
    old one atomically, then the old one is deleted. Until that moment the old folder is whole
    and untouched: an error, Ctrl-C or SIGTERM in the block leaves it as it was and removes the
    stage (SIGKILL leaves a hidden ``.<name>.*.partial`` beside it, never a half-old folder).
    Refused like every output: a symlink, a file in the way, an input of the command, an existing
    folder without ``force``; and a second writer of the same folder (``exclusive_claim``)."""
    with staged_directory(path, force=force, inputs=inputs, what=what) as inner:
        inner.mkdir()
        yield inner

@contextlib.contextmanager
def open_bounded(path: str | Path, max_bytes: int, what: str,
                 error: type[Exception] = OutputError, limit_hint: str = "") -> Iterator[IO[bytes]]:
    """A binary file object of a regular file of at most ``max_bytes``, for every input a user
    names. Opened without blocking and checked with fstat, so a FIFO, a device (/dev/zero) or a
    directory is refused with ``error`` instead of hanging or exhausting memory; a file over the
    limit is refused by its size before a byte is read. ``limit_hint`` names the option that
    changes the limit (added to the refusal)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        raise error(f"cannot read {what} {path}: "
                    f"{getattr(exc, 'strerror', None) or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{what} {path} is not a regular file")
        if st.st_size > max_bytes:
            raise error(f"{what} {path} has {st.st_size} bytes; the limit is {max_bytes}"
                        + (f" ({limit_hint})" if limit_hint else ""))
        with os.fdopen(fd, "rb", closefd=False) as f:
            yield f
    finally:
        os.close(fd)


def read_bounded_bytes(path: str | Path, max_bytes: int, what: str,
                       error: type[Exception] = OutputError, limit_hint: str = "") -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (see ``open_bounded``); a file that
    grows past the limit while it is read is refused too."""
    with open_bounded(path, max_bytes, what, error, limit_hint) as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise error(f"{what} {path} is larger than {max_bytes} bytes"
                    + (f" ({limit_hint})" if limit_hint else ""))
    return data


def read_bounded_text(path: str | Path, max_bytes: int, what: str,
                      error: type[Exception] = OutputError, limit_hint: str = "") -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes`` (BOM removed), for every small
    input file a user names (class names, boxes, manifests); see ``open_bounded``."""
    data = read_bounded_bytes(path, max_bytes, what, error, limit_hint)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path} is not UTF-8 text (byte {exc.start})") from None

__all__ = ["OutputError", "OutputExistsError", "atomic_open", "check_output", "copy_file",
           "install_file",
           "ensure_directory",
           "exchange_paths", "exclusive_claim", "open_bounded", "read_bounded_bytes",
           "read_bounded_text", "replace_directory", "signals_held", "staged_directory",
           "write_bytes",
           "write_text"]
