"""convnets-keras' alexnet_weights.h5 (Keras 1, Theano): the conversion reproduces Theano.

The reference logits were computed once by Theano 1.0.5 itself (tests/reference/
theano_convnets_keras.py) on full-size seeded weights; the test regenerates those weights
bit for bit (numpy's RandomState stream is frozen), writes them in the Keras 1 layout, and loads
them with skalexnet. CI needs no Theano.
"""

import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from skalexnet._network import ARCHITECTURES
from skalexnet.weights import apply_weights, load_weights, read_convnets_keras_h5

sys.path.insert(0, str(Path(__file__).parent / "reference"))
from compare import fc8_logits, relative_error
from convnets_keras_weights import (
    digest,
    generate_images,
    generate_weights,
    write_convnets_keras_h5,
)

THEANO_REFERENCE = Path(__file__).parent / "fixtures" / "weights" / "convnets_keras_theano.npz"
ORIGINAL_PARAMS = 60_965_224


@pytest.fixture(scope="module")
def theano():
    return np.load(THEANO_REFERENCE)


@pytest.fixture(scope="module")
def source_weights():
    return generate_weights()


@pytest.fixture(scope="module")
def images():
    return generate_images()


@pytest.fixture(scope="module")
def h5_path(source_weights, tmp_path_factory):
    path = tmp_path_factory.mktemp("convnets_keras") / "alexnet_weights.h5"
    write_convnets_keras_h5(path, source_weights)
    return path


@pytest.fixture(scope="module")
def weights(h5_path):
    return load_weights(h5_path)


def _logits_error(build, weights, images, theano):
    model = build(weights.arch, weights.n_classes, weights.image_size, weights.preprocessing)
    return relative_error(fc8_logits(apply_weights(model, weights), images), theano["fc8"])


def test_regenerated_weights_are_the_ones_theano_saw(source_weights, images, theano):
    assert digest(source_weights, images) == str(theano["digest"])


def test_full_size_file_loads_with_original_metadata(weights):
    assert (weights.source, weights.arch, weights.preprocessing) == (
        "convnets-keras-h5",
        "original",
        "imagenet_mean",
    )
    assert (weights.n_classes, weights.image_size, weights.n_params) == (1000, 227, ORIGINAL_PARAMS)
    assert weights.layers["conv4"][0].shape == (3, 3, 192, 384)


def test_converted_weights_reproduce_theano_logits(fast_build, weights, images, theano):
    error = _logits_error(fast_build, weights, images, theano)
    print(f"convnets-keras: relative error {error:.2e} (scale {np.abs(theano['fc8']).max():.3g})")
    assert error < 1e-5


def test_without_kernel_flip_logits_disagree(fast_build, h5_path, images, theano):
    unflipped = read_convnets_keras_h5(h5_path, flip_kernels=False)
    error = _logits_error(fast_build, unflipped, images, theano)
    print(f"convnets-keras without the kernel flip: relative error {error:.2f}")
    assert error > 0.05


def test_without_fc6_permutation_logits_disagree(
    fast_build, weights, source_weights, images, theano
):
    unpermuted = replace(weights, layers={**weights.layers, "fc6": list(source_weights["dense_1"])})
    error = _logits_error(fast_build, unpermuted, images, theano)
    print(f"convnets-keras without the fc6 permutation: relative error {error:.2f}")
    assert error > 0.05


@pytest.mark.parametrize(
    "change",
    [
        {"lrn": ARCHITECTURES["caffe"]["lrn"]},  # Caffe's LRN: k=1, alpha over n
        {"lrn_before_pool": True},  # BVLC AlexNet's norm-then-pool order
    ],
    ids=["caffe-lrn-formula", "lrn-before-pool"],
)
def test_other_lrn_convention_disagrees(fast_build, weights, images, theano, monkeypatch, change):
    for key, value in change.items():
        monkeypatch.setitem(ARCHITECTURES["original"], key, value)
    error = _logits_error(fast_build, weights, images, theano)
    print(f"convnets-keras with {change}: relative error {error:.2f}")
    assert error > 0.05


def _tiny_weights():
    """Structure-only weights: every layer present, one filter wide where shapes allow."""
    shapes = {
        "conv_1": (2, 3, 11, 11), "conv_2_1": (2, 1, 5, 5), "conv_2_2": (2, 1, 5, 5),
        "conv_3": (2, 4, 3, 3), "conv_4_1": (2, 1, 3, 3), "conv_4_2": (2, 1, 3, 3),
        "conv_5_1": (2, 1, 3, 3), "conv_5_2": (2, 1, 3, 3), "dense_1": (144, 3),
        "dense_2": (3, 3), "dense_3": (3, 2),
    }  # fmt: skip
    units = {name: shape[0] if len(shape) == 4 else shape[1] for name, shape in shapes.items()}
    return {n: (np.ones(s, np.float32), np.zeros(units[n], np.float32)) for n, s in shapes.items()}


def test_keras2_file_is_refused(tmp_path):
    path = tmp_path / "keras2.h5"
    write_convnets_keras_h5(path, _tiny_weights(), backend="tensorflow")
    with pytest.raises(ValueError, match=r"written by Keras 2 \(backend='tensorflow'\)"):
        load_weights(path)


def test_missing_layer_is_named(tmp_path):
    path = tmp_path / "partial.h5"
    weights = _tiny_weights()
    del weights["conv_4_2"]
    write_convnets_keras_h5(path, weights)
    with pytest.raises(ValueError, match=r"layer 'conv_4_2' holds \[\]"):
        load_weights(path)


def test_truncated_h5_fails_naming_the_file(h5_path, tmp_path):
    path = tmp_path / "truncated.h5"
    with open(h5_path, "rb") as f:
        path.write_bytes(f.read(1 << 20))
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_weights(path)
