"""AlexNet as one readable function, in the three variants for which weights exist.

Layer names follow Caffe (conv1 ... conv5, norm1, norm2, pool1, pool2, pool5, fc6, fc7, fc8, prob),
so that estimators freeze and extract layers by name whatever the variant.
"""

import math
import random
from collections.abc import Iterable

import keras

from ._layers import (
    AlexNetConv2D,
    AlexNetMaxPooling2D,
    ImagePreprocessing,
    LocalResponseNormalization,
)

IMAGENET_RGB_MEAN = (123.68, 116.779, 103.939)
CAFFE_BGR_MEAN = (104.007, 116.669, 122.679)
TORCHVISION_RGB_MEAN = (0.485, 0.456, 0.406)
TORCHVISION_RGB_STD = (0.229, 0.224, 0.225)

# The layers that hold weights, bottom to top: the unit of freezing and of weight conversion.
WEIGHTED_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")

# Preprocessing follows the weights, not the architecture: the study divided by 255 when training
# from scratch, while the convnets-keras weights expect the mean-subtracted 0-255 scale.
PREPROCESSING = {
    "study": {"mean": IMAGENET_RGB_MEAN, "std": (255.0,) * 3, "reverse_channels": False},
    "imagenet_mean": {"mean": IMAGENET_RGB_MEAN, "std": (1.0,) * 3, "reverse_channels": False},
    "caffe": {"mean": CAFFE_BGR_MEAN, "std": (1.0,) * 3, "reverse_channels": True},
    "torchvision": {
        "mean": tuple(255.0 * m for m in TORCHVISION_RGB_MEAN),
        "std": tuple(255.0 * s for s in TORCHVISION_RGB_STD),
        "reverse_channels": False,
    },
}

ARCHITECTURES = {
    # Krizhevsky et al. 2012 as the convnets-keras port (and so the study) built it: pool then LRN,
    # the paper's LRN (k=2, alpha not divided by n), floor pooling.
    "original": {
        "filters": (96, 256, 384, 384, 256),
        "groups": (1, 2, 1, 2, 2),
        "lrn": {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0, "alpha_over_size": False},
        "lrn_before_pool": False,
        "ceil_pooling": False,
        "conv1_padding": 0,
        "dropout_before_fc": False,
        "preprocessing": "study",
    },
    # BVLC Caffe (and the ONNX model zoo's copy): LRN then pool, Caffe's LRN, ceil-mode pooling.
    "caffe": {
        "filters": (96, 256, 384, 384, 256),
        "groups": (1, 2, 1, 2, 2),
        "lrn": {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 1.0, "alpha_over_size": True},
        "lrn_before_pool": True,
        "ceil_pooling": True,
        "conv1_padding": 0,
        "dropout_before_fc": False,
        "preprocessing": "caffe",
    },
    # torchvision's "one weird trick" variant: narrower, no LRN, no groups, adaptive pooling to 6x6.
    "torchvision": {
        "filters": (64, 192, 384, 256, 256),
        "groups": (1, 1, 1, 1, 1),
        "lrn": None,
        "lrn_before_pool": False,
        "ceil_pooling": False,
        "conv1_padding": 2,
        "dropout_before_fc": True,
        "preprocessing": "torchvision",
    },
}


def _pool_output(size: int, ceil: bool) -> int:
    rounding = math.ceil if ceil else math.floor
    return rounding((size - 3) / 2) + 1


def _feature_map_sizes(arch: str, image_size: int) -> dict:
    """Spatial size after conv1, pool1, pool2 and pool5 (0 or less where the stack breaks)."""
    spec = ARCHITECTURES[arch]
    conv1 = (image_size + 2 * spec["conv1_padding"] - 11) // 4 + 1
    sizes = {"conv1": conv1}
    size = conv1
    for name in ("pool1", "pool2", "pool5"):
        size = _pool_output(size, spec["ceil_pooling"]) if size >= 3 else 0
        sizes[name] = size
    return sizes


def min_image_size(arch: str = "original") -> int:
    """Smallest square input that the layer stack of ``arch`` admits.

    Parameters
    ----------
    arch : {'original', 'caffe', 'torchvision'}
        The AlexNet variant.

    Returns
    -------
    size : int
        67 for 'original', 55 for 'caffe' (ceil-mode pooling), 63 for 'torchvision'.
    """
    _check_arch(arch)
    size = 11
    while _feature_map_sizes(arch, size)["pool5"] < 1:
        size += 1
    return size


def _check_arch(arch):
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {sorted(ARCHITECTURES)}, got {arch!r}.")


def _max_pool(x, name, ceil, dtype):
    if ceil:  # Caffe's ceil mode: pad the bottom/right edge; exact since inputs are >= 0 here
        size = x.shape[1]
        pad = (_pool_output(size, ceil=True) - 1) * 2 + 3 - size
        if pad > 0:
            x = keras.layers.ZeroPadding2D(((0, pad), (0, pad)), name=f"{name}_pad", dtype=dtype)(x)
    return AlexNetMaxPooling2D(3, strides=2, name=name, dtype=dtype)(x)


def _conv(x, name, filters, kernel_size, groups, dtype, initializer, strides=1, padding="same"):
    return AlexNetConv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        groups=groups,
        activation="relu",
        kernel_initializer=initializer,
        name=name,
        dtype=dtype,
    )(x)


