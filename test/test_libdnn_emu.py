"""The libdnn emulator itself (tools/libdnn_emu), built from source with gcc and driven through its
documented C API by our own ctypes client (test/emulated_bpu.py). No vendor code is involved."""

from __future__ import annotations

import json
import subprocess

import cv2
import numpy as np
import pytest

import emulated_bpu as eb
from emulated_bpu import container
from rdk_classifier.backends.cpu import CpuBackend
from rdk_classifier.frames import bgr_to_nv12, resize_bgr

from conftest import PHOTOS_DIR


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return eb.build_emulator(tmp_path_factory.mktemp("libdnn_emu"))


@pytest.fixture(scope="module")
def nv12s() -> dict[str, np.ndarray]:
    return {p.stem: bgr_to_nv12(resize_bgr(cv2.imread(str(p)), (224, 224), "direct"))
            for p in sorted(PHOTOS_DIR.glob("*.png"))}


@pytest.fixture(scope="module")
def cpu_scores(nv12s) -> dict[str, np.ndarray]:
    cpu = CpuBackend(eb.FP32_ONNX, mean=(0, 0, 0), scale=(1, 1, 1))  # metadata normalization wins
    return {k: cpu.infer(v) for k, v in nv12s.items()}


@pytest.fixture
def log(tmp_path, monkeypatch):
    path = tmp_path / "calls.jsonl"
    monkeypatch.setenv("LIBDNN_EMU_LOG", str(path))
    return path


def make(tmp_path, layout: str, **kwargs):
    return container.make_container(eb.FP32_ONNX, tmp_path / f"{layout}.bin", layout, force=True,
                                    **kwargs)


def test_exports_every_symbol_the_bindings_import_with_the_config_version(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True, text=True,
                         check=True).stdout
    exported = {line.split()[-1] for line in out.splitlines() if "@@" in line}
    for name in set(eb.PYEASY_DNN_IMPORTS) | set(eb.HBM_RUNTIME_IMPORTS):
        assert f"{name}@@CONFIG" in exported, name
    assert all(name.split("@@")[0].startswith(("hbDNN", "hbSys")) for name in exported)
    soname = subprocess.run(["readelf", "-d", str(lib)], capture_output=True, text=True).stdout
    assert "Library soname: [libdnn.so]" in soname


def test_properties_are_the_containers(lib, tmp_path):
    model = eb.HbDNN(lib, make(tmp_path, "padded_nhwc", model_name="net_in_bin"))
    try:
        assert model.names == ["net_in_bin"]
        assert (model.name(False), model.name(True)) == ("data", "scores")
        inp, out = model.input.properties, model.output.properties
        assert (inp.tensorType, inp.tensorLayout) == (eb.NV12, eb.LAYOUT_NCHW)
        assert inp.validShape.dims() == inp.alignedShape.dims() == (1, 3, 224, 224)
        assert inp.alignedByteSize == 224 * 224 * 3 // 2
        assert (out.tensorType, out.tensorLayout, out.quantiType) == (eb.S32, eb.LAYOUT_NHWC,
                                                                     eb.QUANT_SCALE)
        assert out.validShape.dims() == (1, 1, 1, 1000)
        assert out.alignedShape.dims() == (1, 1, 1, 1024)
        assert out.alignedByteSize == 4096 and list(out.stride)[:4] == [4096, 4096, 4096, 4]
        assert out.quantizeAxis == 3 and out.scale.scaleLen == out.scale.zeroPointLen == 1000
        scales = np.ctypeslib.as_array(out.scale.scaleData, shape=(1000,))
        np.testing.assert_allclose(scales, container.per_channel_scale(1000), rtol=1e-6)
        assert b"emulator" in model.lib.hbDNNGetVersion()
    finally:
        model.release()


