"""Weight files of every format skalexnet reads, in their real layout but kilobytes in size.

Each writer fills the structure a reader checks (names, shapes that agree with one another, the
Keras config) with a few filters per layer, so that a reader accepts the file and returns a
WeightSet: the starting point for the fuzzer's mutations and the untrusted-file tests.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent / "reference"))

# conv1..conv5 filters, then fc6/fc7 units: two filters keep conv2/4/5 splittable into halves.
TINY_WIDTHS = (2, 2, 2, 2, 2, 4)
N_CLASSES = 3


def write_convnets_keras_h5(path) -> Path:
    """convnets-keras' Keras 1 ``alexnet_weights.h5`` layout, one or two filters per layer."""
    from convnets_keras_weights import write_convnets_keras_h5 as write

    shapes = {
        "conv_1": (2, 3, 11, 11), "conv_2_1": (2, 1, 5, 5), "conv_2_2": (2, 1, 5, 5),
        "conv_3": (2, 4, 3, 3), "conv_4_1": (2, 1, 3, 3), "conv_4_2": (2, 1, 3, 3),
        "conv_5_1": (2, 1, 3, 3), "conv_5_2": (2, 1, 3, 3), "dense_1": (144, 3),
        "dense_2": (3, 3), "dense_3": (3, N_CLASSES),
    }  # fmt: skip
    rng = np.random.default_rng(0)
    weights = {}
    for name, shape in shapes.items():
        units = shape[0] if len(shape) == 4 else shape[1]
        weights[name] = (rng.random(shape, np.float32), rng.random(units, np.float32))
    write(path, weights)
    return Path(path)


def write_onnx_bvlcalexnet(path) -> Path:
    """The ONNX zoo's bvlcalexnet graph node for node, two filters per conv."""
    from onnx_bvlcalexnet import make_bvlcalexnet, random_caffe_weights, save

    weights = random_caffe_weights(n_classes=N_CLASSES, seed=2, widths=TINY_WIDTHS)
    save(make_bvlcalexnet(weights, image_size=224), path)
    return Path(path)


def tiny_torchvision_state_dict() -> dict:
    """torchvision's AlexNet keys with shapes that convert (conv5's 2 filters x 6 x 6 = 72)."""
    import torch

    shapes = {
        "features.0": (4, 3, 11, 11), "features.3": (4, 4, 5, 5), "features.6": (4, 4, 3, 3),
        "features.8": (4, 4, 3, 3), "features.10": (2, 4, 3, 3), "classifier.1": (3, 72),
        "classifier.4": (3, 3), "classifier.6": (N_CLASSES, 3),
    }  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    state = {}
    for key, shape in shapes.items():
        state[f"{key}.weight"] = torch.rand(shape, generator=generator)
        state[f"{key}.bias"] = torch.rand(shape[0], generator=generator)
    return state


def write_torchvision_pth(path, legacy: bool = False) -> Path:
    """``torch.save`` of the tiny state dict, in torch's zip layout or its legacy stream."""
    import torch

    torch.save(tiny_torchvision_state_dict(), path, _use_new_zipfile_serialization=not legacy)
    return Path(path)


def tiny_keras_model(extra_layer=None, before_conv1=None):
    """A Keras model with skalexnet's layer names and config: image, preprocess, conv1, norm1
    (Caffe's LRN before pooling), conv2..conv5, fc6..fc8; two filters a layer, 16x16 input.

    ``extra_layer`` (a Keras layer) is applied after conv5, ``before_conv1`` in front of conv1,
    e.g. a Lambda for the untrusted-file tests; either must keep the shape.
    """
    import keras

    from skalexnet._layers import ImagePreprocessing, LocalResponseNormalization
    from skalexnet._network import ARCHITECTURES, PREPROCESSING

    inputs = keras.Input((16, 16, 3), name="image")
    x = ImagePreprocessing(**PREPROCESSING["caffe"], name="preprocess")(inputs)
    if before_conv1 is not None:
        x = before_conv1(x)
    x = keras.layers.Conv2D(2, 3, padding="same", name="conv1")(x)
    x = LocalResponseNormalization(**ARCHITECTURES["caffe"]["lrn"], name="norm1")(x)
    for index in range(2, 6):
        x = keras.layers.Conv2D(2, 3, padding="same", name=f"conv{index}")(x)
    if extra_layer is not None:
        x = extra_layer(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(4, name="fc6")(x)
    x = keras.layers.Dense(4, name="fc7")(x)
    outputs = keras.layers.Dense(N_CLASSES, name="fc8")(x)
    return keras.Model(inputs, outputs, name="alexnet_caffe")


def write_keras(path, weights_only: bool = False) -> Path:
    """``model.save`` (a ``.keras`` zip) or ``model.save_weights`` (``.weights.h5``)."""
    model = tiny_keras_model()
    if weights_only:
        model.save_weights(path)
    else:
        model.save(path)
    return Path(path)
