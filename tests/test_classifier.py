"""AlexNetClassifier on scikit-learn's real handwritten digits."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, train_test_split

from skalexnet import AlexNetClassifier

# Settings under which AlexNet learns 8x8 digits upscaled to its smallest input in a few epochs.
DIGITS = {"image_size": 67, "batch_size": 32, "learning_rate": 0.01, "augment": None}
EPOCHS_TO_95 = 5
TINY = {"image_size": 67, "epochs": 1, "batch_size": 32, "augment": None, "random_state": 0}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    images = (X * 16).clip(0, 255).astype(np.uint8).reshape(-1, 8, 8)  # 0..16 -> 0..255
    return train_test_split(images, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def small(digits):
    """60 images of digits 0, 1 and 2: enough for one cheap epoch."""
    X_train, _, y_train, _ = digits
    keep = np.flatnonzero(y_train < 3)[:60]
    return X_train[keep], y_train[keep]


@pytest.fixture(scope="module")
def fitted(digits):
    X_train, X_test, y_train, y_test = digits
    clf = AlexNetClassifier(epochs=EPOCHS_TO_95, random_state=0, **DIGITS)
    return clf.fit(X_train, y_train, validation_data=(X_test, y_test))


def test_trains_from_scratch_to_95_percent_on_held_out_digits(fitted, digits):
    _, X_test, _, y_test = digits
    assert fitted.score(X_test, y_test) >= 0.95


def test_history_has_train_and_validation_curves_per_epoch(fitted):
    assert set(fitted.history_) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == EPOCHS_TO_95 for values in fitted.history_.values())
    assert fitted.history_["loss"][-1] < fitted.history_["loss"][0]
    assert fitted.n_epochs_ == EPOCHS_TO_95


def test_validation_accuracy_is_the_score_of_the_final_model(fitted, digits):
    _, X_test, _, y_test = digits
    assert fitted.history_["val_accuracy"][-1] == pytest.approx(fitted.score(X_test, y_test))


def test_predict_proba_rows_sum_to_one_and_agree_with_predict(fitted, digits):
    _, X_test, _, _ = digits
    proba = fitted.predict_proba(X_test)
    assert proba.dtype == np.float32 and proba.shape == (len(X_test), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(fitted.classes_[proba.argmax(axis=1)], fitted.predict(X_test))
    np.testing.assert_array_equal(fitted.decision_function(X_test).argmax(axis=1), proba.argmax(1))


def test_pickled_classifier_predicts_the_same(fitted, digits):
    _, X_test, _, _ = digits
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(X_test), fitted.predict_proba(X_test))


def test_flattened_rows_are_square_grayscale_images(fitted, digits):
    _, X_test, _, _ = digits
    np.testing.assert_array_equal(
        fitted.predict_proba(X_test.reshape(len(X_test), -1)), fitted.predict_proba(X_test)
    )


def test_rgb_and_grayscale_inputs_agree(fitted, digits):
    _, X_test, _, _ = digits
    rgb = np.repeat(X_test[..., None], 3, axis=-1)
    np.testing.assert_array_equal(fitted.predict_proba(rgb), fitted.predict_proba(X_test))


def test_same_random_state_gives_same_predictions(small):
    X, y = small
    first = AlexNetClassifier(**TINY).fit(X, y).predict_proba(X)
    second = AlexNetClassifier(**TINY).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, second)


def test_other_random_state_gives_other_network(small):
    X, y = small
    first = AlexNetClassifier(**TINY).fit(X, y).predict_proba(X)
    other = AlexNetClassifier(**{**TINY, "random_state": 1}).fit(X, y).predict_proba(X)
    assert not np.allclose(first, other)


def _global_draws():
    """The next draws of every process-wide generator a caller may rely on."""
    import random

    import keras

    draws = {
        "python": [random.random() for _ in range(3)],
        "numpy": np.random.random(3).tolist(),  # noqa: NPY002
        "keras": keras.ops.convert_to_numpy(keras.random.uniform((3,))).tolist(),
    }
    if keras.backend.backend() == "torch":
        import torch

        draws["torch"] = torch.rand(3).tolist()
    return draws


def _seed_globals(seed):
    import keras

    # keras.utils.set_random_seed seeds Python, NumPy, the backend and Keras's own generator;
    # one draw creates that generator, so that a fit that replaced it would show.
    keras.utils.set_random_seed(seed)
    keras.random.uniform((1,))


def test_fit_leaves_global_random_state_alone(small):
    X, y = small
    _seed_globals(1234)
    expected = _global_draws()
    _seed_globals(1234)
    AlexNetClassifier(**TINY).fit(X, y)
    assert _global_draws() == expected


def test_string_labels_come_back_as_given(small):
    X, y = small
    names = np.array(["zero", "one", "two"])[y]
    clf = AlexNetClassifier(**TINY).fit(X, names)
    assert list(clf.classes_) == ["one", "two", "zero"]
    assert set(clf.predict(X)) <= set(names)


def test_partial_fit_needs_classes_first_then_adds_one_epoch_per_call(small):
    X, y = small
    clf = AlexNetClassifier(**TINY)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X, y, classes=[0, 1, 2, 3])
    clf.partial_fit(X, y)
    assert clf.n_epochs_ == 2 and len(clf.history_["loss"]) == 2
    assert list(clf.classes_) == [0, 1, 2, 3]


def test_warm_start_continues_instead_of_starting_afresh(small):
    X, y = small
    clf = AlexNetClassifier(**TINY, warm_start=True).fit(X, y)
    weights = clf.model_.get_layer("conv1").get_weights()[0].copy()
    clf.fit(X, y)
    assert clf.n_epochs_ == 2 and len(clf.history_["loss"]) == 2
    assert not np.array_equal(weights, clf.model_.get_layer("conv1").get_weights()[0])
    cold = clone(clf).set_params(warm_start=False).fit(X, y).fit(X, y)
    assert cold.n_epochs_ == 1


def test_zero_class_weight_means_that_class_is_never_learnt(small):
    X, y = small
    binary = (y > 0).astype(int)
    clf = AlexNetClassifier(**{**TINY, "epochs": 2}, class_weight={0: 1.0, 1: 0.0})
    assert (clf.fit(X, binary).predict(X) == 0).all()


def test_clone_keeps_parameters_and_drops_the_fit(small):
    X, y = small
    clf = AlexNetClassifier(**TINY).fit(X, y)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params()
    assert not hasattr(copy, "model_")


def test_grid_search_with_two_processes(small):
    X, y = small
    search = GridSearchCV(
        AlexNetClassifier(**TINY), {"learning_rate": [0.01, 0.02]}, cv=2, n_jobs=2
    ).fit(X, y)
    assert search.best_params_["learning_rate"] in (0.01, 0.02)
    assert len(search.cv_results_["mean_test_score"]) == 2
    assert search.predict(X).shape == (len(X),)


def test_predict_before_fit_raises_not_fitted(small):
    with pytest.raises(NotFittedError):
        AlexNetClassifier(**TINY).predict(small[0])


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (lambda X, y: (X[:, None, :, :, None], y), "shape"),
        (lambda X, y: (np.repeat(X[..., None], 4, axis=-1), y), "4 channels"),
        (lambda X, y: (np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X), y), "NaN"),
        (lambda X, y: (np.where(np.arange(X.size).reshape(X.shape) == 5, np.inf, X), y), "inf"),
        (lambda X, y: (X, np.zeros_like(y)), "2 classes"),
        (lambda X, y: (X[:-1], y), "inconsistent numbers of samples"),
    ],
    ids=["5-D", "4 channels", "NaN", "inf", "one class", "lengths"],
)
def test_bad_input_gets_a_clear_error(small, make_input, message):
    X, y = make_input(*small)
    with pytest.raises(ValueError, match=message):
        AlexNetClassifier(**TINY).fit(X, y)


def test_missing_file_is_named(small, tmp_path):
    missing = str(tmp_path / "no-such-image.png")
    with pytest.raises(FileNotFoundError, match=r"no-such-image\.png"):
        AlexNetClassifier(**TINY).fit([missing, missing], [0, 1])


def test_file_that_is_not_an_image_is_named(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ValueError, match=r"notes\.png"):
        AlexNetClassifier(**TINY).fit([str(text), str(text)], [0, 1])


def test_image_size_below_minimum_names_the_minimum(small):
    with pytest.raises(ValueError, match="67"):
        AlexNetClassifier(**{**TINY, "image_size": 40}).fit(*small)


def test_bad_sample_weight_is_refused(small):
    X, y = small
    with pytest.raises(ValueError, match="sample_weight"):
        AlexNetClassifier(**TINY).fit(X, y, sample_weight=np.ones(3))


def _png_files_with_one_broken(images, directory, broken_at):
    """The images as PNG files, the one at ``broken_at`` replaced by text named .png."""
    from PIL import Image

    paths = []
    for i, image in enumerate(images):
        path = directory / f"digit_{i:03d}.png"
        if i == broken_at:
            path.write_text("not an image")
        else:
            Image.fromarray(image).save(path)
        paths.append(str(path))
    return paths


def test_fit_that_raises_on_a_broken_file_leaves_the_estimator_unfitted(small, tmp_path):
    from sklearn.utils.validation import check_is_fitted

    X, y = small
    paths = _png_files_with_one_broken(X, tmp_path, broken_at=len(X) - 1)
    clf = AlexNetClassifier(**TINY)
    with pytest.raises(ValueError, match=rf"digit_{len(X) - 1:03d}\.png"):
        clf.fit(paths, y)
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)
    with pytest.raises(NotFittedError):
        clf.predict(X[:2])


@pytest.mark.parametrize("warm_start", [False, True])
def test_refit_that_raises_keeps_the_previous_model_intact(small, tmp_path, warm_start):
    X, y = small
    clf = AlexNetClassifier(**TINY, warm_start=warm_start).fit(X, y)
    before = clf.predict_proba(X)
    history, n_epochs, classes = clf.history_, clf.n_epochs_, clf.classes_
    # Validation comes after an epoch of training: the weights have changed when it raises.
    paths = _png_files_with_one_broken(X[:5], tmp_path, broken_at=4)
    with pytest.raises(ValueError, match=r"digit_004\.png"):
        clf.fit(X, y, validation_data=(paths, y[:5]))
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    assert clf.history_ == history and clf.n_epochs_ == n_epochs
    np.testing.assert_array_equal(clf.classes_, classes)
