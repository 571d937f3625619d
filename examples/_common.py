"""Data for the examples: a real DATA_DIR in the study's layout, or scikit-learn's digits.

With ``SKALEXNET_EXAMPLES_SMALL=1`` in the environment (the documentation's gallery sets it),
the digits shrink to ``SMALL_PER_CLASS`` images a class and training to ``SMALL_EPOCHS`` epochs,
so that every example runs in well under a minute on 2 CPU cores.
"""

import argparse
import os

import numpy as np
from sklearn.model_selection import train_test_split

from skalexnet.datasets import load_image_folder
from skalexnet.digits import digit_images, pretrain_on_digits_0_to_4

SMALL = os.environ.get("SKALEXNET_EXAMPLES_SMALL", "") not in ("", "0")
SMALL_PER_CLASS = 40  # digits a class in the small-data mode, 30 to train and 10 to test
SMALL_EPOCHS = 3


def epochs(requested):
    """The epochs to train: as requested, or at most SMALL_EPOCHS in the small-data mode."""
    return min(requested, SMALL_EPOCHS) if SMALL else requested


def arguments(docstring, epochs):
    # The gallery runs an example without its docstring: __doc__ is then None.
    parser = argparse.ArgumentParser(description=(docstring or "").split("\n")[0] or None)
    parser.add_argument("data_dir", nargs="?", help="holds Train/<class>/* and Test/<class>/*")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--weights", default="imagenet", help="pretrained weights for DATA_DIR")
    return parser.parse_args()


def pretrained_on_digits_0_to_4():
    """The library's network trained on digits 0-4, saved: the stand-in for ImageNet weights."""
    import tempfile

    path = f"{tempfile.mkdtemp()}/digits_0_to_4.keras"
    pretrain_on_digits_0_to_4(**({"epochs": 1} if SMALL else {})).model_.save(path)
    return path


def digits(classes=range(10)):
    """uint8 8x8 digit images of the given classes, split 75/25 (stratified)."""
    images, labels = digit_images()
    keep = np.isin(labels, list(classes))
    if SMALL:  # the first SMALL_PER_CLASS images of each class
        rank = np.array([np.sum(labels[:i] == label) for i, label in enumerate(labels)])
        keep &= rank < SMALL_PER_CLASS
    return train_test_split(
        images[keep], labels[keep], test_size=0.25, random_state=0, stratify=labels[keep]
    )


def study_folders(data_dir):
    """(X_train, X_test, y_train, y_test) as file paths and class names from DATA_DIR."""
    train = load_image_folder(f"{data_dir}/Train")
    test = load_image_folder(f"{data_dir}/Test")
    names = np.asarray(train.target_names)
    return train.filenames, test.filenames, names[train.target], names[test.target]
