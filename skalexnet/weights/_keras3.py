"""Files Keras 3 writes from a skalexnet model: ``.weights.h5`` and ``.keras``.

The weights are already in Keras 3 layout; only the architecture must be recovered. Keras 3 keys
each layer's variables by class (``layers/grouped_conv2d_1/vars/0``) and records the layer name
as the ``vars`` group's ``name`` attribute, which is what this reader matches. A ``.keras`` file
also carries the model's config: it is read as JSON data, never deserialised, so no code in it
can run (stricter than ``keras.saving.load_model(safe_mode=True)``, and no model is built).
"""

import io
import json
import warnings
import zipfile

import h5py
import numpy as np

from .._network import ARCHITECTURES, PREPROCESSING, WEIGHTED_LAYERS
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

    Examples
    --------
    >>> from skalexnet._network import build_alexnet
    >>> from skalexnet.weights import read_keras_weights
    >>> build_alexnet("caffe", n_classes=3).save("alexnet.keras")  # doctest: +SKIP
    >>> read_keras_weights("alexnet.keras").arch  # doctest: +SKIP
    'caffe'
    """
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json"))
                weights_bytes = archive.read("model.weights.h5")
            with h5py.File(io.BytesIO(weights_bytes), "r") as f:
                layers = _read_layers(f, path)
        else:
            config = None
            with h5py.File(path, "r") as f:
                layers = _read_layers(f, path)
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable Keras 3 weights file ({error}).") from error
    missing = [name for name in WEIGHTED_LAYERS if name not in layers]
    if missing:
        raise ValueError(f"{path}: no weights for {missing}; not a skalexnet AlexNet file.")
    inferred = _infer_arch(layers, config, path, default=arch or "original")
    if arch is not None and arch != inferred:
        raise ValueError(f"{path}: arch={arch!r}, but the file holds {inferred!r} weights.")
    arch = inferred
    preprocessing = ARCHITECTURES[arch]["preprocessing"]
    image_size = None
    if config is not None:
        preprocessing = _preprocessing_from_config(config, path) or preprocessing
        image_size = _image_size_from_config(config)
    return WeightSet(
        arch=arch,
        preprocessing=preprocessing,
        layers=layers,
        source=SOURCE,
        n_classes=int(layers["fc8"][0].shape[-1]),
        image_size=image_size,
    )


def _infer_arch(layers, config, path, default) -> str:
    if layers["conv1"][0].shape[-1] == TORCHVISION_CONV1_FILTERS:
        return "torchvision"
    if config is not None:
        return _arch_from_config(config, path)
    # Weights alone do not show where LRN sat: any Caffe-family variant fits the shapes.
    return default if default != "torchvision" else "original"


def _read_layers(f, path) -> dict:
    """Every ``vars`` group named after an AlexNet layer, its variables in index order."""
    layers = {}

    def visit(name, item):
        if isinstance(item, h5py.Group) and name.endswith("vars"):
            layer = item.attrs.get("name")
            layer = layer.decode() if isinstance(layer, bytes) else layer
            if layer in WEIGHTED_LAYERS and len(item):
                if layer in layers:
                    raise ValueError(f"{path}: two layers named {layer!r}; which one is AlexNet's?")
                layers[layer] = [
                    np.asarray(item[k], dtype=np.float32) for k in sorted(item, key=int)
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
        raise ValueError(f"{path}: the model has 96 filters in conv1 but no norm1 layer.")
    lrn = {
        key: norm1["config"].get(key) for key in ("size", "alpha", "beta", "k", "alpha_over_size")
    }
    lrn_before_pool = _inbound_layer(norm1) == "conv1"
    for arch, spec in ARCHITECTURES.items():
        if spec["lrn"] == lrn and spec["lrn_before_pool"] == lrn_before_pool:
            return arch
    raise ValueError(
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


def _image_size_from_config(config):
    image = _layer_configs(config).get("image")
    shape = image and image["config"].get("batch_shape")
    return int(shape[1]) if shape and shape[1] else None
