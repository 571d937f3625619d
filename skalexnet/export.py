"""Fitted skalexnet estimators, and Pipelines that start with a feature extractor, as ONNX graphs.

The graphs read what the estimators' networks read once resizing is done: uint8 RGB images,
channels last, at the estimator's ``image_size``; the input scaling ('study', 'caffe' BGR,
'torchvision' ...) is inside the graph. How the nodes are written, and why skalexnet writes them
itself rather than through Keras's or torch's exporters, is told in ``skalexnet._onnx_graph``.
"""

import os
from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import is_classifier
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from .classifier import AlexNetClassifier
from .features import AlexNetFeatureExtractor

if TYPE_CHECKING:
    import onnx

IMAGE_INPUT = "image"
# skl2onnx's own names for a classifier's outputs, used for skalexnet's classifiers too.
LABEL_OUTPUT, PROBABILITIES_OUTPUT, FEATURES_OUTPUT = "label", "probabilities", "features"
_SKL2ONNX_ALIAS = "SkalexnetAlexNetFeatureExtractor"
_ML_OPSET = 3  # ai.onnx.ml, for the scikit-learn estimators of a Pipeline


def export_onnx(estimator, path) -> "onnx.ModelProto":
    """Write a fitted estimator or Pipeline as one ONNX graph, and return it.

    Parameters
    ----------
    estimator : AlexNetClassifier, AlexNetFineTuner, AlexNetFeatureExtractor or Pipeline
        Fitted. A :class:`~sklearn.pipeline.Pipeline` must start with an
        AlexNetFeatureExtractor; the steps after it (SVC, LogisticRegression, StandardScaler
        ...) are converted by skl2onnx (``pip install skalexnet[onnx]``) into the same graph.
    path : str, path or None
        Where the ``.onnx`` file goes; None writes nothing and only returns the graph.

    Returns
    -------
    model : onnx.ModelProto
        Input ``image``: uint8 of shape (batch, image_size, image_size, 3), RGB, channels last.
        Outputs: ``label`` (classes from ``classes_``) and ``probabilities`` (batch, n_classes)
        for a classifier and a Pipeline ending in one; ``features`` (batch, ``n_features_out_``),
        what ``transform`` returns, for an extractor; for other Pipelines, skl2onnx's outputs.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        When the estimator (or the Pipeline's extractor or last step) is not fitted.
    TypeError
        For any other kind of object, or a Pipeline that does not start with an extractor.
    OSError
        When ``path`` cannot be written (no such folder, a folder, no permission); checked
        before the graph is built.
    ImportError
        For a Pipeline without skl2onnx installed.

    Notes
    -----
    **Resizing happens outside the graph.** The estimators resize images to ``image_size``
    themselves; the graph takes them at that size already. To feed it the pixels the
    estimator's network sees, resize as ``resize`` says: 'squash' resizes straight to
    ``image_size x image_size`` (bilinear); 'crop' resizes the shorter side to
    ``round(image_size * 256 / 227)`` and takes the centre square, then its centre
    ``image_size`` square. Images already at ``image_size`` reach the network unchanged with
    'squash'. Float pixels are rounded to uint8 by that input type: cast the graph's input
    (or use skl2onnx's ``to_onnx`` after :func:`register_skl2onnx` with a float input type)
    if fractional pixels matter.

    **The graph computes in float32**, whatever ``precision``: a 'bfloat16' or 'bfloat16_conv'
    estimator keeps float32 variables, and those are what is written, so the graph gives the
    float32 network's outputs, which differ from the estimator's bfloat16 ones by bfloat16's
    rounding (about 1e-2 on probabilities, ``tests/test_export.py``). The model's metadata
    (``metadata_props``) records ``image_size``, ``resize`` and the estimator's precision.

    Examples
    --------
    >>> import numpy as np, onnxruntime
    >>> from skalexnet import AlexNetFeatureExtractor, export_onnx
    >>> images = np.random.default_rng(0).integers(0, 256, (2, 67, 67, 3), dtype=np.uint8)
    >>> extractor = AlexNetFeatureExtractor(weights=None, image_size=67, precision="float32")
    >>> graph = export_onnx(extractor.fit(images), None)
    >>> session = onnxruntime.InferenceSession(graph.SerializeToString())
    >>> features, = session.run(None, {"image": images})
    >>> bool(np.allclose(features, extractor.transform(images), atol=1e-4))
    True
    """
    if path is not None:
        path = _check_writable(path)
    onnx = _import_onnx()
    if isinstance(estimator, Pipeline):
        model = _pipeline_graph(estimator)
    elif isinstance(estimator, AlexNetClassifier | AlexNetFeatureExtractor):
        check_is_fitted(estimator, "model_")
        model = _estimator_graph(estimator)
    else:
        raise TypeError(
            f"export_onnx exports a fitted AlexNetClassifier, AlexNetFineTuner, "
            f"AlexNetFeatureExtractor or a Pipeline that starts with an AlexNetFeatureExtractor; "
            f"got {type(estimator).__name__}."
        )
    _describe(model, _network_estimator(estimator))
    if path is not None:
        try:
            onnx.save(model, path)
        except OSError as error:
            raise OSError(f"Cannot write the ONNX graph to {path!r}: {error}") from error
    return model


