"""What a newcomer reads: help texts, table footers, refusals of inputs the commands do not take,
the resize mode that ran, and numeric ranges that are the same in the CLI and the node."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rdk_classifier.classifier import THREADS_RANGE, TOP_K_RANGE
from rdk_classifier.cli import build_parser, main
from rdk_classifier.ros.settings import SPECS

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "test" / "data" / "photos" / "chelsea.png"
IMAGES = ROOT / "test" / "data" / "imagenet"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_zoo_help_prints_percent_signs_once(capsys):
    with pytest.raises(SystemExit):
        main(["zoo", "--help"])
    out = capsys.readouterr().out
    assert "top-1 %" in out and "%%" not in out


def test_zoo_list_footer_explains_the_seed_table_and_rec(capsys):
    code, out, _ = run(capsys, "zoo", "list")
    footer = out.strip().splitlines()[-2]
    assert code == 0 and "rec" in out.splitlines()[0]
    assert "seed table (the 'Model Performance Data' table of the RDK Model Zoo" in footer
    assert "rec '*'" in footer and "recommended" in footer


def test_zoo_show_explains_in_seed_table(capsys):
    code, out, _ = run(capsys, "zoo", "show", "ResNet18")
    line = next(x for x in out.splitlines() if x.startswith("in_seed_table"))
    assert code == 0 and "Model Performance Data" in line


@pytest.mark.parametrize("url", ["https://example.com/cat.jpg", "http://x/y.png",
                                 "file:///tmp/a.jpg", "s3://bucket/a.jpg"])
def test_classify_a_url_says_urls_are_not_supported(capsys, url):
    code, out, err = run(capsys, "classify", url)
    assert code == 2 and out == "" and "URLs are not supported" in err
    assert len(err.strip().splitlines()) == 1


def test_a_folder_with_images_only_in_sub_folders_names_recursive(capsys, tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    shutil.copy(PHOTO, tmp_path / "a" / "b" / "cat.png")
    code, _, err = run(capsys, "classify", str(tmp_path))
    assert code == 1 and "--recursive" in err and "sub-folders" in err
    code, _, err = run(capsys, "classify", str(tmp_path / "a" / "b" / "nothing"))
    assert "--recursive" not in err


def test_the_resize_mode_that_ran_is_printed_by_classify(capsys):
    code, out, _ = run(capsys, "classify", str(PHOTO), "--backend", "cpu", "--top-k", "1")
    assert code == 0 and out.splitlines()[0].endswith("resize center_crop)")
    code, out, _ = run(capsys, "classify", str(PHOTO), "--backend", "cpu", "--top-k", "1",
                       "--json", "--resize-mode", "letterbox")
    assert json.loads(out)["resize_mode"] == "letterbox"


def test_the_resize_mode_that_ran_is_printed_by_evaluate(capsys):
    argv = ["evaluate", "--images", str(IMAGES), "--labels", str(IMAGES / "val.txt"),
            "--backend", "cpu", "--max-images", "100"]
    _, out, _ = run(capsys, *argv, "--resize-mode", "direct")
    assert "model: EfficientNet_Lite0_int8 (resize direct)" in out
    _, out, _ = run(capsys, *argv, "--json")
    assert json.loads(out)["resize_mode"] == "center_crop"


def test_the_resize_mode_that_ran_is_printed_by_bench(capsys):
    argv = ["bench", "--frames", "1", "--warmup", "0", "--size", "64x48", "--backend", "cpu"]
    _, out, _ = run(capsys, *argv)
    assert "resize center_crop" in out.splitlines()[0]
    _, out, _ = run(capsys, *argv, "--json", "--resize-mode", "letterbox")
    assert json.loads(out)["resize_mode"] == "letterbox"


def test_bench_size_over_the_pixel_budget_is_refused_before_allocating(capsys):
    code, _, err = run(capsys, "bench", "--size", "100000x100000", "--backend", "cpu")
    assert code == 2 and "pixel budget" in err and "--size" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "bench", "--size", "8000x8000", "--backend", "cpu")
    assert code == 2 and "64.0 MP" in err


def _option(command: str, flag: str):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return next(a for a in sub._actions if flag in a.option_strings)


@pytest.mark.parametrize("command", ["classify", "evaluate", "bench", "bag"])
def test_cpu_threads_has_the_range_of_the_node_parameter(capsys, command):
    assert SPECS["threads"].int_range == THREADS_RANGE
    parse = _option(command, "--cpu-threads").type
    low, high = THREADS_RANGE
    assert parse(str(low)) == low and parse(str(high)) == high
    for bad in (low - 1, high + 1, 1000):
        with pytest.raises(Exception, match=f"outside {low}..{high}"):
            parse(str(bad))


@pytest.mark.parametrize("command", ["classify", "bag"])
def test_top_k_has_the_range_of_the_node_parameter(command):
    assert SPECS["top_k"].int_range == TOP_K_RANGE
    parse = _option(command, "--top-k").type
    assert parse("1") == 1 and parse(str(TOP_K_RANGE[1])) == TOP_K_RANGE[1]
    with pytest.raises(Exception, match="outside"):
        parse("0")


def test_cpu_threads_out_of_range_is_one_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["classify", "--cpu-threads", "0", str(PHOTO)])
    assert info.value.code == 2
    assert "--cpu-threads: 0 is outside 1..64" in capsys.readouterr().err
