"""An image's features, probabilities and prediction never depend on its batch: not on the other
images beside it, nor on how many there are, nor on ``batch_size``, from arrays or from files.

Bit for bit: a network that ran one image alone and the same image among 31 others rounded
differently (9e-9 on the probabilities, 2-core EPYC), enough for scikit-learn's subset-invariance
check to fail on an AVX-512 Xeon.
"""

import numpy as np
import pytest
from digits import DIGITS_IMAGE_SIZE, digit_images

from skalexnet import AlexNetClassifier, AlexNetFeatureExtractor
from skalexnet.datasets import load_image_folder, write_digits_folder

# 70 images: slices of 32, 32 and 6 padded, so images sit at every kind of place in a slice.
N_IMAGES = 70
SINGLES = (0, 5, 31, 32, 45, 69)


@pytest.fixture(scope="module")
def digits():
    images, labels = digit_images()
    return images[:N_IMAGES], labels[:N_IMAGES]


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory):
    folder = write_digits_folder(tmp_path_factory.mktemp("digits"), n_per_class=7)
    return list(load_image_folder(folder).filenames)


@pytest.fixture(scope="module")
def extractor(digits):
    # Three layers, fc7 among them: its 4096-long dot products are where shapes round apart.
    images, _ = digits
    features = AlexNetFeatureExtractor(
        weights=None, layer=["conv5", "pool5", "fc7"], image_size=DIGITS_IMAGE_SIZE, random_state=0
    )
    return features.fit(images)


@pytest.fixture(scope="module")
def classifier(digits):
    images, labels = digits
    clf = AlexNetClassifier(
        image_size=DIGITS_IMAGE_SIZE, epochs=1, batch_size=16, augment=None, random_state=0
    )
    return clf.fit(images, labels)


def assert_rows_do_not_depend_on_the_batch(method, X):
    whole = method(X)
    for i in SINGLES:
        np.testing.assert_array_equal(method(X[i : i + 1])[0], whole[i], err_msg=f"image {i}")
    np.testing.assert_array_equal(method(X[7:50]), whole[7:50])
    reversed_order = np.arange(len(X))[::-1]
    np.testing.assert_array_equal(method(X[reversed_order]), whole[reversed_order])
    return whole


def test_features_of_an_image_do_not_depend_on_its_batch(extractor, digits):
    images, _ = digits
    assert_rows_do_not_depend_on_the_batch(extractor.transform, images)


def test_features_of_an_image_file_do_not_depend_on_its_batch(extractor, digit_files):
    paths = np.asarray(digit_files)
    assert_rows_do_not_depend_on_the_batch(extractor.transform, paths)


@pytest.mark.parametrize("batch_size", [1, 7, 100])
def test_features_do_not_depend_on_batch_size(extractor, digits, digit_files, batch_size):
    images, _ = digits
    other = AlexNetFeatureExtractor(**{**extractor.get_params(), "batch_size": batch_size})
    other.fit(images)
    np.testing.assert_array_equal(other.transform(images), extractor.transform(images))
    np.testing.assert_array_equal(other.transform(digit_files), extractor.transform(digit_files))


def test_probabilities_and_predictions_do_not_depend_on_the_batch(classifier, digits, digit_files):
    images, _ = digits
    proba = assert_rows_do_not_depend_on_the_batch(classifier.predict_proba, images)
    assert_rows_do_not_depend_on_the_batch(classifier.predict_proba, np.asarray(digit_files))
    for i in SINGLES:
        assert classifier.predict(images[i : i + 1])[0] == classifier.classes_[proba[i].argmax()]


@pytest.mark.parametrize("batch_size", [3, 64, 100])
def test_probabilities_do_not_depend_on_batch_size(classifier, digits, batch_size):
    images, _ = digits
    expected = classifier.predict_proba(images)
    try:
        classifier.set_params(batch_size=batch_size)
        np.testing.assert_array_equal(classifier.predict_proba(images), expected)
    finally:
        classifier.set_params(batch_size=16)
