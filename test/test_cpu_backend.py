"""The CPU backend refuses at load what cannot work, reads the class count, runs NHWC models,
and every session it builds carries the setting that keeps int8 results CPU-independent."""

import numpy as np
import pytest

from rdk_classifier.backends.cpu import CpuBackend
from rdk_classifier.backends.onnx_session import X64_QUANT_PRECISION, cpu_int8_info
from rdk_classifier.classifier import Classifier, ClassifierConfig
from rdk_classifier.errors import ModelError, ModelOutputError
from rdk_classifier.normalization import IMAGENET_MEAN, IMAGENET_SCALE
from rdk_classifier.zoo import PACKAGED_MODEL_DIR

from onnx_models import TensorProto, tiny_classifier


def _backend(path, **kw):
    return CpuBackend(path, IMAGENET_MEAN, IMAGENET_SCALE, **kw)


@pytest.mark.parametrize("kwargs, message", [
    ({"in_shape": (2, 3, 8, 8)}, "has batch 2"),
    ({"in_shape": (1, 1, 8, 8)}, "no 3-channel axis"),
    ({"in_shape": (1, 4, 8, 8)}, "no 3-channel axis"),
    ({"in_type": TensorProto.UINT8}, "is tensor\\(uint8\\)"),
    ({"outputs": 2}, "has 2 outputs"),
    ({"in_shape": (1, 3, 8)}, "not 4-D"),
])
def test_models_that_cannot_work_are_refused_at_load(tmp_path, kwargs, message):
    path = tiny_classifier(tmp_path / "m.onnx", 10, **kwargs)
    with pytest.raises(ModelError, match=message):
        _backend(path)


def test_garbage_file_is_a_model_error(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"<html>sign in to the wifi</html>")
    with pytest.raises(ModelError, match="onnxruntime cannot load"):
        _backend(path)


def test_class_count_from_static_and_dynamic_output_shapes(tmp_path):
    assert _backend(tiny_classifier(tmp_path / "a.onnx", 7)).num_classes == 7
    dynamic = tiny_classifier(tmp_path / "b.onnx", 7, in_shape=("N", 3, 8, 8),
                              out_shape=("N", "classes"))
    assert _backend(dynamic).num_classes == 7  # found by one inference at load


def test_nhwc_model_gets_the_same_scores_as_nchw(tmp_path):
    nchw = _backend(tiny_classifier(tmp_path / "c.onnx", 5))
    nhwc = _backend(tiny_classifier(tmp_path / "h.onnx", 5, in_shape=(1, 8, 8, 3),
                                    layout="NHWC"))
    assert nhwc.input_spec == nchw.input_spec
    rng = np.random.default_rng(3)
    nv12 = rng.integers(0, 256, nchw.input_spec.nv12_size, dtype=np.uint8)
    np.testing.assert_allclose(nhwc.infer(nv12), nchw.infer(nv12), rtol=1e-5, atol=1e-5)
    assert np.ptp(nchw.infer(nv12)) > 0  # the scores really depend on the input


def test_nan_scores_are_a_per_frame_error(tmp_path):
    path = tiny_classifier(tmp_path / "nan.onnx", 10, fill=float("nan"),
                           metadata={"mean_value": "0", "scale_value": "1"})
    names = tmp_path / "names.txt"
    names.write_text("".join(f"c{i}\n" for i in range(10)))
    clf = Classifier.from_config(ClassifierConfig(model=str(path), backend="cpu",
                                                  class_names=str(names)))
    with pytest.raises(ModelOutputError, match="10 NaN or infinite values of 10"):
        clf.classify_nv12(np.zeros(clf.backend.input_spec.nv12_size, np.uint8))


@pytest.mark.parametrize("model", ["efficientnet_lite0_int8.onnx", "efficientnet_lite0_fp32.onnx"])
def test_sessions_widen_int8_sums_exactly_where_the_kernels_would_saturate(model):
    """Set on x86 without VNNI (where it is needed); not on VNNI or ARM, where the kernels are
    exact and the option costs 2.7x the int8 latency. test_int8_emulated_avx2.py runs the AVX2
    side on any x86 machine."""
    backend = _backend(PACKAGED_MODEL_DIR / model)
    options = backend.session.get_session_options()
    want = "1" if cpu_int8_info().saturating_without_setting else ""
    try:
        got = options.get_session_config_entry(X64_QUANT_PRECISION)
    except Exception:  # onnxruntime raises when the entry is not set
        got = ""
    assert got == want
    assert backend.num_classes == 1000


def test_session_options_widen_on_request():
    from rdk_classifier.backends.onnx_session import session_options

    assert session_options(widen_int8=True).get_session_config_entry(X64_QUANT_PRECISION) == "1"


def test_cpu_int8_info_reads_x86_and_arm_cpuinfo(tmp_path, monkeypatch):
    import platform

    x86 = tmp_path / "x86"
    x86.write_text("processor: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx2 fma\n")
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    info = cpu_int8_info(str(x86), runtime={})
    assert (info.cpu, info.features, info.saturating_without_setting) == \
        ("AMD EPYC 7B13", ("avx2",), True)
    x86.write_text("model name: Xeon\nflags: avx2 avx512f avx512_vnni avx_vnni\n")
    assert cpu_int8_info(str(x86), runtime={}).int8_kernels == "AVX-512 VNNI"
    # under qemu-user the host's cpuinfo shows through; the process's own probe wins
    emulated = cpu_int8_info(str(x86), runtime={"avx2": True, "avx512f": False})
    assert emulated.int8_kernels.startswith("AVX2 without VNNI") and \
        emulated.saturating_without_setting
    arm = tmp_path / "arm"
    arm.write_text("processor: 0\nFeatures: fp asimd asimddp\nCPU part: 0xd05\n")
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    info = cpu_int8_info(str(arm), runtime={})
    assert (info.int8_kernels, info.saturating_without_setting) == ("ARM dot product", False)


def test_a_bgr_trained_model_gets_the_frame_in_bgr_order(tmp_path):
    """input_type_train bgr: the NV12 frame is converted to B, G, R (then normalized per channel
    in that order), the reverse of what an rgb-trained model gets."""
    meta = {"mean_value": "10 20 30", "scale_value": "1 1 1"}
    rgb = CpuBackend(tiny_classifier(tmp_path / "rgb.onnx", 4, metadata={
        **meta, "input_type_train": "rgb"}), IMAGENET_MEAN, IMAGENET_SCALE)
    bgr = CpuBackend(tiny_classifier(tmp_path / "bgr.onnx", 4, metadata={
        **meta, "input_type_train": "bgr"}), IMAGENET_MEAN, IMAGENET_SCALE)
    nv12 = np.random.default_rng(5).integers(0, 256, rgb.input_spec.nv12_size, dtype=np.uint8)
    as_rgb = np.array(rgb.to_tensor(nv12))[0] + np.array([10, 20, 30], np.float32)[:, None, None]
    as_bgr = np.array(bgr.to_tensor(nv12))[0] + np.array([10, 20, 30], np.float32)[:, None, None]
    np.testing.assert_array_equal(as_bgr, as_rgb[::-1])
    assert not np.array_equal(as_bgr, as_rgb)
