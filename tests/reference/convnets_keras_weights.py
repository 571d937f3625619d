"""Seeded weights and images in the convnets-keras layout, identical under any numpy version.

Shared by ``theano_convnets_keras.py`` (run once, in a Theano venv with numpy < 1.24) and by
``tests/test_weights_convnets_keras.py`` (numpy 2): both draw from ``numpy.random.RandomState``,
whose stream numpy freezes across versions (NEP 19), so the 240 MB full-size weights need not be
committed: the fixture holds only Theano's outputs and a digest of the arrays it saw.
"""

import hashlib

import numpy as np

# Keras 1 layer name -> weight shape as convnets-keras stores it: 'th' kernels (out, in, kh, kw)
# for Theano's true convolution, Dense kernels (in, out); conv2, conv4, conv5 split in two halves.
CONVNETS_KERAS_SHAPES = {
    "conv_1": (96, 3, 11, 11),
    "conv_2_1": (128, 48, 5, 5),
    "conv_2_2": (128, 48, 5, 5),
    "conv_3": (384, 256, 3, 3),
    "conv_4_1": (192, 192, 3, 3),
    "conv_4_2": (192, 192, 3, 3),
    "conv_5_1": (128, 192, 3, 3),
    "conv_5_2": (128, 192, 3, 3),
    "dense_1": (9216, 4096),
    "dense_2": (4096, 4096),
    "dense_3": (4096, 1000),
}
IMAGE_SIZE = 227


def generate_weights(seed: int = 0) -> dict:
    """He-uniform kernels and non-zero biases, float32, keyed by convnets-keras layer name."""
    rs = np.random.RandomState(seed)
    weights = {}
    for name, shape in CONVNETS_KERAS_SHAPES.items():
        is_conv = len(shape) == 4
        fan_in = int(np.prod(shape[1:])) if is_conv else shape[0]
        units = shape[0] if is_conv else shape[1]
        limit = np.sqrt(6.0 / fan_in)  # He uniform: keeps activations O(input) through the stack
        kernel = ((rs.random_sample(shape) * 2 - 1) * limit).astype(np.float32)
        bias = ((rs.random_sample(units) * 2 - 1) * 0.5).astype(np.float32)
        weights[name] = (kernel, bias)
    return weights


def generate_images(seed: int = 1, n_images: int = 2) -> np.ndarray:
    """Uniform RGB pixels in [0, 255], channels last, float32 holding integers."""
    rs = np.random.RandomState(seed)
    return np.floor(rs.random_sample((n_images, IMAGE_SIZE, IMAGE_SIZE, 3)) * 256).astype(
        np.float32
    )


def digest(weights: dict, images: np.ndarray) -> str:
    """SHA-256 of every array, so a test can prove it regenerated exactly what Theano saw."""
    h = hashlib.sha256()
    for name in sorted(weights):
        for array in weights[name]:
            h.update(np.ascontiguousarray(array, dtype="<f4").tobytes())
    h.update(np.ascontiguousarray(images, dtype="<f4").tobytes())
    return h.hexdigest()


# Every layer of convnets-keras' AlexNet in model order, as Keras 1 auto-named the weightless ones;
# save_weights writes a group for each, with an empty weight_names list where nothing is held.
CONVNETS_KERAS_LAYER_NAMES = (
    "input_1", "conv_1", "maxpooling2d_1", "convpool_1", "zeropadding2d_1", "lambda_1",
    "lambda_2", "conv_2_1", "conv_2_2", "conv_2", "maxpooling2d_2", "lambda_3",
    "zeropadding2d_2", "conv_3", "zeropadding2d_3", "lambda_4", "lambda_5", "conv_4_1",
    "conv_4_2", "conv_4", "zeropadding2d_4", "lambda_6", "lambda_7", "conv_5_1", "conv_5_2",
    "conv_5", "convpool_5", "flatten", "dense_1", "dropout_1", "dense_2", "dropout_2",
    "dense_3", "softmax",
)  # fmt: skip


def write_convnets_keras_h5(path, weights: dict, backend=None) -> None:
    """Write ``weights`` as Keras 1's ``save_weights`` did (keras/engine/topology.py, 1.2.2).

    Root attribute ``layer_names`` (fixed-length bytes, every layer), one group per layer with
    attribute ``weight_names`` and datasets ``{layer}_W`` / ``{layer}_b``; no ``backend`` or
    ``keras_version`` attribute (Keras 2 added them; pass ``backend`` to imitate one).
    """
    import h5py  # not needed by the Theano script, which only imports the generators above

    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [name.encode("utf8") for name in CONVNETS_KERAS_LAYER_NAMES]
        if backend is not None:
            f.attrs["backend"] = backend.encode("utf8")
        for name in CONVNETS_KERAS_LAYER_NAMES:
            group = f.create_group(name)
            held = weights.get(name, ())
            weight_names = [f"{name}_{suffix}".encode() for suffix in ("W", "b")][: len(held)]
            group.attrs["weight_names"] = weight_names
            for weight_name, value in zip(weight_names, held, strict=True):
                group.create_dataset(weight_name.decode(), data=value)
