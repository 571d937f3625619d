"""Keras 3 files written from a skalexnet model: weights read by name, architecture recovered."""

import keras
import numpy as np
import pytest

from skalexnet._network import WEIGHTED_LAYERS
from skalexnet.weights import apply_weights, load_weights, read_keras_weights


def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.random(w.shape, dtype=np.float32) - 0.5 for w in model.weights])
    return model


def _model_layers(model):
    return {name: [w.numpy() for w in model.get_layer(name).weights] for name in WEIGHTED_LAYERS}


@pytest.fixture(scope="module")
def caffe_model(fast_build):
    return _randomize(fast_build("caffe", 5, 227))


def _assert_same_layers(weights, expected):
    assert list(weights.layers) == list(WEIGHTED_LAYERS)
    for name, arrays in expected.items():
        for found, value in zip(weights.layers[name], arrays, strict=True):
            np.testing.assert_array_equal(found, value, err_msg=name)


def test_keras_file_gives_back_weights_and_architecture(caffe_model, tmp_path):
    path = tmp_path / "alexnet.keras"
    caffe_model.save(path)
    weights = load_weights(path)
    assert (weights.source, weights.arch, weights.preprocessing) == ("keras", "caffe", "caffe")
    assert (weights.n_classes, weights.image_size) == (5, 227)
    _assert_same_layers(weights, _model_layers(caffe_model))


def test_weights_h5_without_config_keeps_its_architecture(caffe_model, tmp_path):
    path = tmp_path / "alexnet.weights.h5"
    caffe_model.save_weights(path)
    weights = load_weights(path)
    # No config, but Keras writes the model's name and skalexnet its preprocessing.
    assert (weights.arch, weights.preprocessing, weights.image_size) == ("caffe", "caffe", None)
    _assert_same_layers(weights, _model_layers(caffe_model))
    for other in ("original", "torchvision"):
        with pytest.raises(ValueError, match=f"arch='{other}', but the file holds 'caffe'"):
            read_keras_weights(path, arch=other)


def test_torchvision_shapes_are_recognised_without_config(fast_build, tmp_path):
    model = _randomize(fast_build("torchvision", 3, 224), seed=1)
    path = tmp_path / "torchvision.weights.h5"
    model.save_weights(path)
    weights = load_weights(path)
    assert (weights.arch, weights.preprocessing, weights.n_classes) == (
        "torchvision",
        "torchvision",
        3,
    )
    again = apply_weights(fast_build("torchvision", 3, 224), weights)
    images = np.random.RandomState(2).uniform(0, 255, (1, 224, 224, 3)).astype(np.float32)
    np.testing.assert_array_equal(
        again.predict(images, verbose=0), model.predict(images, verbose=0)
    )


def test_keras_file_records_preprocessing_other_than_the_default(fast_build, tmp_path):
    model = fast_build("original", 2, 227, "imagenet_mean")
    path = tmp_path / "original.keras"
    model.save(path)
    weights = load_weights(path)
    assert (weights.arch, weights.preprocessing) == ("original", "imagenet_mean")


def test_keras_file_of_another_model_is_refused(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense")])
    path = tmp_path / "other.keras"
    model.save(path)
    with pytest.raises(ValueError, match=r"no weights for \['conv1'"):
        load_weights(path)
