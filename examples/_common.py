"""Data for the examples: a real DATA_DIR in the study's layout, or scikit-learn's digits."""

import argparse

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skalexnet.datasets import load_image_folder


def arguments(description, epochs):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("data_dir", nargs="?", help="holds Train/<class>/* and Test/<class>/*")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--weights", default="imagenet", help="pretrained weights for DATA_DIR")
    return parser.parse_args()


def pretrained_on_digits_0_to_4():
    """A network trained on digits 0-4, saved: the stand-in for ImageNet weights."""
    import tempfile

    from skalexnet import AlexNetClassifier

    X, _, y, _ = digits(range(5))
    clf = AlexNetClassifier(
        image_size=67, epochs=4, batch_size=32, learning_rate=0.02, augment=None, random_state=0
    ).fit(X, y)
    path = f"{tempfile.mkdtemp()}/digits_0_to_4.keras"
    clf.model_.save(path)
    return path


def digits(classes=range(10)):
    """uint8 8x8 digit images of the given classes, split 75/25 (stratified)."""
    X, y = load_digits(return_X_y=True)
    keep = np.isin(y, list(classes))
    images = (X[keep] * 16).clip(0, 255).astype(np.uint8).reshape(-1, 8, 8)
    return train_test_split(images, y[keep], test_size=0.25, random_state=0, stratify=y[keep])


def study_folders(data_dir):
    """(X_train, X_test, y_train, y_test) as file paths and class names from DATA_DIR."""
    train = load_image_folder(f"{data_dir}/Train")
    test = load_image_folder(f"{data_dir}/Test")
    names = np.asarray(train.target_names)
    return train.filenames, test.filenames, names[train.target], names[test.target]
