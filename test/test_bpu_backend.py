"""The BPU backend against the test doubles of hbm_runtime / pyeasy_dnn (test/bpu_doubles.py).

These tests check the backend's own logic (runtime choice and fallback, input size, what is passed
to the runtime, how outputs are read by their layout and dequantized, errors, release). They
cannot show that the real runtimes behave like the doubles: that needs an RDK X5 (run
`python -m rdk_classifier doctor` there).
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import json
import sys
import weakref

import numpy as np
import pytest

import bpu_doubles as doubles
from rdk_classifier.backends import bpu
from rdk_classifier.backends.base import InputSpec
from rdk_classifier.errors import (BackendUnavailableError, FrameSizeError, ModelError,
                                   SocMismatchError)


@pytest.fixture(autouse=True)
def no_real_runtime(monkeypatch):
    """Start every test with no BPU runtime importable, even on a board."""
    doubles.block_all_runtimes(monkeypatch)


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "resnet18_224x224_nv12.bin"
    path.write_bytes(b"not a real model; the doubles only check that it exists")
    return path


def random_nv12(h: int = 224, w: int = 224, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, h * w * 3 // 2, dtype=np.uint8)


# ----------------------------------------------------------------------------- availability

def test_no_runtime_means_none_and_a_clear_error(model_file):
    assert bpu.available_runtime() is None and bpu.available_runtimes() == []
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
    assert bpu.available_runtimes() == ["hbm_runtime", "pyeasy_dnn"]
    backend = bpu.BpuBackend(model_file)
    assert backend.runtime == "hbm_runtime" and len(hbm.instances) == 1
    assert backend.fallback_reasons == ()


def test_hobot_dnn_is_preferred_over_hobot_dnn_rdkx5(monkeypatch, model_file):
    rdkx5 = doubles.install_pyeasy_dnn(monkeypatch, package="hobot_dnn_rdkx5")
    assert bpu.available_runtime() == "pyeasy_dnn"
    assert bpu.BpuBackend(model_file).runtime == "pyeasy_dnn" and len(rdkx5.models) == 1
    plain = doubles.install_pyeasy_dnn(monkeypatch, package="hobot_dnn")
    bpu.BpuBackend(model_file)
    assert len(plain.models) == 1 and len(rdkx5.models) == 1


def test_wrong_board_hbm_runtime_import_error_is_skipped(monkeypatch, model_file):
    """Another board's hbm_runtime raises RuntimeError at import (missing vendor library)."""
    finder = doubles.install_wrong_board_hbm_runtime(monkeypatch)
    assert bpu.available_runtime() is None
    assert finder.seen == ["hbm_runtime"]
    with pytest.raises(BackendUnavailableError, match="RuntimeError: Missing Horizon runtime"):
        bpu.BpuBackend(model_file)
    doubles.install_pyeasy_dnn(monkeypatch)
    assert bpu.available_runtime() == "pyeasy_dnn"
    assert bpu.BpuBackend(model_file).runtime == "pyeasy_dnn"


def test_runtimes_are_not_imported_with_the_module(monkeypatch):
    finder = doubles.WrongBoardFinder(fail=False)
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


# ----------------------------------------------------------------------------- fallback (6)

def test_pypi_hbm_runtime_that_takes_only_hbm_falls_back_to_pyeasy_dnn(monkeypatch, model_file,
                                                                       caplog):
    doubles.install_hbm_runtime(monkeypatch, accepts=".hbm")
    doubles.install_pyeasy_dnn(monkeypatch)
    backend = bpu.BpuBackend(model_file)
    assert backend.runtime == "pyeasy_dnn"
    assert len(backend.fallback_reasons) == 1 and "Only .hbm" in backend.fallback_reasons[0]
    assert "trying the next runtime" in caplog.text
    nv12 = random_nv12(seed=11)
    np.testing.assert_array_equal(backend.infer(nv12), doubles.expected_scores(nv12, 1000, "none"))


def test_upper_case_suffix_falls_back_from_x5_hbm_runtime(monkeypatch, tmp_path):
    path = tmp_path / "RESNET18_224X224_NV12.BIN"
    path.write_bytes(b"x")
    doubles.install_hbm_runtime(monkeypatch)  # the X5 build: lower-case .bin only
    doubles.install_pyeasy_dnn(monkeypatch)
    assert bpu.BpuBackend(path).runtime == "pyeasy_dnn"


