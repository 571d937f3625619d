"""The ONNX zoo's bvlcalexnet: the conversion reproduces onnxruntime, and odd graphs are refused."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from skalexnet._network import ARCHITECTURES
from skalexnet.weights import apply_weights, load_weights, read_onnx_bvlcalexnet

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
sys.path.insert(0, str(Path(__file__).parent / "reference"))
from compare import fc8_logits, relative_error
from onnx_bvlcalexnet import (
    LRN,
    make_bvlcalexnet,
    onnxruntime_logits,
    random_caffe_weights,
    save,
)

CAFFE_PARAMS = 60_965_224
TINY_WIDTHS = (8, 8, 8, 8, 8, 16)  # structure-only graphs: kilobytes instead of 240 MB


@pytest.fixture(scope="module")
def caffe_weights():
    return random_caffe_weights(n_classes=1000, seed=0)


@pytest.fixture(scope="module")
def onnx_path(caffe_weights, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "bvlcalexnet-12.onnx"
    save(make_bvlcalexnet(caffe_weights, image_size=224), path)
    return path


@pytest.fixture(scope="module")
def images():
    rs = np.random.RandomState(1)
    return np.floor(rs.random_sample((2, 224, 224, 3)) * 256).astype(np.float32)


@pytest.fixture(scope="module")
def reference(onnx_path, images):
    return onnxruntime_logits(onnx_path, images)


@pytest.fixture(scope="module")
def weights(onnx_path):
    return load_weights(onnx_path)


def _logits_error(build, weights, images, reference):
    model = build(weights.arch, weights.n_classes, weights.image_size, weights.preprocessing)
    return relative_error(fc8_logits(apply_weights(model, weights), images), reference)


def test_full_size_file_loads_with_caffe_metadata(weights):
    assert (weights.source, weights.arch, weights.preprocessing) == (
        "onnx-bvlcalexnet",
        "caffe",
        "caffe",
    )
    assert (weights.n_classes, weights.image_size, weights.n_params) == (1000, 224, CAFFE_PARAMS)
    assert weights.layers["conv2"][0].shape == (5, 5, 48, 256)


def test_converted_weights_reproduce_onnxruntime_logits(fast_build, weights, images, reference):
    error = _logits_error(fast_build, weights, images, reference)
    print(f"onnx: relative error {error:.2e} (logit scale {np.abs(reference).max():.3g})")
    assert error < 1e-5


def test_without_fc6_permutation_logits_disagree(
    fast_build, weights, caffe_weights, images, reference
):
    unpermuted = {**weights.layers, "fc6": [caffe_weights["fc6"][0].T, caffe_weights["fc6"][1]]}
    error = _logits_error(fast_build, _replace(weights, unpermuted), images, reference)
    print(f"onnx without the fc6 permutation: relative error {error:.2f}")
    assert error > 0.05


@pytest.mark.parametrize(
    "change",
    [
        {"lrn": ARCHITECTURES["original"]["lrn"]},  # the paper's LRN: k=2, alpha not over n
        {"lrn_before_pool": False},  # CaffeNet's pool-then-norm order
    ],
    ids=["paper-lrn-formula", "lrn-after-pool"],
)
def test_other_lrn_convention_disagrees(
    fast_build, weights, images, reference, monkeypatch, change
):
    for key, value in change.items():
        monkeypatch.setitem(ARCHITECTURES["caffe"], key, value)
    error = _logits_error(fast_build, weights, images, reference)
    print(f"onnx with {change}: relative error {error:.2f}")
    assert error > 0.05


def test_floor_pooling_at_224_cannot_take_the_weights(fast_build, weights, monkeypatch):
    monkeypatch.setitem(ARCHITECTURES["caffe"], "ceil_pooling", False)  # pools give 26, 12, 5
    model = fast_build("caffe", 1000, 224)
    with pytest.raises(
        ValueError, match=r"fc6 expects \(6400, 4096\), the file holds \(9216, 4096\)"
    ):
        apply_weights(model, weights)


def _replace(weights, layers):
    from dataclasses import replace

    return replace(weights, layers=layers)


def _tiny_graph(tmp_path, **options):
    path = tmp_path / "tiny.onnx"
    tiny = random_caffe_weights(n_classes=3, seed=2, widths=TINY_WIDTHS)
    save(make_bvlcalexnet(tiny, image_size=224, **options), path)
    return path


def test_fc_kernels_stored_untransposed_read_the_same(tmp_path):
    transposed = read_onnx_bvlcalexnet(_tiny_graph(tmp_path, trans_b=True))
    plain = read_onnx_bvlcalexnet(_tiny_graph(tmp_path, trans_b=False))
    for name, (kernel, bias) in transposed.layers.items():
        np.testing.assert_array_equal(plain.layers[name][0], kernel, err_msg=name)
        np.testing.assert_array_equal(plain.layers[name][1], bias, err_msg=name)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lrn": {**LRN, "bias": 2.0}}, r"LRN 'norm1_1' has size, alpha, beta, bias"),
        ({"lrn_after_pool": True}, r"follows pooling"),
        ({"end_pads": 0}, r"pool1 \(pool1_1\) gives 26x26 at input 224"),
        ({"group": 1}, r"conv2 \(conv2_1\) has \{'group': 1"),
    ],
    ids=["lrn-constants", "lrn-after-pool", "floor-pooling", "conv2-ungrouped"],
)
def test_graph_computing_another_network_is_refused(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        load_weights(_tiny_graph(tmp_path, **options))


def test_truncated_onnx_fails_naming_the_file(tmp_path):
    path = _tiny_graph(tmp_path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_weights(path)


def test_missing_onnx_package_says_how_to_install(tmp_path, monkeypatch):
    path = _tiny_graph(tmp_path)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match="pip install onnx"):
        load_weights(path)
