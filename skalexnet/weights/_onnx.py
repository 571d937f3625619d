"""The ONNX model zoo's ``bvlcalexnet`` (BVLC Caffe AlexNet exported through Caffe2).

Weights are mapped by graph topology, not by initializer name, because re-exports rename them:
the k-th Conv is conv{k}, the three Gemms are fc6, fc7, fc8. Every attribute that changes the
function (group, strides, pads, LRN constants and placement, pooling, transB) is checked against
skalexnet's 'caffe' AlexNet, so a graph that would compute something else fails loudly.
"""

import numpy as np

from .._network import ARCHITECTURES, _feature_map_sizes, _pool_output
from ._errors import WeightFileError, describe, reading
from ._transforms import fc6_rows_chw_to_hwc, oihw_to_hwio, out_in_to_in_out
from ._weightset import WeightSet

SOURCE = "onnx-bvlcalexnet"
CAFFE = ARCHITECTURES["caffe"]
# conv name -> (kernel size, stride, padding) of BVLC's deploy.prototxt.
CONV_GEOMETRY = {
    "conv1": (11, 4, 0),
    "conv2": (5, 1, 2),
    "conv3": (3, 1, 1),
    "conv4": (3, 1, 1),
    "conv5": (3, 1, 1),
}


def read_onnx_bvlcalexnet(path) -> WeightSet:
    """Read the ONNX model zoo's bvlcalexnet graph as 'caffe' AlexNet weights.

    Needs the ``onnx`` package (``pip install onnx``).

    Parameters
    ----------
    path : str or path-like
        ``bvlcalexnet-12.onnx`` or any graph with its structure: five Conv, two LRN before
        pooling, three MaxPool, three Gemm.

    Returns
    -------
    weights : WeightSet
        arch 'caffe', preprocessing 'caffe' (BGR minus the Caffe mean, 0-255 scale).

    Raises
    ------
    WeightFileError
        When the file is damaged, or holds something other than AlexNet; the message names the
        file and, where one is at fault, the layer and its shapes.

    Examples
    --------
    >>> from skalexnet.weights import read_onnx_bvlcalexnet
    >>> ws = read_onnx_bvlcalexnet("bvlcalexnet-12.onnx")  # doctest: +SKIP
    >>> ws.arch, ws.image_size  # doctest: +SKIP
    ('caffe', 224)
    """
    onnx = _import_onnx()
    # Opened here so that only a missing file is a FileNotFoundError (not a missing external
    # tensor file it names), and read as binary protobuf whatever the file's extension says.
    with open(path, "rb") as f:
        try:
            model = onnx.load(f)
        except Exception as error:  # protobuf's DecodeError, onnx's checks on external data ...
            raise WeightFileError(
                f"{path}: not a readable ONNX model ({describe(error)})."
            ) from error
    with reading(path, "the ONNX zoo's bvlcalexnet"):
        return _weights_of_graph(model.graph, path)


def _weights_of_graph(graph, path) -> WeightSet:
    initializers = {t.name: t for t in graph.initializer}
    nodes = list(graph.node)
    by_type = {
        op: [n for n in nodes if n.op_type == op] for op in ("Conv", "Gemm", "LRN", "MaxPool")
    }
    expected_counts = {"Conv": 5, "Gemm": 3, "LRN": 2, "MaxPool": 3}
    for op, count in expected_counts.items():
        if len(by_type[op]) != count:
            raise WeightFileError(
                f"{path}: the graph has {len(by_type[op])} {op} nodes, bvlcalexnet has {count}; "
                "this is not the ONNX zoo's AlexNet."
            )
    image_size = _static_image_size(graph)
    layers = {}
    for index, node in enumerate(by_type["Conv"]):
        name = f"conv{index + 1}"
        _check_conv(node, name, path)
        kernel = _initializer(initializers, node.input[1], name, path)
        bias = _initializer(initializers, node.input[2], name, path)
        layers[name] = [oihw_to_hwio(kernel), bias]
    for index, node in enumerate(by_type["Gemm"]):
        name = f"fc{index + 6}"
        kernel = _initializer(initializers, node.input[1], name, path)
        bias = _initializer(initializers, node.input[2], name, path)
        layers[name] = [
            out_in_to_in_out(kernel) if _gemm_trans_b(node, name, path) else kernel,
            bias,
        ]
    # Caffe's InnerProduct (and so the Reshape before fc6) flattens pool5 in C, H, W order.
    layers["fc6"][0] = fc6_rows_chw_to_hwc(layers["fc6"][0], layers["conv5"][0].shape[-1])
    producers = {output: node for node in nodes for output in node.output}
    for node in by_type["LRN"]:
        _check_lrn(node, producers, path)
    if image_size is not None:
        _check_pooling(by_type["MaxPool"], image_size, path)
    return WeightSet(
        arch="caffe",
        preprocessing="caffe",
        layers=layers,
        source=SOURCE,
        n_classes=int(layers["fc8"][0].shape[-1]),
        image_size=image_size,
        path=str(path),
    )


