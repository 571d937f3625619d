"""precision='bfloat16': mixed precision scoped to the estimator, float32 outputs."""

import keras
import numpy as np
import pytest
from digits import DIGITS_IMAGE_SIZE, digit_images

from skalexnet import AlexNetClassifier, _precision

COMMON = {"image_size": DIGITS_IMAGE_SIZE, "augment": None, "random_state": 0}


@pytest.mark.parametrize(("fast", "expected"), [(True, "bfloat16"), (False, "float32")])
def test_auto_picks_bfloat16_only_where_it_is_fast(monkeypatch, fast, expected):
    monkeypatch.setattr(_precision, "fast_bfloat16", lambda: fast)
    assert _precision.resolve_precision("auto") == expected
    assert _precision.resolve_precision("float32") == "float32"


def test_bfloat16_is_set_on_the_network_only_and_outputs_stay_float32():
    images, labels = digit_images()
    # epochs=0 builds the network without training it: bfloat16 is emulated (slow) on CPUs
    # without AMX, so the training comparison below only runs where it is fast.
    mixed = AlexNetClassifier(epochs=0, precision="bfloat16", **COMMON).fit(images[:8], labels[:8])
    plain = AlexNetClassifier(epochs=0, precision="float32", **COMMON).fit(images[:8], labels[:8])
    assert mixed.precision_ == "bfloat16"
    assert mixed.model_.get_layer("conv1").dtype_policy.name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"
    proba = mixed.predict_proba(images[:4])
    assert proba.dtype == np.float32
    # Same seed, same float32 variables: the two differ by bfloat16 rounding alone.
    np.testing.assert_allclose(proba, plain.predict_proba(images[:4]), atol=0.05)


def test_unknown_precision_is_refused():
    images, labels = digit_images()
    with pytest.raises(ValueError, match="precision must be one of"):
        AlexNetClassifier(precision="float16", **COMMON).fit(images[:8], labels[:8])


@pytest.mark.skipif(
    not _precision.fast_bfloat16(),
    reason="bfloat16 is emulated on this machine (no GPU, no AMX): many times slower than float32",
)
def test_bfloat16_training_reaches_the_float32_accuracy_within_one_point():
    images, labels = digit_images()
    X, y, X_test, y_test = images[:1200], labels[:1200], images[1200:], labels[1200:]
    params = {**COMMON, "epochs": 6, "batch_size": 32, "learning_rate": 0.02}
    accuracy = {}
    for precision in ("float32", "bfloat16"):
        clf = AlexNetClassifier(precision=precision, **params).fit(X, y)
        accuracy[precision] = clf.score(X_test, y_test)
        assert keras.config.dtype_policy().name == "float32"
    print(f"digits, 6 epochs: {accuracy}")
    assert accuracy["float32"] >= 0.9
    assert accuracy["bfloat16"] >= accuracy["float32"] - 0.01