def register_skl2onnx() -> None:
    """Teach skl2onnx to convert AlexNetFeatureExtractor inside any scikit-learn model.

    After this call, ``skl2onnx.to_onnx(pipeline, initial_types=...)`` converts Pipelines (or
    unions, column transformers ...) holding a fitted AlexNetFeatureExtractor into one graph.
    The extractor's input must be a (batch, image_size, image_size, 3) tensor of pixels in
    [0, 255] (``UInt8TensorType`` as :func:`export_onnx` uses, or ``FloatTensorType``); its
    output is the (batch, ``n_features_out_``) float32 features. :func:`export_onnx` calls it
    itself.

    Examples
    --------
    >>> from skl2onnx import to_onnx
    >>> from skl2onnx.common.data_types import UInt8TensorType
    >>> from skalexnet.export import register_skl2onnx
    >>> register_skl2onnx()
    >>> graph = to_onnx(pipeline, initial_types=[("image", UInt8TensorType([None, 67, 67, 3]))])
    ... # doctest: +SKIP
    """
    try:
        from skl2onnx import update_registered_converter
    except ImportError as error:
        raise ImportError(
            "Converting a Pipeline to ONNX needs skl2onnx: pip install 'skalexnet[onnx]'."
        ) from error
    update_registered_converter(
        AlexNetFeatureExtractor, _SKL2ONNX_ALIAS, _extractor_shape, _convert_extractor
    )


# -- one estimator -------------------------------------------------------------------------------


