"""The skalexnet command on a small real image folder: every output, and clear failures."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from digits import DIGITS_IMAGE_SIZE, digit_images
from PIL import Image

from skalexnet.cli import main


def write_study_folder(root, per_class_train=6, per_class_test=4, classes=(5, 6, 7)):
    """Digits as JPEGs in the study's layout: root/Train/<digit>/*.jpg, root/Test/<digit>/*.jpg."""
    images, labels = digit_images()
    for digit in classes:
        indices = np.flatnonzero(labels == digit)
        for part, chosen in (
            ("Train", indices[:per_class_train]),
            ("Test", indices[per_class_train : per_class_train + per_class_test]),
        ):
            os.makedirs(root / part / str(digit), exist_ok=True)
            for i in chosen:
                Image.fromarray(images[i]).save(root / part / str(digit) / f"{i}.jpg", quality=95)
    return root


@pytest.fixture(scope="module")
def run_output(tmp_path_factory, digits_0_to_4_network):
    root = write_study_folder(tmp_path_factory.mktemp("Data"))
    out = tmp_path_factory.mktemp("results") / "out"
    argv = ["run", str(root), "--epochs", "1", "--image-size", str(DIGITS_IMAGE_SIZE)]
    argv += ["--batch-size", "8", "--weights", str(digits_0_to_4_network), "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    return out


def test_run_writes_every_output(run_output):
    names = set(os.listdir(run_output))
    for task in ("scratch", "finetune", "features"):
        assert {f"{task}_history.csv", f"{task}_history.json"} <= names
    assert {
        "metrics.json",
        "report.md",
        "accuracy_scratch.png",
        "accuracy_finetune.png",
        "feature_extraction_convpool_5_accuracy.png",
        "finetune_vs_scratch.png",
    } <= names


def test_history_csv_and_json_agree(run_output):
    for task in ("scratch", "finetune", "features"):
        with open(run_output / f"{task}_history.json") as f:
            history = json.load(f)
        with open(run_output / f"{task}_history.csv") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == len(history["val_accuracy"])
        for key, values in history.items():
            np.testing.assert_allclose([float(row[key]) for row in rows], values)


def test_metrics_and_report_hold_the_measured_accuracies(run_output):
    with open(run_output / "metrics.json") as f:
        metrics = json.load(f)
    report = (run_output / "report.md").read_text()
    for task in ("scratch", "finetune", "features"):
        with open(run_output / f"{task}_history.json") as f:
            final = json.load(f)["val_accuracy"][-1]
        assert metrics["tasks"][task]["test_accuracy"] == pytest.approx(final)
        assert f"{final:.4f}" in report
    assert metrics["versions"]["backend"] in report


def test_plots_open_and_are_not_blank(run_output):
    for name in os.listdir(run_output):
        if name.endswith(".png"):
            pixels = np.asarray(Image.open(run_output / name).convert("L"))
            assert pixels.shape[0] > 200 and pixels.std() > 5, name


def remove_test_folder(root):
    os.rename(root / "Test", root / "Elsewhere")


def keep_one_class(root):
    for part in ("Train", "Test"):
        for digit in ("6", "7"):
            os.rename(root / part / digit, root / f"{part}-{digit}")


def empty_a_class_folder(root):
    for name in os.listdir(root / "Train" / "5"):
        os.remove(root / "Train" / "5" / name)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (remove_test_folder, "no Test folder"),
        (keep_one_class, "one class"),
        (empty_a_class_folder, "holds no image"),
    ],
    ids=["missing Test", "one class", "no images"],
)
def test_bad_data_dir_fails_with_one_line_and_writes_nothing(tmp_path, capsys, damage, message):
    root = write_study_folder(tmp_path / "Data", per_class_train=2, per_class_test=1)
    damage(root)
    out = tmp_path / "out"
    assert main(["run", str(root), "--out", str(out), "--quiet"]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error
    assert not out.exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".skalexnet")] == []


def test_python_dash_m_runs_the_command():
    result = subprocess.run(
        [sys.executable, "-m", "skalexnet", "run", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "DATA_DIR/Train" in result.stdout
