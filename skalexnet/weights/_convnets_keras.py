"""heuritech convnets-keras ``alexnet_weights.h5``: Keras 1 on Theano, the weights the study used.

The file holds Theano true-convolution kernels in 'th' layout, conv2/4/5 as two halves each, and
fc6 rows in C, H, W order (docs/weights.md). No Keras release flips them on load, because the
file carries no ``backend`` attribute; this reader does, unless told otherwise.
"""

import os

import h5py
import numpy as np

from ._errors import WeightFileError, reading
from ._h5 import open_h5, read_array, text_attribute
from ._transforms import concat_groups, fc6_rows_chw_to_hwc, flip_spatial, oihw_to_hwio
from ._weightset import WeightSet

SOURCE = "convnets-keras-h5"
# Caffe layer name -> the Keras 1 layer(s) holding it, halves in group order.
CONVNETS_KERAS_LAYERS = {
    "conv1": ("conv_1",),
    "conv2": ("conv_2_1", "conv_2_2"),
    "conv3": ("conv_3",),
    "conv4": ("conv_4_1", "conv_4_2"),
    "conv5": ("conv_5_1", "conv_5_2"),
    "fc6": ("dense_1",),
    "fc7": ("dense_2",),
    "fc8": ("dense_3",),
}
IMAGE_SIZE = 227  # convnets-keras' Input((3, 227, 227))


def is_convnets_keras_h5(h5file: h5py.File) -> bool:
    """Whether an open HDF5 file is a Keras 1/2 ``save_weights`` file of convnets-keras layers."""
    return {"conv_1", "dense_3"} <= set(_text_list(h5file.attrs, "layer_names"))


def read_convnets_keras_h5(path, *, flip_kernels: bool = True) -> WeightSet:
    """Read heuritech convnets-keras' ``alexnet_weights.h5`` as 'original' AlexNet weights.

    Parameters
    ----------
    path : str or path-like
        The HDF5 file written by Keras 1's ``save_weights``.
    flip_kernels : bool, default=True
        Turn Theano's true-convolution kernels into cross-correlation kernels (T4). Only a file
        saved from a Keras 1 TensorFlow run would need False; convnets-keras ran on Theano only.

    Returns
    -------
    weights : WeightSet
        arch 'original', preprocessing 'imagenet_mean' (RGB minus the ImageNet mean, 0-255).

    Raises
    ------
    WeightFileError
        When the file is damaged, or holds something other than AlexNet; the message names the
        file and, where one is at fault, the layer and its shapes.

    Examples
    --------
    >>> from skalexnet.weights import read_convnets_keras_h5
    >>> ws = read_convnets_keras_h5("alexnet_weights.h5")  # doctest: +SKIP
    >>> ws.layers["conv2"][0].shape  # doctest: +SKIP
    (5, 5, 48, 256)
    """
    with reading(path, "a convnets-keras HDF5 file"):
        with open_h5(path, path) as f:
            _check_keras1_file(f, path)
            file_bytes = os.path.getsize(path)
            raw = {
                name: _read_layer(f, name, path, file_bytes)
                for names in CONVNETS_KERAS_LAYERS.values()
                for name in names
            }
        layers = _to_keras3(raw, flip_kernels)
    return WeightSet(
        arch="original",
        preprocessing="imagenet_mean",
        layers=layers,
        source=SOURCE,
        n_classes=int(layers["fc8"][0].shape[-1]),  # a 2-D Dense kernel, checked on reading
        image_size=IMAGE_SIZE,
        path=str(path),
    )


def _to_keras3(raw, flip_kernels) -> dict:
    """Keras 1 'th' layers, conv halves apart, as Keras 3 layers keyed by Caffe name."""
    layers = {}
    for caffe_name, keras1_names in CONVNETS_KERAS_LAYERS.items():
        if caffe_name.startswith("conv"):
            kernels = [raw[n][0] for n in keras1_names]
            if flip_kernels:
                kernels = [flip_spatial(k) for k in kernels]
            kernel = concat_groups([oihw_to_hwio(k) for k in kernels])
            bias = np.concatenate([raw[n][1] for n in keras1_names])
        else:
            kernel, bias = raw[keras1_names[0]]
        layers[caffe_name] = [kernel, bias]
    # Keras 1 'th' Flatten leaves pool5 in C, H, W order; conv5's filters give C.
    channels = layers["conv5"][0].shape[-1]
    layers["fc6"][0] = fc6_rows_chw_to_hwc(layers["fc6"][0], channels)
    return layers


def _check_keras1_file(f, path):
    if not is_convnets_keras_h5(f):
        raise WeightFileError(
            f"{path}: not a convnets-keras weights file (no conv_1/dense_3 layers)."
        )
    if "backend" in f.attrs:
        # Keras 2 writes a backend attribute and may have converted the kernels already.
        raise WeightFileError(
            f"{path}: written by Keras 2 (backend={text_attribute(f.attrs['backend'])!r}), not "
            "the Keras 1 convnets-keras file; its kernel layout is not the one this reader "
            "converts."
        )


def _read_layer(f, name, path, file_bytes):
    group = f.get(name)
    if not isinstance(group, h5py.Group):
        raise WeightFileError(
            f"{path}: the convnets-keras layer {name!r} is missing from the file."
        )
    weight_names = _text_list(group.attrs, "weight_names")
    if len(weight_names) != 2:
        raise WeightFileError(
            f"{path}: layer {name!r} holds {weight_names}, expected a kernel and a bias."
        )
    kernel, bias = (read_array(group.get(n), file_bytes, path, f"{name}/{n}") for n in weight_names)
    expected_ndim = 4 if name.startswith("conv") else 2
    if kernel.ndim != expected_ndim or bias.shape != (
        kernel.shape[0 if expected_ndim == 4 else 1],
    ):
        raise WeightFileError(
            f"{path}: layer {name!r} holds a kernel {kernel.shape} and a bias {bias.shape}, not a "
            f"Keras 1 {'th-ordered Convolution2D' if expected_ndim == 4 else 'Dense'}."
        )
    return kernel, bias


def _text_list(attrs, key) -> list:
    """A list-of-strings attribute (Keras 1 writes fixed-length bytes); [] when absent."""
    names = [text_attribute(n) for n in np.ravel(attrs.get(key, []))]
    return [n for n in names if n is not None]
