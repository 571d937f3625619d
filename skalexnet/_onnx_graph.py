"""A skalexnet Keras network written out as ONNX nodes, from its weights, on any backend.

Why a writer of our own rather than Keras's ``model.export(format="onnx")`` (``torch.onnx`` on
the torch backend): measured on the 'caffe' network at 67 pixels (Keras 3.15.1, torch 2.13.0),
Keras's export works on the torch backend only (JAX and TensorFlow need tf2onnx and TensorFlow),
takes float32 input, and traces skalexnet's backend paths literally: 120 nodes, 36 of them Cast
and 17 Transpose, LRN as a matrix product with a banded matrix, conv1's folded input scaling
recomputed at every run. AlexNet needs eight ONNX operators (Conv with ``group``, Relu, LRN,
MaxPool, Pad, Flatten, Gemm, Softmax), so this module writes them directly from the layers'
weights with ``onnx.helper``: about 30 nodes, the one layout change (NHWC to NCHW) at the input,
the same graph whatever the Keras backend, and no dependency beyond ``onnx``. The same writer
emits the nodes into skl2onnx's container, so that a whole Pipeline becomes one graph.

The graph is float32 whatever the network's dtype policy: Keras keeps the variables of a
mixed-bfloat16 network in float32, and those are what is written.
"""

import keras
import numpy as np
from onnx import TensorProto, helper, numpy_helper

from ._layers import AlexNetConv2D, ImagePreprocessing, LocalResponseNormalization

# ONNX opset of the graphs: Softmax along one axis (13), Pad's pads as an input (11).
OPSET = 17

_NCHW_TO_NHWC = (0, 2, 3, 1)


class GraphBuilder:
    """Collects nodes and initializers for a standalone ``onnx.ModelProto``, with unique names."""

    def __init__(self):
        self.nodes, self.initializers, self._names = [], [], set()

    def unique(self, hint: str) -> str:
        name, count = hint, 1
        while name in self._names:
            count += 1
            name = f"{hint}_{count}"
        self._names.add(name)
        return name

    def constant(self, hint: str, array) -> str:
        name = self.unique(hint)
        self.initializers.append(_tensor(name, array))
        return name

    def node(self, op: str, inputs, hint: str, output: str | None = None, **attrs) -> str:
        output = output or self.unique(hint)
        self._names.add(output)
        self.nodes.append(helper.make_node(op, list(inputs), [output], name=output, **attrs))
        return output


class Skl2OnnxBuilder:
    """The same interface, writing into skl2onnx's scope and container (a Pipeline's graph)."""

    def __init__(self, scope, container):
        self.scope, self.container = scope, container

    def unique(self, hint: str) -> str:
        return self.scope.get_unique_variable_name(hint)

    def constant(self, hint: str, array) -> str:
        name = self.unique(hint)
        tensor = numpy_helper.from_array(np.ascontiguousarray(array))
        self.container.add_initializer(name, tensor.data_type, list(tensor.dims), tensor)
        return name

    def node(self, op: str, inputs, hint: str, output: str | None = None, **attrs) -> str:
        output = output or self.unique(hint)
        name = self.scope.get_unique_operator_name(hint)
        self.container.add_node(op, list(inputs), [output], name=name, op_version=OPSET, **attrs)
        return output


def _tensor(name, array):
    array = np.asarray(array)
    if array.dtype.kind in "OUS":  # labels that are strings
        values = [str(v).encode("utf-8") for v in array.ravel()]
        return helper.make_tensor(name, TensorProto.STRING, array.shape, values)  # type: ignore[arg-type]
    return numpy_helper.from_array(np.ascontiguousarray(array), name)


def write_network(model: keras.Model, graph, image: str) -> list[str]:
    """Write ``model``'s inference pass into ``graph``; return the names of its outputs.

    ``image`` names a (batch, size, size, 3) tensor of RGB pixels in [0, 255], of any numeric
    type. Each output is laid out as Keras's: 2-D outputs as they are, 4-D ones channels last.
    Dropout is the identity, as in ``predict``. A layer this writer does not know is refused.
    """
    config = model.get_config()
    # name -> (ONNX tensor name, layout, Keras shape without the batch)
    tensors = {}
    for spec in config["layers"]:
        name = spec.get("name", spec["config"]["name"])
        layer = model.get_layer(name)
        if isinstance(layer, keras.layers.InputLayer):
            x = graph.node("Cast", [image], "pixels", to=TensorProto.FLOAT)
            x = graph.node("Transpose", [x], "pixels_nchw", perm=[0, 3, 1, 2])
            tensors[name] = (x, tuple(spec["config"]["batch_shape"][1:]))
            continue
        nodes = spec["inbound_nodes"]
        inputs = _inbound_layers(nodes)
        if len(nodes) != 1 or len(inputs) != 1:
            raise ValueError(
                f"ONNX export: layer {name!r} has {len(inputs)} inputs over {len(nodes)} calls; "
                f"only a chain of single-input layers (an AlexNet) can be written."
            )
        x, shape = tensors[inputs[0]]
        tensors[name] = _write_layer(layer, graph, x, shape)
    outputs = []
    output_layers = config["output_layers"]
    if output_layers and isinstance(output_layers[0], str):  # one output: [name, 0, 0]
        output_layers = [output_layers]
    for output_name, *_ in output_layers:
        x, shape = tensors[output_name]
        if len(shape) == 3:  # kept NCHW inside the graph; Keras's is channels last
            x = graph.node("Transpose", [x], f"{output_name}_nhwc", perm=list(_NCHW_TO_NHWC))
        outputs.append(x)
    return outputs