def _import_onnx():
    try:
        import onnx
    except ImportError as error:
        raise ImportError(
            "reading ONNX weights needs the onnx package: pip install onnx "
            "(or pip install 'skalexnet[onnx]')."
        ) from error
    return onnx


def _attributes(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _initializer(initializers, name, layer, path):
    """The float32 array of one initializer, converted only when a layer asks for it."""
    from onnx import numpy_helper

    if name not in initializers:
        raise WeightFileError(
            f"{path}: {layer}'s weight {name!r} is not an initializer of the graph."
        )
    return np.asarray(numpy_helper.to_array(initializers[name]), dtype=np.float32)


def _static_image_size(graph):
    """The input's height when the graph fixes it (224 in the zoo), else None."""
    dims = graph.input[0].type.tensor_type.shape.dim
    if len(dims) == 4 and dims[2].HasField("dim_value") and dims[2].dim_value == dims[3].dim_value:
        return int(dims[2].dim_value) if dims[2].dim_value > 0 else None
    return None


def _check_conv(node, name, path):
    attrs = _attributes(node)
    kernel, stride, pad = CONV_GEOMETRY[name]
    groups = CAFFE["groups"][int(name[-1]) - 1]
    found = {
        "group": attrs.get("group", 1),
        "strides": list(attrs.get("strides", [1, 1])),
        "pads": list(attrs.get("pads", [0, 0, 0, 0])),
        "dilations": list(attrs.get("dilations", [1, 1])),
        "auto_pad": attrs.get("auto_pad", b"NOTSET"),
    }
    expected = {
        "group": groups,
        "strides": [stride, stride],
        "pads": [pad] * 4,
        "dilations": [1, 1],
        "auto_pad": b"NOTSET",
    }
    if "kernel_shape" in attrs and list(attrs["kernel_shape"]) != [kernel, kernel]:
        found["kernel_shape"], expected["kernel_shape"] = (
            list(attrs["kernel_shape"]),
            [kernel, kernel],
        )
    if found != expected:
        raise WeightFileError(
            f"{path}: {name} ({node.name or 'Conv'}) has {found}, BVLC AlexNet has {expected}."
        )


def _gemm_trans_b(node, name, path) -> bool:
    attrs = _attributes(node)
    if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
        raise WeightFileError(
            f"{path}: {name} ({node.name or 'Gemm'}) is Gemm with {attrs}; only "
            "transA=0, alpha=1, beta=1 is a fully connected layer."
        )
    return bool(attrs.get("transB", 0))


def _check_lrn(node, producers, path):
    attrs = _attributes(node)
    lrn = CAFFE["lrn"]
    # ONNX's LRN is Caffe's: x / (bias + alpha / size * sum) ** beta, so alpha maps unchanged.
    found = (
        attrs.get("size"),
        attrs.get("alpha", 1e-4),
        attrs.get("beta", 0.75),
        attrs.get("bias", 1.0),
    )
    expected = (lrn["size"], lrn["alpha"], lrn["beta"], lrn["k"])
    if found[0] != expected[0] or not np.allclose(found[1:], expected[1:], rtol=1e-6, atol=0):
        raise WeightFileError(
            f"{path}: LRN {node.name!r} has size, alpha, beta, bias = {found}; skalexnet's 'caffe' "
            f"AlexNet computes {expected}, so these weights would see a different network."
        )
    producer = producers.get(node.input[0])
    if producer is not None and producer.op_type == "MaxPool":
        raise WeightFileError(
            f"{path}: LRN {node.name!r} follows pooling (CaffeNet's order); the 'caffe' AlexNet "
            "normalises before pooling, as BVLC AlexNet does."
        )


def _check_pooling(pools, image_size, path):
    """Each pool must give the ceil-mode size skalexnet's 'caffe' model has at this input size."""
    expected = _feature_map_sizes("caffe", image_size)
    size = expected["conv1"]
    for node, name in zip(pools, ("pool1", "pool2", "pool5"), strict=True):
        attrs = _attributes(node)
        if list(attrs.get("kernel_shape", [])) != [3, 3] or list(attrs.get("strides", [1, 1])) != [
            2,
            2,
        ]:
            raise WeightFileError(
                f"{path}: {name} ({node.name}) is not a 3x3 stride-2 MaxPool: {attrs}."
            )
        top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
        if top or left or bottom != right:
            raise WeightFileError(
                f"{path}: {name} ({node.name}) pads {[top, left, bottom, right]}; Caffe's "
                "ceil-mode pooling only pads the bottom and right edges, equally."
            )
        found = _pool_output(size + bottom, ceil=bool(attrs.get("ceil_mode", 0)))
        if found != expected[name]:
            raise WeightFileError(
                f"{path}: {name} ({node.name}) gives {found}x{found} at input {image_size}, "
                f"skalexnet's 'caffe' AlexNet {expected[name]}x{expected[name]}."
            )
        size = expected[name]
