"""Files Keras 3 writes from a skalexnet model: ``.weights.h5`` and ``.keras``.

The weights are already in Keras 3 layout; the architecture and the preprocessing must be
recovered, or the weights would load into a network that computes something else. Keras 3 keys
each layer's variables by class (``layers/alex_net_conv2d_1/vars/0``) and records the layer's
name as the ``vars`` group's ``name`` attribute (the model's name on the root ``vars`` group),
which is what this reader matches. ``ImagePreprocessing`` records its scaling in its own
``vars`` group, so a ``.weights.h5`` says how its input was scaled although it has no config. A
``.keras`` file also carries the model's config: it is read as JSON data, never deserialised,
so no code in it can run (stricter than ``keras.saving.load_model(safe_mode=True)``, and no
model is built).
"""

import json
import os
import re
import zipfile
from dataclasses import dataclass, field

import h5py
import numpy as np

from .._layers import PREPROCESSING_RECORD
from .._network import ARCHITECTURES, PREPROCESSING, WEIGHTED_LAYERS
from ._bounds import read_member
from ._errors import WeightFileError, reading
from ._h5 import open_h5, read_array, text_attribute
from ._weightset import WeightSet

SOURCE = "keras"
TORCHVISION_CONV1_FILTERS = ARCHITECTURES["torchvision"]["filters"][0]
MODEL_NAME_PREFIX = "alexnet_"  # build_alexnet names its model alexnet_<arch>
# Every layer build_alexnet makes, by name, with the classes that compute what it does there. A
# model with any other layer computed something its AlexNet weights alone do not.
BUILT_LAYERS = {
    "image": ("InputLayer",),
    "preprocess": ("ImagePreprocessing",),
    "conv1_pad": ("ZeroPadding2D",),
    **{f"conv{index}": ("AlexNetConv2D", "Conv2D") for index in range(1, 6)},
    **{f"norm{index}": ("LocalResponseNormalization",) for index in (1, 2)},
    **{f"pool{index}": ("AlexNetMaxPooling2D", "MaxPooling2D") for index in (1, 2, 5)},
    **{f"pool{index}_pad": ("ZeroPadding2D",) for index in (1, 2, 5)},
    "avgpool": ("AdaptiveAveragePooling2D",),
    "flatten": ("Flatten",),
    **{f"drop{index}": ("Dropout",) for index in (6, 7)},
    **{f"fc{index}": ("Dense",) for index in (6, 7)},
    "fc8": ("AlexNetDense", "Dense"),
    "prob": ("Activation", "Softmax"),
}
MODEL_CLASSES = ("Functional", "Sequential", "Model")


def is_keras3_weights_h5(h5file: h5py.File) -> bool:
    """Whether an open HDF5 file has Keras 3's ``save_weights`` layout (a ``layers`` group)."""
    return "layers" in h5file and "layer_names" not in h5file.attrs


