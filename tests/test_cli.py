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
    argv += ["--schedule", "fc8:1:0.01,fc7:1:0.001", "--learning-rate", "0.005"]
    assert main([*argv, "--precision", "float32", "--quiet"]) == 0
    return out


def test_options_reach_the_tasks(run_output):
    with open(run_output / "metrics.json") as f:
        settings = json.load(f)["settings"]
    assert settings["learning_rate"] == 0.005 and settings["precision"] == "float32"
    assert settings["schedule"] == [["fc8", 1, 0.01], ["fc7", 1, 0.001]]
    with open(run_output / "finetune_history.json") as f:
        assert json.load(f)["round"] == [0, 1]


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


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--learning-rate", "0", "must be a finite number > 0"),
        ("--learning-rate", "fast", "expected a number"),
        ("--schedule", "fc9:1:0.01", "fc9"),
        ("--schedule", "fc8:2", "layer:epochs:learning_rate"),
        ("--schedule", "fc8:two:0.01", "epochs must be an integer"),
        ("--precision", "half", "invalid choice"),
        ("--epochs", "0", "must be >= 1"),
        ("--batch-size", "many", "expected an integer"),
        ("--image-size", "50", "smallest input"),
        ("--seed", "-1", "must be from 0"),
        ("--weights", "nowhere.keras", "no file"),
    ],
)
def test_bad_option_value_names_the_option(tmp_path, capsys, option, value, message):
    root = write_study_folder(tmp_path / "Data", per_class_train=2, per_class_test=1)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stopped:
        main(["run", str(root), "--out", str(out), option, value])
    assert stopped.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {option}" in error and message in error
    assert not out.exists()


def test_a_bug_keeps_its_traceback(tmp_path, monkeypatch):
    # A ValueError that no skalexnet check raised (here an unpacking in run_experiments) is a
    # bug: the command must not turn it into a one-line "error".
    import skalexnet.experiments

    root = write_study_folder(tmp_path / "Data", per_class_train=2, per_class_test=1)
    monkeypatch.setattr(skalexnet.experiments, "find_study_folders", lambda data_dir: (1, 2, 3))
    with pytest.raises(ValueError, match="too many values to unpack"):
        main(["run", str(root), "--out", str(tmp_path / "out"), "--quiet"])


def test_an_error_inside_a_dependency_keeps_its_traceback(tmp_path, monkeypatch):
    import skalexnet.cli

    def broken(*args, **kwargs):
        np.zeros(2).reshape(3)

    monkeypatch.setattr(skalexnet.cli, "run_experiments", broken)
    root = write_study_folder(tmp_path / "Data", per_class_train=2, per_class_test=1)
    with pytest.raises(ValueError, match="cannot reshape"):
        main(["run", str(root), "--out", str(tmp_path / "out"), "--quiet"])


def test_killed_run_resumes_from_its_checkpoints(
    tmp_path, capsys, monkeypatch, digits_0_to_4_network
):
    import skalexnet.experiments

    root = write_study_folder(tmp_path / "Data", per_class_train=4, per_class_test=2)
    out, checkpoints = tmp_path / "out", tmp_path / "checkpoints"
    argv = ["run", str(root), "--epochs", "2", "--image-size", str(DIGITS_IMAGE_SIZE)]
    argv += ["--weights", str(digits_0_to_4_network), "--out", str(out), "--quiet"]
    argv += ["--schedule", "fc8:1:0.01,fc7:1:0.001", "--precision", "float32"]
    argv += ["--checkpoint-dir", str(checkpoints), "--batch-size", "8"]

    def killed(*args):
        raise KeyboardInterrupt

    # Killed once the two trained tasks are done: nothing is written, the checkpoints stay.
    with monkeypatch.context() as patch:
        patch.setitem(skalexnet.experiments.RUNNERS, "features", killed)
        assert main(argv) == 130
    assert "resumes from" in capsys.readouterr().err
    assert not out.exists()
    assert {"scratch", "finetune"} <= set(os.listdir(checkpoints))

    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "scratch: test accuracy" in printed and "(2 of them from the checkpoint)" in printed
    with open(out / "metrics.json") as f:
        tasks = json.load(f)["tasks"]
    # Neither trained task trained again; their histories are the checkpointed ones.
    assert tasks["scratch"]["epochs_timed"] == 0 and tasks["finetune"]["epochs_timed"] == 0
    assert tasks["scratch"]["epochs"] == 2 and tasks["features"]["epochs"] == 2
