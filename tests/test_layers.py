"""The custom layers against independent NumPy implementations of their formulas."""

import keras
import numpy as np
import pytest

from skalexnet._layers import (
    AlexNetConv2D,
    AlexNetMaxPooling2D,
    ImagePreprocessing,
    LocalResponseNormalization,
)
from skalexnet._network import PREPROCESSING, build_alexnet


def lrn_reference(x, size, alpha, beta, k, alpha_over_size):
    """ONNX's LRN written out channel by channel: c - floor((n-1)/2) .. c + ceil((n-1)/2)."""
    channels = x.shape[-1]
    out = np.empty_like(x)
    a = alpha / size if alpha_over_size else alpha
    for c in range(channels):
        lo, hi = max(0, c - (size - 1) // 2), min(channels, c + size // 2 + 1)
        square_sum = (x[..., lo:hi] ** 2).sum(axis=-1)
        out[..., c] = x[..., c] / (k + a * square_sum) ** beta
    return out


@pytest.mark.parametrize(
    "settings",
    [
        {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0, "alpha_over_size": False},  # the paper
        {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 1.0, "alpha_over_size": True},  # Caffe
        {"size": 4, "alpha": 1e-3, "beta": 0.5, "k": 1.0, "alpha_over_size": True},  # even size
    ],
)
def test_lrn_matches_the_formula(settings):
    # Activations of ~100 make the denominator far from 1, so every convention is distinguishable.
    x = np.random.default_rng(0).uniform(0, 150, (2, 5, 5, 12)).astype("float32")
    got = keras.ops.convert_to_numpy(LocalResponseNormalization(**settings)(x))
    np.testing.assert_allclose(got, lrn_reference(x.astype("float64"), **settings), rtol=1e-5)


def test_lrn_conventions_differ_on_realistic_activations():
    x = np.random.default_rng(1).uniform(0, 150, (1, 3, 3, 8)).astype("float32")
    paper = LocalResponseNormalization(k=2.0, alpha_over_size=False)(x)
    caffe = LocalResponseNormalization(k=1.0, alpha_over_size=True)(x)
    assert not np.allclose(keras.ops.convert_to_numpy(paper), keras.ops.convert_to_numpy(caffe))


CONVOLUTIONS = [
    {"filters": 6, "kernel_size": 3, "groups": 2, "padding": "same"},
    {"filters": 4, "kernel_size": 5, "groups": 1, "padding": "same"},
    {"filters": 8, "kernel_size": 11, "strides": 4, "groups": 1, "padding": "valid"},
    {"filters": 6, "kernel_size": 3, "strides": 2, "groups": 2, "padding": "same"},
]


def _generic_and_fast(layer, x):
    layer.build(x.shape)
    generic = keras.layers.Conv2D.convolution_op(layer, x, layer.kernel)
    fast = layer.convolution_op(x, layer.kernel)
    return keras.ops.convert_to_numpy(generic), keras.ops.convert_to_numpy(fast)


@pytest.mark.parametrize("settings", CONVOLUTIONS)
def test_backend_specific_convolution_equals_keras_conv2d(settings):
    x = np.random.default_rng(2).normal(size=(2, 23, 23, 8)).astype("float32")
    generic, fast = _generic_and_fast(AlexNetConv2D(**settings), x)
    np.testing.assert_allclose(fast, generic, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("settings", CONVOLUTIONS)
def test_whole_layer_with_bias_and_relu_equals_keras_conv2d(settings):
    # On torch the bias is added inside the convolution: the layer's whole output must match.
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 23, 23, 8)).astype("float32")
    layer = AlexNetConv2D(**settings, activation="relu")
    layer.build(x.shape)
    layer.bias.assign(rng.normal(size=layer.bias.shape).astype("float32"))
    convolution = keras.layers.Conv2D.convolution_op(layer, x, layer.kernel)
    expected = np.maximum(keras.ops.convert_to_numpy(convolution) + layer.bias.numpy(), 0)
    assert (expected == 0).any() and (expected > 0).any()  # the ReLU is exercised
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("settings", CONVOLUTIONS)
def test_torch_path_gradients_equal_those_of_convolution_bias_and_relu_apart(settings):
    # The torch path adds the bias inside the convolution and applies the ReLU in place:
    # backpropagation through both must give Keras's gradients.
    if keras.backend.backend() != "torch":
        pytest.skip("the in-place path exists on the torch backend only")
    import torch

    rng = np.random.default_rng(6)
    layer = AlexNetConv2D(**settings, activation="relu")
    layer.build((2, 23, 23, 8))
    layer.bias.assign(rng.normal(size=layer.bias.shape).astype("float32"))
    inputs = torch.from_numpy(rng.normal(size=(2, 23, 23, 8)).astype("float32"))
    variables = [layer.kernel.value, layer.bias.value]

    def gradients(forward):
        x = inputs.clone().requires_grad_(True)
        y = forward(x)
        upstream = torch.from_numpy(rng.normal(size=tuple(y.shape)).astype("float32"))
        return [g.numpy() for g in torch.autograd.grad((y * upstream).sum(), [x, *variables])]

    rng_state = rng.bit_generator.state
    fast = gradients(layer)
    rng.bit_generator.state = rng_state  # the same upstream gradient for both
    generic = gradients(
        lambda x: torch.relu(
            keras.layers.Conv2D.convolution_op(layer, x, layer.kernel) + layer.bias.value
        )
    )
    for f, g in zip(fast, generic, strict=True):
        np.testing.assert_allclose(f, g, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("settings", [s for s in CONVOLUTIONS if s["groups"] > 1])
def test_split_group_convolution_equals_keras_conv2d(settings):
    x = np.random.default_rng(3).normal(size=(2, 9, 9, 8)).astype("float32")
    layer = AlexNetConv2D(**settings)
    generic, _ = _generic_and_fast(layer, x)
    split = keras.ops.convert_to_numpy(layer._split_convolution(x, layer.kernel))
    np.testing.assert_allclose(split, generic, rtol=1e-5, atol=1e-5)


def test_grouped_convolution_keeps_each_group_to_its_input_channels():
    # Output channels of group g must not see input channels of the other group.
    layer = AlexNetConv2D(4, 1, groups=2, use_bias=False)
    x = np.zeros((1, 1, 1, 4), "float32")
    x[..., :2] = 1.0  # only group 0's inputs are non-zero
    layer.build(x.shape)
    layer.kernel.assign(np.ones(layer.kernel.shape, "float32"))
    out = keras.ops.convert_to_numpy(layer(x)).ravel()
    np.testing.assert_array_equal(out, [2, 2, 0, 0])


def test_max_pooling_equals_keras_max_pooling():
    x = np.random.default_rng(4).normal(size=(2, 13, 13, 5)).astype("float32")
    ours = AlexNetMaxPooling2D(3, strides=2)(x)
    theirs = keras.layers.MaxPooling2D(3, strides=2)(x)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(ours), keras.ops.convert_to_numpy(theirs)
    )


