"""Files Keras 3 writes from a skalexnet model: ``.weights.h5`` and ``.keras``.

The weights are already in Keras 3 layout; only the architecture must be recovered. Keras 3 keys
each layer's variables by class (``layers/grouped_conv2d_1/vars/0``) and records the layer name
as the ``vars`` group's ``name`` attribute, which is what this reader matches. A ``.keras`` file
also carries the model's config: it is read as JSON data, never deserialised, so no code in it
can run (stricter than ``keras.saving.load_model(safe_mode=True)``, and no model is built).
"""

import json
import os
import warnings
import zipfile

import h5py
import numpy as np

from .._network import ARCHITECTURES, PREPROCESSING, WEIGHTED_LAYERS
from ._bounds import read_member
from ._errors import WeightFileError, reading
from ._h5 import open_h5, read_array, text_attribute
from ._weightset import WeightSet

SOURCE = "keras"
TORCHVISION_CONV1_FILTERS = ARCHITECTURES["torchvision"]["filters"][0]


def is_keras3_weights_h5(h5file: h5py.File) -> bool:
    """Whether an open HDF5 file has Keras 3's ``save_weights`` layout (a ``layers`` group)."""
    return "layers" in h5file and "layer_names" not in h5file.attrs


def read_keras_weights(path, *, arch: str | None = None) -> WeightSet:
    """Read AlexNet weights from a Keras 3 ``.weights.h5`` or ``.keras`` file by layer name.

    The architecture comes from the ``.keras`` config when there is one. A ``.weights.h5`` file
    holds only shapes, which tell torchvision's AlexNet (conv1 has 64 filters) from the Caffe
    family but not the LRN placement: such a file is taken as 'original' with its 'study'
    preprocessing, the two a skalexnet model has by default.

    Parameters
    ----------
    path : str or path-like
        Written by ``model.save_weights`` or ``model.save`` from a ``build_alexnet`` model.
    arch : {'original', 'caffe', 'torchvision'} or None, default=None
        The architecture, for a ``.weights.h5`` file whose model was not 'original'; None
        infers it. Must agree with the file's shapes and config.

    Returns
    -------
    weights : WeightSet
        source 'keras'.

    Raises
    ------
    WeightFileError
        When the file is damaged, or holds something other than AlexNet; the message names the
        file and, where one is at fault, the layer and its shapes.

    Examples
    --------
    >>> from skalexnet._network import build_alexnet
    >>> from skalexnet.weights import read_keras_weights
    >>> build_alexnet("caffe", n_classes=3).save("alexnet.keras")  # doctest: +SKIP
    >>> read_keras_weights("alexnet.keras").arch  # doctest: +SKIP
    'caffe'
    """
    if arch is not None and arch not in ARCHITECTURES:
        raise ValueError(f"arch must be None or one of {sorted(ARCHITECTURES)}, got {arch!r}.")
    with reading(path, "a Keras 3 weights file"):
        config, layers = _read_file(path)
        missing = [name for name in WEIGHTED_LAYERS if name not in layers]
        if missing:
            raise WeightFileError(
                f"{path}: no weights for {missing}; not a skalexnet AlexNet file."
            )
        inferred = _infer_arch(layers, config, path, default=arch or "original")
        if arch is not None and arch != inferred:
            raise WeightFileError(
                f"{path}: arch={arch!r}, but the file holds {inferred!r} weights."
            )
        preprocessing = ARCHITECTURES[inferred]["preprocessing"]
        image_size = None
        if config is not None:
            preprocessing = _preprocessing_from_config(config, path) or preprocessing
            image_size = _image_size_from_config(config, path)
        return WeightSet(
            arch=inferred,
            preprocessing=preprocessing,
            layers=layers,
            source=SOURCE,
            n_classes=int(layers["fc8"][0].shape[-1]),
            image_size=image_size,
        )


