"""val.txt and image folders as a careless user or an attacker gives them (issue 11)."""

from __future__ import annotations

import os
import shutil
import threading

import pytest

from conftest import IMAGENET_DIR
from rdk_classifier.evaluation import (EvaluationError, LabelFileError, evaluate, parse_labels,
                                       read_labels)


def test_utf8_bom_does_not_cost_the_first_image(tmp_path):
    p = tmp_path / "val.txt"
    p.write_bytes("\ufeffa.jpg 1\r\nb.jpg 2\r\n".encode("utf-8"))
    samples = read_labels(p)
    assert [(s.name, s.label) for s in samples] == [("a.jpg", 1), ("b.jpg", 2)]


@pytest.mark.parametrize("index", ["2_4_3", "\u0662\u0664\u0663", "+5", "0x10", "1.0", "5e2",
                                   "\uff15", "1234567890123"])
def test_only_ascii_integers_are_class_indices(index):
    with pytest.raises(LabelFileError, match="ASCII digits"):
        parse_labels(f"a.jpg {index}\n")


@pytest.mark.parametrize("second", ["./a.jpg", "x/../a.jpg", "a.jpg", ".//a.jpg"])
def test_the_same_image_listed_twice_in_any_spelling_is_refused(second):
    with pytest.raises(LabelFileError, match="listed twice"):
        parse_labels(f"a.jpg 1\n{second} 2\n")


def test_unicode_spellings_of_one_name_are_one_image():
    nfc, nfd = "caf\u00e9.jpg", "cafe\u0301.jpg"
    with pytest.raises(LabelFileError, match="listed twice"):
        parse_labels(f"{nfc} 1\n{nfd} 2\n")


@pytest.mark.parametrize("name", ["/etc/passwd", "../secret.jpg", "a/../../b.jpg"])
def test_names_outside_the_image_folder_are_refused(name):
    with pytest.raises(LabelFileError, match="not inside the image folder"):
        parse_labels(f"{name} 1\n")


def test_a_fifo_as_label_file_never_hangs(tmp_path):
    fifo = tmp_path / "val.txt"
    os.mkfifo(fifo)
    outcome = []

    def read() -> None:
        try:
            read_labels(fifo)
        except LabelFileError as exc:
            outcome.append(str(exc))

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "read_labels blocked on a FIFO"
    assert outcome and "not a regular file" in outcome[0]


def test_a_link_to_a_listed_image_is_the_same_image(tmp_path, classifier):
    src = IMAGENET_DIR / "imagenet_00_243.jpg"
    shutil.copy(src, tmp_path / "a.jpg")
    os.link(tmp_path / "a.jpg", tmp_path / "b.jpg")
    samples = parse_labels("a.jpg 243\nb.jpg 243\n")
    with pytest.raises(LabelFileError, match="same file"):
        evaluate(classifier, tmp_path, samples)


def test_a_wrong_image_folder_is_one_error(classifier, tmp_path):
    samples = read_labels(IMAGENET_DIR / "val.txt")
    with pytest.raises(EvaluationError, match="does not exist"):
        evaluate(classifier, tmp_path / "WRONG_DIR", samples)
    with pytest.raises(EvaluationError, match="none of the 20 images"):
        evaluate(classifier, tmp_path, samples)  # exists, holds none of them


def test_cli_wrong_folder_is_one_line(capsys, tmp_path):
    from rdk_classifier.cli import main

    code = main(["evaluate", "--images", str(tmp_path / "WRONG_DIR"), "--labels",
                 str(IMAGENET_DIR / "val.txt")])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and "does not exist" in captured.err
