"""Keras 3 files of a skalexnet network load back exactly, or are refused: never silently wrong.

A ``.weights.h5`` holds no config: the architecture comes from the model's name that Keras
records, the preprocessing from the record ``ImagePreprocessing`` writes beside it. A file that
lacks either is refused with the arguments that repair it.
"""

import h5py
import keras
import numpy as np
import pytest

from skalexnet._network import ARCHITECTURES, PREPROCESSING, build_alexnet
from skalexnet._pretrained import build_network
from skalexnet.weights import WeightFileError, apply_weights, load_weights, read_keras_weights

IMAGE_SIZE = 67  # the smallest size all three variants admit
# Every architecture with the preprocessing skalexnet pairs it with, and 'original' also with
# the ImageNet mean of the convnets-keras weights (the study's file, fine-tuned and saved).
NETWORKS = [
    ("original", "study"),
    ("original", "imagenet_mean"),
    ("caffe", "caffe"),
    ("torchvision", "torchvision"),
]


def _randomize(model, seed):
    rng = np.random.default_rng(seed)
    model.set_weights(
        [rng.standard_normal(w.shape).astype(np.float32) * 0.05 for w in model.weights]
    )
    return model


def _logits(model, images):
    """fc8's output, where a preprocessing or LRN difference shows undamped by the softmax."""
    return keras.Model(model.inputs, model.get_layer("fc8").output).predict(images, verbose=0)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 255, (2, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("f4")


@pytest.fixture(scope="module")
def saved(fast_build, tmp_path_factory, images):
    """(arch, preprocessing) -> (the .keras path, the .weights.h5 path, the network's logits)."""
    directory = tmp_path_factory.mktemp("round-trip")
    files = {}
    for seed, (arch, preprocessing) in enumerate(NETWORKS):
        model = _randomize(fast_build(arch, 3, IMAGE_SIZE, preprocessing), seed)
        stem = directory / f"{arch}-{preprocessing}"
        model.save(f"{stem}.keras")
        model.save_weights(f"{stem}.weights.h5")
        files[arch, preprocessing] = (f"{stem}.keras", f"{stem}.weights.h5", _logits(model, images))
    return files


@pytest.mark.parametrize("kind", ["keras", "weights.h5"])
@pytest.mark.parametrize(("arch", "preprocessing"), NETWORKS)
def test_saved_network_loads_back_exactly(saved, images, arch, preprocessing, kind):
    keras_path, weights_path, expected = saved[arch, preprocessing]
    path = keras_path if kind == "keras" else weights_path
    weights = load_weights(path)
    assert (weights.arch, weights.preprocessing) == (arch, preprocessing)
    again = build_network(path, image_size=IMAGE_SIZE)
    np.testing.assert_array_equal(_logits(again, images), expected)


def _forget_preprocessing(path, tmp_path):
    """The file as a skalexnet older than the preprocessing record wrote it."""
    copy = tmp_path / "old.weights.h5"
    copy.write_bytes(open(path, "rb").read())
    with h5py.File(copy, "a") as f:
        record = f["layers/image_preprocessing/vars"]
        for key in list(record):
            del record[key]
    return copy


@pytest.mark.parametrize(("arch", "preprocessing"), NETWORKS)
def test_weights_h5_without_preprocessing_is_refused_until_told(
    saved, images, tmp_path, arch, preprocessing
):
    _, weights_path, expected = saved[arch, preprocessing]
    path = _forget_preprocessing(weights_path, tmp_path)
    with pytest.raises(WeightFileError, match="does not record its preprocessing") as error:
        load_weights(path)
    assert str(path) in str(error.value)
    assert f"preprocessing={ARCHITECTURES[arch]['preprocessing']!r}" in str(error.value)
    weights = load_weights(path, preprocessing=preprocessing)
    assert (weights.arch, weights.preprocessing) == (arch, preprocessing)
    # The repair the message spells out: the network these weights need, saved whole.
    model = build_alexnet(
        weights.arch, weights.n_classes, IMAGE_SIZE, weights.preprocessing, random_layers=()
    )
    fixed = tmp_path / "fixed.keras"
    apply_weights(model, weights).save(fixed)
    np.testing.assert_array_equal(
        _logits(build_network(fixed, image_size=IMAGE_SIZE), images), expected
    )


@pytest.mark.parametrize("arch", ["original", "caffe"])
def test_caffe_family_weights_without_model_name_are_refused_until_told(
    saved, images, tmp_path, arch
):
    _, weights_path, expected = saved[arch, ARCHITECTURES[arch]["preprocessing"]]
    path = tmp_path / "renamed.weights.h5"
    path.write_bytes(open(weights_path, "rb").read())
    with h5py.File(path, "a") as f:
        f["vars"].attrs["name"] = "my_model"
    # The shapes of 'original' and 'caffe' are the same: only the name told them apart.
    with pytest.raises(WeightFileError, match=r"Pass arch='original' or arch='caffe'") as error:
        load_weights(path)
    assert str(path) in str(error.value)
    weights = read_keras_weights(path, arch=arch)
    assert weights.arch == arch
    model = build_network(path, image_size=IMAGE_SIZE, arch=arch)
    np.testing.assert_array_equal(_logits(model, images), expected)


def test_stated_arch_or_preprocessing_that_contradicts_the_file_is_refused(saved):
    keras_path, weights_path, _ = saved["original", "imagenet_mean"]
    for path in (keras_path, weights_path):
        with pytest.raises(WeightFileError, match="arch='caffe', but the file holds 'original'"):
            load_weights(path, arch="caffe")
        with pytest.raises(
            WeightFileError, match="preprocessing='study', but the file records 'imagenet_mean'"
        ):
            load_weights(path, preprocessing="study")


def test_keras_load_weights_refuses_a_network_with_other_preprocessing(saved, fast_build):
    _, weights_path, _ = saved["original", "imagenet_mean"]
    study = fast_build("original", 3, IMAGE_SIZE)  # 'study': divides by 255
    with pytest.raises(ValueError, match="preprocessing='imagenet_mean'"):
        study.load_weights(weights_path)
    same = fast_build("original", 3, IMAGE_SIZE, "imagenet_mean")
    same.load_weights(weights_path)  # Keras's own loader still takes the file


def test_every_preprocessing_is_recorded(fast_build, tmp_path):
    for key in PREPROCESSING:
        path = tmp_path / f"{key}.weights.h5"
        fast_build("original", 2, IMAGE_SIZE, key).save_weights(path)
        assert load_weights(path).preprocessing == key


def test_unknown_arch_or_preprocessing_is_a_parameter_error(saved):
    _, weights_path, _ = saved["caffe", "caffe"]
    with pytest.raises(ValueError, match=r"arch must be None or one of \['caffe'"):
        load_weights(weights_path, arch="alexnet")
    with pytest.raises(ValueError, match="preprocessing must be None or one of"):
        load_weights(weights_path, preprocessing="imagenet")
