"""The study's three tasks on any image folder, and the built-in digits demo.

``run_experiments`` reads ``DATA_DIR/Train`` and ``DATA_DIR/Test``, trains AlexNet from scratch,
fine-tunes pretrained weights layer by layer and classifies pool5 features with a 256-unit MLP,
then writes per-task histories (CSV, JSON), plots, ``metrics.json`` and ``report.md``.
"""

import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from ._report import (
    TaskResult,
    _number,
    write_history,
    write_plots,
    write_report,
)
from .classifier import AlexNetClassifier
from .datasets import load_image_folder
from .digits import PRETRAIN_PARAMS, digit_images, pretrain_on_digits_0_to_4
from .features import AlexNetFeatureExtractor
from .finetuner import STUDY_SCHEDULE, AlexNetFineTuner, parse_schedule
from .plotting import require_matplotlib

TASKS = ("scratch", "finetune", "features")


@dataclass
class Settings:
    """What a run uses; the defaults are the study's.

    A dataclass: each parameter is kept as the attribute of its name.

    Parameters
    ----------
    epochs : int, default=80
        Epochs of training from scratch and of the features' MLP; with ``schedule='study'``
        also of fine-tuning, spread evenly over its eight rounds (10 each at 80).
    image_size : int, default=227
        Images are resized to ``image_size x image_size``.
    batch_size : int, default=16
        Images per gradient step, for every task.
    learning_rate : float, default=0.01
        SGD's learning rate when training from scratch (fine-tuning's are in ``schedule``).
    schedule : 'study' or list of (str, int, float), default='study'
        Fine-tuning's rounds of (lowest trainable layer, epochs, learning rate); 'study' is
        fc8 at 1e-2, then fc7 ... conv1 at 1e-3, with ``epochs`` spread over them.
    augment : {'study', 'paper', None} or dict, default='study'
        Training-time augmentation for training from scratch and fine-tuning.
    precision : {'auto', 'float32', 'bfloat16', 'bfloat16_conv'}, default='auto'
        As for :class:`~skalexnet.AlexNetClassifier`, for every task.
    checkpoint_dir : str or None, default=None
        When set, training from scratch and fine-tuning checkpoint every epoch in
        ``checkpoint_dir/scratch`` and ``checkpoint_dir/finetune``, and the pool5 features are
        cached in ``checkpoint_dir/features``: the same run started again resumes where a
        killed one stopped.
    seed : int, default=0
        Seeds every estimator and the MLP's batches.
    weights : str or None, default='imagenet'
        Pretrained weights for fine-tuning and features: 'imagenet' or a file.
    verbose : {0, 1, 2}, default=1
        Passed to every estimator: with 1, Keras's progress bars on a terminal and one line per
        epoch in a log file or CI output (see :class:`~skalexnet.AlexNetClassifier`).
    """

    epochs: int = 80
    image_size: int = 227
    batch_size: int = 16
    learning_rate: float = 0.01
    schedule: str | list = "study"
    augment: str | dict | None = "study"
    precision: str = "auto"
    checkpoint_dir: str | None = None
    seed: int = 0
    weights: str | None = "imagenet"
    verbose: int = 1


def find_study_folders(data_dir) -> tuple:
    """Load ``DATA_DIR/Train`` and ``DATA_DIR/Test`` (any case), checking they fit together.

    Parameters
    ----------
    data_dir : str or path-like
        The folder holding ``Train`` and ``Test`` (matched in any case), each with one
        subfolder of images per class, as :func:`~skalexnet.load_image_folder` reads them.

    Returns
    -------
    train : sklearn.utils.Bunch
        ``DATA_DIR/Train`` as :func:`~skalexnet.load_image_folder` returns it.
    test : sklearn.utils.Bunch
        ``DATA_DIR/Test``, with the same ``target_names`` as ``train``.

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


def _task_checkpoint(settings: Settings, task: str) -> str | None:
    if settings.checkpoint_dir is None:
        return None
    return os.path.join(os.fspath(settings.checkpoint_dir), task)


def _epoch_counter():
    """A Keras callback counting the epochs one fit trains (a resumed fit trains fewer)."""
    import keras

    class EpochCounter(keras.callbacks.Callback):
        epochs = 0

        def on_epoch_end(self, epoch, logs=None):
            self.epochs += 1

    return EpochCounter()


def _fit_and_evaluate(task, estimator, train, test, planned_epochs: int) -> TaskResult:
    """Fit with the test folder as validation data; its last epoch's accuracy is the result."""
    counter = _epoch_counter()
    estimator.set_params(callbacks=[*(estimator.callbacks or ()), counter])
    start = time.perf_counter()
    estimator.fit(train.filenames, _labels(train), validation_data=(test.filenames, _labels(test)))
    seconds = time.perf_counter() - start
    if estimator.n_epochs_ < planned_epochs:
        # fit turns Ctrl-C into a warning and keeps the last completed epoch; a run with the
        # other tasks still to come must stop instead of reporting a half-trained network.
        raise KeyboardInterrupt(f"{task} stopped after {estimator.n_epochs_} epochs")
    history = estimator.history_
    return TaskResult(
        task,
        history["val_accuracy"][-1],
        estimator.n_epochs_,
        seconds,
        len(train.filenames),
        history,
        epochs_timed=counter.epochs,
    )


