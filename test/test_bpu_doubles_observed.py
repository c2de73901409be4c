"""The pyeasy_dnn double (test/bpu_doubles.py) does what the vendor's real binding did on the libdnn
emulator: every scenario runs on the double, and on the real binding too where RDK_X5_SPDEV names
a local x5-hobot-spdev checkout (test/emulated_bpu.py builds it; elsewhere that half skips).

Behaviours (each a test): hbDNN's core mask and a core the chip lacks; an argument that is not an
array runs the stale input; a non-contiguous array is read as raw memory; an array's element count
is copied as a byte count; any shape of the right count is accepted; a loaded model is never freed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable

import numpy as np
import pytest

import bpu_doubles as doubles
import emulated_bpu as eb
from emulated_bpu import container
from rdk_classifier.backends import bpu
from rdk_classifier.errors import ModelError

N = 224 * 224 * 3 // 2


@pytest.fixture(scope="module")
def vendor_module(tmp_path_factory):
    yield from eb.vendor_pyeasy_dnn(tmp_path_factory.mktemp("vendor"))


@dataclass
class Runtime:
    kind: str
    make: Callable[..., Path]  # (bpu_cores=1) -> a model file this runtime loads
    module: Callable[[], ModuleType]


@pytest.fixture(params=["double", "vendor"])
def runtime(request, monkeypatch, tmp_path) -> Runtime:
    monkeypatch.setitem(sys.modules, "hbm_runtime", None)
    if request.param == "double":
        def make_double(bpu_cores: int = 1) -> Path:
            doubles.install_pyeasy_dnn(monkeypatch, bpu_cores=bpu_cores)
            path = tmp_path / f"double_{bpu_cores}.bin"
            path.write_bytes(b"double")
            return path

        return Runtime("double", make_double, lambda: sys.modules["hobot_dnn.pyeasy_dnn"])
    vendor = request.getfixturevalue("vendor_module")
    monkeypatch.setenv("LIBDNN_EMU_LOG", str(tmp_path / "calls.jsonl"))

    def make_container(bpu_cores: int = 1) -> Path:
        return container.make_container(eb.FP32_ONNX, tmp_path / f"emu_{bpu_cores}.bin", "float",
                                        bpu_cores=bpu_cores, force=True)

    return Runtime("vendor", make_container, lambda: vendor)


def frame(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, N, dtype=np.uint8)


def load(rt: Runtime, **kwargs):
    path = rt.make(**kwargs)  # first: for the double, this installs the module
    return rt.module().load(str(path))[0]


def test_core_id_is_a_mask_and_a_core_the_chip_lacks_fails_the_forward(runtime):
    one_core = runtime.make()
    with pytest.raises(ModelError, match="forward execution failed"):
        bpu.BpuBackend(one_core, core_id=1, runtime="pyeasy_dnn").infer(frame(1))  # mask 2
    bpu.BpuBackend(one_core, core_id=0, runtime="pyeasy_dnn").infer(frame(1))  # mask 1
    three_cores = runtime.make(bpu_cores=3)
    bpu.BpuBackend(three_cores, core_id=2, runtime="pyeasy_dnn").infer(frame(1))  # mask 4 < 8


def test_an_argument_that_is_not_an_array_runs_the_stale_input(runtime, capfd):
    m = load(runtime)
    first = m.forward(frame(2))[0].buffer
    stale = m.forward(bytes(frame(3)))[0].buffer
    np.testing.assert_array_equal(stale, first)
    assert "arg_obj is NOT a container." in capfd.readouterr().out
    assert not np.array_equal(m.forward(frame(3))[0].buffer, first)


def test_a_non_contiguous_array_is_read_as_raw_memory(runtime):
    m = load(runtime)
    big = np.random.default_rng(4).integers(0, 256, (336, 448), dtype=np.uint8)
    view = big[:, ::2]
    raw = m.forward(view)[0].buffer
    np.testing.assert_array_equal(raw, m.forward(big.reshape(-1)[:N].copy())[0].buffer)
    assert not np.array_equal(raw, m.forward(np.ascontiguousarray(view))[0].buffer)


def test_the_element_count_is_copied_as_a_byte_count(runtime):
    """A uint16 view of the NV12 has half as many elements: only the first half of the bytes
    reaches the model; the rest of the input memory keeps the previous frame."""
    m = load(runtime)
    previous = frame(5)
    m.forward(previous)
    nv12 = frame(6)
    got = m.forward(nv12.view(np.uint16))[0].buffer
    mixed = np.concatenate([nv12[: N // 2], previous[N // 2:]])
    np.testing.assert_array_equal(got, m.forward(mixed)[0].buffer)


def test_any_shape_of_the_right_count_is_accepted(runtime):
    m = load(runtime)
    nv12 = frame(7)
    flat = m.forward(nv12)[0].buffer
    for shape in ((1, 336, 224, 1), (336, 224)):
        np.testing.assert_array_equal(m.forward(nv12.reshape(shape))[0].buffer, flat)


def test_a_loaded_model_is_never_freed(runtime):
    backend = bpu.BpuBackend(runtime.make(), runtime="pyeasy_dnn")
    held = backend._model
    backend.close()
    del backend
    assert sys.getrefcount(held) > 2  # more than `held` and the argument: an owner never lets go
