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
    AlexNetDense,
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


def _max_pool(name, size, ceil, dtype):
    """pool<i> on a map of ``size`` pixels, after the padding that Caffe's ceil mode needs."""
    if ceil:  # Caffe's ceil mode: pad the bottom/right edge; exact since inputs are >= 0 here
        pad = (_pool_output(size, ceil=True) - 1) * 2 + 3 - size
        if pad > 0:
            yield keras.layers.ZeroPadding2D(((0, pad), (0, pad)), name=f"{name}_pad", dtype=dtype)
    yield AlexNetMaxPooling2D(3, strides=2, name=name, dtype=dtype)


def _conv(name, filters, kernel_size, groups, dtype, initializer, strides=1, padding="same", **kw):
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
        **kw,
    )


def build_alexnet(
    arch: str = "original",
    n_classes: int = 1000,
    image_size: int = 227,
    preprocessing: str | None = None,
    dtype=None,
    seed: int | None = None,
    *,
    fc_dtype=None,
    random_layers: Iterable[str] = WEIGHTED_LAYERS,
    up_to: str | Iterable[str] = "prob",
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
        The dtype policy of every layer but ``prob``, whose probabilities stay float32, and
        those that ``fc_dtype`` sets. conv1 applies the input scaling through its own weights
        (``preprocess`` only casts the pixels), except where padding comes between the two
        ('torchvision'): there ``preprocess`` scales in float32, which measured faster on CPUs
        than a bfloat16 subtraction.
    seed : int, default=None
        Seeds every weight initialiser and dropout layer, each with its own seed drawn from
        it, so that the same seed builds the same network whatever else draws from Python's
        ``random`` meanwhile (a Dask worker's event loop does). None leaves them to Keras's
        global seed.
    fc_dtype : str or keras.DTypePolicy, default=None
        The dtype policy of fc6, fc7, fc8 and their dropout layers; None: ``dtype``. skalexnet's
        ``precision='bfloat16_conv'`` computes the convolutions in bfloat16 and these in float32.
    random_layers : iterable of str, default=all weighted layers
        The layers whose kernels start He-normal; the others start at zero, for weights that
        are about to be set from a file or a model (drawing fc6's and fc7's 54 million
        He-normal values is most of the time a build takes). Seeds are drawn for every layer
        either way, so a layer's initial weights do not depend on this.
    up_to : str or iterable of str, default='prob'
        Build the layers bottom up until every layer named here is built, and no further: a
        network up to ``'pool5'`` holds no fc6, fc7 or fc8 (37.7, 16.8 and 4.1 million weights
        at 227 pixels), which feature extraction from pool5 never uses. A layer's initial
        weights are the same however far the network is built.

    Returns
    -------
    model : keras.Model
        Outputs class probabilities (layer ``prob``); ``fc8`` holds the logits. Built short of
        ``prob`` (``up_to``), it outputs the last layer built.

    Raises
    ------
    ValueError
        When ``image_size`` is too small, or ``up_to`` names a layer that the variant lacks
        (``'norm1'`` of 'torchvision' ...).

    Examples
    --------
    >>> from skalexnet._network import build_alexnet
    >>> model = build_alexnet(n_classes=2)
    >>> model.count_params()
    56876418
    """
    _check_arch(arch)
    smallest = min_image_size(arch)
    if image_size < smallest:
        raise ValueError(
            f"image_size={image_size} is too small for the {arch!r} AlexNet: the smallest input "
            f"its layer stack admits is {smallest}x{smallest}."
        )
    wanted = {up_to} if isinstance(up_to, str) else set(up_to)
    random_layers = set(random_layers)
    draw = random.Random(seed)

    def next_seed():
        return None if seed is None else draw.randrange(2**31)

    def initializer(name):
        layer_seed = next_seed()
        return keras.initializers.HeNormal(layer_seed) if name in random_layers else "zeros"

    dtypes = (dtype, dtype if fc_dtype is None else fc_dtype)
    stack = _layer_stack(arch, n_classes, image_size, preprocessing, dtypes, initializer, next_seed)
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = inputs
    # A layer's weights exist from its first call on: stopping here leaves the layers above
    # not only unbuilt but never created, their seeds never drawn.
    for layer in stack:
        x = layer(x)
        wanted.discard(layer.name)
        if not wanted:
            break
    if wanted:
        raise ValueError(f"The {arch!r} AlexNet has no layer named {sorted(wanted)}.")
    return keras.Model(inputs, x, name=f"alexnet_{arch}")


def _layer_stack(arch, n_classes, image_size, preprocessing, dtypes, initializer, next_seed):
    """AlexNet's layers in the order they apply, each created only when the caller asks for it.

    ``initializer(name)`` and ``next_seed()`` draw the seeds of the weighted layers and of the
    dropout layers, in the order conv1 ... conv5, fc6, drop6, fc7, drop7, fc8 whatever the
    order the layers apply in; a layer's seed is thus the same however far the stack is built.
    """
    dtype, fc_dtype = dtypes
    spec = ARCHITECTURES[arch]
    f1, f2, f3, f4, f5 = spec["filters"]
    g1, g2, g3, g4, g5 = spec["groups"]
    ceil = spec["ceil_pooling"]
    # The map each pooling sees: conv2 to conv5 keep their input's size, LRN too.
    sizes = _feature_map_sizes(arch, image_size)

    def conv_block(index, filters, groups, kernel_size, pool_input, **conv_kwargs):
        name = f"conv{index}"
        yield _conv(name, filters, kernel_size, groups, dtype, initializer(name), **conv_kwargs)
        pool = _max_pool(f"pool{index}", pool_input, ceil, dtype)
        if spec["lrn"] is None:
            yield from pool
            return
        lrn = LocalResponseNormalization(**spec["lrn"], name=f"norm{index}", dtype=dtype)
        if spec["lrn_before_pool"]:
            yield lrn
            yield from pool
        else:
            yield from pool
            yield lrn

    pre = PREPROCESSING[preprocessing or spec["preprocessing"]]
    if spec["conv1_padding"]:
        # Zeros padded after the scaling are not the scaling of any pixel: nothing to fold.
        # Unfolded, the scaling runs in float32, measured faster on CPUs than in bfloat16.
        yield ImagePreprocessing(**pre, name="preprocess", dtype="float32")
        yield keras.layers.ZeroPadding2D(spec["conv1_padding"], name="conv1_pad", dtype=dtype)
        conv1_kwargs = {}
    else:
        yield ImagePreprocessing(**pre, folded=True, name="preprocess", dtype=dtype)
        conv1_kwargs = {"input_scaling": pre}
    yield from conv_block(1, f1, g1, 11, sizes["conv1"], strides=4, padding="valid", **conv1_kwargs)
    yield from conv_block(2, f2, g2, 5, sizes["pool1"])
    yield _conv("conv3", f3, 3, g3, dtype, initializer("conv3"))
    yield _conv("conv4", f4, 3, g4, dtype, initializer("conv4"))
    yield _conv("conv5", f5, 3, g5, dtype, initializer("conv5"))
    yield from _max_pool("pool5", sizes["pool2"], ceil, dtype)
    if arch == "torchvision":
        yield keras.layers.AdaptiveAveragePooling2D((6, 6), name="avgpool", dtype=dtype)
    yield keras.layers.Flatten(name="flatten", dtype=dtype)
    for fc, drop in (("fc6", "drop6"), ("fc7", "drop7")):
        dense = keras.layers.Dense(
            4096,
            activation="relu",
            kernel_initializer=initializer(fc),
            name=fc,
            dtype=fc_dtype,
        )
        dropout = keras.layers.Dropout(0.5, seed=next_seed(), name=drop, dtype=fc_dtype)
        yield from (dropout, dense) if spec["dropout_before_fc"] else (dense, dropout)
    yield AlexNetDense(
        n_classes,
        kernel_initializer=initializer("fc8"),
        name="fc8",
        dtype=fc_dtype,
    )
    yield keras.layers.Activation("softmax", name="prob", dtype="float32")