def read_keras_weights(
    path, *, arch: str | None = None, preprocessing: str | None = None
) -> WeightSet:
    """Read AlexNet weights from a Keras 3 ``.weights.h5`` or ``.keras`` file by layer name.

    The architecture comes from the model's name, which Keras writes into both kinds of file
    (``build_alexnet`` names it ``alexnet_<arch>``), and from the ``.keras`` config; the
    preprocessing from the record skalexnet's preprocessing layer writes beside the weights, and
    from the config. Shapes alone tell torchvision's AlexNet from the Caffe family, but not
    'original' from 'caffe' (they differ in LRN), and never the preprocessing: a file that does
    not say (written by a skalexnet older than the record, or a renamed model) is refused, and
    ``arch`` and ``preprocessing`` say what it holds.

    Parameters
    ----------
    path : str or path-like
        Written by ``model.save_weights`` or ``model.save`` from a ``build_alexnet`` model (an
        estimator's ``model_``).
    arch : {'original', 'caffe', 'torchvision'} or None, default=None
        The architecture, for a file that does not say it; None follows the file. Must agree
        with what the file says.
    preprocessing : {'study', 'imagenet_mean', 'caffe', 'torchvision'} or None, default=None
        The input scaling, for a file that does not record it; None follows the file. Must
        agree with what the file records.

    Returns
    -------
    weights : WeightSet
        source 'keras'.

    Raises
    ------
    WeightFileError
        When the file is damaged, holds something other than skalexnet's AlexNet (a layer
        ``build_alexnet`` does not make is named), contradicts ``arch`` or ``preprocessing``, or
        does not say what they are; the message names the file and, where one is at fault, the
        layer and its shapes.

    Examples
    --------
    >>> from skalexnet._network import build_alexnet
    >>> from skalexnet.weights import read_keras_weights
    >>> build_alexnet("caffe", n_classes=3).save_weights("alexnet.weights.h5")  # doctest: +SKIP
    >>> ws = read_keras_weights("alexnet.weights.h5")  # doctest: +SKIP
    >>> ws.arch, ws.preprocessing  # doctest: +SKIP
    ('caffe', 'caffe')
    """
    if arch is not None and arch not in ARCHITECTURES:
        raise ValueError(f"arch must be None or one of {sorted(ARCHITECTURES)}, got {arch!r}.")
    if preprocessing is not None and preprocessing not in PREPROCESSING:
        raise ValueError(
            f"preprocessing must be None or one of {sorted(PREPROCESSING)}, got {preprocessing!r}."
        )
    with reading(path, "a Keras 3 weights file"):
        config, contents = _read_file(path)
        layers = contents.layers
        missing = [name for name in WEIGHTED_LAYERS if name not in layers]
        if missing:
            raise WeightFileError(
                f"{path}: no weights for {missing}; not a skalexnet AlexNet file."
            )
        if config is not None:  # first: the config names the classes as written
            _refuse_layers_not_built(_built_in_config(config, path), path)
        _refuse_layers_not_built(contents.built, path)
        found_arch = _resolve_arch(layers, config, contents.model_names, path, arch)
        found_preprocessing = _resolve_preprocessing(
            contents.record, config, path, found_arch, preprocessing
        )
        image_size = None if config is None else _image_size_from_config(config, path)
        return WeightSet(
            arch=found_arch,
            preprocessing=found_preprocessing,
            layers=layers,
            source=SOURCE,
            n_classes=int(layers["fc8"][0].shape[-1]),
            image_size=image_size,
            path=str(path),
        )


@dataclass
class _Contents:
    """What a Keras 3 weights file holds besides its config."""

    layers: dict = field(default_factory=dict)  # AlexNet layer -> its arrays, in index order
    record: dict | None = None  # ImagePreprocessing's record of its scaling
    model_names: list = field(default_factory=list)  # the root model's first, then nested ones
    built: list = field(default_factory=list)  # (layer name, class) of every layer but models


def _read_file(path):
    """The model's config (None for a .weights.h5 file) and the file's contents."""
    if not zipfile.is_zipfile(path):
        with open_h5(path, path) as f:
            return None, _read_contents(f, path, os.path.getsize(path))
    archive_bytes = os.path.getsize(path)
    with zipfile.ZipFile(path) as archive:
        # Parsed as JSON data only: nothing in it is deserialised, imported or called.
        config = json.loads(read_member(archive, "config.json", archive_bytes, path))
        weights_bytes = read_member(archive, "model.weights.h5", archive_bytes, path)
    with open_h5(weights_bytes, path) as f:
        return config, _read_contents(f, path, len(weights_bytes))


