"""AlexNet's non-standard layers, written with ``keras.ops`` so that they run on every backend."""

import keras
import numpy as np
from keras import ops

# Constant tensors of the layers below, per value and dtype, on the torch backend only.
_TORCH_CONSTANTS = {}


def _constant(values, dtype, like):
    """``values`` as a tensor of ``dtype``. Torch runs eagerly, so a fresh conversion would copy
    to the GPU at every step, and each copy from pageable memory waits for the GPU to finish:
    made once instead. Traced backends (JAX, TensorFlow) fold constants, and caching their
    tensors would leak them between traces."""
    if keras.backend.backend() != "torch":
        return ops.convert_to_tensor(values, dtype=dtype)
    # Keras builds models on torch's "meta" device first: one entry per device.
    key = (np.asarray(values).tobytes(), np.shape(values), str(dtype), str(like.device))
    if key not in _TORCH_CONSTANTS:
        _TORCH_CONSTANTS[key] = ops.convert_to_tensor(values, dtype=dtype)
    return _TORCH_CONSTANTS[key]


@keras.saving.register_keras_serializable(package="skalexnet")
class ImagePreprocessing(keras.layers.Layer):
    """Turn RGB pixels in [0, 255] into the network's input scale, inside the model.

    Computes ``(x[..., order] - mean) / std`` per channel. The study's layer (Theano only) was
    ``(x - IMAGENET_RGB_MEAN) / 255``; Caffe weights want BGR minus the Caffe mean, torchvision
    weights want ``(x / 255 - mean) / std``: all three are this layer with other numbers.

    Parameters
    ----------
    mean : sequence of 3 floats
        Subtracted per channel, after the channel reordering, on the [0, 255] scale.
    std : sequence of 3 floats
        Divisor per channel, on the [0, 255] scale.
    reverse_channels : bool, default=False
        Feed the network BGR (Caffe weights) instead of RGB.
    folded : bool, default=False
        The next convolution applies this scaling through its own weights (AlexNetConv2D's
        ``input_scaling``), and this layer only casts the pixels to its compute dtype. The
        network then reads its input once instead of three times: at 64 images of 227 pixels,
        the float32 subtraction and division took 21 ms of a 107 ms pool5 forward pass on a
        2-core AMX Xeon. The layer still records the scaling in weight files.
    """

    def __init__(self, mean, std, reverse_channels=False, folded=False, **kwargs):
        super().__init__(**kwargs)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.reverse_channels = bool(reverse_channels)
        self.folded = bool(folded)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.folded:
            return x
        if self.reverse_channels:
            x = ops.flip(x, axis=-1)
        mean = _constant(self.mean, self.compute_dtype, x)
        std = _constant(self.std, self.compute_dtype, x)
        return (x - mean) / std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            mean=self.mean,
            std=self.std,
            reverse_channels=self.reverse_channels,
            folded=self.folded,
        )
        return config

    # The layer holds no variables, so Keras would write nothing for it and a ``.weights.h5``
    # (which has no config) would not say how its weights expect their input: record it there.
    def save_own_variables(self, store):
        for key, value in self._record().items():
            store[key] = value

    def load_own_variables(self, store):
        """Refuse weights saved from a network whose input was scaled otherwise."""
        if not all(key in store for key in PREPROCESSING_RECORD):
            return  # written before the record existed: nothing to check
        saved = {key: np.asarray(store[key]) for key in PREPROCESSING_RECORD}
        mine = self._record()
        if not all(np.array_equal(saved[key], mine[key]) for key in PREPROCESSING_RECORD):
            raise ValueError(
                f"{self.name}: the weights were saved from a network whose input is "
                f"{_describe_preprocessing(saved)}, this network's is "
                f"{_describe_preprocessing(mine)}: build it with that preprocessing."
            )

    def _record(self):
        return {
            "mean": np.asarray(self.mean, np.float64),
            "std": np.asarray(self.std, np.float64),
            "reverse_channels": np.asarray(self.reverse_channels, np.int8),
        }


# What ImagePreprocessing writes into a weights file, read back by skalexnet.weights.
PREPROCESSING_RECORD = ("mean", "std", "reverse_channels")


def _describe_preprocessing(record) -> str:
    """``preprocessing='caffe'`` for a known scaling, else its numbers."""
    from ._network import PREPROCESSING  # _network builds on these layers: imported late

    for key, spec in PREPROCESSING.items():
        if all(np.allclose(record[name], spec[name]) for name in PREPROCESSING_RECORD):
            return f"preprocessing={key!r}"
    return ", ".join(f"{name}={record[name].tolist()}" for name in PREPROCESSING_RECORD)


