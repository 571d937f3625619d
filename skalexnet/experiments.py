"""The study's three tasks on any image folder, and the built-in digits demo.

``run_experiments`` reads ``DATA_DIR/Train`` and ``DATA_DIR/Test``, trains AlexNet from scratch,
fine-tunes pretrained weights layer by layer and classifies pool5 features with a 256-unit MLP,
then writes per-task histories (CSV, JSON), plots, ``metrics.json`` and ``report.md``.
"""

import csv
import json
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from ._cpu import cpu_name
from .classifier import AlexNetClassifier
from .datasets import load_image_folder
from .digits import digit_images, pretrain_on_digits_0_to_4
from .features import AlexNetFeatureExtractor
from .finetuner import STUDY_SCHEDULE, AlexNetFineTuner
from .plotting import require_matplotlib

TASKS = ("scratch", "finetune", "features")
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
class Settings:
    """What a run uses; the defaults are the study's."""

    epochs: int = 80
    image_size: int = 227
    batch_size: int = 16
    seed: int = 0
    weights: str | None = "imagenet"
    verbose: int = 1


@dataclass
class TaskResult:
    """One task's outcome: its test accuracy, time and per-epoch history."""

    task: str
    test_accuracy: float
    epochs: int
    seconds: float
    n_train: int
    history: dict = field(repr=False)

    @property
    def seconds_per_epoch(self) -> float:
        return self.seconds / max(self.epochs, 1)

    @property
    def images_per_second(self) -> float:
        return self.n_train * self.epochs / self.seconds if self.seconds else float("nan")


def find_study_folders(data_dir) -> tuple:
    """Load ``DATA_DIR/Train`` and ``DATA_DIR/Test`` (any case), checking they fit together.

    Raises
    ------
    ValueError
        Naming what is missing or inconsistent: a missing folder, fewer than two classes,
        train and test classes that differ.
    """
    data_dir = os.fspath(data_dir)
    if not os.path.isdir(data_dir):
        raise ValueError(f"{data_dir!r} is not a folder.")
    entries = {name.lower(): name for name in os.listdir(data_dir)}
    folders = []
    for part in ("train", "test"):
        if part not in entries:
            raise ValueError(
                f"{data_dir!r} has no {part.capitalize()} folder; expected "
                f"{data_dir}/Train/<class>/*.jpg and {data_dir}/Test/<class>/*.jpg."
            )
        folders.append(load_image_folder(os.path.join(data_dir, entries[part])))
    train, test = folders
    if len(train.target_names) < 2:
        raise ValueError(
            f"{data_dir}/Train holds one class ({train.target_names[0]!r}); a classifier needs "
            f"at least two class folders."
        )
    if train.target_names != test.target_names:
        raise ValueError(
            f"Train and Test hold different classes: {train.target_names} and {test.target_names}."
        )
    return train, test


def _labels(bunch):
    return np.asarray(bunch.target_names)[bunch.target]


def _fit_and_evaluate(task, estimator, train, test) -> TaskResult:
    """Fit with the test folder as validation data; its last epoch's accuracy is the result."""
    start = time.perf_counter()
    estimator.fit(train.filenames, _labels(train), validation_data=(test.filenames, _labels(test)))
    seconds = time.perf_counter() - start
    history = estimator.history_
    return TaskResult(
        task,
        history["val_accuracy"][-1],
        estimator.n_epochs_,
        seconds,
        len(train.filenames),
        history,
    )


def run_scratch(train, test, settings: Settings) -> TaskResult:
    """Task 1: AlexNet trained from scratch with the study's settings."""
    clf = AlexNetClassifier(
        image_size=settings.image_size,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        random_state=settings.seed,
        verbose=settings.verbose,
    )
    return _fit_and_evaluate("scratch", clf, train, test)


