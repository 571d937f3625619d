"""export_onnx: onnxruntime running the exported graph against skalexnet's own Keras forward pass.

Every figure "max abs error" below was measured on this machine (onnxruntime 1.32, Keras 3.15.1,
torch backend, 2-core Xeon) with ``pytest tests/test_export.py -s``; the tolerances leave a margin
of about ten times.
"""

import os

import numpy as np
import onnx
import onnxruntime
import pytest
from digits import DIGITS_IMAGE_SIZE, digit_images
from PIL import Image
from sklearn.datasets import load_sample_images
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from skalexnet import (
    AlexNetClassifier,
    AlexNetFeatureExtractor,
    AlexNetFineTuner,
    export_onnx,
)
from skalexnet._data import CROP_RESIZE_RATIO
from skalexnet.export import register_skl2onnx
from skalexnet.features import FEATURE_LAYERS

pytest.importorskip("skl2onnx")


def run_graph(model: onnx.ModelProto, images: np.ndarray) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {"image": images})


def digits_at(size: int, n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Real digits as uint8 RGB at ``size``: what the graph takes, and what the estimator then
    feeds its network unchanged (resize='squash' leaves images at image_size as they are)."""
    images, labels = digit_images()
    grey = np.stack(
        [np.asarray(Image.fromarray(i).resize((size, size), Image.BILINEAR)) for i in images[:n]]
    )
    return np.repeat(grey[..., None], 3, axis=-1), labels[:n]


def photos_at(size: int) -> np.ndarray:
    """Six RGB crops of scikit-learn's two sample photographs, squashed to ``size``."""
    crops = []
    for photo in load_sample_images().images:  # (427, 640, 3) uint8
        for box in ((0, 0, 427, 427), (100, 0, 640, 427), (50, 50, 350, 250)):
            crops.append(
                np.asarray(Image.fromarray(photo).resize((size, size), Image.BILINEAR, box=box))
            )
    return np.stack(crops)


def relative_error(graph, keras):
    return float(np.abs(graph - keras).max() / max(np.abs(keras).max(), 1e-12))


# -- classifiers ---------------------------------------------------------------------------------

# String labels for one of them: the label output gathers classes_ of any kind.
_LABELS = {
    "original": lambda y: np.array([f"digit {d}" for d in y]),
    "caffe": lambda y: y,
    "torchvision": lambda y: y,
}


# What every estimator fitted here shares: digits at their small size, no augmentation, seeded.
SMALL = {"image_size": DIGITS_IMAGE_SIZE, "batch_size": 32, "augment": None, "random_state": 0}


@pytest.fixture(scope="module", params=["original", "caffe", "torchvision"])
def fitted_classifier(request):
    X, y = digits_at(DIGITS_IMAGE_SIZE)
    classifier = AlexNetClassifier(arch=request.param, epochs=1, precision="float32", **SMALL)
    classifier.fit(X, _LABELS[request.param](y))
    return classifier, X, export_onnx(classifier, None)


def test_classifier_graph_gives_predict_proba(fitted_classifier):
    # max abs error: 'original' 1.6e-7, 'caffe' 0.0, 'torchvision' 0.0 (saturated softmax: the
    # logits themselves are compared in test_extractor_graph_gives_transform).
    classifier, X, graph = fitted_classifier
    _, probabilities = run_graph(graph, X)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, classifier.predict_proba(X), rtol=0, atol=2e-6)


def test_classifier_graph_labels_are_classes(fitted_classifier):
    classifier, X, graph = fitted_classifier
    labels, _ = run_graph(graph, X)
    np.testing.assert_array_equal(labels, classifier.predict(X))


def test_fine_tuner_graph_gives_predict_proba(digits_0_to_4_network, digits_5_to_9):
    # The network trained on digits 0-4, its new fc8 fitted on digits 5-9: probabilities that are
    # not saturated. max abs error 1.2e-7.
    X, y, _, _ = digits_5_to_9
    tuner = AlexNetFineTuner(
        weights=digits_0_to_4_network, schedule=[("fc8", 1, 1e-2)], precision="float32", **SMALL
    ).fit(X, y)
    images, _ = digits_at(DIGITS_IMAGE_SIZE, n=40)
    labels, probabilities = run_graph(export_onnx(tuner, None), images)
    expected = tuner.predict_proba(images)
    assert (expected.max(axis=1) < 0.9).any()  # a comparison a saturated softmax would not make
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=2e-6)
    np.testing.assert_array_equal(labels, tuner.predict(images))