def test_preprocessing_subtracts_mean_and_scales_per_channel():
    x = np.random.default_rng(3).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    mean, std = (123.68, 116.779, 103.939), (255.0, 255.0, 255.0)
    got = keras.ops.convert_to_numpy(ImagePreprocessing(mean, std)(x))
    np.testing.assert_allclose(got, (x - np.array(mean)) / 255.0, rtol=1e-5, atol=1e-6)


def test_preprocessing_can_feed_bgr():
    x = np.random.default_rng(4).uniform(0, 255, (1, 2, 2, 3)).astype("float32")
    got = keras.ops.convert_to_numpy(ImagePreprocessing((0, 0, 0), (1, 1, 1), True)(x))
    np.testing.assert_array_equal(got, x[..., ::-1])


def test_layers_survive_serialisation():
    for layer in (
        LocalResponseNormalization(size=3, k=1.5),
        ImagePreprocessing((1, 2, 3), (4, 5, 6), reverse_channels=True),
        ImagePreprocessing((1, 2, 3), (4, 5, 6), folded=True),
        AlexNetConv2D(4, 3, groups=2),
        AlexNetConv2D(
            4, 3, input_scaling={"mean": (1, 2, 3), "std": (4, 5, 6), "reverse_channels": True}
        ),
        AlexNetMaxPooling2D(3, strides=2),
    ):
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        assert type(clone) is type(layer)
        assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize("preprocessing", ["study", "caffe", "torchvision"])
