"""scikit-learn's own estimator checks, on configurations small enough for CI."""

import os
import tempfile
from pathlib import Path

from sklearn.utils.estimator_checks import parametrize_with_checks

from skalexnet import AlexNetClassifier, AlexNetFeatureExtractor, AlexNetFineTuner, build_alexnet

SMALL = {"image_size": 67, "batch_size": 128, "augment": None, "random_state": 0}


def _pretrained_file() -> str:
    """A seeded random AlexNet saved as a Keras file: the fine-tuner's 'pretrained' weights.

    The checks build their estimators when the module is collected, before any fixture runs. The
    path is fixed, since it is part of the test ids; each process writes its own copy and moves
    it into place, so parallel runs never read a half-written file.
    """
    directory = Path(tempfile.gettempdir()) / "skalexnet_common_checks"
    directory.mkdir(exist_ok=True)
    path = directory / "random_alexnet_67.keras"
    if not path.exists():
        partial = directory / f"random_alexnet_67.{os.getpid()}.keras"
        build_alexnet("original", 2, 67, seed=0).save(partial)
        os.replace(partial, path)
    return str(path)


ESTIMATORS = [
    AlexNetClassifier(**SMALL, epochs=1),
    # One epoch of fc8 alone: the check's fits stay quick; the schedule machinery still runs.
    AlexNetFineTuner(**SMALL, weights=_pretrained_file(), schedule=[("fc8", 1, 0.01)]),
    # Random weights, seeded: the extractor's checks need no file.
    AlexNetFeatureExtractor(weights=None, image_size=67, batch_size=32, random_state=0),
]

SAMPLE_WEIGHT_SGD = (
    "minibatch SGD on shuffled batches: a weight of 2 is not the same steps as a duplicate"
)
EXPECTED_FAILED_CHECKS = {
    "AlexNetClassifier": {"check_sample_weight_equivalence_on_dense_data": SAMPLE_WEIGHT_SGD},
    "AlexNetFineTuner": {"check_sample_weight_equivalence_on_dense_data": SAMPLE_WEIGHT_SGD},
}


@parametrize_with_checks(
    ESTIMATORS,
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS.get(
        type(estimator).__name__, {}
    ),
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