def _read_contents(f, path, file_bytes) -> _Contents:
    """Every layer's ``vars`` group: AlexNet's weights, the preprocessing record, the names."""
    contents = _Contents()
    if isinstance(f.get("vars"), h5py.Group):
        contents.model_names.append(text_attribute(f["vars"].attrs.get("name")))

    def visit(name, item):
        # A layer's group is <container>/layers/<class>[_<n>]/vars; anything else (the root's
        # vars, the optimizer's) is not a layer of the model.
        parts = name.split("/")
        if not (isinstance(item, h5py.Group) and len(parts) >= 3 and parts[-1] == "vars"):
            return
        if parts[-3] != "layers":
            return
        layer = text_attribute(item.attrs.get("name"))
        owner = item.parent
        if isinstance(owner.get("layers"), h5py.Group):  # a nested model holds layers itself
            contents.model_names.append(layer)
            return
        contents.built.append((layer, re.sub(r"_\d+$", "", parts[-2])))
        if layer == "preprocess":
            contents.record = _read_record(item, file_bytes, path, name)
        if layer in WEIGHTED_LAYERS and len(item):
            if layer in contents.layers:
                raise WeightFileError(
                    f"{path}: two layers named {layer!r}; which one is AlexNet's?"
                )
            contents.layers[layer] = [
                read_array(item[k], file_bytes, path, f"{name}/{k}") for k in sorted(item, key=int)
            ]

    f.visititems(visit)
    contents.layers = {
        name: contents.layers[name] for name in WEIGHTED_LAYERS if name in contents.layers
    }
    return contents


def _read_record(group, file_bytes, path, where):
    """ImagePreprocessing's record of its scaling, None if the file predates it."""
    present = [key for key in PREPROCESSING_RECORD if key in group]
    if not present:
        return None
    if len(present) < len(PREPROCESSING_RECORD):
        raise WeightFileError(
            f"{path}: {where} records only {present} of the preprocessing "
            f"{list(PREPROCESSING_RECORD)}: the file is damaged."
        )
    record = {key: read_array(group[key], file_bytes, path, f"{where}/{key}") for key in present}
    if (
        record["mean"].shape != (3,)
        or record["std"].shape != (3,)
        or record["reverse_channels"].shape != ()
    ):
        raise WeightFileError(
            f"{path}: {where} records a preprocessing of shapes "
            f"{[record[key].shape for key in PREPROCESSING_RECORD]}, not 3 means, 3 scales and "
            "a flag."
        )
    return record


def _snake_case(class_name) -> str:
    """The name Keras gives a layer's group in a weights file, from its class."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _refuse_layers_not_built(built, path):
    """Refuse a model with a layer that build_alexnet does not make (by name or by class)."""
    for name, class_name in built:
        allowed = BUILT_LAYERS.get(name)
        if allowed is None:
            fault = f"has a layer {name!r} ({class_name}) that skalexnet's AlexNet does not have"
        elif class_name in allowed or class_name in {_snake_case(c) for c in allowed}:
            continue
        else:
            fault = f"has a {class_name} layer named {name!r}, where AlexNet has a {allowed[0]}"
        raise WeightFileError(
            f"{path}: its model {fault}: AlexNet's weights alone would not compute what that "
            "model did. Save the network of a skalexnet estimator (model_) or of build_alexnet."
        )


def _built_in_config(config, path) -> list:
    """(name, class) of every layer in a model config, nested models opened, models left out."""
    built = []
    stack = [config]
    while stack:
        item = stack.pop()
        if not isinstance(item, dict) or not isinstance(item.get("config"), dict):
            raise WeightFileError(f"{path}: its config holds {type(item).__name__}, not a layer.")
        layers = item["config"].get("layers")
        if item.get("class_name") in MODEL_CLASSES or isinstance(layers, list):
            if not isinstance(layers, list):
                raise WeightFileError(f"{path}: its config's model has no list of layers.")
            stack.extend(layers)
        else:
            built.append((item["config"].get("name"), item.get("class_name")))
    return built


def _resolve_arch(layers, config, model_names, path, arch) -> str:
    """The one architecture the file's shapes, config, model name and ``arch`` agree on."""
    conv1_filters = layers["conv1"][0].shape[-1]
    # 'original' and 'caffe' differ in LRN only: their weights have the same shapes.
    fitting = (
        ("torchvision",) if conv1_filters == TORCHVISION_CONV1_FILTERS else ("original", "caffe")
    )
    said = {}  # what in the file says which arch
    if config is not None:
        said["its config"] = _arch_from_config(config, path)
    for name in model_names:
        if (
            name
            and name.startswith(MODEL_NAME_PREFIX)
            and name[len(MODEL_NAME_PREFIX) :] in ARCHITECTURES
        ):
            said.setdefault(f"its model's name {name!r}", name[len(MODEL_NAME_PREFIX) :])
    for source, found in said.items():
        if found not in fitting:
            raise WeightFileError(
                f"{path}: {source} says {found!r}, but its conv1 has {conv1_filters} filters, as "
                f"{' and '.join(map(repr, fitting))} AlexNets have: the file contradicts itself."
            )
    found = _one_answer(said, path)
    if arch is not None:
        if arch not in fitting or found not in (None, arch):
            held = repr(found) if found else " or ".join(map(repr, fitting))
            raise WeightFileError(
                f"{path}: arch={arch!r}, but the file holds {held} weights; leave arch=None to "
                "follow the file."
            )
        return arch
    if found is not None:
        return found
    if len(fitting) == 1:
        return fitting[0]
    raise WeightFileError(
        f"{path}: its weights fit both the 'original' and the 'caffe' AlexNet (they differ in "
        "LRN, not in shapes), and the file does not say which: its model is not named "
        f"{MODEL_NAME_PREFIX}<arch>. Pass arch='original' or arch='caffe' (to load_weights, "
        "read_keras_weights or the estimator)."
    )