def test_float_output_equals_the_cpu_backend_and_padding_holds_the_sentinel(lib, tmp_path, nv12s,
                                                                           cpu_scores):
    model = eb.HbDNN(lib, make(tmp_path, "float"))
    try:
        for name, nv12 in nv12s.items():
            raw = model.infer(nv12)
            scores = eb.valid_values(raw, model.output.properties)
            np.testing.assert_array_equal(scores, cpu_scores[name])
    finally:
        model.release()


@pytest.mark.parametrize("layout", ["scale_per_channel", "scale_per_tensor", "padded_nchw",
                                    "padded_nhwc"])
def test_quantized_outputs_dequantize_to_the_cpu_scores(lib, tmp_path, nv12s, cpu_scores, layout):
    model = eb.HbDNN(lib, make(tmp_path, layout))
    try:
        props = model.output.properties
        for name, nv12 in nv12s.items():
            raw = model.infer(nv12)
            q = eb.valid_values(raw, props)
            assert q.dtype == np.int32 and np.abs(q).max() > 1000  # really quantized
            scores = eb.dequantize(q, props)
            step = (np.asarray(container.per_channel_scale(1000)) if props.scale.scaleLen > 1
                    else container.PER_TENSOR_SCALE)
            assert np.all(np.abs(scores - cpu_scores[name]) <= step / 2 + 1e-6)
            assert list(np.argsort(-scores)[:5]) == list(np.argsort(-cpu_scores[name])[:5])
            # every byte outside the valid elements is the sentinel
            valid_mask = np.zeros(props.alignedShape.dims(), bool)
            valid_mask[tuple(slice(0, v) for v in props.validShape.dims())] = True
            padding = raw.view(np.int32)[: valid_mask.size][~valid_mask.reshape(-1)]
            assert padding.size == int(np.prod(props.alignedShape.dims())) - 1000
            assert np.all(padding == 0x47474747)
    finally:
        model.release()


def test_nv12_is_read_by_the_declared_aligned_width(lib, tmp_path, nv12s, cpu_scores):
    """Rows of an input with an aligned width are read with that pitch; the padding is ignored."""
    model = eb.HbDNN(lib, make(tmp_path, "float", nv12_pitch=256))
    try:
        assert model.input.properties.alignedShape.dims() == (1, 3, 224, 256)
        nv12 = nv12s["chelsea"].reshape(336, 224)
        padded = np.full((336, 256), 255, np.uint8)  # white padding: read as pixels it would show
        padded[:, :224] = nv12
        scores = eb.valid_values(model.infer(padded), model.output.properties)
        np.testing.assert_array_equal(scores, cpu_scores["chelsea"])
    finally:
        model.release()


