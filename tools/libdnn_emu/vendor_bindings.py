"""Build the vendor's BPU Python bindings against the libdnn emulator, from a checkout the user has.

Nothing of the vendor's is in this repository or downloaded by it: ``spdev`` is a local checkout of
D-Robotics' x5-hobot-spdev (its ``src/python/dnn_python.cpp`` and ``dnn_python.h`` are compiled
where they are; the output goes to a work folder the caller owns).

* ``pyeasy_dnn``: C++ with the CPython and numpy C APIs; compiled natively here against the
  emulator's headers (written from the public API documentation) and linked to its libdnn.so, as
  ``WORK/site/hobot_dnn/pyeasy_dnn*.so`` (import it as ``hobot_dnn.pyeasy_dnn`` with WORK/site on
  sys.path, like the board's package).
* ``hbm_runtime``: shipped prebuilt (``python/hbm_runtime/HB_HBMRuntime.so``), aarch64, pybind11,
  for CPython 3.10. ``hbm_runtime_imports`` lists what it imports from libdnn.so so that the
  emulator's exports can be checked against it; running it needs an aarch64 CPython 3.10 under
  qemu-aarch64 (tools/libdnn_emu/README.md says why that is not done here).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import container  # noqa: E402

PYEASY_SOURCE = Path("src/python/dnn_python.cpp")
HBM_RUNTIME_SO = Path("python/hbm_runtime/HB_HBMRuntime.so")


class VendorBuildError(RuntimeError):
    """The checkout, the compiler or the build failed; the message says which."""


def check_checkout(spdev: str | Path) -> Path:
    spdev = Path(spdev).expanduser().resolve()
    if not (spdev / PYEASY_SOURCE).is_file():
        raise VendorBuildError(f"{spdev} is not an x5-hobot-spdev checkout: {PYEASY_SOURCE} "
                               f"is missing")
    return spdev


def _python_flags(python: str) -> tuple[str, str, str]:
    code = ("import sysconfig, numpy; print(sysconfig.get_paths()['include']); "
            "print(numpy.get_include()); print(sysconfig.get_config_var('EXT_SUFFIX'))")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    include, numpy_include, suffix = out.stdout.split()
    return include, numpy_include, suffix


def build_pyeasy_dnn(spdev: str | Path, work: str | Path, python: str = sys.executable,
                     cxx: str = "g++") -> tuple[Path, Path]:
    """(site folder holding hobot_dnn/pyeasy_dnn, emulator libdnn.so), both under ``work``."""
    spdev = check_checkout(spdev)
    work = Path(work).resolve()
    if shutil.which(cxx) is None:
        raise VendorBuildError(f"no C++ compiler ({cxx}) to build pyeasy_dnn")
    lib = container.build(work / "emu")
    include, numpy_include, suffix = _python_flags(python)
    package = work / "site" / "hobot_dnn"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(
        '"""pyeasy_dnn built from a local x5-hobot-spdev checkout against the libdnn emulator."""\n')
    target = package / f"pyeasy_dnn{suffix}"
    cmd = [cxx, "-std=c++14", "-O2", "-shared", "-fPIC", "-w", f"-I{lib.parent / 'include'}",
           f"-I{include}", f"-I{numpy_include}", str(spdev / PYEASY_SOURCE),
           f"-L{lib.parent}", "-ldnn", f"-Wl,-rpath,{lib.parent}", "-o", str(target)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise VendorBuildError(f"compiling {PYEASY_SOURCE} failed:\n{result.stderr[-4000:]}")
    return work / "site", lib


def undefined_hb_symbols(so: str | Path) -> list[str]:
    """The hbDNN*/hbSys* symbols a shared object imports, with their version (``name@CONFIG``)."""
    out = subprocess.run(["readelf", "--dyn-syms", "-W", str(so)], capture_output=True, text=True,
                         check=True).stdout
    found = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[6] == "UND" and re.match(r"hb(DNN|Sys)\w*@", parts[7]):
            found.add(parts[7].split(" ")[0].replace("@@", "@"))
    return sorted(found)


def exported_hb_symbols(lib: str | Path) -> list[str]:
    out = subprocess.run(["readelf", "--dyn-syms", "-W", str(lib)], capture_output=True,
                         text=True, check=True).stdout
    found = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[6] != "UND" and re.match(r"hb(DNN|Sys)\w*@", parts[7]):
            found.add(parts[7].replace("@@", "@"))
    return sorted(found)


def hbm_runtime_imports(spdev: str | Path) -> list[str]:
    """What the shipped aarch64 hbm_runtime imports from libdnn.so (readelf works on any host)."""
    so = Path(spdev) / HBM_RUNTIME_SO
    if not so.is_file():
        raise VendorBuildError(f"{so} is missing from the checkout")
    return undefined_hb_symbols(so)