def _one_answer(said: dict, path) -> str | None:
    """What every part of the file that says something agrees on (None if none says)."""
    if len(set(said.values())) > 1:
        raise WeightFileError(
            f"{path}: the file contradicts itself: "
            + ", ".join(f"{source} says {found!r}" for source, found in said.items())
            + "."
        )
    return next(iter(said.values()), None)


def _resolve_preprocessing(record, config, path, arch, preprocessing) -> str:
    """The preprocessing the file records, or ``preprocessing`` where it records none."""
    said = {}
    if record is not None:
        said["its preprocess layer's record"] = _preprocessing_key(record, path)
    if config is not None:
        found = _preprocessing_from_config(config, path)
        if found is not None:
            said["its config"] = found
    found = _one_answer(said, path)
    if preprocessing is not None:
        if found is not None and found != preprocessing:
            raise WeightFileError(
                f"{path}: preprocessing={preprocessing!r}, but the file records {found!r}; "
                "leave preprocessing=None to follow the file."
            )
        return preprocessing
    if found is not None:
        return found
    usual = ARCHITECTURES[arch]["preprocessing"]
    options = f"preprocessing={usual!r} (what skalexnet trains the {arch!r} AlexNet with)"
    if arch == "original":
        options += (
            " or preprocessing='imagenet_mean' (for a network that started from convnets-keras' "
            "alexnet_weights.h5)"
        )
    raise WeightFileError(
        f"{path}: the file does not record its preprocessing (an older skalexnet wrote it, or "
        "its model has no preprocess layer), and the weights alone cannot show how their "
        f"input was scaled. Pass {options} to load_weights or read_keras_weights, then rebuild "
        "and save it whole: model = build_alexnet(ws.arch, ws.n_classes, image_size, "
        "ws.preprocessing); apply_weights(model, ws); model.save('alexnet.keras')."
    )


def _preprocessing_key(record, path) -> str:
    """The key of PREPROCESSING a recorded (or configured) scaling is, refused if none."""
    for key, spec in PREPROCESSING.items():
        if (
            _close(record["mean"], spec["mean"])
            and _close(record["std"], spec["std"])
            and bool(record["reverse_channels"]) == spec["reverse_channels"]
        ):
            return key
    raise WeightFileError(
        f"{path}: its preprocess layer scales the input with "
        + ", ".join(f"{name}={np.asarray(record[name]).tolist()}" for name in PREPROCESSING_RECORD)
        + f", which is none of skalexnet's preprocessings {sorted(PREPROCESSING)}."
    )


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
        return "torchvision"  # the one variant without LRN
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
    return _preprocessing_key({key: found.get(key) for key in PREPROCESSING_RECORD}, path)


def _close(found, expected) -> bool:
    return (
        found is not None and np.shape(found) == np.shape(expected) and np.allclose(found, expected)
    )


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
