"""Training-time augmentation: the study's and the paper's recipes, seeded, only in fit."""

import os

import numpy as np
import pytest
import sklearn
from sklearn.datasets import load_digits

from skalexnet import AlexNetClassifier
from skalexnet._augment import (
    PAPER_AUGMENTATION,
    STUDY_AUGMENTATION,
    augment_batch,
    crop_batch,
    resolve_augmentation,
)
from skalexnet._data import FileImages, ImageBatches

CHINA = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "images", "china.jpg")


@pytest.fixture(scope="module")
def photos():
    return FileImages([CHINA] * 4, 67, resize="crop").load(range(4))  # (4, 76, 76, 3) uint8


def test_named_recipes_resolve_to_their_settings():
    assert resolve_augmentation("study") == STUDY_AUGMENTATION
    assert resolve_augmentation(True) == STUDY_AUGMENTATION
    assert resolve_augmentation("paper") == PAPER_AUGMENTATION
    assert resolve_augmentation(None) is None and resolve_augmentation(False) is None
    assert STUDY_AUGMENTATION["shear"] == 0.2 and STUDY_AUGMENTATION["zoom"] == 0.2
    assert PAPER_AUGMENTATION["random_crop"] and PAPER_AUGMENTATION["horizontal_flip"]


def test_a_dict_switches_on_only_what_it_names():
    settings = resolve_augmentation({"horizontal_flip": True})
    assert settings == {"shear": 0.0, "zoom": 0.0, "horizontal_flip": True, "random_crop": False}


@pytest.mark.parametrize("augment", ["studdy", {"rotation": 10}, 3])
def test_unknown_augmentation_is_an_error(augment):
    with pytest.raises(ValueError, match="augment"):
        resolve_augmentation(augment)


@pytest.mark.parametrize(
    ("augment", "error", "match"),
    [
        ({"zoom": -1}, ValueError, r"augment\['zoom'\] == -1, must be >= 0"),
        ({"zoom": 1.0}, ValueError, r"augment\['zoom'\] == 1.0, must be < 1"),
        ({"shear": np.pi / 2}, ValueError, r"augment\['shear'\] == 1.57\d*, must be < 1.57"),
        ({"shear": "0.2"}, TypeError, r"augment\['shear'\] must be a number; got '0.2'"),
        ({"random_crop": 1}, TypeError, r"augment\['random_crop'\] must be True or False; got 1"),
    ],
)
def test_augmentation_values_out_of_range_are_errors_naming_the_key(augment, error, match):
    with pytest.raises(error, match=match):
        resolve_augmentation(augment)


def test_augmentation_values_at_the_edges_of_their_ranges_are_accepted():
    settings = resolve_augmentation({"zoom": 0.99, "shear": 1.5, "horizontal_flip": np.True_})
    assert settings["zoom"] == 0.99 and settings["shear"] == 1.5


def test_centre_crop_is_the_middle_and_random_crops_stay_inside(photos):
    centre = crop_batch(photos, 67)
    np.testing.assert_array_equal(centre, photos[:, 4:71, 4:71])
    crops = crop_batch(photos, 67, np.random.default_rng(0))
    assert crops.shape == (4, 67, 67, 3)
    windows = np.lib.stride_tricks.sliding_window_view(photos[0], (67, 67, 3))[..., 0, :, :, :]
    assert any(np.array_equal(crops[0], w) for w in windows.reshape(-1, 67, 67, 3))


def test_crop_of_a_batch_already_at_size_is_the_batch(photos):
    batch = photos[:, :67, :67]
    assert crop_batch(batch, 67, np.random.default_rng(0)) is batch


def test_study_augmentation_changes_images_keeps_shape_and_dtype(photos):
    batch = crop_batch(photos, 67)
    out = augment_batch(batch, STUDY_AUGMENTATION, np.random.default_rng(0))
    assert out.shape == batch.shape and out.dtype == np.uint8
    assert not np.array_equal(out, batch)


def test_augmentation_is_reproducible_from_its_seed(photos):
    batch = crop_batch(photos, 67)
    first = augment_batch(batch, STUDY_AUGMENTATION, np.random.default_rng(7))
    again = augment_batch(batch, STUDY_AUGMENTATION, np.random.default_rng(7))
    other = augment_batch(batch, STUDY_AUGMENTATION, np.random.default_rng(8))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_flip_only_mirrors_or_keeps_each_image(photos):
    batch = crop_batch(photos, 67)
    out = augment_batch(
        batch, resolve_augmentation({"horizontal_flip": True}), np.random.default_rng(1)
    )
    for image, result in zip(batch, out, strict=True):
        assert np.array_equal(result, image) or np.array_equal(result, image[:, ::-1])


def test_paper_batches_are_random_crops_while_training_and_centre_crops_otherwise():
    images = FileImages([CHINA] * 8, 67, resize="crop")
    training = ImageBatches(images, batch_size=8, augmentation=PAPER_AUGMENTATION, workers=1)
    (x_train,) = training[0]
    (x_eval,) = ImageBatches(images, batch_size=8, workers=1)[0]
    assert x_train.shape == x_eval.shape == (8, 67, 67, 3)
    assert len({x.tobytes() for x in x_train}) > 1  # different crops of the same photograph
    assert len({x.tobytes() for x in x_eval}) == 1
    np.testing.assert_array_equal(x_eval[0], crop_batch(images.load([0]), 67)[0])


def test_batches_are_the_same_for_the_same_seed_epoch_and_index():
    images = FileImages([CHINA] * 8, 67, resize="crop")
    a = ImageBatches(images, batch_size=4, shuffle=True, augmentation=PAPER_AUGMENTATION, seed=5)
    b = ImageBatches(images, batch_size=4, shuffle=True, augmentation=PAPER_AUGMENTATION, seed=5)
    np.testing.assert_array_equal(a[1][0], b[1][0])
    a.on_epoch_end()
    assert not np.array_equal(a[1][0], b[1][0])


@pytest.mark.parametrize("augment, resize", [("study", "squash"), ("paper", "crop")])
def test_augmentation_is_never_applied_at_predict_time(augment, resize):
    X, y = load_digits(return_X_y=True)
    X, y = (X[:40] * 15).reshape(-1, 8, 8), y[:40]
    clf = AlexNetClassifier(
        image_size=67, epochs=1, batch_size=16, augment=augment, resize=resize, random_state=0
    ).fit(X, y)
    plain = AlexNetClassifier(image_size=67, augment=None, resize=resize)
    (x,) = ImageBatches(plain._validate_X(X, reset=False)[0], batch_size=40, workers=1)[0]
    np.testing.assert_allclose(
        clf.predict_proba(X),
        np.asarray(clf.model_.predict(x, batch_size=len(x), verbose=0)),
        rtol=1e-5,
        atol=1e-6,
    )
