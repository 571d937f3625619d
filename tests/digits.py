"""scikit-learn's real handwritten digits as images, shared by the tests."""

import numpy as np
from sklearn.datasets import load_digits

# AlexNet's smallest input; the 8x8 digits are upscaled to it.
DIGITS_IMAGE_SIZE = 67


def digit_images():
    """The 1797 digits as uint8 8x8 images (0..16 scaled to 0..255) and their labels."""
    X, y = load_digits(return_X_y=True)
    return (X * 16).clip(0, 255).astype(np.uint8).reshape(-1, 8, 8), y


# How the network standing in for ImageNet is trained: digits 0-4 only.
PRETRAIN = {"epochs": 4, "batch_size": 32, "learning_rate": 0.02, "augment": None}


def save_network_trained_on_0_to_4(path, image_size: int = DIGITS_IMAGE_SIZE, **changes):
    """Train AlexNetClassifier on digits 0-4 and save its network as a Keras file at path.

    ``changes`` overrides parameters of PRETRAIN, e.g. ``learning_rate=0.005``.
    """
    from skalexnet import AlexNetClassifier

    images, labels = digit_images()
    seen = labels < 5
    clf = AlexNetClassifier(image_size=image_size, random_state=0, **{**PRETRAIN, **changes})
    clf.fit(images[seen], labels[seen]).model_.save(path)
    return path


def few_shot_split(labels, seed: int, per_class: int = 20):
    """Indices of ``per_class`` training images of each of digits 5-9 and of the others 5-9."""
    rng = np.random.default_rng(seed)
    unseen = np.flatnonzero(labels >= 5)
    train = np.concatenate(
        [rng.choice(unseen[labels[unseen] == c], per_class, replace=False) for c in range(5, 10)]
    )
    return train, np.setdiff1d(unseen, train)
