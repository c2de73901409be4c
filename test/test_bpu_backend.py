"""The BPU backend against the test doubles of hbm_runtime / pyeasy_dnn (test/bpu_doubles.py).

These tests check the backend's own logic (runtime choice, input size, input validation, what is
passed to the runtime, output dequantization). They cannot show that the real runtimes behave
like the doubles: that needs an RDK X5.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

import numpy as np
import pytest

import bpu_doubles as doubles
from rdk_classifier.backends import bpu
from rdk_classifier.backends.base import InputSpec
from rdk_classifier.errors import BackendUnavailableError, FrameSizeError, ModelError


@pytest.fixture(autouse=True)
def no_real_runtime(monkeypatch):
    """Start every test with no BPU runtime importable, even on a board."""
    doubles.block_all_runtimes(monkeypatch)


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "resnet18_224x224_nv12.bin"
    path.write_bytes(b"not a real model; the doubles only check that it exists")
    return path


def random_nv12(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, h * w * 3 // 2, dtype=np.uint8)


# ----------------------------------------------------------------------------- availability

def test_no_runtime_means_none_and_a_clear_error(model_file):
    assert bpu.available_runtime() is None
    with pytest.raises(BackendUnavailableError) as err:
        bpu.BpuBackend(model_file)
    message = str(err.value)
    for name in ("hbm_runtime", "hobot_dnn.pyeasy_dnn", "hobot_dnn_rdkx5.pyeasy_dnn"):
        assert name in message
    assert "CPU" in message


def test_hbm_runtime_is_preferred_over_pyeasy_dnn(monkeypatch, model_file):
    doubles.install_pyeasy_dnn(monkeypatch)
    hbm = doubles.install_hbm_runtime(monkeypatch)
    assert bpu.available_runtime() == "hbm_runtime"
    backend = bpu.BpuBackend(model_file)
    assert backend.runtime == "hbm_runtime" and len(hbm.instances) == 1


def test_hobot_dnn_is_preferred_over_hobot_dnn_rdkx5(monkeypatch, model_file):
    rdkx5 = doubles.install_pyeasy_dnn(monkeypatch, package="hobot_dnn_rdkx5")
    assert bpu.available_runtime() == "pyeasy_dnn"
    assert bpu.BpuBackend(model_file).runtime == "pyeasy_dnn" and len(rdkx5.models) == 1
    plain = doubles.install_pyeasy_dnn(monkeypatch, package="hobot_dnn")
    bpu.BpuBackend(model_file)
    assert len(plain.models) == 1 and len(rdkx5.models) == 1


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Sees every import of a BPU runtime; optionally fails it like a wrong-board wheel."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.seen: list[str] = []

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("hbm_runtime", "hobot_dnn", "hobot_dnn_rdkx5"):
            self.seen.append(name)
            if self.fail and name == "hbm_runtime":
                return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise OSError("libhbucp.so: cannot open shared object file: No such file or directory")


def test_runtime_that_fails_with_oserror_is_skipped(monkeypatch, model_file):
    """The PyPI hbm_runtime wheel is another board's build and fails loading libhbucp.so."""
    finder = _Finder(fail=True)
    monkeypatch.delitem(sys.modules, "hbm_runtime")
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    assert bpu.available_runtime() is None
    assert finder.seen == ["hbm_runtime"]
    doubles.install_pyeasy_dnn(monkeypatch)
    assert bpu.available_runtime() == "pyeasy_dnn"
    assert bpu.BpuBackend(model_file).runtime == "pyeasy_dnn"


def test_runtimes_are_not_imported_with_the_module(monkeypatch):
    finder = _Finder(fail=False)
    for name in doubles.BPU_MODULE_NAMES:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    importlib.reload(bpu)
    assert finder.seen == []
    assert bpu.available_runtime() is None  # now they are looked for
    assert finder.seen[0] == "hbm_runtime"


def test_forcing_a_runtime(monkeypatch, model_file):
    doubles.install_hbm_runtime(monkeypatch)
    doubles.install_pyeasy_dnn(monkeypatch)
    assert bpu.BpuBackend(model_file, runtime="pyeasy_dnn").runtime == "pyeasy_dnn"
    with pytest.raises(ValueError):
        bpu.BpuBackend(model_file, runtime="tensorrt")


# ----------------------------------------------------------------------------- hbm_runtime

@pytest.mark.parametrize("quant", doubles.QUANT_VARIANTS)
@pytest.mark.parametrize("output_shape", ["NC", "NCHW"])
def test_hbm_runtime_outputs_dequantized(monkeypatch, model_file, quant, output_shape):
    doubles.install_hbm_runtime(monkeypatch, quant=quant, output_shape=output_shape)
    backend = bpu.BpuBackend(model_file)
    nv12 = random_nv12(224, 224, seed=1)
    out = backend.infer(nv12)
    assert out.dtype == np.float32 and out.shape == (1000,)
    np.testing.assert_array_equal(out, doubles.expected_scores(nv12, 1000, quant))


def test_hbm_runtime_per_channel_scale_changes_the_argmax(monkeypatch, model_file):
    """Guard against a test that cannot fail: a per-tensor reading gives another top-1."""
    doubles.install_hbm_runtime(monkeypatch, quant="per_channel")
    nv12 = random_nv12(224, 224, seed=2)
    out = bpu.BpuBackend(model_file).infer(nv12)
    raw = doubles.raw_values(nv12, 1000) + doubles.per_channel_zero_point(1000)
    assert int(np.argmax(out)) != int(np.argmax(raw))
    assert int(np.argmax(out)) == int(np.argmax(doubles.expected_scores(nv12, 1000, "per_channel")))


