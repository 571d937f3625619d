"""scikit-learn's own estimator checks, on configurations small enough for CI."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skalexnet import AlexNetClassifier

SMALL = {"image_size": 67, "epochs": 1, "batch_size": 32, "augment": None, "random_state": 0}

EXPECTED_FAILED_CHECKS = {
    "AlexNetClassifier": {
        "check_sample_weight_equivalence_on_dense_data": (
            "minibatch SGD on shuffled batches: a weight of 2 is not the same steps as a duplicate"
        ),
    },
}


@parametrize_with_checks(
    [AlexNetClassifier(**SMALL)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS.get(
        type(estimator).__name__, {}
    ),
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
