"""The report of a run of the study's tasks: per-epoch histories, plots, metrics.json and
report.md with the table, the settings and the software that produced the numbers."""

import csv
import json
import os
import platform
from dataclasses import dataclass, field

import numpy as np

from ._cpu import cpu_name, vector_isa

TASK_TITLES = {
    "scratch": "Training from scratch",
    "finetune": "Layer-wise fine-tuning",
    "features": "pool5 features + MLP (256)",
}
# The 2017 study's test accuracies on dogs vs cats (its notebook's final epochs).
STUDY_RESULTS = {"scratch": 0.8387, "finetune": 0.8962, "features": 0.8263}
PLOT_NAMES = {
    "scratch": "accuracy_scratch.png",
    "finetune": "accuracy_finetune.png",
    "features": "feature_extraction_convpool_5_accuracy.png",
}


@dataclass
class TaskResult:
    """One task's outcome: its test accuracy, time and per-epoch history."""

    task: str
    test_accuracy: float
    epochs: int
    seconds: float
    n_train: int
    history: dict = field(repr=False)
    # Epochs that ``seconds`` timed: fewer than ``epochs`` when a checkpoint held the others.
    epochs_timed: int | None = None

    def __post_init__(self):
        if self.epochs_timed is None:
            self.epochs_timed = self.epochs

    @property
    def seconds_per_epoch(self) -> float:
        return self.seconds / self.epochs_timed if self.epochs_timed else float("nan")

    @property
    def images_per_second(self) -> float:
        timed = self.n_train * self.epochs_timed
        return timed / self.seconds if timed and self.seconds else float("nan")


def write_history(result: TaskResult, out: str) -> None:
    """``<task>_history.json`` and ``<task>_history.csv``, one row per epoch."""
    history = result.history
    with open(os.path.join(out, f"{result.task}_history.json"), "w") as f:
        json.dump(history, f, indent=1)
    keys = list(history)
    with open(os.path.join(out, f"{result.task}_history.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", *keys])
        for epoch in range(len(history[keys[0]])):
            writer.writerow([epoch + 1, *(history[key][epoch] for key in keys)])


def write_plots(results: dict, out: str) -> list[str]:
    """The study's plots: one per task, and fine-tuning against scratch on one chart."""
    import matplotlib.pyplot as plt

    from .plotting import plot_histories, plot_history

    written = []
    for task, result in results.items():
        figure = plot_history(result.history, TASK_TITLES[task])
        written.append(PLOT_NAMES[task])
        figure.savefig(os.path.join(out, written[-1]), dpi=100)
        plt.close(figure)
    if {"scratch", "finetune"} <= set(results):
        figure = plot_histories(
            {"from scratch": results["scratch"].history, "fine-tuned": results["finetune"].history},
            title="Test accuracy: fine-tuning vs training from scratch",
        )
        written.append("finetune_vs_scratch.png")
        figure.savefig(os.path.join(out, written[-1]), dpi=100)
        plt.close(figure)
    return written


def software_versions() -> dict:
    """Versions of what produced the numbers, the Keras backend's, and its CPU threads.

    Float sums split over threads in another order round differently, so the same seed gives
    the same digits only with the same versions, thread count and kind of CPU.
    """
    import sys

    import keras
    import PIL
    import sklearn

    from . import __version__

    backend = keras.backend.backend()
    backend_module = sys.modules.get("tensorflow" if backend == "tensorflow" else backend)
    versions = {
        "skalexnet": __version__,
        "keras": keras.__version__,
        "backend": backend,
        backend: getattr(backend_module, "__version__", "unknown"),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {cpu_name()}",
        # Sums round by the vector width: the same seed repeats its digits on the same ISA.
        "vector ISA (oneDNN)": vector_isa() + _isa_cap_note(),
    }
    if backend == "torch":
        versions["torch threads"] = backend_module.get_num_threads()
    return versions


def _isa_cap_note() -> str:
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    return f" (ONEDNN_MAX_CPU_ISA={cap})" if cap else ""


def _number(value: float) -> str:
    # A task read back whole from its checkpoint timed no epoch: no speed to show.
    return "-" if np.isnan(value) else f"{value:.1f}"


def write_report(
    results: dict,
    settings,
    data_dir: str,
    out: str,
    plots,
    *,
    weights_label: str | None = None,
    notes=(),
    rounds=(),
) -> None:
    """``metrics.json`` and ``report.md``: the table of the three tasks, settings, versions.

    ``data_dir`` and ``weights_label`` (if given) are how the report names the data and the
    weights; ``notes`` are paragraphs added under the table; ``rounds`` are fine-tuning's.
    """
    metrics = {
        task: {
            "test_accuracy": r.test_accuracy,
            "epochs": r.epochs,
            "seconds": r.seconds,
            "epochs_timed": r.epochs_timed,
            "seconds_per_epoch": r.seconds_per_epoch,
            "images_per_second": r.images_per_second,
            "n_train": r.n_train,
        }
        for task, r in results.items()
    }
    versions = software_versions()
    shown = {**vars(settings), "weights": weights_label or settings.weights}
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump({"tasks": metrics, "settings": shown, "versions": versions}, f, indent=1)
    lines = [
        "# skalexnet: the three tasks of the 2017 AlexNet study",
        "",
        f"Data: `{data_dir}` ({results[next(iter(results))].n_train} training images).",
        "",
        "| task | test accuracy | epochs | seconds / epoch | images / s | study |",
        "|---|---|---|---|---|---|",
    ]
    for task, r in results.items():
        lines.append(
            f"| {TASK_TITLES[task]} | {r.test_accuracy:.4f} | {r.epochs} | "
            f"{_number(r.seconds_per_epoch)} | {_number(r.images_per_second)} | "
            f"{STUDY_RESULTS[task]:.4f} |"
        )
    lines += [
        "",
        "Seconds per epoch include the evaluation on the test images after each epoch; images/s "
        "is training images times epochs over the task's whole time. The study's column is its "
        "dogs-vs-cats result (1000 training images a class, Keras 1 on Theano, a Tesla K20m); it "
        "compares only where the data set is the same.",
        "",
        *(line for note in notes for line in (note, "")),
        "## Settings",
        "",
        *(f"- {key}: `{value}`" for key, value in shown.items()),
        f"- fine-tuning rounds: `{list(rounds)}`",
        "",
        "## Software",
        "",
        *(f"- {key}: {value}" for key, value in versions.items()),
        "",
        "## Plots",
        "",
        *(f"![{name}]({name})" for name in plots),
        "",
    ]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(lines))
