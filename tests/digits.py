"""scikit-learn's real handwritten digits as images, shared by the tests."""

import numpy as np

from skalexnet.digits import DIGITS_IMAGE_SIZE, digit_images, pretrain_on_digits_0_to_4

__all__ = ["DIGITS_IMAGE_SIZE", "digit_images", "few_shot_split", "save_network_trained_on_0_to_4"]


def save_network_trained_on_0_to_4(path, image_size: int = DIGITS_IMAGE_SIZE, **changes):
    """The library's network trained on digits 0-4 (seed 0), saved as a Keras file at path.

    ``changes`` overrides parameters of ``skalexnet.digits.PRETRAIN_PARAMS``, e.g.
    ``learning_rate=0.005``.
    """
    pretrain_on_digits_0_to_4(image_size=image_size, random_state=0, **changes).model_.save(path)
    return path


def few_shot_split(labels, seed: int, per_class: int = 20):
    """Indices of ``per_class`` training images of each of digits 5-9 and of the others 5-9."""
    rng = np.random.default_rng(seed)
    unseen = np.flatnonzero(labels >= 5)
    train = np.concatenate(
        [rng.choice(unseen[labels[unseen] == c], per_class, replace=False) for c in range(5, 10)]
    )
    return train, np.setdiff1d(unseen, train)