def _inbound_layers(nodes) -> list[str]:
    """Layer names that feed a layer, from its functional config (Keras's serialised graph)."""
    names = []
    for node in nodes:
        for arg in node.get("args", []):
            for tensor in arg if isinstance(arg, list) else [arg]:
                if isinstance(tensor, dict) and tensor.get("class_name") == "__keras_tensor__":
                    names.append(tensor["config"]["keras_history"][0])
    return names


def _write_layer(layer, graph, x, shape):
    """One Keras layer as ONNX nodes on ``x`` (NCHW while 4-D); returns (output, Keras shape)."""
    name = layer.name
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise ValueError(f"ONNX export: layer {name!r} is channels_first; skalexnet's are not.")
    if isinstance(layer, ImagePreprocessing):
        if layer.folded:  # conv1 applies the scaling through its weights (input_scaling)
            return x, shape
        if layer.reverse_channels:
            x = graph.node(
                "Gather", [x, graph.constant("bgr", np.array([2, 1, 0], np.int64))], name, axis=1
            )
        mean = graph.constant(f"{name}_mean", _per_channel(layer.mean))
        std = graph.constant(f"{name}_std", _per_channel(layer.std))
        x = graph.node("Sub", [x, mean], f"{name}_centred")
        return graph.node("Div", [x, std], name), shape
    if isinstance(layer, keras.layers.ZeroPadding2D):
        (top, bottom), (left, right) = layer.padding
        pads = graph.constant(
            f"{name}_pads", np.array([0, 0, top, left, 0, 0, bottom, right], np.int64)
        )
        height, width, channels = shape
        return graph.node("Pad", [x, pads], name), (
            height + top + bottom,
            width + left + right,
            channels,
        )
    if isinstance(layer, keras.layers.Conv2D):
        return _write_conv(layer, graph, x, shape)
    if isinstance(layer, LocalResponseNormalization):
        # ONNX's LRN divides alpha by size and spans the same window as the layer (see its doc).
        alpha = layer.alpha if layer.alpha_over_size else layer.alpha * layer.size
        attrs = {"size": layer.size, "alpha": alpha, "beta": layer.beta, "bias": layer.k}
        return graph.node("LRN", [x], name, **attrs), shape
    if isinstance(layer, keras.layers.MaxPooling2D):
        if layer.padding != "valid":
            raise ValueError(f"ONNX export: {name!r} pools with padding={layer.padding!r}.")
        (kh, kw), (sh, sw) = layer.pool_size, layer.strides
        x = graph.node("MaxPool", [x], name, kernel_shape=[kh, kw], strides=[sh, sw])
        height, width, channels = shape
        return x, ((height - kh) // sh + 1, (width - kw) // sw + 1, channels)
    if isinstance(layer, keras.layers.AdaptiveAveragePooling2D):
        return _write_adaptive_average(layer, graph, x, shape)
    if isinstance(layer, keras.layers.GlobalAveragePooling2D | keras.layers.GlobalMaxPooling2D):
        op = (
            "GlobalAveragePool"
            if isinstance(layer, keras.layers.GlobalAveragePooling2D)
            else ("GlobalMaxPool")
        )
        if layer.keepdims:
            raise ValueError(f"ONNX export: {name!r} keeps its pooled dimensions.")
        x = graph.node(op, [x], f"{name}_pool")
        return graph.node("Flatten", [x], name, axis=1), (shape[-1],)
    if isinstance(layer, keras.layers.Flatten):
        # Keras flattens channels last: height x width x channels.
        if len(shape) == 3:
            x = graph.node("Transpose", [x], f"{name}_nhwc", perm=list(_NCHW_TO_NHWC))
        return graph.node("Flatten", [x], name, axis=1), (int(np.prod(shape)),)
    if isinstance(layer, keras.layers.Dense):
        kernel, *bias = (np.asarray(w, np.float32) for w in layer.get_weights())
        inputs = [x, graph.constant(f"{name}_kernel", kernel)]
        if bias:
            inputs.append(graph.constant(f"{name}_bias", bias[0]))
        x = graph.node("Gemm", inputs, f"{name}_linear" if _has_activation(layer) else name)
        return _write_activation(layer, graph, x, name), (kernel.shape[1],)
    if isinstance(layer, keras.layers.Dropout):
        return x, shape  # inference
    if isinstance(layer, keras.layers.Activation):
        return _write_activation(layer, graph, x, name), shape
    raise TypeError(
        f"ONNX export: layer {name!r} ({type(layer).__name__}) is not one of AlexNet's; the "
        f"writer knows Conv2D, LocalResponseNormalization, MaxPooling2D, ZeroPadding2D, "
        f"AdaptiveAveragePooling2D, Flatten, Dense, Dropout, Activation and global pooling."
    )


def _per_channel(values):
    return np.asarray(values, np.float32).reshape(1, -1, 1, 1)


def _has_activation(layer) -> bool:
    activation = getattr(layer, "activation", None)
    return activation is not None and activation is not keras.activations.linear


def _write_activation(layer, graph, x, name):
    activation = getattr(layer, "activation", None)
    if activation is None or activation is keras.activations.linear:
        return x
    if activation is keras.activations.relu:
        return graph.node("Relu", [x], name)
    if activation is keras.activations.softmax:
        return graph.node("Softmax", [x], name, axis=-1)
    raise TypeError(
        f"ONNX export: layer {layer.name!r}'s activation {activation.__name__!r} is not written; "
        f"only relu and softmax are (AlexNet's)."
    )


def _write_conv(layer, graph, x, shape):
    """Conv2D (AlexNetConv2D included) as ONNX Conv, its padding explicit, groups kept."""
    name = layer.name
    kernel, *biases = (np.asarray(w, np.float32) for w in layer.get_weights())
    bias = biases[0] if biases else np.zeros(kernel.shape[-1], np.float32)
    scaling = getattr(layer, "input_scaling", None) if isinstance(layer, AlexNetConv2D) else None
    if scaling is not None:
        kernel, bias = _scaled_kernel_and_bias(kernel, bias, scaling)
    (kh, kw), (sh, sw), (dh, dw) = layer.kernel_size, layer.strides, layer.dilation_rate
    height, width, _ = shape
    pad_h = _same_padding(height, kh, sh, dh) if layer.padding == "same" else (0, 0)
    pad_w = _same_padding(width, kw, sw, dw) if layer.padding == "same" else (0, 0)
    x = graph.node(
        "Conv",
        [
            x,
            graph.constant(f"{name}_kernel", kernel.transpose(3, 2, 0, 1)),  # HWIO to OIHW
            graph.constant(f"{name}_bias", bias),
        ],
        f"{name}_linear" if _has_activation(layer) else name,
        kernel_shape=[kh, kw],
        strides=[sh, sw],
        dilations=[dh, dw],
        pads=[pad_h[0], pad_w[0], pad_h[1], pad_w[1]],
        group=layer.groups,
    )
    out_h = (height + sum(pad_h) - dh * (kh - 1) - 1) // sh + 1
    out_w = (width + sum(pad_w) - dw * (kw - 1) - 1) // sw + 1
    return _write_activation(layer, graph, x, name), (out_h, out_w, kernel.shape[-1])


def _scaled_kernel_and_bias(kernel, bias, scaling):
    """conv1's kernel and bias that read raw pixels: AlexNetConv2D's folding, in numpy."""
    mean = np.asarray(scaling["mean"], np.float32)
    std = np.asarray(scaling["std"], np.float32)
    scaled = kernel / std.reshape(1, 1, -1, 1)
    bias = bias - np.sum(scaled * mean.reshape(1, 1, -1, 1), axis=(0, 1, 2), dtype=np.float32)
    if scaling["reverse_channels"]:
        scaled = scaled[:, :, ::-1, :]
    return np.ascontiguousarray(scaled, np.float32), bias.astype(np.float32)


def _same_padding(size, kernel, stride, dilation):
    """(before, after) padding of Keras's 'same': the output is ceil(size / stride)."""
    extent = dilation * (kernel - 1) + 1
    total = max((-(-size // stride) - 1) * stride + extent - size, 0)
    return total // 2, total - total // 2


def _write_adaptive_average(layer, graph, x, shape):
    """AdaptiveAveragePooling2D as two products with averaging matrices (ONNX has no adaptive
    pooling): bin i of n over `size` spans floor(i*size/n) to ceil((i+1)*size/n), as torch's."""
    height, width, channels = shape
    out_h, out_w = layer.output_size
    rows = graph.constant(f"{layer.name}_rows", _averaging_matrix(height, out_h))
    columns = graph.constant(f"{layer.name}_columns", _averaging_matrix(width, out_w).T)
    x = graph.node("MatMul", [rows, x], f"{layer.name}_rows")  # (out_h, H) @ (N, C, H, W)
    return graph.node("MatMul", [x, columns], layer.name), (out_h, out_w, channels)


def _averaging_matrix(size, bins):
    matrix = np.zeros((bins, size), np.float32)
    for i in range(bins):
        start, stop = (i * size) // bins, -(-((i + 1) * size) // bins)
        matrix[i, start:stop] = 1.0 / (stop - start)
    return matrix