def test_hbm_runtime_input_size_feed_and_scheduling(monkeypatch, model_file):
    hbm = doubles.install_hbm_runtime(monkeypatch, height=128, width=96)
    backend = bpu.BpuBackend(model_file, core_id=0, priority=200)
    assert backend.name == "bpu"
    assert backend.input_spec == InputSpec(128, 96)
    model = hbm.instances[0]
    name = model.model_names[0]
    assert model.scheduling == {"priority": {name: 200}, "bpu_cores": {name: [0]}}
    nv12 = random_nv12(128, 96, seed=3)
    backend.infer(nv12)
    fed = model.inputs_seen[-1]
    assert fed.shape == (1, 128 * 3 // 2, 96, 1)
    np.testing.assert_array_equal(fed.reshape(-1), nv12)


def test_hbm_runtime_nhwc_input_shape(monkeypatch, model_file):
    doubles.install_hbm_runtime(monkeypatch, height=64, width=160, input_layout="NHWC")
    assert bpu.BpuBackend(model_file).input_spec == InputSpec(64, 160)


# ----------------------------------------------------------------------------- pyeasy_dnn

@pytest.mark.parametrize("quant", doubles.QUANT_VARIANTS)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_pyeasy_dnn_outputs_dequantized(monkeypatch, model_file, quant, layout):
    doubles.install_pyeasy_dnn(monkeypatch, quant=quant, layout=layout)
    backend = bpu.BpuBackend(model_file)
    nv12 = random_nv12(224, 224, seed=4)
    out = backend.infer(nv12)
    assert out.dtype == np.float32 and out.shape == (1000,)
    np.testing.assert_array_equal(out, doubles.expected_scores(nv12, 1000, quant))


@pytest.mark.parametrize("layout, expected", [("NCHW", InputSpec(96, 160)),
                                              ("NHWC", InputSpec(96, 160))])
def test_pyeasy_dnn_input_size_from_layout(monkeypatch, model_file, layout, expected):
    doubles.install_pyeasy_dnn(monkeypatch, height=96, width=160, layout=layout, num_classes=10)
    backend = bpu.BpuBackend(model_file)
    assert backend.input_spec == expected
    assert backend.infer(random_nv12(96, 160)).shape == (10,)


def test_pyeasy_dnn_core_and_priority_are_passed(monkeypatch, model_file):
    dnn = doubles.install_pyeasy_dnn(monkeypatch)
    backend = bpu.BpuBackend(model_file, core_id=1, priority=7)
    backend.infer(random_nv12(224, 224))
    assert dnn.models[0].forward_calls == [{"core_id": 1, "priority": 7}]


def test_pyeasy_dnn_gets_a_contiguous_flat_array(monkeypatch, model_file):
    doubles.install_pyeasy_dnn(monkeypatch)
    backend = bpu.BpuBackend(model_file)
    nv12 = random_nv12(224, 224, seed=5)
    # every other byte of a bigger buffer: right size, not contiguous, 2-D
    strided = np.repeat(nv12, 2)[::2].reshape(224 * 3 // 2, 224)
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(backend.infer(strided), doubles.expected_scores(nv12, 1000, "none"))


# ----------------------------------------------------------------------------- validation

@pytest.fixture(params=["hbm_runtime", "pyeasy_dnn"])
def any_backend(request, monkeypatch, model_file):
    if request.param == "hbm_runtime":
        doubles.install_hbm_runtime(monkeypatch)
    else:
        doubles.install_pyeasy_dnn(monkeypatch)
    return bpu.BpuBackend(model_file)


def test_wrong_length_is_rejected(any_backend):
    with pytest.raises(FrameSizeError, match="needs 75264"):
        any_backend.infer(np.zeros(224 * 224 * 3, np.uint8))  # BGR-sized, not NV12


def test_wrong_dtype_is_rejected(any_backend):
    with pytest.raises(FrameSizeError, match="uint8"):
        any_backend.infer(np.zeros(224 * 224 * 3 // 2, np.float32))
    with pytest.raises(FrameSizeError):
        any_backend.infer(bytes(224 * 224 * 3 // 2))


def test_closed_backend_refuses(any_backend):
    any_backend.close()
    with pytest.raises(ModelError, match="closed"):
        any_backend.infer(random_nv12(224, 224))


def test_missing_file_and_bad_parameters(monkeypatch, tmp_path, model_file):
    doubles.install_hbm_runtime(monkeypatch)
    with pytest.raises(ModelError, match="not found"):
        bpu.BpuBackend(tmp_path / "absent.bin")
    with pytest.raises(ValueError, match="priority"):
        bpu.BpuBackend(model_file, priority=256)
    with pytest.raises(ValueError, match="core"):
        bpu.BpuBackend(model_file, core_id=-1)


def test_odd_input_size_from_model_is_rejected(monkeypatch, model_file):
    doubles.install_pyeasy_dnn(monkeypatch, height=225, width=224)
    with pytest.raises(ModelError, match="even"):
        bpu.BpuBackend(model_file)
