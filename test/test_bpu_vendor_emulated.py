"""The BPU backend through the vendor's REAL pyeasy_dnn, built from a local D-Robotics
x5-hobot-spdev checkout against the libdnn emulator (tools/libdnn_emu). Nothing of the vendor's is
in this repository: these tests run only where RDK_X5_SPDEV names such a checkout (and a C/C++
compiler exists); elsewhere they skip. bench/bench_bpu_emulator.py runs them and the top-5 sweep.

What they establish is what the doubles in test/bpu_doubles.py must follow; the test of each double
behaviour (test/test_bpu_doubles_observed.py) runs the same scenario on the double.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import numpy as np
import pytest

import emulated_bpu as eb
from emulated_bpu import container
from conftest import PHOTOS_DIR, imagenet_samples
from rdk_classifier.backends import bpu
from rdk_classifier.classifier import Classifier
from rdk_classifier.errors import ModelError

pytestmark = pytest.mark.skipif(not eb.SPDEV, reason=eb.NEEDS_SPDEV)

PHOTOS = sorted(PHOTOS_DIR.glob("*.png")) + [p for p, _ in imagenet_samples()]


@pytest.fixture(scope="module")
def vendor(tmp_path_factory):
    """hobot_dnn.pyeasy_dnn (the vendor's, built here) importable for this module only."""
    yield from eb.vendor_pyeasy_dnn(tmp_path_factory.mktemp("vendor"))


@pytest.fixture
def log(tmp_path, monkeypatch):
    path = tmp_path / "calls.jsonl"
    monkeypatch.setenv("LIBDNN_EMU_LOG", str(path))
    monkeypatch.setitem(sys.modules, "hbm_runtime", None)  # pyeasy_dnn is the runtime here
    return path


def model(tmp_path: Path, layout: str, onnx: Path = eb.FP32_ONNX, **kwargs) -> Path:
    return container.make_container(onnx, tmp_path / f"{layout}_{onnx.stem}.bin", layout,
                                    force=True, **kwargs)


def top5(clf: Classifier, photo: Path) -> list[int]:
    return [p.class_id for p in clf.classify_file(photo).top]


CPU_RESIZE_MODE = "center_crop"  # the shipped model's registry row (zoo.yaml)


@pytest.fixture(scope="module")
def cpu_top5():
    clf = Classifier.from_model(str(eb.FP32_ONNX), backend="cpu")
    assert clf.preprocessor.mode == CPU_RESIZE_MODE
    return {p.name: top5(clf, p) for p in PHOTOS}


# ----------------------------------------------------------------- the zoo's output layouts

@pytest.mark.parametrize("layout", ["float", "scale_per_channel", "scale_per_tensor",
                                    "padded_nhwc"])
def test_top5_of_every_photo_equals_the_cpu_backend(vendor, log, tmp_path, cpu_top5, layout):
    # a .bin given by path has no registry row: its resize mode is the one of the ONNX
    clf = Classifier.from_model(str(model(tmp_path, layout)), backend="bpu",
                                resize_mode=CPU_RESIZE_MODE)
    assert clf.backend.runtime == "pyeasy_dnn" and clf.backend.name == "bpu"
    got = {p.name: top5(clf, p) for p in PHOTOS}
    assert got == cpu_top5
    assert sum(c["call"] == "hbDNNInfer" for c in container.read_log(log)) == len(PHOTOS)


def test_float_scores_are_the_cpu_scores_exactly(vendor, log, tmp_path):
    from rdk_classifier.backends.cpu import CpuBackend

    backend = bpu.BpuBackend(model(tmp_path, "float"), runtime="pyeasy_dnn")
    cpu = CpuBackend(eb.FP32_ONNX, mean=(0, 0, 0), scale=(1, 1, 1))
    rng = np.random.default_rng(3)
    nv12 = rng.integers(16, 236, backend.input_spec.nv12_size, dtype=np.uint8)
    np.testing.assert_array_equal(backend.infer(nv12), cpu.infer(nv12))


def test_padded_nchw_int32_output_is_refused_at_load(vendor, log, tmp_path):
    """(1, 1000, 1, 1) in (1, 1000, 1, 4): pyeasy_dnn's .buffer copies the first 1000 int32 of
    the aligned buffer, 750 of them padding; the backend refuses instead of reading it."""
    path = model(tmp_path, "padded_nchw")
    with pytest.raises(ModelError, match=r"padded .*alignedShape \(1, 1000, 1, 4\).*hbm_runtime"):
        bpu.BpuBackend(path, runtime="pyeasy_dnn")
    # what the binding really returns: the aligned prefix, sentinel padding included
    m = vendor.load(str(path))[0]
    nv12 = np.full(224 * 224 * 3 // 2, 128, np.uint8)
    buf = m.forward(nv12)[0].buffer.reshape(-1)
    assert buf.size == 1000 and np.count_nonzero(buf == 0x47474747) == 750


def test_zero_points_are_invisible_through_pyeasy_dnn(vendor, log, tmp_path):
    """pyeasy_dnn exposes scale_data only: an output quantized with non-zero zero points reads
    shifted by zero_point * scale per class (X5 int32 outputs are symmetric; hbm_runtime gives
    the zero points)."""
    from rdk_classifier.backends.cpu import CpuBackend

    props, onnx = container.read_container(model(tmp_path, "scale_per_channel"))
    zp = [(c % 5) - 2 for c in range(1000)]
    props["outputs"][0]["zero_point"] = zp
    path = container.write_container(tmp_path / "zp.bin", props, onnx)
    backend = bpu.BpuBackend(path, runtime="pyeasy_dnn")
    nv12 = np.random.default_rng(8).integers(16, 236, 75264, dtype=np.uint8)
    cpu = CpuBackend(eb.FP32_ONNX, mean=(0, 0, 0), scale=(1, 1, 1)).infer(nv12)
    scale = np.asarray(container.per_channel_scale(1000), np.float32)
    shift = backend.infer(nv12) - cpu
    np.testing.assert_allclose(shift, np.asarray(zp) * scale, atol=scale.max() / 2 + 1e-6)


def test_2d_output_gives_an_empty_buffer_and_is_refused(vendor, log, tmp_path):
    """validShape (1, 1000): .buffer is built from dimensionSize[0..3] = (1, 1000, 0, 0)."""
    path = model(tmp_path, "float_2d")
    m = vendor.load(str(path))[0]
    assert m.forward(np.full(75264, 128, np.uint8))[0].buffer.shape == (1, 1000, 0, 0)
    backend = bpu.BpuBackend(path, runtime="pyeasy_dnn")
    with pytest.raises(ModelError, match=r"returned 0 values as shape \(1, 1000, 0, 0\)"):
        backend.infer(np.full(75264, 128, np.uint8))


def test_properties_as_the_binding_gives_them(vendor, log, tmp_path):
    backend = bpu.BpuBackend(model(tmp_path, "padded_nhwc", model_name="net_in_bin"),
                             runtime="pyeasy_dnn")
    info = backend.describe()
    out = info["properties"]["outputs"][0]
    assert info["properties"]["name"] == "net_in_bin"
    assert out["tensor_type"] == "int32" and out["layout"] == "NHWC"
    assert out["validShape"] == [1, 1, 1, 1000] and out["alignedShape"] == [1, 1, 1, 1024]
    assert len(out["scale_data"]) == 1000
    inp = info["properties"]["inputs"][0]
    assert inp["tensor_type"] == "NV12" and inp["dtype"] == "uint8" and inp["shape"] == [1, 3,
                                                                                      224, 224]
    raw = vendor.load(str(backend.path))[0].outputs[0].properties
    assert isinstance(raw.validShape, int)  # a pointer to a malloc'ed hbDNNTensorShape
    assert bpu._shape_of(raw.validShape) == (1, 1, 1, 1000)
    float_out = vendor.load(str(model(tmp_path, "float")))[0].outputs[0].properties
    assert float_out.tensor_type == "float32" and float_out.scale_data.size == 0


# ----------------------------------------------------------------------- NV12, models, cores

def test_both_nv12_packings_give_the_same_scores(vendor, log, tmp_path):
    backend = bpu.BpuBackend(model(tmp_path, "float"), runtime="pyeasy_dnn")
    nv12 = np.random.default_rng(1).integers(0, 256, 75264, dtype=np.uint8)
    flat = backend.infer(nv12)
    np.testing.assert_array_equal(backend.infer(nv12.reshape(1, 336, 224, 1)), flat)
    np.testing.assert_array_equal(backend.infer(nv12.reshape(336, 224)), flat)
    m = vendor.load(str(backend.path))[0]  # the binding itself: any shape, element count copied
    a = m.forward(nv12)[0].buffer
    np.testing.assert_array_equal(m.forward(nv12.reshape(1, 336, 224, 1))[0].buffer, a)


def test_nv12_separate_input_gets_y_and_uv_in_two_memories(vendor, log, tmp_path):
    """An NV12_SEPARATE model input: pyeasy_dnn allocates two memories (2/3 and 1/3 of the
    aligned size) and splits the packed NV12 between them; the scores are the NV12 model's."""
    packed = bpu.BpuBackend(model(tmp_path, "float"), runtime="pyeasy_dnn")
    separate = bpu.BpuBackend(
        container.make_container(eb.FP32_ONNX, tmp_path / "separate.bin", "float",
                                 nv12_type="NV12_SEPARATE"), runtime="pyeasy_dnn")
    assert separate.describe()["properties"]["inputs"][0]["tensor_type"] == "NV12_SEPARATE"
    nv12 = np.random.default_rng(9).integers(0, 256, 75264, dtype=np.uint8)
    np.testing.assert_array_equal(separate.infer(nv12), packed.infer(nv12))
    allocs = [c["size"] for c in container.read_log(log) if c["call"] == "hbSysAllocCachedMem"]
    assert allocs == [75264, 4000, 224 * 224, 224 * 224 // 2, 4000]


def test_model_switch_keeps_each_models_answer(vendor, log, tmp_path):
    fp32 = bpu.BpuBackend(model(tmp_path, "float"), runtime="pyeasy_dnn")
    int8 = bpu.BpuBackend(model(tmp_path, "scale_per_channel",
                                eb.MODELS / "efficientnet_lite0_int8.onnx"), runtime="pyeasy_dnn")
    frames = [np.random.default_rng(s).integers(0, 256, 75264, dtype=np.uint8) for s in (1, 2)]
    first = [(fp32.infer(f), int8.infer(f)) for f in frames]
    for _ in range(2):
        for f, (a, b) in zip(frames, first):
            np.testing.assert_array_equal(int8.infer(f), b)
            np.testing.assert_array_equal(fp32.infer(f), a)
    assert not np.array_equal(first[0][0], first[0][1])  # two different models really ran
    models = {c["model"] for c in container.read_log(log) if c["call"] == "hbDNNInfer"}
    assert models == {"emulated_net"}  # the same name inside both files: handles keep them apart


def test_a_loaded_model_is_never_freed(vendor, log, tmp_path):
    """Vendor defect: load() appends each Model to its list without dropping its own reference,
    so a Model is never deallocated: neither its tensors (hbSysFreeMem) nor the model
    (hbDNNRelease, which Model_dealloc would not call anyway) are ever freed. Every load keeps
    its memory until the process ends: load a model once per process."""
    backend = bpu.BpuBackend(model(tmp_path, "float"), runtime="pyeasy_dnn")
    backend.infer(np.full(75264, 128, np.uint8))
    held = backend._model
    backend.close()
    del backend
    # `held`, getrefcount's argument and the reference load() leaked: never reaches zero
    assert sys.getrefcount(held) == 3
    del held
    gc.collect()
    calls = [c["call"] for c in container.read_log(log)]
    assert "hbSysFreeMem" not in calls and "hbDNNRelease" not in calls


@pytest.mark.parametrize("core, priority, bpu_core_id", [(-1, 0, 0), (0, 200, 1), (2, 7, 4)])
def test_core_and_priority_reach_hbdnninfer(vendor, log, tmp_path, core, priority, bpu_core_id):
    """pyeasy_dnn passes core_id and priority straight to hbDNNInferCtrlParam; bpuCoreId is the
    documented core mask (0 any, 1 << k core k)."""
    backend = bpu.BpuBackend(model(tmp_path, "float", bpu_cores=3), core_id=core,
                             priority=priority, runtime="pyeasy_dnn")
    backend.infer(np.full(75264, 128, np.uint8))
    infer = [c for c in container.read_log(log) if c["call"] == "hbDNNInfer"]
    assert [(c["bpuCoreId"], c["priority"], c["ret"]) for c in infer] == [(bpu_core_id, priority,
                                                                          0)]


def test_a_core_the_chip_lacks_fails_at_inference_with_the_runtime_message(vendor, log, tmp_path):
    backend = bpu.BpuBackend(model(tmp_path, "float"), core_id=1, runtime="pyeasy_dnn")
    with pytest.raises(ModelError, match="pyeasy_dnn forward failed: RuntimeError: forward "
                                         "execution failed"):
        backend.infer(np.full(75264, 128, np.uint8))
    infer = [c for c in container.read_log(log) if c["call"] == "hbDNNInfer"]
    assert infer[0]["bpuCoreId"] == 2 and "this chip has 1 core" in infer[0]["why"]


# ----------------------------------------------------------------------------------- errors

def test_a_file_libdnn_rejects_is_a_model_error_with_the_runtime_message(vendor, log, tmp_path):
    bad = tmp_path / "other.bin"
    bad.write_bytes(b"not a model" * 10)
    with pytest.raises(ModelError, match="RuntimeError: hbDNNInitializeFromFiles failed"):
        bpu.BpuBackend(bad, runtime="pyeasy_dnn")
    with pytest.raises(SystemError) as err:  # the binding: an error set and None returned
        vendor.load(str(bad))
    assert "hbDNNInitializeFromFiles failed" in str(err.value.__cause__ or err.value.__context__)


def test_a_failing_inference_is_a_model_error(vendor, log, tmp_path):
    backend = bpu.BpuBackend(model(tmp_path, "float", fail_infer=True), runtime="pyeasy_dnn")
    with pytest.raises(ModelError, match="forward execution failed"):
        backend.infer(np.full(75264, 128, np.uint8))


def test_forward_of_a_non_array_runs_the_previous_input(vendor, log, tmp_path, capfd):
    """Vendor defect: an argument that is neither an ndarray nor a list is skipped (a message on
    stdout) and the model runs on whatever the input memory holds. The backend only ever passes a
    uint8 ndarray (infer() refuses anything else)."""
    m = vendor.load(str(model(tmp_path, "float")))[0]
    a = m.forward(np.full(75264, 90, np.uint8))[0].buffer
    stale = m.forward(b"\x00" * 75264)[0].buffer
    np.testing.assert_array_equal(stale, a)
    assert "arg_obj is NOT a container." in capfd.readouterr().out


def test_forward_of_a_non_contiguous_array_reads_raw_memory(vendor, log, tmp_path):
    """Vendor defect: a bare ndarray's data pointer is copied as is, whatever its strides. The
    backend makes the array contiguous before forward()."""
    backend = bpu.BpuBackend(model(tmp_path, "float"), runtime="pyeasy_dnn")
    big = np.random.default_rng(5).integers(0, 256, (336, 448), dtype=np.uint8)
    view = big[:, ::2]  # 336 x 224, not contiguous
    contiguous = np.ascontiguousarray(view)
    np.testing.assert_array_equal(backend.infer(view), backend.infer(contiguous))
    m = vendor.load(str(backend.path))[0]
    raw = m.forward(view)[0].buffer
    assert not np.array_equal(raw, m.forward(contiguous)[0].buffer)
    np.testing.assert_array_equal(raw, m.forward(big.reshape(-1)[:75264].copy())[0].buffer)


# ----------------------------------------------------------------------------------- doctor

def test_doctor_runs_its_bpu_checks_through_the_vendor_binding_on_the_emulator(vendor, tmp_path):
    import json
    import subprocess

    path = model(tmp_path, "padded_nhwc")
    site = str(Path(vendor.__file__).parents[1])
    out = subprocess.run(
        [sys.executable, "-m", "rdk_classifier", "doctor", "--json", "--runs", "1",
         "--bpu-runtime-path", site, "--model", str(path)],
        capture_output=True, text=True, cwd=eb.REPO, timeout=600,
        env={**__import__("os").environ, "PYTHONPATH": str(eb.REPO)})
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    runtimes = {r["module"]: r for r in report["environment"]["bpu_runtimes"]}
    assert runtimes["hobot_dnn.pyeasy_dnn"]["file"] == vendor.__file__
    bpu_section = report["bpu"]
    assert bpu_section["runtimes"] == ["pyeasy_dnn"] and bpu_section["path"] == str(path)
    props = bpu_section["per_runtime"]["pyeasy_dnn"]["properties"]
    assert props["output_aligned_shape"] == [1, 1, 1, 1024]
    bpu_checks = [c for c in report["checks"] if c["name"].startswith("bpu")]
    assert len(bpu_checks) == 3 and all(c["passed"] for c in bpu_checks)
