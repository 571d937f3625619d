"""load_weights and apply_weights: format detection, shape checks, the fc6 row order."""

import re

import keras
import numpy as np
import pytest

from skalexnet.weights import WeightSet, apply_weights, detect_format, load_weights
from skalexnet.weights._transforms import fc6_rows_chw_to_hwc


@pytest.fixture(scope="module")
def model(fast_build):
    """A torchvision AlexNet built without drawing its 61M initial values (set below anyway)."""
    return fast_build("torchvision", 10, 224)


def _weights_like(model, **replace):
    layers = {
        name: [np.full(w.shape, 0.5, np.float32) for w in model.get_layer(name).weights]
        for name in ("conv1", "fc6", "fc8")
    }
    layers.update(replace)
    return WeightSet("torchvision", "torchvision", layers, source="test", n_classes=10)


def test_fc6_permutation_matches_flatten_orders():
    rng = np.random.default_rng(0)
    pool5_chw = rng.standard_normal((256, 6, 6))
    kernel_chw_rows = rng.standard_normal((256 * 36, 5))
    kernel_hwc_rows = fc6_rows_chw_to_hwc(kernel_chw_rows, channels=256)
    torch_style = pool5_chw.reshape(-1) @ kernel_chw_rows
    keras_style = pool5_chw.transpose(1, 2, 0).reshape(-1) @ kernel_hwc_rows
    np.testing.assert_allclose(keras_style, torch_style, rtol=1e-12)


def test_transposed_kernel_is_refused_with_both_shapes(model):
    fc6 = model.get_layer("fc6")
    bad = _weights_like(model, fc6=[np.zeros((4096, 9216), np.float32), np.zeros(4096)])
    before = fc6.kernel.numpy().copy()
    with pytest.raises(
        ValueError, match=r"fc6 expects \(9216, 4096\), the file holds \(4096, 9216\): was the"
    ):
        apply_weights(model, bad)
    # conv1 comes first and was fine, yet nothing was set: no half-loaded model.
    np.testing.assert_array_equal(fc6.kernel.numpy(), before)
    assert not np.any(model.get_layer("conv1").kernel.numpy() == 0.5)


def test_other_class_count_suggests_skipping_fc8(model):
    other = _weights_like(model, fc8=[np.zeros((4096, 1000)), np.zeros(1000)])
    other.n_classes = 1000
    with pytest.raises(ValueError, match=r"fc8 expects \(4096, 10\).*skip=\('fc8',\)"):
        apply_weights(model, other)
    apply_weights(model, other, skip=("fc8",))
    assert np.all(model.get_layer("fc6").kernel.numpy() == 0.5)


def test_layer_missing_from_the_model_is_named():
    small = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="fc7")])
    weights = WeightSet("original", "study", {"fc8": [np.zeros((3, 2)), np.zeros(2)]}, "test", 2)
    with pytest.raises(ValueError, match="the model has no layer 'fc8'"):
        apply_weights(small, weights)


def test_unknown_skip_name_is_refused(model):
    with pytest.raises(ValueError, match=r"skip names unknown layers \['fc9'\]"):
        apply_weights(model, _weights_like(model), skip=("fc9",))


def test_weightset_checks_its_names():
    with pytest.raises(ValueError, match="arch must be one of"):
        WeightSet("vgg", "study", {}, "test", 2)
    with pytest.raises(ValueError, match=r"unknown layers \['fc9'\]"):
        WeightSet("original", "study", {"fc9": []}, "test", 2)


@pytest.mark.parametrize(
    "content", [b"just some text\n", b"\x89HDF\r\n\x1a\n" + b"\0" * 100, b"PK\x03\x04garbage"]
)
def test_unknown_or_damaged_file_names_the_accepted_formats(tmp_path, content):
    path = tmp_path / "weights.bin"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_weights(path)


def test_unknown_format_lists_what_is_accepted(tmp_path):
    path = tmp_path / "weights.npz"
    path.write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip: no torch or Keras member
    with pytest.raises(ValueError, match="unknown weights format; skalexnet reads convnets-keras"):
        detect_format(path)
