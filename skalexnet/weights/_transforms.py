"""The layout changes between the source frameworks and Keras 3, T1..T5 (docs/weights.md).

Each takes and returns numpy arrays; readers compose them. Keras 3 holds a Conv2D kernel as
(kh, kw, in / groups, out) and a Dense kernel as (in, out), with ``Flatten`` in H, W, C order.
"""

import math

import numpy as np


def oihw_to_hwio(kernel: np.ndarray) -> np.ndarray:
    """T1: a torch / Caffe / ONNX / Theano 'th' kernel (out, in, kh, kw) as Keras' HWIO."""
    return np.ascontiguousarray(kernel.transpose(2, 3, 1, 0))


def out_in_to_in_out(kernel: np.ndarray) -> np.ndarray:
    """T2: a Linear / InnerProduct / Gemm(transB=1) matrix (out, in) as a Dense kernel (in, out)."""
    return np.ascontiguousarray(kernel.T)


def fc6_rows_chw_to_hwc(kernel: np.ndarray, channels: int) -> np.ndarray:
    """T3: reorder fc6's input rows from a C, H, W flatten (NCHW frameworks) to Keras' H, W, C.

    Parameters
    ----------
    kernel : ndarray of shape (channels * side * side, units)
        fc6 as a Dense kernel whose rows follow the C, H, W order of pool5's flattened map.
    channels : int
        Channels of pool5 (conv5's filters); the map is assumed square.

    Returns
    -------
    kernel : ndarray of the same shape, rows in H, W, C order.
    """
    rows, units = kernel.shape
    side = math.isqrt(rows // channels)
    if channels * side * side != rows:
        raise ValueError(
            f"fc6 has {rows} input rows, which is not {channels} channels times a square map: "
            "the file's conv5 and fc6 do not belong to one AlexNet."
        )
    chw = kernel.reshape(channels, side, side, units)
    return np.ascontiguousarray(chw.transpose(1, 2, 0, 3).reshape(rows, units))


def flip_spatial(kernel: np.ndarray) -> np.ndarray:
    """T4: a Theano true-convolution kernel (out, in, kh, kw) as a cross-correlation kernel."""
    return np.ascontiguousarray(kernel[:, :, ::-1, ::-1])


def concat_groups(kernels_hwio: list) -> np.ndarray:
    """T5: split-group kernels, each HWIO, as one ``Conv2D(groups=len(kernels))`` kernel.

    Keras' output channel j reads input group ``j // (out / groups)``: the halves' outputs
    side by side, in group order, as Caffe's ``group`` and convnets-keras' split/concat lay them.
    """
    return np.concatenate(kernels_hwio, axis=-1)