def _estimator_graph(estimator) -> "onnx.ModelProto":
    import onnx
    from onnx import TensorProto, helper

    from ._onnx_graph import OPSET, GraphBuilder, write_network

    graph = GraphBuilder()
    size = estimator.image_size
    image = helper.make_tensor_value_info(IMAGE_INPUT, TensorProto.UINT8, ["batch", size, size, 3])
    graph.unique(IMAGE_INPUT)
    if isinstance(estimator, AlexNetFeatureExtractor):
        _write_features(estimator, graph, IMAGE_INPUT, FEATURES_OUTPUT)
        outputs = [_float_output(FEATURES_OUTPUT, estimator.n_features_out_)]
    else:
        (probabilities,) = write_network(estimator.model_, graph, IMAGE_INPUT)
        graph.node("Identity", [probabilities], PROBABILITIES_OUTPUT, output=PROBABILITIES_OUTPUT)
        classes, label_type = _label_tensor(estimator.classes_)
        best = graph.node("ArgMax", [PROBABILITIES_OUTPUT], "best", axis=1, keepdims=0)
        graph.node("Gather", [graph.constant("classes", classes), best], LABEL_OUTPUT, axis=0)
        outputs = [
            helper.make_tensor_value_info(LABEL_OUTPUT, label_type, ["batch"]),
            _float_output(PROBABILITIES_OUTPUT, len(estimator.classes_)),
        ]
    body = helper.make_graph(graph.nodes, type(estimator).__name__, [image], outputs)
    body.initializer.extend(graph.initializers)
    model = helper.make_model(body, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    return model


def _write_features(extractor, graph, image, output):
    """What ``transform`` returns: each layer's (pooled or flattened) output, concatenated."""
    from ._onnx_graph import write_network

    features = write_network(extractor.model_, graph, image)
    if len(features) == 1:
        return graph.node("Identity", features, output, output=output)
    return graph.node("Concat", features, output, output=output, axis=1)


def _float_output(name, width):
    from onnx import TensorProto, helper

    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", int(width)])


def _label_tensor(classes):
    """classes_ as the tensor the label output gathers from, and its ONNX element type."""
    from onnx import TensorProto

    classes = np.asarray(classes)
    if classes.dtype.kind in "iu":
        return classes.astype(np.int64), TensorProto.INT64
    if classes.dtype.kind == "f":
        return classes.astype(np.float64), TensorProto.DOUBLE
    if classes.dtype.kind == "b":
        return classes, TensorProto.BOOL
    if classes.dtype.kind in "US" or all(isinstance(c, str) for c in classes.tolist()):
        return classes.astype(str), TensorProto.STRING
    raise TypeError(
        f"ONNX export: classes_ of dtype {classes.dtype} ({classes[:3].tolist()} ...) have no "
        f"ONNX tensor type; fit with integer or string labels."
    )


# -- Pipelines, through skl2onnx -----------------------------------------------------------------


def _pipeline_graph(pipeline) -> "onnx.ModelProto":
    first = pipeline.steps[0][1]
    if not isinstance(first, AlexNetFeatureExtractor):
        raise TypeError(
            f"export_onnx converts Pipelines whose first step is an AlexNetFeatureExtractor; this "
            f"one starts with {type(first).__name__}. For others, call register_skl2onnx() and "
            f"skl2onnx.to_onnx."
        )
    check_is_fitted(first, "model_")
    check_is_fitted(pipeline)
    register_skl2onnx()
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import UInt8TensorType

    from ._onnx_graph import OPSET

    size = first.image_size
    last = pipeline.steps[-1][1]
    # A probability matrix rather than skl2onnx's default list of {class: probability} maps.
    options = {id(last): {"zipmap": False}} if is_classifier(last) else None
    return to_onnx(
        pipeline,
        initial_types=[(IMAGE_INPUT, UInt8TensorType([None, size, size, 3]))],
        target_opset={"": OPSET, "ai.onnx.ml": _ML_OPSET},
        options=options,
    )


def _extractor_shape(operator):
    """skl2onnx's shape calculator: (batch, size, size, 3) pixels in, (batch, n) floats out."""
    from skl2onnx.common.data_types import FloatTensorType

    extractor = operator.raw_operator
    size = extractor.image_size
    shape = list(operator.inputs[0].type.shape)
    if len(shape) != 4 or shape[1:] not in ([size, size, 3], [None, None, 3]):
        raise ValueError(
            f"AlexNetFeatureExtractor's ONNX input is (batch, {size}, {size}, 3) pixels; the "
            f"graph declares {shape}. Resize images to image_size={size} before the graph."
        )
    operator.outputs[0].type = FloatTensorType([shape[0], extractor.n_features_out_])


def _convert_extractor(scope, operator, container):
    """skl2onnx's converter: the extractor's nodes, written into the Pipeline's graph."""
    from ._onnx_graph import Skl2OnnxBuilder

    extractor = operator.raw_operator
    graph = Skl2OnnxBuilder(scope, container)
    _write_features(extractor, graph, operator.inputs[0].full_name, operator.outputs[0].full_name)


# -- files and metadata --------------------------------------------------------------------------


def _check_writable(path) -> str:
    """Refuse a path that cannot be written before minutes go into building the graph."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"Cannot write the ONNX graph to {path!r}: it is a folder.")
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"Cannot write the ONNX graph to {path!r}: the folder {folder!r} does not exist."
        )
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise PermissionError(f"Cannot write the ONNX graph to {path!r}: permission denied.")
    return path


def _network_estimator(estimator):
    return estimator.steps[0][1] if isinstance(estimator, Pipeline) else estimator


def _import_onnx():
    try:
        import onnx
    except ImportError as error:
        raise ImportError("ONNX export needs onnx: pip install 'skalexnet[onnx]'.") from error
    return onnx


def _describe(model, estimator):
    import onnx

    from . import __version__

    model.producer_name, model.producer_version = "skalexnet", __version__
    size = estimator.image_size
    model.doc_string = (
        f"{type(estimator).__name__} as ONNX. Input 'image': uint8 RGB pixels, shape "
        f"(batch, {size}, {size}, 3), resized outside the graph (resize="
        f"{getattr(estimator, 'resize', 'squash')!r}). Computed in float32."
    )
    onnx.helper.set_model_props(
        model,
        {
            "image_size": str(size),
            "resize": str(getattr(estimator, "resize", "squash")),
            "precision": str(getattr(estimator, "precision_", estimator.precision)),
            "graph_dtype": "float32",
        },
    )