def finetune_schedule(epochs: int) -> list:
    """The study's eight rounds with ``epochs`` spread over them (at least one each)."""
    per_round = max(1, epochs // len(STUDY_SCHEDULE))
    return [(layer, per_round, lr) for layer, _, lr in STUDY_SCHEDULE]


def run_finetune(train, test, settings: Settings) -> TaskResult:
    """Task 2: pretrained weights fine-tuned layer by layer (Tajbakhsh et al., 2016)."""
    tuner = AlexNetFineTuner(
        weights=settings.weights,
        schedule=finetune_schedule(settings.epochs),
        image_size=settings.image_size,
        batch_size=settings.batch_size,
        random_state=settings.seed,
        verbose=settings.verbose,
    )
    return _fit_and_evaluate("finetune", tuner, train, test)


def run_features(train, test, settings: Settings) -> TaskResult:
    """Task 3: pool5 features of the pretrained network, classified by a 256-unit MLP.

    The MLP is the study's small network as scikit-learn has it: one hidden layer of 256 ReLU
    units trained with SGD (learning rate 0.001, Nesterov momentum 0.9, batches of 16), one
    ``partial_fit`` per epoch so that train and test curves are recorded as for the others.
    The features are standardised first (the study fed raw pool5 values).
    """
    from sklearn.metrics import log_loss
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    start = time.perf_counter()
    extractor = AlexNetFeatureExtractor(
        weights=settings.weights,
        layer="pool5",
        image_size=settings.image_size,
        verbose=settings.verbose,
    )
    train_features = extractor.fit_transform(train.filenames)
    test_features = extractor.transform(test.filenames)
    scaler = StandardScaler().fit(train_features)
    train_features, test_features = (
        scaler.transform(train_features),
        scaler.transform(test_features),
    )
    y_train, y_test = _labels(train), _labels(test)
    classes = np.unique(y_train)
    mlp = MLPClassifier(
        hidden_layer_sizes=(256,),
        solver="sgd",
        learning_rate_init=0.001,
        momentum=0.9,
        nesterovs_momentum=True,
        batch_size=settings.batch_size,
        random_state=settings.seed,
    )
    rng = np.random.default_rng(settings.seed)
    history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    for _ in range(settings.epochs):
        order = rng.permutation(len(y_train))
        mlp.partial_fit(train_features[order], y_train[order], classes=classes)
        history["loss"].append(float(mlp.loss_))
        history["accuracy"].append(float(mlp.score(train_features, y_train)))
        proba = mlp.predict_proba(test_features)
        history["val_loss"].append(float(log_loss(y_test, proba, labels=mlp.classes_)))
        history["val_accuracy"].append(float(mlp.score(test_features, y_test)))
    seconds = time.perf_counter() - start
    return TaskResult(
        "features", history["val_accuracy"][-1], settings.epochs, seconds, len(y_train), history
    )


RUNNERS = {"scratch": run_scratch, "finetune": run_finetune, "features": run_features}


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
    """Versions of what produced the numbers, and the Keras backend."""
    import keras
    import PIL
    import sklearn

    from . import __version__

    return {
        "skalexnet": __version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {cpu_name()}",
    }


def write_report(results: dict, settings: Settings, data_dir: str, out: str, plots) -> None:
    """``metrics.json`` and ``report.md``: the table of the three tasks, settings, versions."""
    metrics = {
        task: {
            "test_accuracy": r.test_accuracy,
            "epochs": r.epochs,
            "seconds": r.seconds,
            "seconds_per_epoch": r.seconds_per_epoch,
            "images_per_second": r.images_per_second,
            "n_train": r.n_train,
        }
        for task, r in results.items()
    }
    versions = software_versions()
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump({"tasks": metrics, "settings": vars(settings), "versions": versions}, f, indent=1)
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
            f"{r.seconds_per_epoch:.1f} | {r.images_per_second:.1f} | {STUDY_RESULTS[task]:.4f} |"
        )
    lines += [
        "",
        "Seconds per epoch include the evaluation on the test images after each epoch; images/s "
        "is training images times epochs over the task's whole time. The study's column is its "
        "dogs-vs-cats result (1000 training images a class, Keras 1 on Theano, a Tesla K20m); it "
        "compares only where the data set is the same.",
        "",
        "## Settings",
        "",
        *(f"- {key}: `{value}`" for key, value in vars(settings).items()),
        f"- fine-tuning schedule: `{finetune_schedule(settings.epochs)}`",
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


def run_experiments(data_dir, out, tasks=TASKS, settings: Settings | None = None, log=print):
    """Run the chosen tasks on ``data_dir`` and write every output to ``out``.

    Parameters
    ----------
    data_dir : str or path-like
        Holds ``Train/<class>/*`` and ``Test/<class>/*`` (folder names in any case).
    out : str or path-like
        Output folder; written only once every task has finished (outputs are assembled in a
        temporary folder beside it, then moved), so a failed run leaves nothing half-done.
    tasks : sequence of {'scratch', 'finetune', 'features'}, default=all three
        Which tasks to run.
    settings : Settings, default=None
        Epochs, image size, batch size, seed, weights; None takes the study's.
    log : callable, default=print
        Receives one summary line per task.

    Returns
    -------
    results : dict of str to TaskResult
    """
    settings = settings or Settings()
    unknown = set(tasks) - set(TASKS)
    if unknown:
        raise ValueError(f"Unknown task(s) {sorted(unknown)}; choose from {TASKS}.")
    train, test = find_study_folders(data_dir)
    require_matplotlib()  # before hours of training, not after
    out = os.path.abspath(os.fspath(out))
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".skalexnet-", dir=parent)
    try:
        results = {}
        for task in tasks:
            result = RUNNERS[task](train, test, settings)
            results[task] = result
            write_history(result, staging)
            log(
                f"{task}: test accuracy {result.test_accuracy:.4f} after {result.epochs} epochs "
                f"({result.seconds_per_epoch:.1f} s/epoch, {result.images_per_second:.0f} img/s)"
            )
        plots = write_plots(results, staging)
        write_report(results, settings, os.fspath(data_dir), staging, plots)
        _move_into(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return results


def _move_into(staging: str, out: str) -> None:
    """Publish the staged outputs: rename the folder, or replace only our files in an existing
    one (whatever else a user keeps there stays)."""
    if not os.path.exists(out):
        os.replace(staging, out)
        return
    for name in os.listdir(staging):
        os.replace(os.path.join(staging, name), os.path.join(out, name))


# The demo: digits 0-4 stand in for ImageNet, digits 5-9 for the new task.
DEMO_IMAGE_SIZE = 67
DEMO_TRAIN_PER_CLASS = 20
DEMO_TEST_PER_CLASS = 60


def write_demo_data(root: str, seed: int = 0) -> tuple[str, str]:
    """Write digits 5-9 as ``root/data/Train`` and ``root/data/Test`` (20 and 60 a class), and a
    network trained on digits 0-4 as ``root/pretrained_digits_0_to_4.keras``."""
    from PIL import Image

    images, labels = digit_images()
    rng = np.random.default_rng(seed)
    data_dir = os.path.join(root, "data")
    for digit in range(5, 10):
        indices = rng.permutation(np.flatnonzero(labels == digit))
        for part, chosen in (
            ("Train", indices[:DEMO_TRAIN_PER_CLASS]),
            ("Test", indices[DEMO_TRAIN_PER_CLASS : DEMO_TRAIN_PER_CLASS + DEMO_TEST_PER_CLASS]),
        ):
            folder = os.path.join(data_dir, part, str(digit))
            os.makedirs(folder, exist_ok=True)
            for i in chosen:
                Image.fromarray(images[i]).save(os.path.join(folder, f"{i:04d}.png"))
    pretrained = pretrain_on_digits_0_to_4(image_size=DEMO_IMAGE_SIZE, random_state=seed)
    weights = os.path.join(root, "pretrained_digits_0_to_4.keras")
    pretrained.model_.save(weights)
    return data_dir, weights


def run_demo(out, epochs: int = 16, seed: int = 0, verbose: int = 1, log=print) -> dict:
    """The three tasks on scikit-learn's digits, with no download.

    A network trained on digits 0-4 plays ImageNet's part; the tasks run on digits 5-9 with
    20 training images a class, tested on 60 others a class, at AlexNet's smallest input
    (67x67).

    Parameters
    ----------
    out : str or path-like
        Output folder, as for :func:`run_experiments`.
    epochs : int, default=16
        Epochs of each task (fine-tuning spreads them over its eight rounds).
    seed : int, default=0
        Seeds the data split and every estimator.
    verbose : int, default=1
        Keras progress bars when 1.
    log : callable, default=print
        Receives the summary lines.

    Returns
    -------
    results : dict of str to TaskResult
    """
    with tempfile.TemporaryDirectory(prefix="skalexnet-demo-") as workspace:
        log("demo: training the 'pretrained' network on digits 0-4 ...")
        data_dir, weights = write_demo_data(workspace, seed)
        settings = Settings(
            epochs=epochs,
            image_size=DEMO_IMAGE_SIZE,
            batch_size=16,
            seed=seed,
            weights=weights,
            verbose=verbose,
        )
        return run_experiments(data_dir, out, TASKS, settings, log=log)