def test_bfloat16_classifier_exports_its_float32_network():
    # The graph is the float32 network of the estimator's (float32) variables: it matches that
    # network's forward pass (max abs error 1.6e-7), and the bfloat16 predictions only within
    # bfloat16's rounding (8.2e-4 measured).
    X, y = digits_at(DIGITS_IMAGE_SIZE, n=32)  # bfloat16 is emulated, slowly, on most CPUs
    classifier = AlexNetClassifier(epochs=1, precision="bfloat16", **SMALL).fit(X, y)
    graph = export_onnx(classifier, None)
    _, probabilities = run_graph(graph, X)
    float32 = AlexNetFeatureExtractor.from_estimator(classifier, layer="prob", precision="float32")
    np.testing.assert_allclose(probabilities, float32.transform(X), rtol=0, atol=2e-6)
    np.testing.assert_allclose(probabilities, classifier.predict_proba(X), rtol=0, atol=2e-2)
    props = {p.key: p.value for p in graph.metadata_props}
    assert props["precision"] == "bfloat16" and props["graph_dtype"] == "float32"


# -- feature extractors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arch, image_size",
    [
        # pool5 is 2x2 here: the flatten order (channels last) and fc6's rows are exercised.
        ("original", 103),
        # conv1 maps of even size: every pool of Caffe's ceil mode pads one row and column.
        ("caffe", 103),
        # pool5 is 4x4, which the adaptive average pooling spreads over 6x6 overlapping bins.
        ("torchvision", 163),
    ],
)
def test_extractor_graph_gives_transform(arch, image_size):
    # Every layer the variant has, in one graph, concatenated as transform concatenates them.
    # Max relative error (to the largest feature): 'original' 6e-7, 'caffe' 2e-6 (features up to
    # 560 on the 0-255 'caffe' scale: 1.2e-3 absolute), 'torchvision' 1.4e-6.
    layers = [name for name in FEATURE_LAYERS if not (arch == "torchvision" and "norm" in name)]
    X = photos_at(image_size)
    extractor = AlexNetFeatureExtractor(
        weights=None,
        arch=arch,
        layer=layers,
        image_size=image_size,
        precision="float32",
        random_state=0,
    ).fit(X)
    (features,) = run_graph(export_onnx(extractor, None), X)
    expected = extractor.transform(X)
    assert features.shape == expected.shape == (len(X), extractor.n_features_out_)
    assert relative_error(features, expected) < 2e-5


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_pooled_extractor_graph_gives_transform(pooling):
    # max abs error 4e-6 ('avg') and 1e-5 ('max'), on features up to about 500.
    X, _ = digits_at(DIGITS_IMAGE_SIZE, n=16)
    extractor = AlexNetFeatureExtractor(
        weights=None,
        arch="caffe",
        layer=["norm1", "conv5", "fc7"],
        pooling=pooling,
        image_size=DIGITS_IMAGE_SIZE,
        precision="float32",
        random_state=0,
    ).fit(X)
    (features,) = run_graph(export_onnx(extractor, None), X)
    assert relative_error(features, extractor.transform(X)) < 2e-5


