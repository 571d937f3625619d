"""Pretrained AlexNet weights: one reader per published format, and a registry of known files.

Every reader returns a :class:`WeightSet` in Keras 3 layout keyed by Caffe layer name
(conv1 ... fc8); :func:`apply_weights` puts it into a ``build_alexnet`` model. The layouts and
the transforms between them (T1..T5, in ``_transforms``) are described in the repository's
``docs/weights.md``.

Weight files are treated as untrusted: no reader unpickles arbitrary objects, imports or calls
anything a file names, or builds a model from a file's config. Whatever bytes a file holds, a
reader returns a WeightSet or raises :class:`WeightFileError` (a ``ValueError``) naming the file;
a pickle that asks to run code raises its subclass :class:`UnsafeWeightFileError`. A missing
file is a ``FileNotFoundError``.
"""

from ._convnets_keras import read_convnets_keras_h5
from ._errors import UnsafeWeightFileError, WeightFileError
from ._keras3 import read_keras_weights
from ._load import detect_format, load_weights
from ._onnx import read_onnx_bvlcalexnet
from ._registry import KNOWN_WEIGHTS, resolve_weights
from ._torch_pickle import read_torch_state_dict
from ._torchvision import convert_torchvision_state_dict, read_torchvision_pth
from ._weightset import WeightSet, apply_weights

__all__ = [
    "KNOWN_WEIGHTS",
    "UnsafeWeightFileError",
    "WeightFileError",
    "WeightSet",
    "apply_weights",
    "convert_torchvision_state_dict",
    "detect_format",
    "load_weights",
    "read_convnets_keras_h5",
    "read_keras_weights",
    "read_onnx_bvlcalexnet",
    "read_torch_state_dict",
    "read_torchvision_pth",
    "resolve_weights",
]