def _read_file(path):
    """The model's config (None for a .weights.h5 file) and its AlexNet layers."""
    if not zipfile.is_zipfile(path):
        with open_h5(path, path) as f:
            return None, _read_layers(f, path, os.path.getsize(path))
    archive_bytes = os.path.getsize(path)
    with zipfile.ZipFile(path) as archive:
        # Parsed as JSON data only: nothing in it is deserialised, imported or called.
        config = json.loads(read_member(archive, "config.json", archive_bytes, path))
        weights_bytes = read_member(archive, "model.weights.h5", archive_bytes, path)
    with open_h5(weights_bytes, path) as f:
        return config, _read_layers(f, path, len(weights_bytes))


def _infer_arch(layers, config, path, default) -> str:
    if layers["conv1"][0].shape[-1] == TORCHVISION_CONV1_FILTERS:
        return "torchvision"
    if config is not None:
        return _arch_from_config(config, path)
    # Weights alone do not show where LRN sat: any Caffe-family variant fits the shapes.
    return default if default != "torchvision" else "original"


def _read_layers(f, path, file_bytes) -> dict:
    """Every ``vars`` group named after an AlexNet layer, its variables in index order."""
    layers = {}

    def visit(name, item):
        if isinstance(item, h5py.Group) and name.endswith("vars"):
            layer = text_attribute(item.attrs.get("name"))
            if layer in WEIGHTED_LAYERS and len(item):
                if layer in layers:
                    raise WeightFileError(
                        f"{path}: two layers named {layer!r}; which one is AlexNet's?"
                    )
                layers[layer] = [
                    read_array(item[k], file_bytes, path, f"{name}/{k}")
                    for k in sorted(item, key=int)
                ]

    f.visititems(visit)
    return {name: layers[name] for name in WEIGHTED_LAYERS if name in layers}


def _layer_configs(config) -> dict:
    """Layer name -> serialized layer, searched through nested functional models."""
    found = {}
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if (
                "class_name" in item
                and isinstance(item.get("config"), dict)
                and "name" in item["config"]
            ):
                found.setdefault(item["config"]["name"], item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _inbound_layer(layer_config):
    """The name of the layer feeding a functional layer (its first input's keras_history)."""
    try:
        return layer_config["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0]
    except (KeyError, IndexError, TypeError):
        return None


def _arch_from_config(config, path) -> str:
    layers = _layer_configs(config)
    norm1 = layers.get("norm1")
    if norm1 is None:
        raise WeightFileError(
            f"{path}: the model's conv1 is not torchvision's, yet it has no norm1 layer: not one "
            "of skalexnet's AlexNet variants."
        )
    lrn = {
        key: norm1["config"].get(key) for key in ("size", "alpha", "beta", "k", "alpha_over_size")
    }
    lrn_before_pool = _inbound_layer(norm1) == "conv1"
    for arch, spec in ARCHITECTURES.items():
        if spec["lrn"] == lrn and spec["lrn_before_pool"] == lrn_before_pool:
            return arch
    raise WeightFileError(
        f"{path}: norm1 computes {lrn} {'before' if lrn_before_pool else 'after'} pool1, which "
        "matches none of skalexnet's AlexNet variants."
    )


def _preprocessing_from_config(config, path):
    layer = _layer_configs(config).get("preprocess")
    if layer is None:
        return None
    found = layer["config"]
    for key, spec in PREPROCESSING.items():
        if (
            _close(found.get("mean"), spec["mean"])
            and _close(found.get("std"), spec["std"])
            and bool(found.get("reverse_channels")) == spec["reverse_channels"]
        ):
            return key
    warnings.warn(
        f"{path}: its preprocessing {found.get('mean')}, {found.get('std')} is none of "
        f"{sorted(PREPROCESSING)}; using the architecture's own.",
        stacklevel=3,
    )
    return None


def _close(found, expected) -> bool:
    return found is not None and len(found) == len(expected) and np.allclose(found, expected)


def _image_size_from_config(config, path):
    image = _layer_configs(config).get("image")
    shape = image and image["config"].get("batch_shape")
    if not shape:
        return None
    if not (isinstance(shape, list) and len(shape) == 4):
        raise WeightFileError(f"{path}: its input layer has batch_shape {shape!r}, not an image's.")
    size = shape[1]
    if size is None:
        return None
    if type(size) is not int or size < 1:
        raise WeightFileError(f"{path}: its input layer has image size {size!r}.")
    return size
