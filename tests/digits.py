"""scikit-learn's real handwritten digits as images, shared by the tests."""

import numpy as np

from skalexnet.digits import DIGITS_IMAGE_SIZE, digit_images, pretrain_on_digits_0_to_4

__all__ = [
    "DIGITS_IMAGE_SIZE",
    "TRANSFER_IMAGE_SIZE",
    "TRANSFER_LEARNING_RATE",
    "digit_images",
    "few_shot_split",
    "save_network_trained_on_0_to_4",
]

# At 67 pixels pool5 is a 1x1 map: it keeps which strokes a digit has but not where they are,
# and what a network learnt on digits 0-4 carries little to digits 5-9. At 131 pixels pool5 is
# 3x3, and both the features and the fine-tuned network carry over.
TRANSFER_IMAGE_SIZE = 131
# At PRETRAIN's 0.02, fc7 grows specific to digits 0-4 and an SVM on it loses to raw pixels; at
# a quarter of that rate, in the same 4 epochs, both layers carry over (the user guide's sweep).
TRANSFER_LEARNING_RATE = 0.005


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
