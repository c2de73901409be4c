"""Which RDK chip this is (boardinfo files, override) and the per-chip facts."""

from __future__ import annotations

import pytest

from rdk_classifier import boards
from rdk_classifier.errors import ModelError, SocMismatchError


def _sysfs(tmp_path, soc_name=None, board_type=None):
    soc_file, board_file = tmp_path / "soc_name", tmp_path / "board_type"
    if soc_name is not None:
        soc_file.write_text(soc_name)
    if board_type is not None:
        board_file.write_text(board_type)
    return {"soc_name_file": soc_file, "board_type_file": board_file}


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv(boards.SOC_ENV, raising=False)


@pytest.mark.parametrize("soc_name, board_type, expected", [
    ("S100\n", None, "s100"),
    ("s600", None, "s600"),
    ("S100", "RDK_S100P_V1\n", "s100p"),  # the zoo's scripts: *s100p* in board_type
    ("x5\n", None, "x5"),
])
def test_detect_from_boardinfo(tmp_path, soc_name, board_type, expected):
    soc, where = boards.detect_soc(**_sysfs(tmp_path, soc_name, board_type))
    assert soc == expected and "soc_name" in where


@pytest.mark.parametrize("soc_name", ["(null)\n", "", "j6"])
def test_boardinfo_that_names_no_known_chip(tmp_path, soc_name):
    soc, where = boards.detect_soc(**_sysfs(tmp_path, soc_name))
    assert soc is None and repr(soc_name.strip()) in where


def test_no_boardinfo_is_not_a_board(tmp_path):
    assert boards.detect_soc(**_sysfs(tmp_path)) == (
        None, f"no {tmp_path / 'soc_name'} (not an RDK board)")


def test_override_then_environment_then_boardinfo(tmp_path, monkeypatch):
    files = _sysfs(tmp_path, "s100")
    monkeypatch.setenv(boards.SOC_ENV, "S600")
    assert boards.detect_soc(**files) == ("s600", f"${boards.SOC_ENV}")
    assert boards.detect_soc("x5", **files) == ("x5", "option")
    assert boards.detect_soc("auto", **files)[0] == "s600"
    monkeypatch.setenv(boards.SOC_ENV, "s900")
    with pytest.raises(ModelError, match="RDK_CLASSIFIER_SOC"):
        boards.detect_soc(**files)


def test_chip_facts_as_the_vendor_spells_them():
    assert boards.MARCH == {"x5": "bayes-e", "s100": "nash-e", "s100p": "nash-m",
                            "s600": "nash-p"}
    assert boards.system_model_dir("s600").as_posix() == "/opt/hobot/model/s600/basic"
    assert boards.OS_IMAGE["s600"].endswith("Jazzy")


@pytest.mark.parametrize("path, soc", [
    ("/opt/hobot/model/s600/basic/resnet18_224x224_nv12.hbm", "s600"),
    ("rdk_s100/MobileNet/mobilenetv2_224x224_nv12.hbm", "s100"),
    ("yolo11n_cls_nashp_224x224_nv12.hbm", "s600"),
    ("nash-m/yolo26n_cls_nashm_224x224_nv12.hbm", "s100p"),
    ("dinov2_vits14_224_int16_nashe.hbm", "s100"),
    ("yolo26n_cls_bayese_224x224_nv12.bin", "x5"),
    ("models/resnet18_224x224_nv12.hbm", None),
])
def test_soc_of_file(path, soc):
    assert boards.soc_of_file(path) == soc


def test_check_without_a_chip_checks_nothing():
    boards.check_file_for_soc("rdk_s100/x.hbm", None)
    with pytest.raises(SocMismatchError):
        boards.check_file_for_soc("rdk_s100/x.hbm", "s600")


def test_the_node_parameter_reaches_the_classifier_config():
    from rdk_classifier.classifier import ClassifierConfig
    from rdk_classifier.ros.settings import SPECS, NodeSettings

    assert SPECS["soc"].default == "auto" == ClassifierConfig().soc
    assert NodeSettings().updated({"soc": "s600"}).classifier_config().soc == "s600"


def test_a_folder_name_that_contradicts_the_suffix_is_ignored(tmp_path):
    boards.check_file_for_soc("/home/me/x5/exports/mine.hbm", "s600")  # not an X5 file
    boards.check_file_for_soc("/data/s100/old/resnet18_224x224_nv12.bin", "x5")
    with pytest.raises(SocMismatchError, match="RDK S100"):
        boards.check_file_for_soc("/home/me/x5/rdk_s100/mine.hbm", "s600")