def test_every_runtime_failing_names_each_reason(monkeypatch, model_file):
    doubles.install_hbm_runtime(monkeypatch, accepts=".hbm")
    doubles.install_pyeasy_dnn(monkeypatch, fail_load=True)
    with pytest.raises(ModelError) as err:
        bpu.BpuBackend(model_file)
    message = str(err.value)
    assert "hbm_runtime: ValueError: Invalid model file extension" in message
    assert "pyeasy_dnn: RuntimeError: hbDNNInitializeFromFiles failed" in message


def test_a_forced_runtime_does_not_fall_back(monkeypatch, model_file):
    doubles.install_hbm_runtime(monkeypatch, accepts=".hbm")
    dnn = doubles.install_pyeasy_dnn(monkeypatch)
    with pytest.raises(ModelError, match="Only .hbm"):
        bpu.BpuBackend(model_file, runtime="hbm_runtime")
    assert dnn.models == []


# ----------------------------------------------------------------------------- hbm_runtime

@pytest.mark.parametrize("quant", doubles.QUANT_VARIANTS)
@pytest.mark.parametrize("output_shape", ["NC", "NCHW"])
def test_hbm_runtime_outputs_dequantized(monkeypatch, model_file, quant, output_shape):
    doubles.install_hbm_runtime(monkeypatch, quant=quant, output_shape=output_shape)
    backend = bpu.BpuBackend(model_file)
    nv12 = random_nv12(seed=1)
    out = backend.infer(nv12)
    assert out.dtype == np.float32 and out.shape == (1000,) and backend.num_classes == 1000
    np.testing.assert_array_equal(out, doubles.expected_scores(nv12, 1000, quant))


def test_hbm_runtime_float_output_is_not_dequantized_twice(monkeypatch, model_file):
    """SCALE declared but float32 returned: the values already are real numbers."""
    doubles.install_hbm_runtime(monkeypatch, quant="dequantized_by_runtime")
    nv12 = random_nv12(seed=12)
    np.testing.assert_array_equal(bpu.BpuBackend(model_file).infer(nv12),
                                  doubles.expected_scores(nv12, 1000, "none"))


def test_hbm_runtime_per_channel_scale_changes_the_argmax(monkeypatch, model_file):
    """Guard against a test that cannot fail: a per-tensor reading gives another top-1."""
    doubles.install_hbm_runtime(monkeypatch, quant="per_channel")
    nv12 = random_nv12(seed=2)
    out = bpu.BpuBackend(model_file).infer(nv12)
    raw = doubles.raw_values(nv12, 1000) + doubles.per_channel_zero_point(1000)
    assert int(np.argmax(out)) != int(np.argmax(raw))
    assert int(np.argmax(out)) == int(np.argmax(doubles.expected_scores(nv12, 1000, "per_channel")))


@pytest.mark.parametrize("return_mode", ["valid_view", "valid_copy", "aligned", "flat"])
@pytest.mark.parametrize("shape, aligned", [((1, 1000, 1, 1), (1, 1000, 1, 4)),
                                            ((1, 1000, 1, 1), (1, 1024, 1, 1)),
                                            ((1, 1, 1, 1000), (1, 1, 2, 1008))])
def test_hbm_runtime_padded_int32_output_is_read_right(monkeypatch, model_file, return_mode,
                                                       shape, aligned):
    hbm = doubles.install_hbm_runtime(monkeypatch, quant="per_channel", output_shape=shape,
                                      output_aligned=aligned, return_mode=return_mode)
    backend = bpu.BpuBackend(model_file)
    nv12 = random_nv12(seed=3)
    expected = doubles.expected_scores(nv12, 1000, "per_channel")
    np.testing.assert_array_equal(backend.infer(nv12), expected)
    # guard: where the padding sits inside the first 1000 elements of the buffer, a
    # layout-blind reader takes padding for scores
    buffer = hbm.instances[0].run({doubles.BIN_MODEL_NAME: {"input": nv12}})
    naive = np.ascontiguousarray(buffer[doubles.BIN_MODEL_NAME]["output"]).reshape(-1)[:1000]
    if return_mode in ("aligned", "flat") and aligned == (1, 1000, 1, 4):
        assert (naive == doubles.PAD_VALUE).any()


