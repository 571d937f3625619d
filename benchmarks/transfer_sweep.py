"""Features of unseen digits against their raw pixels under an SVM, for one way of pretraining.

Trains AlexNetClassifier on scikit-learn's digits 0-4 (``skalexnet.digits``'s recipe with
``--image-size``, ``--epochs``, ``--learning-rate``, ``--seed``; batch 32, no augmentation),
then takes pool5 and fc7 features of digits 5-9, which the network never saw. Over ``--draws``
draws of 20 training images a class (the other ~800 scored) it grid-searches an SVC over C
(cv=2), with the RBF and with the linear kernel, on the features and on the raw pixels the
network is given (the same images resized the same way), and prints each mean accuracy and the
mean paired difference, features minus pixels, with its standard error.

The README's table of pretraining recipes is this script's output, one run per row, e.g.::

    python benchmarks/transfer_sweep.py --learning-rate 0.005 --epochs 4 --seed 0

About 3 minutes a run on 2 cores at 131 pixels and 4 epochs. Never part of the test suite.
"""

import argparse
import time

import numpy as np
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC

from skalexnet import AlexNetFeatureExtractor
from skalexnet._data import ArrayImages
from skalexnet.digits import digit_images, pretrain_on_digits_0_to_4

SVMS = {
    "RBF": (SVC(), {"C": [0.1, 1, 10, 100]}),
    "linear": (SVC(kernel="linear"), {"C": [1e-4, 1e-3, 1e-2, 0.1, 1]}),
}


def inputs_of(clf, images, image_size) -> dict:
    """pool5 features, fc7 features and raw pixels of images, one row each."""
    extractor = AlexNetFeatureExtractor.from_estimator(clf, layer=["pool5", "fc7"])
    both = extractor.transform(images)
    n_pool5 = int(np.prod(extractor.feature_shapes_["pool5"]))
    pixels = ArrayImages(images, image_size).load(np.arange(len(images)))
    return {
        "pool5": both[:, :n_pool5],
        "fc7": both[:, n_pool5:],
        "pixels": pixels.reshape(len(images), -1).astype(np.float32),
    }


def draw(labels, index: int, per_class: int = 20):
    """Training and test positions of draw ``index`` (labels are digits 5-9 only)."""
    rng = np.random.default_rng(2000 + index)
    positions = np.arange(len(labels))
    train = np.concatenate(
        [rng.choice(positions[labels == c], per_class, replace=False) for c in range(5, 10)]
    )
    return train, np.setdiff1d(positions, train)


def accuracies(X, labels, svm, grid, n_draws: int) -> np.ndarray:
    scores = []
    for index in range(n_draws):
        train, test = draw(labels, index)
        search = GridSearchCV(svm, grid, cv=2).fit(X[train], labels[train])
        scores.append(search.score(X[test], labels[test]))
    return np.array(scores)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=131)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=0.005)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draws", type=int, default=20)
    args = parser.parse_args()

    images, labels = digit_images()
    start = time.perf_counter()
    clf = pretrain_on_digits_0_to_4(
        image_size=args.image_size,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        random_state=args.seed,
    )
    print(
        f"pretrained on digits 0-4 at {args.image_size} px, {args.epochs} epochs, learning rate "
        f"{args.learning_rate}, seed {args.seed}: {time.perf_counter() - start:.0f} s"
    )
    unseen = labels >= 5
    inputs = inputs_of(clf, images[unseen], args.image_size)
    for kernel, (svm, grid) in SVMS.items():
        pixels = accuracies(inputs["pixels"], labels[unseen], svm, grid, args.draws)
        print(f"{kernel} SVM, {args.draws} draws of 20 a class: pixels {pixels.mean():.4f}")
        for layer in ("pool5", "fc7"):
            scores = accuracies(inputs[layer], labels[unseen], svm, grid, args.draws)
            difference = scores - pixels
            standard_error = difference.std(ddof=1) / np.sqrt(len(difference))
            print(
                f"  {layer}: {scores.mean():.4f}, minus pixels {100 * difference.mean():+.1f} "
                f"± {100 * standard_error:.1f} points, ahead in {np.sum(difference > 0)} draws"
            )


if __name__ == "__main__":
    main()
