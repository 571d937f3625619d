"""Weights that do not fit the network, or a network skalexnet does not build: refused, naming
the file, the layer and the shapes, with a hint that fits what is wrong."""

import re

import keras
import numpy as np
import pytest
import tiny_weights

from skalexnet._pretrained import build_network
from skalexnet.weights import WeightFileError, apply_weights, load_weights, read_keras_weights
from skalexnet.weights._keras3 import BUILT_LAYERS


def test_shape_mismatch_names_the_file_the_layer_and_both_shapes(fast_build, tmp_path):
    path = tmp_path / "caffe-67.keras"
    fast_build("caffe", 3, 67).save(path)
    model = fast_build("caffe", 3, 99)  # pool5 is 2x2 at 99, 1x1 at 67
    before = model.get_layer("conv1").kernel.numpy().copy()
    with pytest.raises(WeightFileError) as error:
        apply_weights(model, load_weights(path))
    message = str(error.value)
    assert str(path) in message
    assert "fc6 expects (1024, 4096), the file holds (256, 4096)" in message
    assert "image_size=67" in message
    np.testing.assert_array_equal(model.get_layer("conv1").kernel.numpy(), before)
    with pytest.raises(WeightFileError, match="fc6 expects"):
        build_network(path, image_size=99)


def test_pool5_hint_for_a_weights_h5_names_the_image_sizes_that_fit(fast_build, tmp_path):
    path = tmp_path / "caffe-67.weights.h5"  # no config: the image size is not in the file
    fast_build("caffe", 3, 67).save_weights(path)
    weights = load_weights(path)
    with pytest.raises(WeightFileError, match="1x1 pool5 map, this model a 2x2 one") as error:
        apply_weights(fast_build("caffe", 3, 99), weights)
    smallest, largest = map(int, re.search(r"from (\d+) to (\d+)", str(error.value)).groups())
    assert smallest <= 67 <= largest
    for size in (smallest, largest):  # the hint is right at both ends
        apply_weights(fast_build("caffe", 3, size), weights)
    with pytest.raises(WeightFileError, match="fc6 expects"):
        apply_weights(fast_build("caffe", 3, largest + 1), weights)


def test_hint_never_asks_for_the_arch_the_model_already_has(fast_build, tmp_path):
    path = tiny_weights.write_keras(tmp_path / "tiny.keras")  # a 'caffe' AlexNet, 2 filters
    weights = load_weights(path)
    assert weights.arch == "caffe"
    with pytest.raises(WeightFileError) as error:
        apply_weights(fast_build("caffe", 3, 67), weights)
    message = str(error.value)
    assert str(path) in message
    assert "conv1 expects (11, 11, 3, 96), the file holds (3, 3, 3, 2)" in message
    assert "build the model with arch='caffe'" not in message
    # Into another variant the arch is the fault, and the hint says so.
    with pytest.raises(WeightFileError, match="build the model with arch='caffe'"):
        apply_weights(fast_build("torchvision", 3, 67), weights)


def _with_layer_before_conv1(tmp_path, weights_only):
    doubles = keras.layers.Lambda(lambda x: x * 2.0, name="doubles")
    model = tiny_weights.tiny_keras_model(before_conv1=doubles)
    path = tmp_path / ("extra.weights.h5" if weights_only else "extra.keras")
    if weights_only:
        model.save_weights(path)
    else:
        model.save(path)
    return path


@pytest.mark.parametrize("weights_only", [False, True], ids=["keras", "weights.h5"])
def test_layer_skalexnet_does_not_build_is_refused_by_name(tmp_path, weights_only):
    path = _with_layer_before_conv1(tmp_path, weights_only)
    # The weights alone would compute another function: AlexNet without the doubling.
    for read in (load_weights, read_keras_weights):
        with pytest.raises(WeightFileError, match="'doubles'") as error:
            read(path)
        assert str(path) in str(error.value)


def test_every_layer_build_alexnet_makes_is_accepted(fast_build):
    # 'caffe' at 63 pads pool1 for its ceil-mode pooling; 'torchvision' pads conv1.
    for arch, size in (("original", 67), ("caffe", 63), ("torchvision", 63)):
        model = fast_build(arch, 2, size)
        for layer in model.layers:
            assert type(layer).__name__ in BUILT_LAYERS[layer.name], (arch, layer.name)
    assert "pool1_pad" in [layer.name for layer in fast_build("caffe", 2, 63).layers]
