"""Parameters are checked when fitting starts, before any network is built, by errors that name
the parameter and the value at fault."""

import keras
import numpy as np
import pytest
from digits import digit_images
from sklearn.base import BaseEstimator

import skalexnet.classifier
import skalexnet.features
import skalexnet.finetuner
from skalexnet import AlexNetClassifier, AlexNetFeatureExtractor, AlexNetFineTuner


@pytest.fixture
def no_network(monkeypatch):
    """Make building a network an error, so that a check that comes too late fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a network was built before the parameters were checked")

    for module in (skalexnet.classifier, skalexnet.features, skalexnet.finetuner):
        monkeypatch.setattr(module, "build_network", refuse)


@pytest.fixture(scope="module")
def digits():
    images, labels = digit_images()
    return images[:20], labels[:20]


BAD_PARAMS = [
    ({"augment": {"zoom": -1}}, ValueError, r"augment\['zoom'\] == -1, must be >= 0"),
    ({"augment": {"shear": 2.0}}, ValueError, r"augment\['shear'\] == 2.0, must be <"),
    ({"augment": {"horizontal_flip": "yes"}}, TypeError, r"augment\['horizontal_flip'\].*'yes'"),
    ({"momentum": 1.5}, ValueError, r"momentum == 1.5, must be <= 1"),
    ({"momentum": -0.1}, ValueError, r"momentum == -0.1, must be >= 0"),
    ({"weights": 123}, TypeError, r"weights must be .*; got 123"),
    ({"callbacks": keras.callbacks.TerminateOnNaN()}, TypeError, r"callbacks must be a list"),
    ({"callbacks": [print]}, TypeError, r"callbacks must be .*Callback.*print"),
    ({"image_size": 10000}, ValueError, r"image_size == 10000, must be <= 1024"),
    ({"image_size": 50}, ValueError, r"image_size=50 is below the smallest input"),
    ({"image_size": 227.0}, TypeError, r"image_size must be an instance of int.*227.0"),
    ({"epochs": True}, TypeError, r"epochs must be an int, not a bool; got True"),
    ({"batch_size": 0}, ValueError, r"batch_size == 0, must be >= 1"),
    ({"learning_rate": 0}, ValueError, r"learning_rate == 0, must be > 0"),
    ({"validation_fraction": 1.0}, ValueError, r"validation_fraction == 1.0, must be < 1"),
    ({"loss": "hinge"}, ValueError, r"loss must be one of .*; got 'hinge'"),
]


@pytest.mark.parametrize(("params", "error", "match"), BAD_PARAMS)
def test_classifier_fit_names_the_bad_parameter_before_building(
    no_network, digits, params, error, match
):
    with pytest.raises(error, match=match):
        AlexNetClassifier(**params).fit(*digits)


@pytest.mark.parametrize(("params", "error", "match"), BAD_PARAMS[:6])
def test_classifier_partial_fit_names_the_bad_parameter_before_building(
    no_network, digits, params, error, match
):
    with pytest.raises(error, match=match):
        AlexNetClassifier(**params).partial_fit(*digits, classes=np.arange(10))


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [entry for entry in BAD_PARAMS if "epochs" not in entry[0] and "learning_rate" not in entry[0]],
)
def test_finetuner_fit_names_the_bad_parameter_before_building(
    no_network, digits, params, error, match
):
    with pytest.raises(error, match=match):
        AlexNetFineTuner(**params).fit(*digits)


EXTRACTOR_BAD_PARAMS = [
    ({"weights": 123}, TypeError, r"weights must be .*; got 123"),
    ({"image_size": 10000}, ValueError, r"image_size == 10000, must be <= 1024"),
    ({"batch_size": 0}, ValueError, r"batch_size == 0, must be >= 1"),
    ({"resize": "stretch"}, ValueError, r"resize must be one of .*; got 'stretch'"),
    ({"layer": "fc9"}, ValueError, r"layer must be one or more of .*'fc9'"),
    ({"precision": "float16"}, ValueError, r"precision must be one of .*; got 'float16'"),
]


@pytest.mark.parametrize(("params", "error", "match"), EXTRACTOR_BAD_PARAMS)
def test_extractor_fit_names_the_bad_parameter_before_building(
    no_network, digits, params, error, match
):
    with pytest.raises(error, match=match):
        AlexNetFeatureExtractor(**params).fit(digits[0])


@pytest.mark.parametrize(("params", "error", "match"), EXTRACTOR_BAD_PARAMS[1:])
def test_extractor_from_estimator_names_the_bad_parameter_before_building(
    no_network, params, error, match
):
    fitted = AlexNetClassifier()
    fitted.model_ = keras.Sequential()  # stands in for a trained network: never built upon
    with pytest.raises(error, match=match):
        AlexNetFeatureExtractor.from_estimator(fitted, **params)


@pytest.mark.parametrize(
    "estimator", [AlexNetClassifier, AlexNetFineTuner, AlexNetFeatureExtractor]
)
def test_scikit_learns_validate_params_is_left_alone(estimator):
    # BaseEstimator._validate_params checks _parameter_constraints for scikit-learn's
    # _fit_context; an override with another meaning would break either.
    assert estimator._validate_params is BaseEstimator._validate_params


@pytest.mark.parametrize(
    "params",
    [
        {"momentum": 1.0, "image_size": 1024, "augment": {"zoom": 0.5, "shear": 0.0}},
        {"momentum": np.float64(0.5), "epochs": np.int64(0), "callbacks": ()},
        {"validation_fraction": 0.5, "decay": 0, "callbacks": [keras.callbacks.TerminateOnNaN()]},
        {"weights": "imagenet", "arch": "caffe", "image_size": 55},
    ],
)
def test_valid_parameters_pass_the_checks(params):
    AlexNetClassifier(**params)._check_params()


@pytest.mark.parametrize(
    "numbers",
    [
        {"momentum": 0, "learning_rate": 1, "decay": 0},
        {"momentum": np.float32(0.9), "learning_rate": np.float32(0.01)},
    ],
)
def test_ints_and_numpy_numbers_that_pass_the_checks_also_train(numbers, digits):
    # Keras's SGD takes momentum only as a Python float: an int or a NumPy number passed the
    # parameter checks and then failed after the network was built.
    X, y = digits
    clf = AlexNetClassifier(image_size=67, epochs=1, batch_size=10, augment=None, **numbers)
    clf.fit(X, y)
    assert clf.n_epochs_ == 1