@pytest.mark.parametrize(("dtype", "rtol"), [("float32", 1e-5), ("mixed_bfloat16", 2e-2)])
def test_conv1_with_input_scaling_equals_the_scaling_then_conv1(preprocessing, dtype, rtol):
    # Raw pixels against the unfolded pair, same weights: BGR reversal (caffe), a std of 1 and
    # per-channel stds (torchvision) included. bfloat16 rounds the two differently.
    pre = PREPROCESSING[preprocessing]
    x = np.random.default_rng(5).integers(0, 256, (2, 35, 35, 3)).astype("float32")
    folded = AlexNetConv2D(8, 11, strides=4, activation="relu", input_scaling=pre, dtype=dtype)
    plain = AlexNetConv2D(8, 11, strides=4, activation="relu", dtype=dtype)
    scale = ImagePreprocessing(**pre, dtype="float32")
    folded.build((None, 35, 35, 3))
    plain.build((None, 35, 35, 3))
    kernel = np.random.default_rng(6).normal(0, 0.05, (11, 11, 3, 8)).astype("float32")
    for layer in (folded, plain):
        layer.set_weights([kernel, np.linspace(-0.5, 0.5, 8).astype("float32")])
    got = keras.ops.convert_to_numpy(keras.ops.cast(folded(x), "float32"))
    expected = keras.ops.convert_to_numpy(keras.ops.cast(plain(scale(x)), "float32"))
    assert np.abs(expected).max() > 0.1 and (expected == 0).mean() < 0.9  # not all ReLU zeros
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


def test_networks_fold_the_scaling_into_conv1_unless_padding_comes_between():
    for arch, folded in (("original", True), ("caffe", True), ("torchvision", False)):
        model = build_alexnet(arch, n_classes=2, image_size=67, seed=0)
        assert model.get_layer("preprocess").folded is folded
        scaling = model.get_layer("conv1").input_scaling
        assert (scaling is not None) is folded


def test_alexnet_dense_trains_as_dense_and_infers_the_same_sums_row_by_row():
    # fc8's few columns: inference pads the kernel so that BLAS treats every row alike; training
    # computes exactly as Dense.
    from skalexnet._layers import AlexNetDense

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4096)).astype(np.float32)
    narrow, plain = AlexNetDense(5, name="fc8"), keras.layers.Dense(5)
    narrow.build(x.shape), plain.build(x.shape)
    plain.set_weights(
        [rng.normal(size=(4096, 5)).astype(np.float32), rng.normal(size=5).astype(np.float32)]
    )
    narrow.set_weights(plain.get_weights())
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(narrow(x, training=True)),
        keras.ops.convert_to_numpy(plain(x, training=True)),
    )
    inferred = keras.ops.convert_to_numpy(narrow(x, training=False))
    np.testing.assert_allclose(
        inferred, x @ plain.get_weights()[0] + plain.get_weights()[1], rtol=1e-4, atol=1e-3
    )
    for shift in range(1, 32):
        rolled = keras.ops.convert_to_numpy(narrow(np.roll(x, shift, axis=0), training=False))
        np.testing.assert_array_equal(rolled, np.roll(inferred, shift, axis=0), err_msg=shift)
