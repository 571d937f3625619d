"""Which format a file is in, from its first bytes (and its extension for ONNX, which has none)."""

import zipfile
from pathlib import Path

from .._network import ARCHITECTURES, PREPROCESSING
from ._convnets_keras import is_convnets_keras_h5, read_convnets_keras_h5
from ._errors import WeightFileError, reading
from ._h5 import open_h5
from ._keras3 import is_keras3_weights_h5, read_keras_weights
from ._onnx import read_onnx_bvlcalexnet
from ._torch_pickle import LEGACY_PREFIX
from ._torchvision import read_torchvision_pth
from ._weightset import WeightSet

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"
# A serialized ONNX ModelProto starts with field 1 (ir_version) as a varint: tag byte 0x08.
ONNX_FIRST_BYTE = b"\x08"
READERS = {
    "convnets-keras-h5": read_convnets_keras_h5,
    "onnx-bvlcalexnet": read_onnx_bvlcalexnet,
    "torchvision-pth": read_torchvision_pth,
    "keras": read_keras_weights,
}
ACCEPTED = (
    "convnets-keras alexnet_weights.h5 (Keras 1), the ONNX zoo's bvlcalexnet .onnx, "
    "torchvision's alexnet .pth (torch.save zip or legacy), and Keras 3 .weights.h5/.keras "
    "files of a skalexnet model"
)


def detect_format(path) -> str:
    """Name which of the accepted weight formats a file is in (a key of ``READERS``).

    The format is told from the file's first bytes: an HDF5 file is a convnets-keras or a Keras 3
    weights file by its groups, a zip archive a ``.keras`` file or a torch ``.pth`` by its
    members, a legacy torch pickle a ``.pth``, and the ``.onnx`` extension or a protobuf header
    an ONNX model.

    Parameters
    ----------
    path : str or path-like
        The weight file.

    Returns
    -------
    fmt : {'convnets-keras-h5', 'onnx-bvlcalexnet', 'torchvision-pth', 'keras'}
        The format's name: :func:`read_convnets_keras_h5`, :func:`read_onnx_bvlcalexnet`,
        :func:`read_torchvision_pth` or :func:`read_keras_weights` reads it, and
        :func:`load_weights` calls the one it names.

    Raises
    ------
    WeightFileError
        When the file is none of the accepted formats, or is unreadable as the one it claims.
    FileNotFoundError
        When there is no file at ``path``.
    """
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(HDF5_SIGNATURE):
        with reading(path, "an HDF5 file"), open_h5(path, path) as f:
            if is_convnets_keras_h5(f):
                return "convnets-keras-h5"
            if is_keras3_weights_h5(f):
                return "keras"
    elif head.startswith(ZIP_SIGNATURE):
        with reading(path, "a zip archive"), zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if {"config.json", "model.weights.h5"} <= set(names):
            return "keras"
        if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            return "torchvision-pth"
    elif head.startswith(LEGACY_PREFIX):
        return "torchvision-pth"
    elif path.suffix.lower() == ".onnx" or head.startswith(ONNX_FIRST_BYTE):
        return "onnx-bvlcalexnet"
    raise WeightFileError(f"{path}: unknown weights format; skalexnet reads {ACCEPTED}.")


def load_weights(path, *, arch: str | None = None, preprocessing: str | None = None) -> WeightSet:
    """Read pretrained AlexNet weights from any supported file into Keras 3 layout.

    The format is recognised from the file's content (HDF5, zip or torch signatures; the
    ``.onnx`` extension or a protobuf header for ONNX). Use the per-format readers
    (``read_convnets_keras_h5`` ...) for their options.

    Parameters
    ----------
    path : str or path-like
        A convnets-keras ``alexnet_weights.h5``, an ONNX zoo ``bvlcalexnet-*.onnx``, a
        torchvision ``alexnet-owt-*.pth``, or a Keras 3 ``.weights.h5`` / ``.keras`` file.
    arch : {'original', 'caffe', 'torchvision'} or None, default=None
        What the file holds, for a Keras 3 file that does not say; None follows the file. A
        value that contradicts the file is an error, for every format.
    preprocessing : {'study', 'imagenet_mean', 'caffe', 'torchvision'} or None, default=None
        How the weights' input is scaled, for a Keras 3 file that does not record it (see
        :func:`read_keras_weights`); None follows the file. A value that contradicts the file
        is an error, for every format.

    Returns
    -------
    weights : WeightSet
        Build the matching model with ``build_alexnet(weights.arch, weights.n_classes,
        image_size, weights.preprocessing)`` and fill it with :func:`apply_weights`.

    Raises
    ------
    UnsafeWeightFileError
        When a pickled (.pth) file asks to run code; nothing it names is imported or called.
    WeightFileError
        When the file is of no accepted format, damaged, holds another network, contradicts
        ``arch`` or ``preprocessing``, or is a Keras 3 file that does not say them; the message
        names the file. Both are ValueErrors.
    FileNotFoundError
        When there is no file at ``path``.

    Examples
    --------
    >>> from skalexnet._network import build_alexnet
    >>> from skalexnet.weights import apply_weights, load_weights, resolve_weights
    >>> ws = load_weights(resolve_weights("imagenet"))  # doctest: +SKIP
    >>> model = build_alexnet(ws.arch, ws.n_classes, 224, ws.preprocessing)  # doctest: +SKIP
    >>> apply_weights(model, ws)  # doctest: +SKIP
    """
    for name, value, allowed in (
        ("arch", arch, ARCHITECTURES),
        ("preprocessing", preprocessing, PREPROCESSING),
    ):
        if value is not None and value not in allowed:
            raise ValueError(f"{name} must be None or one of {sorted(allowed)}, got {value!r}.")
    file_format = detect_format(path)
    if file_format == "keras":
        return read_keras_weights(path, arch=arch, preprocessing=preprocessing)
    weights = READERS[file_format](path)
    # The other formats always say both: a different value is a mistake, never a repair.
    for name, stated, held in (
        ("arch", arch, weights.arch),
        ("preprocessing", preprocessing, weights.preprocessing),
    ):
        if stated is not None and stated != held:
            raise WeightFileError(
                f"{path}: {name}={stated!r}, but the file holds weights for {held!r}; leave "
                f"{name}=None to follow the file."
            )
    return weights
