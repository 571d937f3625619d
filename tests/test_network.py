"""build_alexnet: architecture, sizes, names and backends.

The tests of shapes, names and counts build through conftest's ``fast_build`` (zeros for the
He-normal draws, which they do not look at): a full-size network draws 61M values otherwise.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from skalexnet import build_alexnet, min_image_size
from skalexnet._network import WEIGHTED_LAYERS


def test_original_architecture_has_the_studys_parameter_count(fast_build):
    # The study's model.summary() for 2 classes: 56,876,418 (its split layers hold the same).
    assert fast_build("original", n_classes=2).count_params() == 56_876_418


def test_torchvision_architecture_has_torchvisions_parameter_count(fast_build):
    # torchvision.models.alexnet(): num_params=61,100,840.
    assert fast_build("torchvision", n_classes=1000, image_size=224).count_params() == 61_100_840


@pytest.mark.parametrize(
    ("arch", "image_size", "pool5"),
    [("original", 227, 6), ("caffe", 224, 6), ("caffe", 227, 6), ("original", 67, 1)],
)
def test_pool5_size(arch, image_size, pool5, fast_build):
    model = fast_build(arch, n_classes=3, image_size=image_size)
    assert tuple(model.get_layer("pool5").output.shape[1:]) == (pool5, pool5, 256)


def test_layers_are_named_as_in_caffe(fast_build):
    names = {layer.name for layer in fast_build(n_classes=2, image_size=67).layers}
    expected = set(WEIGHTED_LAYERS) | {"norm1", "norm2", "pool1", "pool2", "pool5", "prob"}
    assert expected <= names


def test_original_pools_before_lrn_and_caffe_after(fast_build):
    def order(arch):
        names = [layer.name for layer in fast_build(arch, 2, 67).layers]
        return names.index("pool1") < names.index("norm1")

    assert order("original") and not order("caffe")


@pytest.mark.parametrize("arch", ["original", "caffe", "torchvision"])
def test_smallest_image_size_builds_and_one_less_is_refused(arch, fast_build):
    smallest = min_image_size(arch)
    model = fast_build(arch, n_classes=2, image_size=smallest)
    x = np.random.default_rng(0).uniform(0, 255, (2, smallest, smallest, 3)).astype("float32")
    assert model.predict(x, verbose=0).shape == (2, 2)
    with pytest.raises(ValueError, match=f"smallest input .* is {smallest}x{smallest}"):
        fast_build(arch, n_classes=2, image_size=smallest - 1)


def test_original_minimum_is_67():
    assert min_image_size("original") == 67


def test_saved_model_reloads_with_identical_outputs(tmp_path):
    import keras

    model = build_alexnet(n_classes=4, image_size=67)
    x = np.random.default_rng(1).uniform(0, 255, (3, 67, 67, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(model.predict(x, verbose=0), reloaded.predict(x, verbose=0))


def test_seed_alone_fixes_every_initialiser_and_dropout():
    import random

    import keras

    def build(seed, foreign_draws):
        keras.utils.set_random_seed(123)
        for _ in range(foreign_draws):  # another thread using Python's random (Dask's loop)
            random.random()
        return build_alexnet(n_classes=3, image_size=67, seed=seed)

    first, second, other = build(7, 0), build(7, 1), build(8, 0)
    for a, b, c in zip(first.weights, second.weights, other.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
        if "kernel" in a.path:
            assert not np.array_equal(a.numpy(), c.numpy()), a.path
    dropout_seeds = {first.get_layer(name).seed for name in ("drop6", "drop7")}
    assert None not in dropout_seeds and len(dropout_seeds) == 2


def test_the_suites_kept_he_normal_draws_are_kerass_own(seeded_he_normal_draws):
    # conftest keeps seeded HeNormal draws for the fits that follow: each must equal Keras's own
    # draw, be a copy that training a variable made from it cannot change, and unseeded
    # initialisers must draw afresh.
    import keras

    shape = (5, 5, 3, 8)
    initializer = keras.initializers.HeNormal(seed=11)
    drawn = keras.ops.convert_to_numpy(seeded_he_normal_draws.draw(initializer, shape))
    variable = keras.Variable(initializer(shape))
    np.testing.assert_array_equal(variable.numpy(), drawn)
    variable.assign(variable + 1.0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(initializer(shape)), drawn)
    first, second = keras.initializers.HeNormal(), keras.initializers.HeNormal()
    assert not np.array_equal(
        keras.ops.convert_to_numpy(first(shape)), keras.ops.convert_to_numpy(second(shape))
    )


def test_layers_left_out_of_random_layers_start_at_zero_with_the_others_unchanged():
    # What loading weights builds: only fc8 random (a new top), the rest about to be overwritten.
    full = build_alexnet(n_classes=3, image_size=67, seed=5)
    top_only = build_alexnet(n_classes=3, image_size=67, seed=5, random_layers=("fc8",))
    for layer in ("conv1", "fc6", "fc7"):
        assert not np.any(top_only.get_layer(layer).kernel.numpy()), layer
    np.testing.assert_array_equal(
        top_only.get_layer("fc8").kernel.numpy(), full.get_layer("fc8").kernel.numpy()
    )
    assert top_only.get_layer("drop6").seed == full.get_layer("drop6").seed


BACKEND_PROBE = """
import json, numpy as np
from skalexnet import build_alexnet
import keras
model = build_alexnet("original", n_classes=5, image_size=67)
x = np.random.default_rng(0).uniform(0, 255, (2, 67, 67, 3)).astype("float32")
p = model.predict(x, verbose=0)
print(json.dumps({"backend": keras.backend.backend(), "shape": list(p.shape),
                  "sums": np.asarray(p).sum(axis=1).tolist()}))
"""


def _installed_backends():
    import importlib.util

    return [b for b in ("torch", "jax", "tensorflow") if importlib.util.find_spec(b)]


@pytest.mark.parametrize("backend", _installed_backends())
def test_model_builds_with_the_same_output_shape_on_each_installed_backend(backend):
    env = dict(os.environ, KERAS_BACKEND=backend)
    result = subprocess.run(
        [sys.executable, "-c", BACKEND_PROBE], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == backend
    assert report["shape"] == [2, 5]
    np.testing.assert_allclose(report["sums"], 1.0, rtol=1e-5)