@pytest.mark.parametrize("resize", ["squash", "crop"])
def test_graph_takes_images_resized_as_resize_says(resize):
    # The graph leaves resizing out: photos prepared as export_onnx's Notes say give transform's
    # features of the full-size photos (max relative error 3e-7 for both).
    size = 67
    photos = load_sample_images().images
    prepared = []
    for photo in photos:
        image = Image.fromarray(photo)
        if resize == "squash":
            prepared.append(np.asarray(image.resize((size, size), Image.BILINEAR)))
            continue
        stored, (width, height) = round(size * CROP_RESIZE_RATIO), image.size
        side = min(width, height)
        box = ((width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2)
        square = np.asarray(image.resize((stored, stored), Image.BILINEAR, box=box))
        start = (stored - size) // 2
        prepared.append(square[start : start + size, start : start + size])
    extractor = AlexNetFeatureExtractor(
        weights=None,
        layer="pool2",
        image_size=size,
        resize=resize,
        precision="float32",
        random_state=0,
    ).fit(photos[:1])
    (features,) = run_graph(export_onnx(extractor, None), np.stack(prepared))
    assert relative_error(features, extractor.transform(list(photos))) < 1e-5


# -- Pipelines -----------------------------------------------------------------------------------


def digit_extractor(**params) -> AlexNetFeatureExtractor:
    """An untrained float32 extractor at the digits' size: seeded, so its graph is repeatable."""
    return AlexNetFeatureExtractor(
        weights=None, image_size=DIGITS_IMAGE_SIZE, precision="float32", random_state=0, **params
    )


@pytest.fixture(scope="module")
def digit_features():
    X, y = digits_at(DIGITS_IMAGE_SIZE, n=150)
    return X, y


# scikit-learn 1.9 deprecates SVC(probability=True), which skl2onnx converts and the issue asks for.
@pytest.mark.filterwarnings("ignore:.*probability.*:FutureWarning")
@pytest.mark.filterwarnings("ignore:Attribute `prob.*:FutureWarning")
@pytest.mark.parametrize(
    "final",
    [LogisticRegression(max_iter=2000), SVC(probability=True, random_state=0)],
    ids=["LogisticRegression", "SVC"],
)
def test_pipeline_graph_gives_predict_and_predict_proba(final, digit_features):
    # max abs error on probabilities: LogisticRegression 4.8e-7, SVC 1.1e-6.
    X, y = digit_features
    pipeline = make_pipeline(
        digit_extractor(layer="pool5"),
        StandardScaler(),
        final,
    ).fit(X[:100], y[:100])
    graph = export_onnx(pipeline, None)
    labels, probabilities = run_graph(graph, X[100:])
    np.testing.assert_array_equal(labels, pipeline.predict(X[100:]))
    np.testing.assert_allclose(probabilities, pipeline.predict_proba(X[100:]), rtol=0, atol=1e-5)


def test_pipeline_is_one_graph_with_one_uint8_input(digit_features):
    X, y = digit_features
    pipeline = make_pipeline(
        digit_extractor(layer="fc7"),
        SVC(),
    ).fit(X[:60], y[:60])
    graph = export_onnx(pipeline, None)
    (image,) = graph.graph.input
    assert image.name == "image"
    assert image.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [d.dim_value for d in image.type.tensor_type.shape.dim[1:]] == [67, 67, 3]
    ops = {node.op_type for node in graph.graph.node}
    assert {"Conv", "LRN", "Gemm", "SVMClassifier"} <= ops
    labels, _ = run_graph(graph, X[60:])
    np.testing.assert_array_equal(labels, pipeline.predict(X[60:]))


def test_skl2onnx_refuses_an_input_of_another_size(digit_features):
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import UInt8TensorType

    X, y = digit_features
    pipeline = make_pipeline(
        AlexNetFeatureExtractor(weights=None, image_size=DIGITS_IMAGE_SIZE, precision="float32"),
        LogisticRegression(max_iter=200),
    ).fit(X[:40], y[:40])
    register_skl2onnx()
    with pytest.raises(ValueError, match=r"\(batch, 67, 67, 3\).*image_size=67"):
        to_onnx(pipeline, initial_types=[("image", UInt8TensorType([None, 227, 227, 3]))])


# -- the file and bad input ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_extractor():
    X, _ = digits_at(DIGITS_IMAGE_SIZE, n=4)
    extractor = AlexNetFeatureExtractor(
        weights=None, image_size=DIGITS_IMAGE_SIZE, precision="float32", random_state=0
    )
    return extractor.fit(X), X


def test_export_writes_a_file_that_onnxruntime_runs(small_extractor, tmp_path):
    extractor, X = small_extractor
    path = tmp_path / "features.onnx"
    returned = export_onnx(extractor, path)
    loaded = onnx.load(path)
    assert loaded == returned
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (features,) = session.run(None, {"image": X})
    np.testing.assert_allclose(features, extractor.transform(X), rtol=1e-5, atol=1e-5)
    props = {p.key: p.value for p in loaded.metadata_props}
    assert props["image_size"] == "67" and props["resize"] == "squash"


@pytest.mark.parametrize(
    "estimator",
    [
        AlexNetClassifier(),
        AlexNetFeatureExtractor(weights=None),
        make_pipeline(AlexNetFeatureExtractor(weights=None), SVC()),
    ],
    ids=["classifier", "extractor", "pipeline"],
)
def test_unfitted_estimator_is_refused(estimator):
    with pytest.raises(NotFittedError):
        export_onnx(estimator, None)


@pytest.mark.parametrize(
    "thing",
    [LogisticRegression(), make_pipeline(StandardScaler(), SVC()), "model.keras"],
    ids=["sklearn estimator", "pipeline without extractor", "str"],
)
def test_unsupported_object_is_refused(thing):
    with pytest.raises(TypeError, match="export_onnx"):
        export_onnx(thing, None)


def test_path_in_a_missing_folder_is_refused_before_building(tmp_path):
    # An unfitted estimator would raise NotFittedError if the graph were built first.
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_onnx(AlexNetClassifier(), tmp_path / "missing" / "model.onnx")


def test_path_that_is_a_folder_is_refused(small_extractor, tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        export_onnx(small_extractor[0], tmp_path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_path_in_a_read_only_folder_is_refused(small_extractor, tmp_path):
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="permission denied"):
            export_onnx(small_extractor[0], folder / "model.onnx")
    finally:
        folder.chmod(0o700)