def build_alexnet(
    arch: str = "original",
    n_classes: int = 1000,
    image_size: int = 227,
    preprocessing: str | None = None,
    dtype=None,
    seed: int | None = None,
    *,
    random_layers: Iterable[str] = WEIGHTED_LAYERS,
) -> keras.Model:
    """Build AlexNet as a Keras functional model that takes RGB pixels in [0, 255].

    Parameters
    ----------
    arch : {'original', 'caffe', 'torchvision'}, default='original'
        'original' is Krizhevsky et al. (2012) as the 2017 study used it; 'caffe' is BVLC's
        variant (LRN before pooling, ceil-mode pooling); 'torchvision' is torchvision's narrower
        network without LRN or groups. See ``ARCHITECTURES``.
    n_classes : int, default=1000
        Units of ``fc8``.
    image_size : int, default=227
        Height and width of the input; at least :func:`min_image_size`.
    preprocessing : {'study', 'imagenet_mean', 'caffe', 'torchvision'}, default=None
        The in-model input scaling (see ``PREPROCESSING``); None takes the architecture's own.
    dtype : str or keras.DTypePolicy, default=None
        The dtype policy of every layer but ``prob``, whose probabilities stay float32.
    seed : int, default=None
        Seeds every weight initialiser and dropout layer, each with its own seed drawn from
        it, so that the same seed builds the same network whatever else draws from Python's
        ``random`` meanwhile (a Dask worker's event loop does). None leaves them to Keras's
        global seed.
    random_layers : iterable of str, default=all weighted layers
        The layers whose kernels start He-normal; the others start at zero, for weights that
        are about to be set from a file or a model (drawing fc6's and fc7's 54 million
        He-normal values is most of the time a build takes). Seeds are drawn for every layer
        either way, so a layer's initial weights do not depend on this.

    Returns
    -------
    model : keras.Model
        Outputs class probabilities (layer ``prob``); ``fc8`` holds the logits.

    Examples
    --------
    >>> from skalexnet._network import build_alexnet
    >>> model = build_alexnet(n_classes=2)
    >>> model.count_params()
    56876418
    """
    _check_arch(arch)
    spec = ARCHITECTURES[arch]
    smallest = min_image_size(arch)
    if image_size < smallest:
        raise ValueError(
            f"image_size={image_size} is too small for the {arch!r} AlexNet: the smallest input "
            f"its layer stack admits is {smallest}x{smallest}."
        )
    pre = PREPROCESSING[preprocessing or spec["preprocessing"]]
    f1, f2, f3, f4, f5 = spec["filters"]
    g1, g2, g3, g4, g5 = spec["groups"]
    ceil = spec["ceil_pooling"]
    draw = random.Random(seed)

    random_layers = set(random_layers)

    def next_seed():
        return None if seed is None else draw.randrange(2**31)

    def initializer(name):
        layer_seed = next_seed()
        return keras.initializers.HeNormal(layer_seed) if name in random_layers else "zeros"

    def conv_block(x, index, filters, groups, kernel_size, **conv_kwargs):
        name = f"conv{index}"
        x = _conv(x, name, filters, kernel_size, groups, dtype, initializer(name), **conv_kwargs)
        if spec["lrn"] is None:
            return _max_pool(x, f"pool{index}", ceil, dtype)
        lrn = LocalResponseNormalization(**spec["lrn"], name=f"norm{index}", dtype=dtype)
        if spec["lrn_before_pool"]:
            return _max_pool(lrn(x), f"pool{index}", ceil, dtype)
        return lrn(_max_pool(x, f"pool{index}", ceil, dtype))

    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = ImagePreprocessing(**pre, name="preprocess", dtype=dtype)(inputs)
    if spec["conv1_padding"]:
        x = keras.layers.ZeroPadding2D(spec["conv1_padding"], name="conv1_pad", dtype=dtype)(x)
    x = conv_block(x, 1, f1, g1, 11, strides=4, padding="valid")
    x = conv_block(x, 2, f2, g2, 5)
    x = _conv(x, "conv3", f3, 3, g3, dtype, initializer("conv3"))
    x = _conv(x, "conv4", f4, 3, g4, dtype, initializer("conv4"))
    x = _conv(x, "conv5", f5, 3, g5, dtype, initializer("conv5"))
    x = _max_pool(x, "pool5", ceil, dtype)
    if arch == "torchvision":
        x = keras.layers.AdaptiveAveragePooling2D((6, 6), name="avgpool", dtype=dtype)(x)
    x = keras.layers.Flatten(name="flatten", dtype=dtype)(x)
    for fc, drop in (("fc6", "drop6"), ("fc7", "drop7")):
        dense = keras.layers.Dense(
            4096,
            activation="relu",
            kernel_initializer=initializer(fc),
            name=fc,
            dtype=dtype,
        )
        dropout = keras.layers.Dropout(0.5, seed=next_seed(), name=drop, dtype=dtype)
        x = dense(dropout(x)) if spec["dropout_before_fc"] else dropout(dense(x))
    x = keras.layers.Dense(
        n_classes,
        kernel_initializer=initializer("fc8"),
        name="fc8",
        dtype=dtype,
    )(x)
    outputs = keras.layers.Activation("softmax", name="prob", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=f"alexnet_{arch}")