def run_scratch(train, test, settings: Settings) -> TaskResult:
    """Task 1: AlexNet trained from scratch with the study's settings."""
    clf = AlexNetClassifier(
        image_size=settings.image_size,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        augment=settings.augment,
        precision=settings.precision,
        checkpoint_dir=_task_checkpoint(settings, "scratch"),
        random_state=settings.seed,
        verbose=settings.verbose,
    )
    return _fit_and_evaluate("scratch", clf, train, test, settings.epochs)


def finetune_schedule(epochs: int) -> list:
    """The study's eight rounds with ``epochs`` spread over them (at least one each).

    Parameters
    ----------
    epochs : int
        Fine-tuning's epochs to spread: each round gets ``epochs // 8`` of them, at least one
        (the remainder of a number that is not a multiple of 8 is left out).

    Returns
    -------
    schedule : list of (str, int, float)
        The rounds as ``(lowest trainable layer, epochs, learning rate)``: fc8 at 1e-2, then
        fc7, fc6, conv5 ... conv1 at 1e-3, as :class:`~skalexnet.AlexNetFineTuner`'s
        ``schedule`` takes them.
    """
    per_round = max(1, epochs // len(STUDY_SCHEDULE))
    return [(layer, per_round, lr) for layer, _, lr in STUDY_SCHEDULE]


def settings_schedule(settings: Settings) -> list:
    """Fine-tuning's rounds for these settings: the study's spread over ``epochs``, or as given."""
    if isinstance(settings.schedule, str) and settings.schedule == "study":
        return finetune_schedule(settings.epochs)
    return [tuple(entry) for entry in settings.schedule]


def run_finetune(train, test, settings: Settings) -> TaskResult:
    """Task 2: pretrained weights fine-tuned layer by layer (Tajbakhsh et al., 2016)."""
    schedule = settings_schedule(settings)
    tuner = AlexNetFineTuner(
        weights=settings.weights,
        schedule=schedule,
        image_size=settings.image_size,
        batch_size=settings.batch_size,
        augment=settings.augment,
        precision=settings.precision,
        checkpoint_dir=_task_checkpoint(settings, "finetune"),
        random_state=settings.seed,
        verbose=settings.verbose,
    )
    planned = sum(training_round.epochs for training_round in parse_schedule(schedule))
    return _fit_and_evaluate("finetune", tuner, train, test, planned)


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
        precision=settings.precision,
        random_state=settings.seed,
        # A rerun after a killed one reads the features back instead of extracting them again.
        memory=_task_checkpoint(settings, "features"),
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
    history: dict[str, list[float]] = {
        "loss": [],
        "accuracy": [],
        "val_loss": [],
        "val_accuracy": [],
    }
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


def run_experiments(
    data_dir,
    out,
    tasks=TASKS,
    settings: Settings | None = None,
    log=print,
    *,
    data_label: str | None = None,
    weights_label: str | None = None,
    notes=(),
):
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
        Epochs, image size, batch size, learning rate, fine-tuning schedule, augmentation,
        precision, checkpoint folder, seed, weights; None takes the study's.
    log : callable, default=print
        Receives one summary line per task.
    data_label, weights_label : str, default=None
        How the report names the data and the weights, instead of their paths.
    notes : sequence of str, default=()
        Paragraphs the report adds under its table.

    Returns
    -------
    results : dict of str to TaskResult
    """
    settings = settings or Settings()
    unknown = set(tasks) - set(TASKS)
    if unknown:
        raise ValueError(f"Unknown task(s) {sorted(unknown)}; choose from {TASKS}.")
    if "finetune" in tasks:
        parse_schedule(settings_schedule(settings))  # a bad round fails now, not hours later
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
            resumed = result.epochs - (result.epochs_timed or 0)  # set in __post_init__
            log(
                f"{task}: test accuracy {result.test_accuracy:.4f} after {result.epochs} epochs "
                + (f"({resumed} of them from the checkpoint) " if resumed else "")
                + f"({_number(result.seconds_per_epoch)} s/epoch)"
            )
        plots = write_plots(results, staging)
        write_report(
            results,
            settings,
            data_label or os.fspath(data_dir),
            staging,
            plots,
            weights_label=weights_label,
            notes=notes,
            rounds=settings_schedule(settings),
        )
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


# The demo: digits 0-4 stand in for ImageNet, digits 5-9 for the new task, on a budget that a
# CPU spends in minutes. Why each number is what it is: README, "The demo and the study's numbers".
DEMO_IMAGE_SIZE = 67  # AlexNet's smallest input: 4x fewer pixels than 131, where pool5 is 3x3
DEMO_TRAIN_PER_CLASS = 10  # few-shot: where pretrained weights pay
DEMO_TEST_PER_CLASS = 60
DEMO_EPOCHS = 6
DEMO_LEARNING_RATE = 0.01  # the study's for scratch and for fc8; also for the demo's later round
# The figures are the same, to the last digit, only for the same float arithmetic: float32 on
# every machine ('auto' computes in bfloat16 on CPUs with AMX), and a fixed number of torch
# threads (sums split over another number round differently).
DEMO_PRECISION = "float32"
DEMO_TORCH_THREADS = 2


def demo_schedule(epochs: int) -> list:
    """Fine-tuning's rounds in the demo: fc8 alone for a third of ``epochs`` (at least one), then
    every layer, conv1 and above, for the rest; all at ``DEMO_LEARNING_RATE``.

    The study's schedule adds one layer a round at 1e-3 after fc8; that rate, over the demo's few
    dozen steps, leaves the network where fc8 put it (0.40 against 0.87 from scratch, the
    previous demo's 16 epochs in bfloat16): the demo trains everything below fc8 at once, at
    the rate scratch gets.

    Parameters
    ----------
    epochs : int
        Fine-tuning's epochs in all: ``epochs // 3`` (at least one) for fc8, the rest for the
        second round.

    Returns
    -------
    schedule : list of (str, int, float)
        The two rounds as ``(lowest trainable layer, epochs, learning rate)``, as
        :class:`~skalexnet.AlexNetFineTuner`'s ``schedule`` takes them.
    """
    head = max(1, epochs // 3)
    return [("fc8", head, DEMO_LEARNING_RATE), ("conv1", epochs - head, DEMO_LEARNING_RATE)]


@contextlib.contextmanager
def _torch_threads(n: int):
    """torch on ``n`` intra-op threads inside the block (other backends untouched)."""
    import keras

    if keras.backend.backend() != "torch":
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def write_demo_data(
    root: str,
    seed: int = 0,
    *,
    train_per_class: int = DEMO_TRAIN_PER_CLASS,
    test_per_class: int = DEMO_TEST_PER_CLASS,
    pretrain: dict | None = None,
) -> tuple[str, str]:
    """Write digits 5-9 as ``root/data/Train`` and ``root/data/Test`` (``train_per_class`` and
    ``test_per_class`` images a class), and a network trained on digits 0-4 as
    ``root/pretrained_digits_0_to_4.keras`` (``pretrain`` overrides its parameters)."""
    from PIL import Image

    images, labels = digit_images()
    rng = np.random.default_rng(seed)
    data_dir = os.path.join(root, "data")
    for digit in range(5, 10):
        indices = rng.permutation(np.flatnonzero(labels == digit))
        for part, chosen in (
            ("Train", indices[:train_per_class]),
            ("Test", indices[train_per_class : train_per_class + test_per_class]),
        ):
            folder = os.path.join(data_dir, part, str(digit))
            os.makedirs(folder, exist_ok=True)
            for i in chosen:
                Image.fromarray(images[i]).save(os.path.join(folder, f"{i:04d}.png"))
    pretrained = pretrain_on_digits_0_to_4(
        image_size=DEMO_IMAGE_SIZE,
        random_state=seed,
        **{"precision": DEMO_PRECISION, **(pretrain or {})},
    )
    weights = os.path.join(root, "pretrained_digits_0_to_4.keras")
    pretrained.model_.save(weights)
    return data_dir, weights


def run_demo(
    out,
    epochs: int = DEMO_EPOCHS,
    seed: int = 0,
    verbose: int = 1,
    log=print,
    *,
    train_per_class: int = DEMO_TRAIN_PER_CLASS,
    test_per_class: int = DEMO_TEST_PER_CLASS,
    pretrain: dict | None = None,
) -> dict:
    """The three tasks on scikit-learn's digits, with no download: the study in miniature.

    A network trained on digits 0-4 plays ImageNet's part; the tasks run on digits 5-9 with
    10 training images a class, tested on 60 others a class, at AlexNet's smallest input
    (67x67), 6 epochs each. Training from scratch runs at learning rate 0.01; fine-tuning trains
    the new fc8 alone for 2 epochs, then every layer for 4, at 0.01 (see :func:`demo_schedule`);
    the features' MLP trains for 6 epochs. No augmentation: a flipped digit is another shape.
    Everything runs in float32 on 2 torch threads, so that a run repeats the figures exactly.

    Parameters
    ----------
    out : str or path-like
        Output folder, as for :func:`run_experiments`.
    epochs : int, default=6
        Epochs of each task.
    seed : int, default=0
        Seeds the data split, the pretraining and every estimator.
    verbose : {0, 1, 2}, default=1
        Passed to every estimator: with 1, Keras's progress bars on a terminal and one line per
        epoch in a log file or CI output (see :class:`~skalexnet.AlexNetClassifier`).
    log : callable, default=print
        Receives the summary lines.
    train_per_class, test_per_class : int, default=10, 60
        Images of each digit to train on and to test on.
    pretrain : dict, default=None
        Parameters of :func:`skalexnet.digits.pretrain_on_digits_0_to_4` to change, e.g.
        ``{"epochs": 1}`` for a quick run.

    Returns
    -------
    results : dict of str to TaskResult
    """
    with (
        _torch_threads(DEMO_TORCH_THREADS),
        tempfile.TemporaryDirectory(prefix="skalexnet-demo-") as workspace,
    ):
        log("demo: training the 'pretrained' network on digits 0-4 ...")
        data_dir, weights = write_demo_data(
            workspace,
            seed,
            train_per_class=train_per_class,
            test_per_class=test_per_class,
            pretrain=pretrain,
        )
        settings = Settings(
            epochs=epochs,
            image_size=DEMO_IMAGE_SIZE,
            batch_size=16,
            learning_rate=DEMO_LEARNING_RATE,
            schedule=demo_schedule(epochs),
            augment=None,
            precision=DEMO_PRECISION,
            seed=seed,
            weights=weights,
            verbose=verbose,
        )
        recipe = {**PRETRAIN_PARAMS, "precision": DEMO_PRECISION, **(pretrain or {})}
        results = run_experiments(
            data_dir,
            out,
            TASKS,
            settings,
            log=log,
            data_label=(
                f"scikit-learn's digits 5-9, {train_per_class} training and {test_per_class} "
                f"test images a class, written to a temporary folder"
            ),
            weights_label=(
                f"AlexNetClassifier trained on the 901 digits 0-4 ({recipe}, random_state={seed})"
            ),
            notes=[_DEMO_NOTE.format(threads=DEMO_TORCH_THREADS)],
        )
    gain = results["finetune"].test_accuracy - results["scratch"].test_accuracy
    log(
        f"fine-tuning {'beats' if gain > 0 else 'does not beat'} training from scratch by "
        f"{abs(gain) * 100:.1f} points on the same {epochs} epochs"
    )
    return results


_DEMO_NOTE = (
    "The demo is the study in miniature: digits 0-4 stand in for ImageNet, digits 5-9 for the "
    "new task. Its budget is a few dozen steps a task, where the study's was about 10,000 "
    "(80 epochs of some 2,000 images): fine-tuning trains the new fc8 alone, then every layer "
    "at the learning rate scratch gets, instead of the study's one layer a round at 1e-3, "
    "which needs those thousands of steps. Float32 on {threads} torch threads, so that a run "
    "repeats these figures on the same software and kind of CPU."
)
