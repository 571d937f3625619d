"""The ONNX model zoo's bvlcalexnet graph, rebuilt node for node with ``onnx.helper``.

Layout as the Caffe2 exporter wrote it (docs/weights.md): ``convN_w_0`` / ``fcN_w_0``
initializers in Caffe's (out, in / group, kh, kw) and (out, in) shapes, Conv ``group=2`` on
conv2/4/5, LRN(5, 1e-4, 0.75, 1) before each of the first two pools, Caffe's ceil-mode pooling
turned into MaxPool end pads, Reshape then ``Gemm(transB=1)``, Softmax, opset 12.
onnxruntime runs it as the reference for skalexnet's 'caffe' AlexNet.
"""

import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CAFFE_SHAPES = {
    "conv1": (96, 3, 11, 11),
    "conv2": (256, 48, 5, 5),
    "conv3": (384, 256, 3, 3),
    "conv4": (384, 192, 3, 3),
    "conv5": (256, 192, 3, 3),
    "fc6": (4096, 9216),
    "fc7": (4096, 4096),
    "fc8": (1000, 4096),
}
CONV_ATTRIBUTES = {  # name -> (stride, pad, group), BVLC deploy.prototxt
    "conv1": (4, 0, 1),
    "conv2": (1, 2, 2),
    "conv3": (1, 1, 1),
    "conv4": (1, 1, 2),
    "conv5": (1, 1, 2),
}
LRN = {"size": 5, "alpha": 1e-4, "beta": 0.75, "bias": 1.0}
CAFFE_BGR_MEAN = (104.007, 116.669, 122.679)


def random_caffe_weights(n_classes: int = 1000, seed: int = 0, widths=None) -> dict:
    """He-uniform kernels and non-zero biases in Caffe's layout, float32.

    ``widths`` (conv1..conv5 filters, then fc6/fc7 units) shrinks the network for tests that
    only need the graph's structure; None keeps BVLC's.
    """
    rs = np.random.RandomState(seed)
    shapes = dict(CAFFE_SHAPES)
    if widths is not None:
        c1, c2, c3, c4, c5, fc = widths
        shapes.update(
            conv1=(c1, 3, 11, 11),
            conv2=(c2, c1 // 2, 5, 5),
            conv3=(c3, c2, 3, 3),
            conv4=(c4, c3 // 2, 3, 3),
            conv5=(c5, c4 // 2, 3, 3),
            fc6=(fc, c5 * 36),
            fc7=(fc, fc),
            fc8=(n_classes, fc),
        )
    weights = {}
    for name, shape in shapes.items():
        shape = (n_classes, shape[1]) if name == "fc8" else shape
        limit = math.sqrt(6.0 / np.prod(shape[1:]))
        kernel = ((rs.random_sample(shape) * 2 - 1) * limit).astype(np.float32)
        bias = ((rs.random_sample(shape[0]) * 2 - 1) * 0.5).astype(np.float32)
        weights[name] = (kernel, bias)
    return weights


def _exporter_end_pad(size: int) -> int:
    """The Caffe2 exporter's end pad for a 3x3/2 ceil-mode pool: out*s - 1 + k - in."""
    out = math.ceil((size - 3) / 2) + 1
    return out * 2 - 1 + 3 - size


def make_bvlcalexnet(weights: dict, image_size: int = 224, lrn: dict = LRN, **options):
    """The zoo graph holding ``weights``; ``options`` break it for the loader's error tests.

    options: ``lrn_after_pool`` (CaffeNet's order), ``end_pads`` (one int for every pool instead
    of the exporter's), ``group`` (conv2's group attribute), ``trans_b`` (False stores the fc
    kernels as (in, out) with ``transB=0``).
    """
    trans_b = options.get("trans_b", True)
    nodes, initializers = [], []
    x, size = "data_0", (image_size - 11) // 4 + 1

    def add(op, inputs, output, **attributes):
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def pool(x, name):
        nonlocal size
        pad = options.get("end_pads", _exporter_end_pad(size))
        size = (size + pad - 3) // 2 + 1
        return add(
            "MaxPool", [x], f"{name}_1", kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, pad, pad]
        )

    for index, name in enumerate(("conv1", "conv2", "conv3", "conv4", "conv5"), start=1):
        kernel, bias = weights[name]
        stride, pad, group = CONV_ATTRIBUTES[name]
        if name == "conv2":
            group = options.get("group", group)
        initializers += [
            numpy_helper.from_array(kernel, f"{name}_w_0"),
            numpy_helper.from_array(bias, f"{name}_b_0"),
        ]
        x = add(
            "Conv",
            [x, f"{name}_w_0", f"{name}_b_0"],
            f"{name}_1",
            kernel_shape=list(kernel.shape[2:]),
            strides=[stride, stride],
            pads=[pad] * 4,
            group=group,
        )
        x = add("Relu", [x], f"{name}_2")
        if index in (1, 2):
            if options.get("lrn_after_pool"):
                x = add("LRN", [pool(x, f"pool{index}")], f"norm{index}_1", **lrn)
            else:
                x = pool(add("LRN", [x], f"norm{index}_1", **lrn), f"pool{index}")
    x = pool(x, "pool5")
    initializers.append(numpy_helper.from_array(np.array([0, -1], np.int64), "OC2_DUMMY_1"))
    x = add("Reshape", [x, "OC2_DUMMY_1"], "OC2_DUMMY_0")
    for name in ("fc6", "fc7", "fc8"):
        kernel, bias = weights[name]
        kernel = kernel if trans_b else np.ascontiguousarray(kernel.T)
        initializers += [
            numpy_helper.from_array(kernel, f"{name}_w_0"),
            numpy_helper.from_array(bias, f"{name}_b_0"),
        ]
        x = add("Gemm", [x, f"{name}_w_0", f"{name}_b_0"], f"{name}_1", transB=int(trans_b))
        if name != "fc8":
            x = add("Dropout", [add("Relu", [x], f"{name}_2")], f"{name}_3")
    add("Softmax", [x], "prob_1")
    n_classes = weights["fc8"][0].shape[0]
    graph = helper.make_graph(
        nodes,
        "bvlcalexnet",
        [
            helper.make_tensor_value_info(
                "data_0", TensorProto.FLOAT, ["N", 3, image_size, image_size]
            )
        ],
        [
            helper.make_tensor_value_info("prob_1", TensorProto.FLOAT, ["N", n_classes]),
            helper.make_tensor_value_info("fc8_1", TensorProto.FLOAT, ["N", n_classes]),
        ],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])


def onnxruntime_logits(path, images_rgb) -> np.ndarray:
    """fc8 of the graph for RGB pixels in [0, 255] (N, H, W, 3), fed as the zoo expects: BGR
    minus the Caffe mean, channels first."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = (images_rgb[..., ::-1] - np.array(CAFFE_BGR_MEAN)).transpose(0, 3, 1, 2)
    (fc8,) = session.run(["fc8_1"], {"data_0": x.astype(np.float32)})
    return fc8.astype(np.float64)


def save(model, path) -> None:
    onnx.save(model, str(path))