def test_hbm_runtime_unreadable_output_is_refused_with_the_shapes(monkeypatch, model_file):
    doubles.install_hbm_runtime(monkeypatch, output_aligned=(1, 1000, 1, 4), return_mode="garbage")
    backend = bpu.BpuBackend(model_file)
    with pytest.raises(ModelError) as err:
        backend.infer(random_nv12())
    message = str(err.value)
    assert "(500,)" in message and "(1, 1000, 1, 1)" in message and "(16000, 16, 16, 4)" in message


def test_hbm_runtime_input_size_feed_and_scheduling(monkeypatch, model_file):
    hbm = doubles.install_hbm_runtime(monkeypatch, height=128, width=96)
    backend = bpu.BpuBackend(model_file, core_id=0, priority=200)
    assert backend.name == "bpu"
    assert backend.input_spec == InputSpec(128, 96)
    model = hbm.instances[0]
    name = model.model_names[0]
    assert name == doubles.BIN_MODEL_NAME != model_file.stem  # the name inside the .bin
    assert model.scheduling_calls == [{"priority": {name: 200}, "bpu_cores": {name: [0]}}]
    nv12 = random_nv12(128, 96, seed=3)
    backend.infer(nv12)
    fed = model.inputs_seen[-1]
    assert fed.shape == (1, 128 * 3 // 2, 96, 1)
    np.testing.assert_array_equal(fed.reshape(-1), nv12)


def test_hbm_runtime_nhwc_input_shape(monkeypatch, model_file):
    doubles.install_hbm_runtime(monkeypatch, height=64, width=160, input_layout="NHWC")
    assert bpu.BpuBackend(model_file).input_spec == InputSpec(64, 160)


def test_hbm_runtime_run_error_is_a_model_error(monkeypatch, model_file):
    doubles.install_hbm_runtime(monkeypatch, fail_run=True)
    backend = bpu.BpuBackend(model_file)
    with pytest.raises(ModelError, match="hbm_runtime run failed: RuntimeError: hbDNNInfer failed"):
        backend.infer(random_nv12())


# ----------------------------------------------------------------------------- cores (3)

@pytest.mark.parametrize("core, pyeasy_core_id, hbm_cores", [(-1, 0, None), (0, 1, [0]),
                                                             (2, 4, [2])])
def test_core_mapping(core, pyeasy_core_id, hbm_cores):
    assert bpu.map_core(core, "pyeasy_dnn") == pyeasy_core_id
    assert bpu.map_core(core, "hbm_runtime") == hbm_cores


def test_any_core_on_hbm_runtime_leaves_the_automatic_choice(monkeypatch, model_file):
    hbm = doubles.install_hbm_runtime(monkeypatch)
    bpu.BpuBackend(model_file, core_id=-1, priority=9)
    model = hbm.instances[0]
    assert model.scheduling_calls == [{"priority": {doubles.BIN_MODEL_NAME: 9}}]
    assert model.sched_params[doubles.BIN_MODEL_NAME].bpu_cores == [-1]  # = automatic


@pytest.mark.parametrize("core, expected", [(-1, 0), (0, 1)])
def test_pyeasy_dnn_core_and_priority_are_mapped(monkeypatch, model_file, core, expected):
    dnn = doubles.install_pyeasy_dnn(monkeypatch)
    backend = bpu.BpuBackend(model_file, core_id=core, priority=7)
    backend.infer(random_nv12())
    assert dnn.models[0].forward_calls == [{"core_id": expected, "priority": 7}]


def test_a_core_the_runtime_rejects_is_a_model_error(monkeypatch, model_file):
    doubles.install_hbm_runtime(monkeypatch)
    with pytest.raises(ModelError, match=r"valid range: \[0, 3\]"):
        bpu.BpuBackend(model_file, core_id=5)


def test_default_core_is_any():
    assert bpu.BpuBackend.__init__.__defaults__[0] == bpu.ANY_CORE == -1


# ----------------------------------------------------------------------------- pyeasy_dnn

@pytest.mark.parametrize("quant", doubles.QUANT_VARIANTS)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("shape_mode", ["pointer", "sequence"])
def test_pyeasy_dnn_outputs_dequantized(monkeypatch, model_file, quant, layout, shape_mode):
    doubles.install_pyeasy_dnn(monkeypatch, quant=quant, layout=layout, shape_mode=shape_mode)
    backend = bpu.BpuBackend(model_file)
    nv12 = random_nv12(seed=4)
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


def test_pyeasy_dnn_gets_a_contiguous_flat_array(monkeypatch, model_file):
    doubles.install_pyeasy_dnn(monkeypatch)
    backend = bpu.BpuBackend(model_file)
    nv12 = random_nv12(seed=5)
    # every other byte of a bigger buffer: right size, not contiguous, 2-D
    strided = np.repeat(nv12, 2)[::2].reshape(224 * 3 // 2, 224)
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(backend.infer(strided), doubles.expected_scores(nv12, 1000, "none"))


def test_pyeasy_dnn_shape_pointer_is_decoded():
    struct = (ctypes.c_int32 * 9)(1, 1000, 1, 4, 77, 77, 77, 77, 4)
    assert bpu._shape_of(ctypes.addressof(struct)) == (1, 1000, 1, 4)
    assert bpu._shape_of((1, 1000)) == (1, 1000) and bpu._shape_of([2, 3]) == (2, 3)
    bad = (ctypes.c_int32 * 9)(1, 2, 3, 4, 5, 6, 7, 8, 99)  # numDimensions out of range
    assert bpu._shape_of(ctypes.addressof(bad)) is None and bpu._shape_of(0) is None


def test_pyeasy_dnn_padding_in_the_prefix_is_read_right(monkeypatch, model_file):
    """Channel padding at the end of the buffer: the valid values are the first 1000 elements."""
    doubles.install_pyeasy_dnn(monkeypatch, quant="per_channel", output_aligned=(1, 1024, 1, 1))
    nv12 = random_nv12(seed=6)
    np.testing.assert_array_equal(bpu.BpuBackend(model_file).infer(nv12),
                                  doubles.expected_scores(nv12, 1000, "per_channel"))


def test_pyeasy_dnn_padding_inside_the_prefix_is_read_by_the_aligned_layout(monkeypatch,
                                                                            model_file):
    """(1, 1, 1, 1000) padded along H to (1, 1, 2, 1000): every valid element lies in the
    copied prefix, at the offsets the aligned layout gives."""
    dnn = doubles.install_pyeasy_dnn(monkeypatch, quant="per_tensor", output_shape=(1, 1, 1, 1000),
                                     output_aligned=(1, 1, 2, 1000))
    nv12 = random_nv12(seed=7)
    np.testing.assert_array_equal(bpu.BpuBackend(model_file).infer(nv12),
                                  doubles.expected_scores(nv12, 1000, "per_tensor"))
    assert dnn.models


def test_pyeasy_dnn_padded_output_that_cannot_be_read_is_refused(monkeypatch, model_file):
    """(1, 1000, 1, 1) padded to (1, 1000, 1, 4): the valid values are spread over 4000
    elements but pyeasy_dnn copies only the first 1000 (the scrambled-scores hazard)."""
    dnn = doubles.install_pyeasy_dnn(monkeypatch, quant="per_tensor", output_aligned=(1, 1000, 1, 4))
    with pytest.raises(ModelError) as err:
        bpu.BpuBackend(model_file)
    message = str(err.value)
    assert "validShape (1, 1000, 1, 1)" in message and "alignedShape (1, 1000, 1, 4)" in message
    assert "hbm_runtime" in message
    # guard: reading it anyway gives padding values in place of scores
    buf = dnn.models[0].forward(random_nv12())[0].buffer.reshape(-1)
    assert (buf == doubles.PAD_VALUE).any()


def test_pyeasy_dnn_padded_output_falls_back_from_and_to_hbm_runtime(monkeypatch, model_file):
    """The same padded model through the preferred runtime is read right."""
    doubles.install_pyeasy_dnn(monkeypatch, quant="per_tensor", output_aligned=(1, 1000, 1, 4))
    doubles.install_hbm_runtime(monkeypatch, quant="per_tensor", output_aligned=(1, 1000, 1, 4))
    backend = bpu.BpuBackend(model_file)
    nv12 = random_nv12(seed=8)
    assert backend.runtime == "hbm_runtime"
    np.testing.assert_array_equal(backend.infer(nv12), doubles.expected_scores(nv12, 1000,
                                                                               "per_tensor"))


def test_pyeasy_dnn_2d_output_with_an_empty_buffer_is_refused(monkeypatch, model_file):
    doubles.install_pyeasy_dnn(monkeypatch, output_shape="NC", tail_dims=(0, 0))
    backend = bpu.BpuBackend(model_file)
    with pytest.raises(ModelError) as err:
        backend.infer(random_nv12())
    message = str(err.value)
    assert "(1, 1000, 0, 0)" in message and "validShape (1, 1000)" in message


def test_pyeasy_dnn_2d_output_with_garbage_dimensions_is_refused(monkeypatch, model_file):
    doubles.install_pyeasy_dnn(monkeypatch, output_shape="NC", tail_dims=(7, 3))
    with pytest.raises(ModelError, match=r"21000 values as shape \(1, 1000, 7, 3\)"):
        bpu.BpuBackend(model_file).infer(random_nv12())


def test_pyeasy_dnn_2d_output_that_copies_right_is_read(monkeypatch, model_file):
    doubles.install_pyeasy_dnn(monkeypatch, output_shape="NC", tail_dims=(1, 1), quant="per_tensor")
    nv12 = random_nv12(seed=9)
    np.testing.assert_array_equal(bpu.BpuBackend(model_file).infer(nv12),
                                  doubles.expected_scores(nv12, 1000, "per_tensor"))


def test_pyeasy_dnn_load_system_error_is_a_model_error_with_the_runtime_message(monkeypatch,
                                                                               model_file):
    doubles.install_pyeasy_dnn(monkeypatch, fail_load=True)
    with pytest.raises(ModelError) as err:
        bpu.BpuBackend(model_file)
    assert "RuntimeError: hbDNNInitializeFromFiles failed" in str(err.value)
    assert str(model_file) in str(err.value)


def test_pyeasy_dnn_forward_system_error_is_a_model_error(monkeypatch, model_file):
    doubles.install_pyeasy_dnn(monkeypatch, fail_forward=True)
    backend = bpu.BpuBackend(model_file)
    with pytest.raises(ModelError, match=r"forward failed: RuntimeError: forward execution failed"):
        backend.infer(random_nv12())


def test_runtime_message_reads_the_cause_of_a_system_error():
    err = doubles._pyeasy_error("load", "hbDNNInitializeFromFiles failed")
    assert bpu.runtime_message(err) == "RuntimeError: hbDNNInitializeFromFiles failed"
    assert bpu.runtime_message(ValueError("a\n b")) == "ValueError: a b"


# ----------------------------------------------------------------------------- class count (2)

@pytest.fixture(params=["hbm_runtime", "pyeasy_dnn"])
def runtime(request):
    return request.param


def install(runtime, monkeypatch, **kwargs):
    if runtime == "hbm_runtime":
        return doubles.install_hbm_runtime(monkeypatch, **kwargs)
    return doubles.install_pyeasy_dnn(monkeypatch, **kwargs)


def test_class_count_is_checked(runtime, monkeypatch, model_file):
    install(runtime, monkeypatch, num_classes=1001)
    assert bpu.BpuBackend(model_file).num_classes == 1001
    with pytest.raises(ModelError, match="outputs 1001 values .* but 1000 classes are expected"):
        bpu.BpuBackend(model_file, num_classes=1000)


def test_an_output_that_is_not_a_class_vector_is_refused(monkeypatch, model_file):
    doubles.install_hbm_runtime(monkeypatch, output_shape=(1, 10, 7, 7))
    with pytest.raises(ModelError, match=r"\(1, 10, 7, 7\) is not one class vector"):
        bpu.BpuBackend(model_file)


# ----------------------------------------------------------------------------- release (5)

def test_close_drops_the_runtime_object(runtime, monkeypatch, model_file):
    module = install(runtime, monkeypatch)
    backend = bpu.BpuBackend(model_file)
    ref = weakref.ref(backend._model)
    getattr(module, "instances", getattr(module, "models", None)).clear()
    backend.close()
    backend.close()  # twice is fine
    gc.collect()
    assert ref() is None
    with pytest.raises(ModelError, match="closed"):
        backend.infer(random_nv12())


# ----------------------------------------------------------------------------- describe

def test_describe_hbm_runtime_lists_every_property(monkeypatch, model_file):
    doubles.install_hbm_runtime(monkeypatch, quant="per_tensor", output_aligned=(1, 1000, 1, 4))
    info = bpu.BpuBackend(model_file, core_id=0).describe()
    json.dumps(info)  # JSON-ready
    props = info["properties"]
    assert set(bpu.HBM_RUNTIME_PROPERTIES) <= set(props)
    name = doubles.BIN_MODEL_NAME
    assert props["output_quants"][name]["output"] == {
        "quant_type": "SCALE", "scale": [0.25], "zero_point": [3], "axis": 0}
    assert props["output_dtypes"][name]["output"] == "S32"
    assert props["output_strides"][name]["output"] == [16000, 16, 16, 4]
    assert props["sched_params"][name]["bpu_cores"] == [0]
    assert info["version"] == "double-3.5.0" and info["runtime_core"] == [0]


def test_describe_pyeasy_dnn_lists_every_property(monkeypatch, model_file):
    doubles.install_pyeasy_dnn(monkeypatch, quant="per_tensor", output_aligned=(1, 1024, 1, 1))
    info = bpu.BpuBackend(model_file).describe()
    json.dumps(info)
    out = info["properties"]["outputs"][0]
    assert set(bpu.PYEASY_TENSOR_PROPERTIES) <= set(out)
    assert out["validShape"] == [1, 1000, 1, 1] and out["alignedShape"] == [1, 1024, 1, 1]
    assert (out["tensor_type"], out["dtype"], out["layout"]) == ("int32", "int32", "NCHW")
    assert out["scale_data"] == [0.25] and out["shape"] == [1, 1000, 1, 1]
    inp = info["properties"]["inputs"][0]
    assert (inp["tensor_type"], inp["dtype"], inp["shape"]) == ("NV12", "uint8", [1, 3, 224, 224])
    assert info["properties"]["name"] == doubles.BIN_MODEL_NAME
    assert info["runtime_core"] == 0 and info["core_id"] == -1


# ----------------------------------------------------------------------------- validation

@pytest.fixture
def any_backend(runtime, monkeypatch, model_file):
    install(runtime, monkeypatch)
    return bpu.BpuBackend(model_file)


def test_wrong_length_is_rejected(any_backend):
    with pytest.raises(FrameSizeError, match="needs 75264"):
        any_backend.infer(np.zeros(224 * 224 * 3, np.uint8))  # BGR-sized, not NV12


def test_wrong_dtype_is_rejected(any_backend):
    with pytest.raises(FrameSizeError, match="uint8"):
        any_backend.infer(np.zeros(224 * 224 * 3 // 2, np.float32))
    with pytest.raises(FrameSizeError):
        any_backend.infer(bytes(224 * 224 * 3 // 2))


def test_missing_file_and_bad_parameters(monkeypatch, tmp_path, model_file):
    doubles.install_hbm_runtime(monkeypatch)
    with pytest.raises(ModelError, match="not found"):
        bpu.BpuBackend(tmp_path / "absent.bin")
    with pytest.raises(ValueError, match="priority"):
        bpu.BpuBackend(model_file, priority=256)
    with pytest.raises(ValueError, match="core"):
        bpu.BpuBackend(model_file, core_id=-2)


def test_odd_input_size_from_model_is_rejected(monkeypatch, model_file):
    doubles.install_pyeasy_dnn(monkeypatch, height=225, width=224)
    with pytest.raises(ModelError, match="even"):
        bpu.BpuBackend(model_file)


# ----------------------------------------------------------------------------- S-series contract
# RDK S100 / S600 .hbm models take Y (1, H, W, 1) + UV (1, H/2, W/2, 2) (see bpu_doubles.py,
# make_hbm_runtime_s). The backend must find that out from the model's own inputs.

PHOTOS = __import__("pathlib").Path(__file__).resolve().parent / "data" / "photos"


@pytest.fixture
def hbm_file(tmp_path):
    path = tmp_path / "mobilenetv2_224x224_nv12.hbm"
    path.write_bytes(b"not a real model; the doubles only check that it exists")
    return path


def _vendor_planes(bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Y and UV as the zoo's rdk_s preprocessing makes them from a resized BGR image: OpenCV
    I420, then U and V interleaved, with batch and channel axes (written from its description)."""
    import cv2

    h, w = bgr.shape[:2]
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).reshape(-1)
    y = i420[: h * w].reshape(1, h, w, 1)
    u = i420[h * w: h * w * 5 // 4].reshape(h // 2, w // 2)
    v = i420[h * w * 5 // 4:].reshape(h // 2, w // 2)
    return y, np.stack((u, v), axis=-1)[np.newaxis]


@pytest.mark.parametrize("order", ["y_first", "uv_first"])
@pytest.mark.parametrize("photo, size", [("coffee.png", (224, 224)), ("chelsea.png", (256, 192))])
def test_s_series_y_uv_are_the_exact_split_of_our_nv12(monkeypatch, hbm_file, order, photo, size):
    from rdk_classifier import frames

    h, w = size
    hbm = doubles.install_hbm_runtime_s(monkeypatch, height=h, width=w, order=order,
                                        input_names=("data_y", "data_uv"))
    backend = bpu.BpuBackend(hbm_file)
    assert backend.input_contract == "nv12_y_uv" and backend.input_spec == InputSpec(h, w)
    bgr = frames.resize_bgr(frames.load_image(PHOTOS / photo), (h, w), "letterbox")
    nv12 = frames.bgr_to_nv12(bgr).reshape(-1)
    scores = backend.infer(nv12)
    np.testing.assert_array_equal(scores, doubles.expected_scores(nv12, 1000, "none"))
    fed = hbm.instances[0].inputs_seen_s[-1]
    assert fed["data_y"].shape == (1, h, w, 1) and fed["data_uv"].shape == (1, h // 2, w // 2, 2)
    assert fed["data_y"].tobytes() + fed["data_uv"].tobytes() == nv12.tobytes()
    y, uv = _vendor_planes(bgr)
    np.testing.assert_array_equal(fed["data_y"], y)
    np.testing.assert_array_equal(fed["data_uv"], uv)
    assert fed["data_uv"][0, 0, 0, 0] == nv12[h * w] and fed["data_uv"][0, 0, 0, 1] == nv12[h * w + 1]


def test_s_series_feed_is_views_on_the_frame(monkeypatch, hbm_file):
    doubles.install_hbm_runtime_s(monkeypatch)
    backend = bpu.BpuBackend(hbm_file)
    nv12 = random_nv12()
    feed = backend.hbm_feed(nv12)
    assert all(np.shares_memory(t, nv12) for t in feed.values())


def test_x5_contract_is_still_one_packed_input(monkeypatch, model_file):
    doubles.install_hbm_runtime(monkeypatch)
    backend = bpu.BpuBackend(model_file)
    assert backend.input_contract == "packed_nv12"
    assert list(backend.hbm_feed(random_nv12())) == ["input"]


@pytest.mark.parametrize("names, shapes", [
    (["a", "b", "c"], {"a": (1, 224, 224, 1), "b": (1, 112, 112, 2), "c": (1, 10)}),
    (["y", "uv"], {"y": (1, 224, 224, 1), "uv": (1, 224, 224, 2)}),
    (["y", "uv"], {"y": (1, 224, 224, 1), "uv": (1, 112, 112, 1)}),
    (["y", "uv"], {"y": (1, 3, 224, 224), "uv": (1, 112, 112, 2)}),
])
def test_inputs_that_are_neither_contract_are_refused_with_the_shapes(names, shapes):
    with pytest.raises(ModelError) as err:
        bpu.hbm_input_contract(names, shapes, "m.hbm")
    message = str(err.value)
    assert all(repr(n) in message for n in names) and "Y (1, H, W, 1)" in message


def test_describe_reports_the_contract_and_both_inputs(monkeypatch, hbm_file):
    doubles.install_hbm_runtime_s(monkeypatch, height=96, width=128)
    info = bpu.BpuBackend(hbm_file).describe()
    assert info["input_contract"] == "nv12_y_uv" and info["input_size"] == [96, 128]
    props = info["properties"]
    assert props["input_shapes"][doubles.BIN_MODEL_NAME] == {
        "input_y": [1, 96, 128, 1], "input_uv": [1, 48, 64, 2]}
    json.dumps(info)


@pytest.mark.parametrize("soc, why", [
    ("x5", "built for the S series"),  # an .hbm on an X5
    ("s600", r"RDK S100 \(nash-e\)"),  # an S100 file on an S600
])
def test_a_file_of_another_chip_is_refused_before_the_runtime(monkeypatch, tmp_path, soc, why):
    hbm = doubles.install_hbm_runtime_s(monkeypatch)
    path = tmp_path / "rdk_s100" / "mobilenetv2_224x224_nv12.hbm"
    path.parent.mkdir()
    path.write_bytes(b"x")
    with pytest.raises(SocMismatchError, match=why):
        bpu.BpuBackend(path, soc=soc)
    assert hbm.instances == []


def test_a_bin_on_an_s_series_board_is_refused(monkeypatch, model_file):
    hbm = doubles.install_hbm_runtime(monkeypatch)
    with pytest.raises(SocMismatchError, match="built for the RDK X5"):
        bpu.BpuBackend(model_file, soc="s100")
    assert hbm.instances == []


def test_the_contract_must_be_the_boards(monkeypatch, tmp_path):
    # a one-input (X5-style) model in an .hbm, on an S100: the runtime opens it, the contract
    # tells it is not an S-series zoo model
    doubles.install_hbm_runtime(monkeypatch, accepts=".hbm")
    path = tmp_path / "odd_224x224_nv12.hbm"
    path.write_bytes(b"x")
    with pytest.raises(SocMismatchError, match="packed_nv12 input contract.*RDK S100"):
        bpu.BpuBackend(path, soc="s100")
    doubles.install_hbm_runtime_s(monkeypatch)
    assert bpu.BpuBackend(path, soc="s100").input_contract == "nv12_y_uv"


def test_pyeasy_dnn_never_gets_the_y_uv_contract(monkeypatch, model_file):
    doubles.install_pyeasy_dnn(monkeypatch)
    assert bpu.BpuBackend(model_file).input_contract == "packed_nv12"


def test_the_one_path_runs_an_s600_zoo_model(monkeypatch, model_dirs):
    """zoo name -> this chip's .hbm -> Y + UV -> scores: Classifier.from_config on an S600."""
    from rdk_classifier.classifier import Classifier, ClassifierConfig

    system, _ = model_dirs
    (system / "resnet18_224x224_nv12.hbm").write_bytes(b"x")
    (system / "resnet18_224x224_nv12.bin").write_bytes(b"x")
    hbm = doubles.install_hbm_runtime_s(monkeypatch, quant="per_tensor")
    clf = Classifier.from_config(ClassifierConfig(model="ResNet18", backend="bpu", soc="s600"))
    try:
        assert clf.backend.input_contract == "nv12_y_uv" and clf.backend.soc == "s600"
        assert clf.backend.path.suffix == ".hbm"
        result = clf.classify_file(PHOTOS / "coffee.png")
        fed = hbm.instances[0].inputs_seen_s[-1]
        nv12 = np.concatenate([fed["input_y"].reshape(-1), fed["input_uv"].reshape(-1)])
        scores = doubles.expected_scores(nv12, 1000, "per_tensor")
        assert result.top[0].class_id == int(np.argmax(scores))
    finally:
        clf.close()
    with pytest.raises(SocMismatchError, match="no build for the RDK S600"):
        Classifier.from_config(ClassifierConfig(model="RepVGG_A0", backend="bpu", soc="s600"))
