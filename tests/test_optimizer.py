"""skalexnet's SGD: Keras's SGD, fused into one pass per weight on torch, step for step."""

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

from skalexnet._optimizer import SGD


def digits_model(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)]
    )


def train(optimizer, steps=6):
    """Weights and optimizer variables of a small network after ``steps`` batches of digits; a
    constant learning rate is changed after 3 steps, as ReduceLROnPlateau would."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype("float32")
    model = digits_model(0)
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(True))
    for step in range(steps):
        if step == 3 and not isinstance(
            optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule
        ):
            model.optimizer.learning_rate = 0.05
        model.train_on_batch(X[step * 32 : (step + 1) * 32], y[step * 32 : (step + 1) * 32])
    weights = [np.asarray(w) for w in model.get_weights()]
    state = [keras.ops.convert_to_numpy(v.value) for v in model.optimizer.variables]
    return weights, state


@pytest.mark.parametrize(
    "settings",
    [
        {"momentum": 0.9, "nesterov": True},  # the study's
        {"momentum": 0.9, "nesterov": False},
        {"momentum": 0.0, "nesterov": False},
    ],
)
@pytest.mark.parametrize(
    "learning_rate",
    [0.01, keras.optimizers.schedules.InverseTimeDecay(0.01, 1, 0.1)],
    ids=["constant", "decay"],
)
def test_sgd_takes_the_steps_and_keeps_the_state_of_keras_sgd(settings, learning_rate):
    ours = train(SGD(learning_rate, **settings))
    keras_own = train(keras.optimizers.SGD(learning_rate, **settings))
    for mine, theirs in zip(ours[0] + ours[1], keras_own[0] + keras_own[1], strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)
    moved = ours[0][0] - digits_model(0).get_weights()[0]
    assert np.abs(moved).max() > 1e-3  # the steps are real


def test_sgd_is_saved_and_loaded_with_its_model(tmp_path):
    model = digits_model(0)
    model.compile(optimizer=SGD(0.01, momentum=0.9, nesterov=True), loss="mse")
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert type(loaded.optimizer) is SGD
    assert loaded.optimizer.get_config() == model.optimizer.get_config()


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the fused kernel is torch's")
def test_on_torch_each_step_is_one_fused_update(monkeypatch):
    import torch

    calls = []
    fused = torch._fused_sgd_
    monkeypatch.setattr(torch, "_fused_sgd_", lambda *a, **k: calls.append(1) or fused(*a, **k))
    train(SGD(0.01, momentum=0.9, nesterov=True), steps=4)
    assert len(calls) == 4
