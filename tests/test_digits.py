"""skalexnet.digits: the one recipe for the network that stands in for ImageNet."""

import numpy as np

from skalexnet.digits import PRETRAIN_PARAMS, digit_images, pretrain_on_digits_0_to_4


def test_digit_images_are_the_digits_as_uint8_images():
    from sklearn.datasets import load_digits

    images, labels = digit_images()
    digits = load_digits()
    assert images.shape == digits.images.shape and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, digits.target)
    # 0..16 scaled by 16 and clipped: 16 becomes 255, everything else keeps its order.
    np.testing.assert_array_equal(images, np.minimum(digits.images * 16, 255).astype(np.uint8))


def test_pretraining_sees_digits_0_to_4_only_and_takes_overrides():
    clf = pretrain_on_digits_0_to_4(epochs=1, batch_size=64)
    assert clf.classes_.tolist() == [0, 1, 2, 3, 4]
    assert clf.n_epochs_ == 1 and clf.batch_size == 64
    assert clf.learning_rate == PRETRAIN_PARAMS["learning_rate"] and clf.augment is None
    assert clf.image_size == 67 and clf.random_state == 0
    images, labels = digit_images()
    seen = labels < 5
    # One epoch already learns digits 0-4 well above the 0.2 of chance.
    assert clf.score(images[seen], labels[seen]) > 0.5