def test_nv12_separate_reads_the_uv_plane_from_the_second_memory(lib, tmp_path, nv12s, cpu_scores):
    model = eb.HbDNN(lib, make(tmp_path, "float"))
    try:
        nv12 = nv12s["coffee"]
        model.input.properties.tensorType = eb.NV12_SEPARATE
        y_size = 224 * 224
        uv = eb.SysMem()
        assert model.lib.hbSysAllocCachedMem(eb.ctypes.byref(uv), y_size // 2) == 0
        model.input.sysMem[1] = uv
        eb.ctypes.memmove(uv.virAddr, nv12[y_size:].ctypes.data, y_size // 2)
        garbage = nv12.copy()
        garbage[y_size:] = 0  # the UV bytes after Y in memory 0 must not be read
        scores = eb.valid_values(model.infer(garbage), model.output.properties)
        np.testing.assert_array_equal(scores, cpu_scores["coffee"])
    finally:
        model.lib.hbSysFreeMem(eb.ctypes.byref(model.input.sysMem[1]))
        model.release()


def test_every_call_is_logged_with_core_priority_and_flushes(lib, tmp_path, nv12s, log):
    model = eb.HbDNN(lib, make(tmp_path, "float"))
    try:
        model.infer(nv12s["chelsea"], core=1, priority=200, custom_id=7)
    finally:
        model.release()
    calls = container.read_log(log)
    names = [c["call"] for c in calls]
    assert names[:3] == ["hbDNNInitializeFromFiles", "hbDNNGetModelNameList",
                         "hbDNNGetModelHandle"]
    infer = next(c for c in calls if c["call"] == "hbDNNInfer")
    assert (infer["bpuCoreId"], infer["priority"], infer["customId"], infer["ret"]) == (1, 200, 7,
                                                                                      0)
    at = names.index("hbDNNInfer")
    assert calls[at - 1] == {**calls[at - 1], "call": "hbSysFlushMem", "flag": "clean"}
    assert [c["flag"] for c in calls[at:] if c["call"] == "hbSysFlushMem"] == ["invalidate"]
    assert names[-1] == "hbDNNRelease" and names.count("hbSysFreeMem") == 2


@pytest.mark.parametrize("core, priority, why", [(2, 0, "bpuCoreId 2: this chip has 1 core"),
                                                 (-1, 0, "bpuCoreId -1"),
                                                 (0, 256, "priority 256 outside 0..255")])
def test_bad_scheduling_is_refused(lib, tmp_path, nv12s, log, core, priority, why):
    model = eb.HbDNN(lib, make(tmp_path, "float"))
    try:
        with pytest.raises(eb.HbDNNError) as err:
            model.infer(nv12s["chelsea"], core=core, priority=priority)
        assert err.value.code == eb.INVALID_ARGUMENT
    finally:
        model.release()
    infer = next(c for c in container.read_log(log) if c["call"] == "hbDNNInfer")
    assert why in infer["why"]


def test_two_core_chip_takes_core_masks(lib, tmp_path, nv12s):
    model = eb.HbDNN(lib, make(tmp_path, "float", bpu_cores=2))
    try:
        for core in (0, 1, 2, 3):
            model.infer(nv12s["chelsea"], core=core)
        with pytest.raises(eb.HbDNNError):
            model.infer(nv12s["chelsea"], core=4)
    finally:
        model.release()


def test_load_errors(lib, tmp_path):
    with pytest.raises(eb.HbDNNError) as err:
        eb.HbDNN(lib, tmp_path / "missing.bin")
    assert err.value.code == eb.CAN_NOT_OPEN_FILE
    (tmp_path / "real.bin").write_bytes(b"\x00BPU" + bytes(100))  # not a container
    with pytest.raises(eb.HbDNNError) as err:
        eb.HbDNN(lib, tmp_path / "real.bin")
    assert err.value.code == eb.INVALID_MODEL
    props, onnx = container.read_container(make(tmp_path, "float"))
    props["outputs"][0]["aligned_shape"] = [1, 999, 1, 1]  # smaller than valid
    container.write_container(tmp_path / "bad.bin", props, onnx)
    with pytest.raises(eb.HbDNNError) as err:
        eb.HbDNN(lib, tmp_path / "bad.bin")
    assert err.value.code == eb.INVALID_MODEL
    for key, value in (("aligned_shape", [1, 100000, 100000, 1]), ("zero_point", [300] * 1000),
                       ("tensor_type", "Q7")):
        props, onnx = container.read_container(make(tmp_path, "scale_per_channel"))
        props["outputs"][0][key] = value
        container.write_container(tmp_path / "bad.bin", props, onnx, force=True)
        with pytest.raises(eb.HbDNNError) as err:
            eb.HbDNN(lib, tmp_path / "bad.bin")
        assert err.value.code == eb.INVALID_MODEL, key
    (tmp_path / "cut.bin").write_bytes((tmp_path / "bad.bin").read_bytes()[:200])
    with pytest.raises(eb.HbDNNError) as err:
        eb.HbDNN(lib, tmp_path / "cut.bin")
    assert err.value.code == eb.INVALID_MODEL


def test_run_failures_are_reported_not_crashed(lib, tmp_path, nv12s, log):
    model = eb.HbDNN(lib, make(tmp_path, "float", fail_infer=True))
    try:
        with pytest.raises(eb.HbDNNError) as err:
            model.infer(nv12s["chelsea"])
        assert err.value.code == eb.RUN_TASK_FAILED
    finally:
        model.release()
    # a container that declares 10 classes for a 1000-class network: the runner refuses
    model = eb.HbDNN(lib, make(tmp_path, "float", num_classes=10))
    try:
        with pytest.raises(eb.HbDNNError) as err:
            model.infer(nv12s["chelsea"])
        assert err.value.code == eb.RUN_TASK_FAILED
    finally:
        model.release()
    whys = [c["why"] for c in container.read_log(log) if c["call"] == "hbDNNInfer"]
    assert "fault injected" in whys[0]
    assert "runner.run" in whys[1] and "1000 scores" in whys[1]


def test_input_memory_smaller_than_the_image_is_refused(lib, tmp_path, nv12s):
    model = eb.HbDNN(lib, make(tmp_path, "float"))
    try:
        model.input.sysMem[0].memSize = 1000
        with pytest.raises(eb.HbDNNError) as err:
            model.infer()
        assert err.value.code == eb.INVALID_ARGUMENT
    finally:
        model.input.sysMem[0].memSize = 224 * 224 * 3 // 2
        model.release()


def test_container_round_trip_and_cli(tmp_path, capsys):
    out = tmp_path / "m.bin"
    assert container.main([str(eb.FP32_ONNX), str(out), "--layout", "padded_nchw"]) == 0
    props, onnx = container.read_container(out)
    assert onnx == eb.FP32_ONNX.read_bytes()
    assert props["outputs"][0]["aligned_shape"] == [1, 1000, 1, 4]
    assert props["network"] == {"input_layout": "NCHW", "mean": [127.0] * 3,
                                "scale": [0.0078125] * 3}
    json.dumps(props)
    before = out.read_bytes()
    assert container.main([str(eb.FP32_ONNX), str(out)]) == 2  # no --force: untouched
    assert out.read_bytes() == before
    assert "exists" in capsys.readouterr().err


def test_doctor_refuses_a_bpu_runtime_path_that_is_not_a_folder(tmp_path, capsys):
    from rdk_classifier.cli import main

    assert main(["doctor", "--bpu-runtime-path", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_mangled_containers_load_or_fail_cleanly(lib, tmp_path):
    """The C parser of the container header: byte flips, cuts and insertions in the JSON give a
    model or one of the documented error codes, never a crash (a crash would end this process)."""
    import ctypes
    import random
    import struct

    good = make(tmp_path, "padded_nhwc").read_bytes()
    (n,) = struct.unpack("<I", good[8:12])
    header, onnx = good[12:12 + n], good[12 + n:12 + n + 64]  # a stub ONNX: never run here
    api = ctypes.CDLL(str(lib))
    rng = random.Random(23)
    outcomes = set()
    for i in range(300):
        data = bytearray(header)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            op = rng.random()
            if op < 0.4:
                data[at] = rng.choice(b'{}[]",:0123456789-.eE \x00\xff')
            elif op < 0.7:
                del data[at:at + rng.randint(1, 40)]
            else:
                data[at:at] = bytes(rng.choice(b'{["0,:') for _ in range(rng.randint(1, 40)))
        length = len(data) if rng.random() < 0.9 else rng.randint(0, 2 * len(data))
        path = tmp_path / "fuzz.bin"
        path.write_bytes(container.MAGIC + struct.pack("<I", length) + bytes(data) + onnx)
        packed = ctypes.c_void_p()
        files = (ctypes.c_char_p * 1)(str(path).encode())
        code = api.hbDNNInitializeFromFiles(ctypes.byref(packed), files, 1)
        assert code in (0, eb.INVALID_MODEL), (i, code)
        if code == 0:
            assert api.hbDNNRelease(packed) == 0
        outcomes.add(code)
    assert outcomes == {0, eb.INVALID_MODEL}  # both happened: the mutations were not all fatal
