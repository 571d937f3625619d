"""Training that survives: callbacks, early stopping, Ctrl-C, non-finite losses, checkpoints."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from digits import DIGITS_IMAGE_SIZE, digit_images

from skalexnet import AlexNetClassifier
from skalexnet._checkpoint import read_checkpoint, write_checkpoint

COMMON = {
    "image_size": DIGITS_IMAGE_SIZE,
    "batch_size": 32,
    "learning_rate": 0.02,
    "augment": None,
    "random_state": 0,
}


@pytest.fixture(scope="module")
def digits():
    images, labels = digit_images()
    return images[:320], labels[:320]


class InterruptAt(keras.callbacks.Callback):
    """Raises KeyboardInterrupt, as Ctrl-C does, before a given batch of a given epoch."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at, self.epoch = (epoch, batch), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise KeyboardInterrupt


class StepsPerEpoch(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.steps = self.params["steps"]


def weights_of(estimator):
    return [np.asarray(w) for w in estimator.model_.get_weights()]


def assert_same_weights(a, b):
    for x, y in zip(weights_of(a), weights_of(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_keras_callbacks_run_as_in_keras(digits, tmp_path):
    X, y = digits
    log = tmp_path / "log.csv"
    clf = AlexNetClassifier(epochs=2, callbacks=[keras.callbacks.CSVLogger(log)], **COMMON)
    clf.fit(X, y)
    rows = log.read_text().splitlines()
    assert rows[0].split(",")[:2] == ["epoch", "accuracy"]
    losses = [float(row.split(",")[rows[0].split(",").index("loss")]) for row in rows[1:]]
    np.testing.assert_allclose(losses, clf.history_["loss"], rtol=1e-6)


def test_reduce_lr_on_plateau_sets_the_learning_rate_without_decay(digits):
    X, y = digits
    # min_delta so large that no epoch after the first counts as an improvement: halve each time.
    reduce = keras.callbacks.ReduceLROnPlateau(
        monitor="loss", factor=0.5, patience=0, min_delta=1e9
    )
    clf = AlexNetClassifier(epochs=2, decay=0, callbacks=[reduce], **COMMON).fit(X[:96], y[:96])
    assert float(clf.model_.optimizer.learning_rate) == pytest.approx(COMMON["learning_rate"] / 2)
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau.*decay=0\.001.*Use decay=0"):
        AlexNetClassifier(epochs=1, decay=1e-3, callbacks=[reduce], **COMMON).fit(X, y)


def test_partial_fit_and_warm_start_carry_the_optimizer_on(digits):
    # Momentum and the decay clock go on from call to call: two one-epoch calls train as one
    # two-epoch fit does.
    X, y = digits[0][:64], digits[1][:64]
    params = {**COMMON, "decay": 0.05, "momentum": 0.9}
    unbroken = AlexNetClassifier(epochs=2, **params).fit(X, y)
    partial = AlexNetClassifier(**params)
    partial.partial_fit(X, y, classes=np.unique(y)).partial_fit(X, y)
    warm = AlexNetClassifier(epochs=1, warm_start=True, **params).fit(X, y).fit(X, y)
    for estimator in (partial, warm):
        assert estimator.history_["loss"] == pytest.approx(unbroken.history_["loss"], rel=1e-5)
        for a, b in zip(weights_of(estimator), weights_of(unbroken), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_callbacks_must_be_keras_callbacks(digits):
    X, y = digits
    with pytest.raises(TypeError, match=r"keras\.callbacks\.Callback"):
        AlexNetClassifier(epochs=1, callbacks=[print], **COMMON).fit(X, y)


def test_early_stopping_holds_out_a_fraction_and_stops_when_nothing_improves(digits):
    X, y = digits
    steps = StepsPerEpoch()
    # Updates of 1e-30 vanish in float32: the validation loss cannot fall after epoch 1.
    clf = AlexNetClassifier(
        epochs=20,
        early_stopping=True,
        n_iter_no_change=2,
        validation_fraction=0.25,
        callbacks=[steps],
        **{**COMMON, "learning_rate": 1e-30, "batch_size": 30},
    ).fit(X, y)
    assert (clf.n_epochs_, len(clf.history_["val_loss"])) == (3, 3), clf.history_
    assert steps.steps == 240 / 30  # 25 % of the 320 images held out: 240 in batches of 30


def test_ctrl_c_keeps_the_last_completed_epoch_and_can_predict(digits):
    X, y = digits
    one_epoch = AlexNetClassifier(epochs=1, **COMMON).fit(X, y)
    interrupted = AlexNetClassifier(epochs=3, callbacks=[InterruptAt(1, 3)], **COMMON)
    with pytest.warns(RuntimeWarning, match="interrupted.*epoch 1, the last completed"):
        interrupted.fit(X, y)
    assert interrupted.n_epochs_ == 1
    assert interrupted.history_ == one_epoch.history_
    assert_same_weights(interrupted, one_epoch)
    np.testing.assert_array_equal(interrupted.predict(X), one_epoch.predict(X))


def test_non_finite_loss_stops_naming_epoch_and_batch_and_keeps_finite_weights(digits):
    X, y = digits
    untrained = AlexNetClassifier(epochs=0, **COMMON).fit(X, y)
    diverging = AlexNetClassifier(epochs=3, **{**COMMON, "learning_rate": 1e8})
    with pytest.raises(FloatingPointError, match=r"epoch 1, batch \d+.*lower learning_rate"):
        diverging.fit(X, y)
    assert diverging.n_epochs_ == 0
    assert_same_weights(diverging, untrained)
    assert np.isfinite(diverging.predict_proba(X)).all()


def test_a_checkpoint_write_that_crashes_leaves_the_previous_one_whole(tmp_path, monkeypatch):
    write_checkpoint(tmp_path, {"epoch": 1}, [np.arange(3.0)], [np.zeros(2)])

    def crash_midway(f, **arrays):
        f.write(b"PK\x03\x04 half a zip file")
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez", crash_midway)
    with pytest.raises(OSError, match="No space left"):
        write_checkpoint(tmp_path, {"epoch": 2}, [np.arange(3.0) + 1], [np.ones(2)])
    checkpoint = read_checkpoint(tmp_path)
    assert checkpoint.record["epoch"] == 1
    np.testing.assert_array_equal(checkpoint.model_variables[0], np.arange(3.0))
    assert os.listdir(tmp_path) == ["checkpoint.npz"]  # no temporary file left behind


def test_a_finished_checkpoint_is_resumed_and_another_configuration_trains_apart(digits, tmp_path):
    X, y = digits[0][:96], digits[1][:96]
    params = {**COMMON, "epochs": 1, "checkpoint_dir": tmp_path}
    first = AlexNetClassifier(**params).fit(X, y)
    again = AlexNetClassifier(**params).fit(X, y)  # nothing left to train: the same network
    assert again.n_epochs_ == 1 and again.history_ == first.history_
    assert_same_weights(again, first)
    other = AlexNetClassifier(**{**params, "learning_rate": 0.01}).fit(X, y)
    assert other.history_["loss"] != first.history_["loss"]  # trained afresh, not resumed
    assert len(list(tmp_path.iterdir())) == 2  # a sub-folder for each configuration


def test_a_checkpoint_of_another_run_in_the_same_folder_is_refused(digits, tmp_path):
    X, y = digits[0][:96], digits[1][:96]
    params = {**COMMON, "epochs": 1, "checkpoint_dir": tmp_path}
    AlexNetClassifier(**params).fit(X, y)
    [folder] = tmp_path.iterdir()
    checkpoint = read_checkpoint(folder)
    record = {**checkpoint.record, "data": "another data set"}
    write_checkpoint(folder, record, checkpoint.model_variables, checkpoint.optimizer_variables)
    with pytest.raises(ValueError, match="differs in the training data"):
        AlexNetClassifier(**params).fit(X, y)


RUN = textwrap.dedent(
    """
    import json, os, signal, sys
    sys.path.insert(0, {tests!r})
    import skalexnet  # before keras: it picks the backend
    import keras
    import numpy as np
    from digits import digit_images
    from skalexnet import AlexNetFineTuner

    class KillAt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:  # the state the killed run's last checkpoint holds
                np.savez({out!r} + ".epoch2.npz", *[np.asarray(v) for v in self.model.variables])
        def on_train_batch_begin(self, batch, logs=None):
            if {kill!r} and (self.epoch, batch) == (2, 1):  # round 2's second epoch, mid-way
                os.kill(os.getpid(), signal.SIGKILL)

    images, labels = digit_images()
    X, y = images[labels >= 5][:96], labels[labels >= 5][:96]  # 3 batches an epoch
    tuner = AlexNetFineTuner(
        weights={weights!r}, schedule=[("fc8", 1, 0.01), ("fc7", 2, 0.001)],
        image_size=67, batch_size=32, augment=None, random_state=0,
        checkpoint_dir={checkpoint_dir!r}, callbacks=[KillAt()],
    ).fit(X, y)
    np.savez({out!r}, *tuner.model_.get_weights())
    with open({out!r} + ".json", "w") as f:
        json.dump({{"history": tuner.history_, "rounds": tuner.rounds_}}, f)
    """
)


def run_fine_tuning(tmp_path, weights, name, checkpoint_dir=None, kill=False):
    out = str(tmp_path / f"{name}.npz")
    script = RUN.format(
        tests=os.path.dirname(__file__),
        weights=str(weights),
        checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir),
        kill=kill,
        out=out,
    )
    process = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    if kill:
        assert process.returncode == -signal.SIGKILL, process.stderr[-2000:]
        return None
    assert process.returncode == 0, process.stderr[-2000:]
    with np.load(out) as data, open(out + ".json") as f:
        return [data[f"arr_{i}"] for i in range(len(data.files))], json.load(f)


def test_fine_tuning_killed_mid_epoch_resumes_to_the_unbroken_runs_weights(
    digits_0_to_4_network, tmp_path
):
    checkpoints = tmp_path / "checkpoints"
    reference, reference_record = run_fine_tuning(tmp_path, digits_0_to_4_network, "unbroken")
    run_fine_tuning(tmp_path, digits_0_to_4_network, "killed", checkpoints, kill=True)
    [folder] = checkpoints.iterdir()
    checkpoint = read_checkpoint(folder)
    assert checkpoint.record["n_epochs"] == 2
    assert checkpoint.record["position"] == [1, 1]  # killed in round 2's second epoch
    # The checkpoint holds, bit for bit, the unbroken run's state after the same epoch.
    with np.load(tmp_path / "unbroken.npz.epoch2.npz") as unbroken:
        for i, value in enumerate(checkpoint.model_variables):
            np.testing.assert_array_equal(value, unbroken[f"arr_{i}"])
    resumed, resumed_record = run_fine_tuning(
        tmp_path, digits_0_to_4_network, "resumed", checkpoints
    )
    for expected, actual in zip(reference, resumed, strict=True):
        np.testing.assert_array_equal(actual, expected)
    assert resumed_record == reference_record


SEARCH = textwrap.dedent(
    """
    import json, os, signal, sys
    sys.path.insert(0, {tests!r})
    import skalexnet  # before keras: it picks the backend
    import keras
    from digits import digit_images
    from sklearn.model_selection import GridSearchCV
    from skalexnet import AlexNetClassifier

    class KillInThirdFit(keras.callbacks.Callback):
        fits = 0  # on the class: GridSearchCV fits copies of the callback
        def on_train_begin(self, logs=None):
            type(self).fits += 1
        def on_epoch_begin(self, epoch, logs=None):
            if type(self).fits == 3 and epoch == 1:  # the third fit's epoch 1 is checkpointed
                os.kill(os.getpid(), signal.SIGKILL)

    images, labels = digit_images()
    search = GridSearchCV(
        AlexNetClassifier(
            image_size=67, epochs=2, batch_size=32, augment=None, random_state=0,
            checkpoint_dir={checkpoint_dir!r}, callbacks=[KillInThirdFit()] if {kill!r} else None,
        ),
        {{"learning_rate": [0.01, 0.02]}}, cv=2, refit=False, error_score="raise",
    ).fit(images[:128], labels[:128])
    with open({out!r}, "w") as f:
        json.dump({{k: v.tolist() for k, v in search.cv_results_.items() if "test" in k}}, f)
    """
)


def run_search(tmp_path, name, checkpoint_dir, kill=False):
    out = str(tmp_path / f"{name}.json")
    script = SEARCH.format(
        tests=os.path.dirname(__file__), checkpoint_dir=str(checkpoint_dir), kill=kill, out=out
    )
    process = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    if kill:
        assert process.returncode == -signal.SIGKILL, process.stderr[-2000:]
        return None
    assert process.returncode == 0, process.stderr[-2000:]
    with open(out) as f:
        return json.load(f)


def test_grid_search_with_checkpoint_dir_killed_and_rerun_gives_the_same_results(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    run_search(tmp_path, "killed", checkpoints, kill=True)
    # Two fits done, the third killed in its second epoch: each has a folder of its own.
    assert len(list(checkpoints.iterdir())) == 3
    resumed = run_search(tmp_path, "resumed", checkpoints)
    assert len(list(checkpoints.iterdir())) == 4  # 2 candidates x 2 folds
    unbroken = run_search(tmp_path, "unbroken", tmp_path / "unbroken")
    assert resumed == unbroken
    assert all(0 <= score <= 1 for score in unbroken["mean_test_score"])
