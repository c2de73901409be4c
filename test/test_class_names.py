"""Class-name files: every name keeps its line's index, hostile files are refused before use,
and the count must fit the model (real ONNX models made in the test)."""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rdk_classifier.class_names import (IMAGENET_CLASS_NAMES, MAX_CLASSES, class_name,
                                        load_class_names, parse_class_names)
from rdk_classifier.classifier import Classifier, ClassifierConfig
from rdk_classifier.errors import ClassNamesError

from onnx_models import tiny_classifier


def test_imagenet_names():
    names = load_class_names()
    assert len(names) == 1000 and len(set(names)) == 1000
    assert names[0] == "tench" and names[967] == "espresso" and names[282] == "tiger cat"
    assert class_name(names, 1000) == "class_1000"
    assert IMAGENET_CLASS_NAMES.is_file()


def test_blank_lines_keep_every_index(tmp_path):
    f = tmp_path / "names.txt"
    f.write_bytes("\ufeffcat\r\n\r\n dog \r\n\n\n".encode("utf-8"))  # BOM, CRLF, trailing blanks
    assert load_class_names(f) == ("cat", "class_1", "dog")


def test_duplicates_are_kept_at_their_index():
    assert parse_class_names("crane\nbird\ncrane\n") == ("crane", "bird", "crane")


@pytest.mark.parametrize("text, message", [
    ("\n \n", "no class names"),
    ("a\n" + "x" * 300 + "\n", ":2: name is 300 characters"),
    ("a\nb\x1b[31mred\n", ":2: name contains a control character"),
    ("a\x00b\n", ":1: name contains a control character"),
])
def test_malformed_names_are_refused_with_the_line(text, message):
    with pytest.raises(ClassNamesError, match=message):
        parse_class_names(text, "f.txt")


def test_too_many_names_for_vision_msgs():
    with pytest.raises(ClassNamesError, match=f"at most {MAX_CLASSES}"):
        parse_class_names("n\n" * (MAX_CLASSES + 1))


def test_special_and_bad_files_are_refused(tmp_path):
    with pytest.raises(ClassNamesError, match="cannot read"):
        load_class_names(tmp_path / "missing.txt")
    with pytest.raises(ClassNamesError, match="not a regular file"):
        load_class_names(tmp_path)
    with pytest.raises(ClassNamesError, match="not a regular file"):
        load_class_names("/dev/zero")  # would be read until memory runs out
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # would block forever on a plain open()
    with pytest.raises(ClassNamesError, match="not a regular file"):
        load_class_names(fifo)
    big = tmp_path / "big.txt"
    big.write_bytes(b"a\n" * (3 << 20))
    with pytest.raises(ClassNamesError, match="bytes; the limit"):
        load_class_names(big)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(ClassNamesError, match="not UTF-8"):
        load_class_names(latin)


def test_name_count_must_equal_the_model_outputs(tmp_path):
    from rdk_classifier.model_facts import ModelFacts, write_model_facts

    bare = tiny_classifier(tmp_path / "bare.onnx", 10)
    model = write_model_facts(bare, ModelFacts((0.0,) * 3, (1.0,) * 3), tmp_path / "ten.onnx")
    # a user model that records no names: class_<N>, never ImageNet's names
    clf = Classifier.from_config(ClassifierConfig(model=str(model), backend="cpu"))
    assert clf.class_names == tuple(f"class_{i}" for i in range(10))
    nine = tiny_classifier(tmp_path / "nine.onnx", 10, metadata={  # model-info would refuse it
        "mean_value": "0", "scale_value": "1", "class_names": '["a","b","c","d","e","f","g","h","i"]'})
    with pytest.raises(ClassNamesError, match="has 10 outputs but the class names recorded with"):
        Classifier.from_config(ClassifierConfig(model=str(nine), backend="cpu"))
    names = tmp_path / "names.txt"
    names.write_text("".join(f"c{i}\n" for i in range(9)))
    with pytest.raises(ClassNamesError, match=r"10 outputs but .*names.txt names 9 classes"):
        Classifier.from_config(ClassifierConfig(model=str(model), backend="cpu",
                                                class_names=str(names)))
    names.write_text("".join(f"c{i}\n" for i in range(10)))
    clf = Classifier.from_config(ClassifierConfig(model=str(model), backend="cpu",
                                                  class_names=str(names)))
    assert clf.backend.num_classes == 10
    top = clf.classify_nv12(np.full(8 * 8 * 3 // 2, 128, np.uint8)).top
    assert {p.label for p in top} <= {f"c{i}" for i in range(10)} and len(top) == 5


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(max_size=400))
def test_fuzz_any_text_gives_names_by_line_or_one_typed_error(text):
    try:
        names = parse_class_names(text, "fuzz")
    except ClassNamesError:
        return
    lines = text.splitlines()
    assert 0 < len(names) <= len(lines)
    for i, name in enumerate(names):  # every kept name stays at its line's index
        assert name == (lines[i].strip() or f"class_{i}")
