"""What every reader returns, and how it goes into a Keras model."""

import math
from dataclasses import dataclass, field

import keras
import numpy as np

from .._network import (
    ARCHITECTURES,
    PREPROCESSING,
    WEIGHTED_LAYERS,
    _feature_map_sizes,
    min_image_size,
)
from ._errors import WeightFileError


@dataclass
class WeightSet:
    """Pretrained AlexNet weights in Keras 3 layout, keyed by Caffe layer name.

    Parameters
    ----------
    arch : {'original', 'caffe', 'torchvision'}
        The variant of :func:`skalexnet._network.build_alexnet` the weights were trained in.
    preprocessing : str
        The key of ``skalexnet._network.PREPROCESSING`` the weights expect their input in.
    layers : dict of str to list of ndarray
        ``'conv1'`` ... ``'fc8'`` to ``[kernel, bias]``: HWIO conv kernels (grouped convs in
        ``Conv2D(groups=2)`` layout), ``(in, out)`` Dense kernels, fc6 rows in H, W, C order.
    source : str
        The format read, e.g. ``'torchvision-pth'``.
    n_classes : int
        Units of fc8.
    image_size : int or None, default=None
        The input size the file implies (224 or 227), or None when it does not say.
    path : str or None, default=None
        The file read, named by :func:`apply_weights`'s errors; None for weights made in memory.

    Examples
    --------
    >>> import numpy as np
    >>> ws = WeightSet("original", "study", {"fc8": [np.zeros((4096, 2)), np.zeros(2)]},
    ...                source="example", n_classes=2)
    >>> ws.n_params
    8194
    """

    arch: str
    preprocessing: str
    layers: dict = field(repr=False)
    source: str
    n_classes: int
    image_size: int | None = None
    path: str | None = None

    def __post_init__(self):
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"arch must be one of {sorted(ARCHITECTURES)}, got {self.arch!r}.")
        if self.preprocessing not in PREPROCESSING:
            raise ValueError(
                f"preprocessing must be one of {sorted(PREPROCESSING)}, got {self.preprocessing!r}."
            )
        unknown = set(self.layers) - set(WEIGHTED_LAYERS)
        if unknown:
            raise ValueError(f"unknown layers {sorted(unknown)}; AlexNet has {WEIGHTED_LAYERS}.")

    @property
    def n_params(self) -> int:
        """Number of values held, kernels and biases together."""
        return sum(int(np.size(w)) for weights in self.layers.values() for w in weights)


def apply_weights(model: keras.Model, weights: WeightSet, skip=()) -> keras.Model:
    """Set a model's layers to the weights by layer name, after checking every shape.

    Parameters
    ----------
    model : keras.Model
        An AlexNet from ``build_alexnet(weights.arch, ...)``; layers are found by name.
    weights : WeightSet
        From :func:`load_weights`.
    skip : iterable of str, default=()
        Layers to leave as they are, e.g. ``("fc8",)`` to keep a new classifier head.

    Returns
    -------
    model : keras.Model
        The same model, changed in place.

    Raises
    ------
    WeightFileError
        When a layer's shapes or number of variables differ from the model's; the message names
        the file, the layer and both shapes. Nothing is set then.
    ValueError
        When a layer is missing from the model; nothing is set then.

    Examples
    --------
    >>> from skalexnet._network import build_alexnet
    >>> model = build_alexnet("torchvision", n_classes=2, image_size=224)
    >>> ws = WeightSet("torchvision", "torchvision", {"fc8": [np.ones((4096, 2)), np.zeros(2)]},
    ...                source="example", n_classes=2)
    >>> float(apply_weights(model, ws).get_layer("fc8").kernel.numpy().min())
    1.0
    """
    skip = tuple(skip)
    unknown = set(skip) - set(WEIGHTED_LAYERS)
    if unknown:
        raise ValueError(
            f"skip names unknown layers {sorted(unknown)}; AlexNet has {WEIGHTED_LAYERS}."
        )
    names = [name for name in weights.layers if name not in skip]
    # Check everything first, so that a bad file never leaves the model half-loaded.
    targets = {name: _find_layer(model, name, weights) for name in names}
    for name, layer in targets.items():
        for variable, value in zip(layer.weights, weights.layers[name], strict=False):
            if tuple(variable.shape) != tuple(np.shape(value)):
                raise WeightFileError(
                    f"{_origin(weights)}: "
                    + _shape_mismatch(name, tuple(variable.shape), np.shape(value), weights, model)
                )
        if len(layer.weights) != len(weights.layers[name]):
            raise WeightFileError(
                f"{_origin(weights)}: {name} holds {len(layer.weights)} variables in the model, "
                f"{len(weights.layers[name])} in the file."
            )
    for name, layer in targets.items():
        layer.set_weights([np.asarray(w) for w in weights.layers[name]])
    return model


def _find_layer(model, name, weights):
    try:
        return model.get_layer(name)
    except ValueError:
        raise ValueError(
            f"the model has no layer {name!r} to take the {weights.source} weights; build it with "
            f"build_alexnet(arch={weights.arch!r}, ...), whose layers are named {WEIGHTED_LAYERS}."
        ) from None


def _origin(weights) -> str:
    return weights.path or f"the {weights.source} weights"


def _model_arch(model):
    """The variant of a build_alexnet model (named ``alexnet_<arch>``), else None."""
    arch = model.name.removeprefix("alexnet_")
    return arch if arch in ARCHITECTURES else None


def _shape_mismatch(name, expected, held, weights, model):
    held = tuple(held)
    message = f"{name} expects {expected}, the file holds {held}"
    if len(held) == 2 and held == expected[::-1]:
        return f"{message}: was the kernel transposed?"
    if name == "fc8" and held[-1] != expected[-1]:
        return (
            f"{message}: the file has {weights.n_classes} classes; pass skip=('fc8',) to keep "
            "the model's own classifier."
        )
    arch = weights.arch
    model_arch = _model_arch(model)
    if model_arch != arch:
        return f"{message}: the file holds {arch!r} weights; build the model with arch={arch!r}."
    if name == "fc6" and len(held) == 2 and held[0] != expected[0]:
        return f"{message}: {_pool5_hint(held[0], expected[0], weights)}"
    # The right variant, yet other sizes: the file's network had other layer widths.
    return (
        f"{message}: the model is already a {arch!r} AlexNet, so the file's {name} is not that "
        f"of skalexnet's {arch!r} AlexNet (a network with other layer widths?)."
    )


def _pool5_hint(held_rows, expected_rows, weights) -> str:
    """fc6 takes the flattened pool5 map, whose side follows the image size: say which fits."""
    conv5 = weights.layers.get("conv5")
    channels = int(conv5[0].shape[-1]) if conv5 else ARCHITECTURES[weights.arch]["filters"][-1]
    held_side = math.isqrt(held_rows // channels)
    if held_side**2 * channels != held_rows:
        return "the model's pool5 map is not the file's."
    model_side = math.isqrt(expected_rows // channels)
    told = (
        f"the file's network saw a {held_side}x{held_side} pool5 map, this model a "
        f"{model_side}x{model_side} one"
    )
    if weights.image_size:
        return f"{told}; build it with image_size={weights.image_size}."
    # torchvision's AlexNet pools every size to 6x6: there the image size is not the cause.
    sizes = [
        size
        for size in range(min_image_size(weights.arch), 1024)
        if weights.arch != "torchvision"
        and _feature_map_sizes(weights.arch, size)["pool5"] == held_side
    ]
    if not sizes:
        return f"{told}."
    return f"{told}; build it with an image_size from {sizes[0]} to {sizes[-1]}."
