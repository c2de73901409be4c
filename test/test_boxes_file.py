"""``classify --boxes FILE.json``: the file is bounded and validated; hostile JSON: one line."""

from __future__ import annotations

import json

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rdk_classifier.errors import BoxesFileError
from rdk_classifier.regions import (MAX_BOXES_FILE_BYTES, MAX_BOXES_LIMIT, Box, load_boxes_file,
                                    parse_boxes_json)


def test_valid():
    boxes = parse_boxes_json('[{"x_offset": 1, "y_offset": 2, "width": 30, "height": 40}, '
                             '{"x_offset": 0, "y_offset": 0, "width": 5, "height": 6, "id": "a"}]')
    assert boxes == [Box(1, 2, 30, 40), Box(0, 0, 5, 6, id="a")]
    assert parse_boxes_json("[]") == []


@pytest.mark.parametrize("text, error", [
    ("", "not JSON"), ("{", "not JSON"), ('{"x_offset": 1}', "JSON list"),
    ("[1]", "box 0 is int"), ('[{"x_offset": 1, "y_offset": 2, "width": 3}]', "missing height"),
    ('[{"x_offset": 1, "y_offset": 2, "width": 3, "height": 4, "z": 1}]', "unknown key"),
    ('[{"x_offset": 1.5, "y_offset": 2, "width": 3, "height": 4}]', "integer"),
    ('[{"x_offset": true, "y_offset": 2, "width": 3, "height": 4}]', "integer"),
    ('[{"x_offset": "1", "y_offset": 2, "width": 3, "height": 4}]', "integer"),
    ('[{"x_offset": -1, "y_offset": 2, "width": 3, "height": 4}]', "outside"),
    ('[{"x_offset": 1, "y_offset": 2, "width": 99999999999, "height": 4}]', "outside"),
    ('[{"x_offset": 1, "y_offset": 2, "width": 0, "height": 4}]', "empty"),
    ('[{"x_offset": 1, "y_offset": 2, "width": 3, "height": 4, "id": 5}]', "id must"),
    ("[" * 100000 + "]" * 100000, "not JSON"),
    (json.dumps([{"x_offset": 0, "y_offset": 0, "width": 1, "height": 1}]
                * (MAX_BOXES_LIMIT + 1)), "at most"),
    ("NaN", "JSON list"),
])
def test_hostile_json_is_one_line(text, error):
    with pytest.raises(BoxesFileError, match=error) as info:
        parse_boxes_json(text, "f.json")
    msg = str(info.value)
    assert msg.startswith("f.json: ") and "\n" not in msg and len(msg) < 400


def test_file_bounds(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_BOXES_FILE_BYTES + 1))
    with pytest.raises(BoxesFileError, match="the limit is"):
        load_boxes_file(big)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)  # a plain open() would block forever
    with pytest.raises(BoxesFileError, match="not a regular file"):
        load_boxes_file(fifo)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe[]")
    with pytest.raises(BoxesFileError, match="UTF-8"):
        load_boxes_file(binary)
    with pytest.raises(BoxesFileError, match="cannot read"):
        load_boxes_file(tmp_path / "missing.json")
    ok = tmp_path / "ok.json"
    ok.write_text('[{"x_offset": 3, "y_offset": 4, "width": 5, "height": 6}]')
    assert load_boxes_file(ok) == [Box(3, 4, 5, 6)]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.sampled_from(["x_offset", "y_offset", "width", "height", "id", "q"]),
                      children, max_size=6),
    max_leaves=30)


@pytest.mark.slow  # ~15 s, nearly all of it hypothesis drawing recursive JSON
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_json)
def test_fuzz_any_json_value(value):
    try:
        boxes = parse_boxes_json(json.dumps(value))
    except BoxesFileError as exc:
        assert "\n" not in str(exc)
        return
    assert all(b.width > 0 and b.height > 0 and b.x_offset >= 0 for b in boxes)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "b.json"
    path.write_bytes(data)
    try:
        load_boxes_file(path)
    except BoxesFileError as exc:
        assert "\n" not in str(exc)
