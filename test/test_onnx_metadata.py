"""model_facts.onnx_metadata_props: an ONNX file's metadata_props read without loading the model,
checked against the onnx package's own parser (the reader of record), and fuzzed: any bytes give
the same dict as protobuf's parser where both read them, or a ModelError, never anything else."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

onnx = pytest.importorskip("onnx")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from rdk_classifier.errors import ModelError  # noqa: E402
from rdk_classifier.model_facts import (MAX_METADATA_ENTRY_BYTES, onnx_metadata_props,  # noqa: E402
                                        read_model_facts)
from rdk_classifier.zoo import PACKAGED_MODEL_DIR  # noqa: E402

SCALE = max(1, int(os.environ.get("FUZZ_EXAMPLES", "1")))


def bounded(n: int):
    return settings(max_examples=n * SCALE, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


def reference(data: bytes) -> dict[str, str]:
    """What the onnx package reads: the last value of a key given twice, as a dict would."""
    proto = onnx.ModelProto()
    proto.ParseFromString(data)
    return {p.key: p.value for p in proto.metadata_props}


def tiny_model(props: list[tuple[str, str]], doc: str = "", functions: bool = False) -> bytes:
    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    model = helper.make_model(graph, doc_string=doc, producer_name="test")
    for key, value in props:  # in order, duplicates kept: the file says what it says
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    if functions:  # a field after metadata_props, to be skipped
        model.functions.append(helper.make_function("local", "f", ["a"], ["b"],
                                                    [helper.make_node("Identity", ["a"], ["b"])],
                                                    [helper.make_opsetid("", 13)]))
    return model.SerializeToString()


def write(tmp_path, data: bytes, name: str = "m.onnx"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name", ["efficientnet_lite0_fp32.onnx", "efficientnet_lite0_int8.onnx"])
def test_the_shipped_models_read_as_onnx_reads_them(name):
    path = PACKAGED_MODEL_DIR / name
    got = onnx_metadata_props(path)
    assert got == {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert "mean_value" in got and "scale_value" in got


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@bounded(60)
@given(props=st.lists(st.tuples(text, text), max_size=6), doc=text, functions=st.booleans())
def test_any_metadata_reads_as_the_onnx_package_reads_it(tmp_path_factory, props, doc, functions):
    data = tiny_model(props, doc, functions)
    path = write(tmp_path_factory.mktemp("m"), data)
    assert onnx_metadata_props(path) == reference(data) == dict(props)


@st.composite
def mangled(draw):
    data = bytearray(tiny_model([("mean_value", "127.5"), ("class_names", '["a", "b"]')],
                                doc="d" * draw(st.integers(0, 300))))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut]) if draw(st.booleans()) else bytes(data)


@bounded(300)
@given(data=st.one_of(mangled(), st.binary(max_size=200)))
def test_any_bytes_give_the_parsers_dict_or_a_model_error(tmp_path_factory, data):
    path = write(tmp_path_factory.mktemp("m"), data)
    try:
        got = onnx_metadata_props(path)
    except ModelError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    try:
        expected = reference(data)
    except Exception:  # noqa: BLE001 - protobuf refuses what we read: ONNX Runtime will too
        return
    assert got == expected


def test_what_is_not_a_model_file_is_refused(tmp_path):
    with pytest.raises(ModelError, match="not a regular file"):
        onnx_metadata_props(tmp_path)
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)
    with pytest.raises(ModelError, match="not a regular file"):
        onnx_metadata_props(fifo)  # refused at once, not a read that never returns
    with pytest.raises(ModelError, match="cannot read"):
        onnx_metadata_props(tmp_path / "missing.onnx")


def test_an_oversized_metadata_entry_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.onnx"
    size = MAX_METADATA_ENTRY_BYTES + 1
    head = bytes([14 << 3 | 2]) + bytes(_varint(size))
    with open(path, "wb") as f:  # sparse: the header, then a hole the size of the claim
        f.write(head)
        f.truncate(len(head) + size)
    with pytest.raises(ModelError, match="metadata larger than the limit"):
        onnx_metadata_props(path)


def test_a_length_past_the_end_of_the_file_is_truncation(tmp_path):
    data = tiny_model([("k", "v")])
    with pytest.raises(ModelError, match="truncated"):
        onnx_metadata_props(write(tmp_path, data[:-1]))


def _varint(value: int) -> bytearray:
    out = bytearray()
    while True:
        out.append(value & 0x7F | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return out


def test_a_users_model_is_resolved_without_loading_it_twice(tmp_path):
    """Reading a user model's facts no longer loads it through the onnx package (it took 2.5 s
    and +19 MB for the 18 MB model here) or a second ONNX Runtime session."""
    model = onnx.load(str(PACKAGED_MODEL_DIR / "efficientnet_lite0_fp32.onnx"))
    path = tmp_path / "mine.onnx"
    onnx.save(model, str(path))
    assert read_model_facts(path).mean is not None
    code = ("import sys; from rdk_classifier import Classifier; "
            f"c = Classifier.from_model({str(path)!r}, backend='cpu'); "
            "print(c.model_name, 'onnx' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["mine", "False"]