@keras.saving.register_keras_serializable(package="skalexnet")
class LocalResponseNormalization(keras.layers.Layer):
    """Cross-channel local response normalisation (Krizhevsky et al. 2012), channels last.

    ``y = x / (k + a * sum(x_j ** 2 over the `size` channels around x)) ** beta`` where
    ``a = alpha / size`` if ``alpha_over_size`` (Caffe, ONNX, PyTorch) else ``alpha`` (the paper and
    the convnets-keras port the study used). The window spans ``(size - 1) // 2`` channels below
    and ``size // 2`` above, clipped at the edges, as Caffe and ONNX define it.

    Parameters
    ----------
    size : int, default=5
        Number of channels in the window.
    alpha, beta, k : float
        The formula's constants; the defaults are the paper's.
    alpha_over_size : bool, default=False
        Divide ``alpha`` by ``size`` (Caffe's convention).
    """

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0, alpha_over_size=False, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = float(k)
        self.alpha_over_size = bool(alpha_over_size)

    def build(self, input_shape):
        # The windowed channel sum as one matmul with a banded 0/1 matrix: one fast kernel on every
        # backend, where shifted slices or average pooling over channels cost several.
        channels = int(input_shape[-1])
        offset = np.arange(channels)[None, :] - np.arange(channels)[:, None]
        # offset = output channel c - input channel i; the window is i in [c - (n-1)//2, c + n//2]
        within = (offset >= -(self.size // 2)) & (offset <= (self.size - 1) // 2)
        self._band = within.astype("float32")

    def call(self, inputs):
        scale = self.alpha / self.size if self.alpha_over_size else self.alpha
        band = _constant(self._band, inputs.dtype, inputs)
        base = self.k + scale * ops.matmul(ops.square(inputs), band)
        if self.beta == 0.75:  # every AlexNet's
            # base ** -0.75 as rsqrt(base) * sqrt(rsqrt(base)): forward and backward took 8.2 ms
            # instead of 10.6 on norm1's (32, 27, 27, 96) in bfloat16 (torch, 2-core AMX Xeon).
            inverse_root = ops.rsqrt(base)
            return inputs * (inverse_root * ops.sqrt(inverse_root))
        return inputs / ops.power(base, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            size=self.size,
            alpha=self.alpha,
            beta=self.beta,
            k=self.k,
            alpha_over_size=self.alpha_over_size,
        )
        return config


def _torch_channels_last(x):
    """An NHWC tensor viewed as NCHW: oneDNN reads these strides as channels-last, no copy."""
    return ops.convert_to_tensor(x).permute(0, 3, 1, 2)


@keras.saving.register_keras_serializable(package="skalexnet")
class AlexNetConv2D(keras.layers.Conv2D):
    """``Conv2D`` (``groups`` included) computed the fastest way measured on each backend.

    The kernel is the one ``Conv2D`` holds, ``(kh, kw, in / groups, out)``, so weights move
    between the two unchanged. Two backend-specific paths, each measured in
    ``benchmarks/bench_training.py`` and tested against the generic one:

    - torch: Keras's own torch convolution copies every input to channels-first and back, which
      cost AlexNet 10-20 % of its time; calling ``torch.nn.functional.conv2d`` on a
      channels-last view avoids both copies.
    - TensorFlow and JAX: ``groups=2`` runs several times slower on CPU than two convolutions
      on the channel halves, concatenated.

    ``input_scaling`` (conv1 of a network without padding before it) takes over the folded
    ``ImagePreprocessing``: with ``(mean, std, reverse_channels)`` of that layer, the
    convolution reads raw pixels ``x`` and computes ``conv(scale(x))`` exactly as
    ``conv'(x)``, with the kernel divided by ``std`` per input channel (and its input channels
    reversed for BGR) and ``sum(kernel * mean / std)`` taken from the bias: conv1's 35,000
    weights per step instead of three passes over every pixel of the batch (155,000 per image
    at 227). Its variables are the unscaled ones.
    """

    def __init__(self, *args, input_scaling=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.input_scaling = None if input_scaling is None else dict(input_scaling)
        if self.input_scaling is not None and (self.groups != 1 or not self.use_bias):
            raise ValueError("input_scaling needs a convolution with one group and a bias.")

    def call(self, inputs):
        kernel, bias = self.kernel, self.bias
        if self.input_scaling is not None:
            kernel, bias = self._scaled_kernel_and_bias(kernel, bias, inputs)
        elif not self._uses_torch_path():
            return super().call(inputs)
        if self._uses_torch_path():
            # The bias goes into the convolution itself: oneDNN adds it in the same pass; the
            # ReLU then overwrites the convolution's fresh output, which its backward pass never
            # reads.
            outputs = self._torch_convolution(inputs, kernel, bias)
            if self.activation is keras.activations.relu:
                return outputs.relu_()
        else:
            outputs = self.convolution_op(inputs, kernel) + ops.reshape(bias, (1, 1, 1, -1))
        return outputs if self.activation is None else self.activation(outputs)

    def _scaled_kernel_and_bias(self, kernel, bias, inputs):
        """The kernel and bias that read raw pixels (see the class notes); the bias's sum in
        float32, since in bfloat16 a sum of hundreds of products would lose its low bits."""
        dtype = self.compute_dtype
        mean = _constant(self.input_scaling["mean"], "float32", inputs)
        std = _constant(self.input_scaling["std"], "float32", inputs)
        scaled = ops.cast(kernel, "float32") / ops.reshape(std, (1, 1, -1, 1))
        shift = ops.sum(scaled * ops.reshape(mean, (1, 1, -1, 1)), axis=(0, 1, 2))
        bias = ops.cast(ops.cast(bias, "float32") - shift, dtype)
        if self.input_scaling["reverse_channels"]:
            scaled = ops.flip(scaled, axis=2)  # x[..., ::-1] against the kernel's channels
        return ops.cast(scaled, dtype), bias

    def get_config(self):
        config = super().get_config()
        config["input_scaling"] = self.input_scaling
        return config

    def convolution_op(self, inputs, kernel):
        if self._uses_torch_path():
            return self._torch_convolution(inputs, kernel)
        if self.groups > 1 and keras.backend.backend() in ("tensorflow", "jax"):
            return self._split_convolution(inputs, kernel)
        return super().convolution_op(inputs, kernel)

    def _uses_torch_path(self):
        return keras.backend.backend() == "torch" and self._torch_padding() is not None

    def _torch_padding(self):
        """Explicit padding equal to Keras's, where one exists (else None: use Keras's path)."""
        if self.data_format != "channels_last":
            return None
        if self.padding == "valid":
            return (0, 0)
        if all(s == 1 for s in self.strides) and all(k % 2 for k in self.kernel_size):
            return tuple(
                d * (k // 2) for k, d in zip(self.kernel_size, self.dilation_rate, strict=True)
            )
        return None

    def _torch_convolution(self, inputs, kernel, bias=None):
        import torch.nn.functional as F

        dtype = ops.dtype(inputs)
        kernel = ops.convert_to_tensor(kernel, dtype=dtype).permute(3, 2, 0, 1)  # OIHW
        if bias is not None:
            bias = ops.convert_to_tensor(bias, dtype=dtype)
        outputs = F.conv2d(
            _torch_channels_last(inputs),
            kernel,
            bias,
            stride=self.strides,
            padding=self._torch_padding(),
            dilation=self.dilation_rate,
            groups=self.groups,
        )
        return outputs.permute(0, 2, 3, 1)

    def _split_convolution(self, inputs, kernel):
        input_groups = ops.split(inputs, self.groups, axis=-1)
        kernel_groups = ops.split(kernel, self.groups, axis=-1)
        outputs = [
            ops.conv(
                x,
                w,
                strides=self.strides,
                padding=self.padding,
                dilation_rate=self.dilation_rate,
                data_format=self.data_format,
            )
            for x, w in zip(input_groups, kernel_groups, strict=True)
        ]
        return ops.concatenate(outputs, axis=-1)


@keras.saving.register_keras_serializable(package="skalexnet")
class AlexNetMaxPooling2D(keras.layers.MaxPooling2D):
    """``MaxPooling2D`` without the layout copies of Keras's torch backend (as AlexNetConv2D)."""

    def call(self, inputs):
        if (
            keras.backend.backend() != "torch"
            or self.padding != "valid"
            or self.data_format != "channels_last"
        ):
            return super().call(inputs)
        import torch.nn.functional as F

        outputs = F.max_pool2d(_torch_channels_last(inputs), self.pool_size, self.strides)
        return outputs.permute(0, 2, 3, 1)


# Fewest columns of the matrix product of a Dense layer at inference. BLAS computes a product
# with few columns by kernels that treat neighbouring rows differently: with 5 or 10 columns, an
# image's logits changed with its place in a batch of 32 (MKL on a 2-core EPYC, AVX2), while
# from 16 columns on no place changed a bit. 128 leaves room for wider vector units.
MIN_INFERENCE_COLUMNS = 128


@keras.saving.register_keras_serializable(package="skalexnet")
class AlexNetDense(keras.layers.Dense):
    """``Dense`` whose inference outputs for an image never depend on the other rows of its batch.

    A layer of fewer than ``MIN_INFERENCE_COLUMNS`` units (fc8, one per class) multiplies by its
    kernel padded with zero columns at inference, and keeps the first ``units`` columns: the
    same sums, computed by the kernels that treat every row alike. Training computes exactly as
    ``Dense`` does, and the variables are ``Dense``'s.
    """

    def call(self, inputs, training=None):
        narrow = self.units < MIN_INFERENCE_COLUMNS and not training
        if not narrow or getattr(self, "quantization_mode", None) is not None:
            return super().call(inputs, training=training)
        kernel = ops.pad(self.kernel, [[0, 0], [0, MIN_INFERENCE_COLUMNS - self.units]])
        outputs = ops.matmul(inputs, kernel)[..., : self.units]
        if self.bias is not None:
            outputs = outputs + self.bias
        return outputs if self.activation is None else self.activation(outputs)
