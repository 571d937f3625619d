"""The digits demo: the same figures on every run, and the study's finding in its schedule."""

import json

import pytest

from skalexnet._cpu import vector_isa
from skalexnet.experiments import TASKS, demo_schedule, run_demo

# A demo-sized run in seconds: one pretraining epoch, 4 training and 4 test images a digit.
TINY = {"epochs": 3, "train_per_class": 4, "test_per_class": 4, "pretrain": {"epochs": 1}}


def read_outputs(out):
    with open(out / "metrics.json") as f:
        metrics = json.load(f)
    histories = {}
    for task in TASKS:
        with open(out / f"{task}_history.json") as f:
            histories[task] = json.load(f)
    return metrics, histories


@pytest.fixture(scope="module")
def two_tiny_demos(tmp_path_factory):
    runs = []
    for name in ("first", "second"):
        out = tmp_path_factory.mktemp(name) / "demo"
        lines = []
        run_demo(out, seed=0, verbose=0, log=lines.append, **TINY)
        runs.append((out, lines))
    return runs


def test_two_demo_runs_in_one_process_give_identical_metrics(two_tiny_demos):
    (first, _), (second, _) = two_tiny_demos
    first_metrics, first_histories = read_outputs(first)
    second_metrics, second_histories = read_outputs(second)
    # Every epoch's loss and accuracy, train and test, of all three tasks: bit for bit.
    assert first_histories == second_histories
    for task in TASKS:
        assert (
            first_metrics["tasks"][task]["test_accuracy"]
            == second_metrics["tasks"][task]["test_accuracy"]
        )
    assert first_metrics["settings"] == second_metrics["settings"]


def test_demo_fine_tunes_fc8_alone_then_every_layer(two_tiny_demos):
    out, _ = two_tiny_demos[0]
    metrics, histories = read_outputs(out)
    assert histories["finetune"]["round"] == [0, 1, 1]
    assert metrics["settings"]["schedule"] == [["fc8", 1, 0.01], ["conv1", 2, 0.01]]
    assert metrics["settings"]["precision"] == "float32"
    assert metrics["tasks"]["scratch"]["epochs"] == 3


def test_demo_report_names_what_it_ran_on_and_no_temporary_path(two_tiny_demos):
    out, _ = two_tiny_demos[0]
    report = (out / "report.md").read_text()
    assert "digits 5-9, 4 training and 4 test images a class" in report
    assert "trained on the 901 digits 0-4" in report
    assert "skalexnet-demo-" not in report  # the temporary folder is gone after the run
    assert "torch threads: 2" in report
    # The sums round by the vector unit: the report says which one computed them.
    assert f"vector ISA (oneDNN): {vector_isa()}" in report


def test_quiet_demo_prints_a_few_lines_ending_with_the_comparison(two_tiny_demos):
    out, lines = two_tiny_demos[0]
    metrics, _ = read_outputs(out)
    assert len(lines) == 5
    gain = (
        metrics["tasks"]["finetune"]["test_accuracy"] - metrics["tasks"]["scratch"]["test_accuracy"]
    )
    assert lines[-1].startswith("fine-tuning beats" if gain > 0 else "fine-tuning does not beat")
    assert f"{abs(gain) * 100:.1f} points" in lines[-1]


def test_demo_threads_are_fixed_inside_and_given_back_after():
    torch = pytest.importorskip("torch")
    from skalexnet.experiments import DEMO_TORCH_THREADS, _torch_threads

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with _torch_threads(DEMO_TORCH_THREADS):
            inside = torch.get_num_threads()
        assert (inside, torch.get_num_threads()) == (DEMO_TORCH_THREADS, 1)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("epochs", [1, 2, 6, 16])
def test_demo_schedule_spends_every_epoch_fc8_first(epochs):
    rounds = demo_schedule(epochs)
    assert [layer for layer, _, _ in rounds] == ["fc8", "conv1"]
    assert sum(n for _, n, _ in rounds) == epochs and rounds[0][1] >= 1
