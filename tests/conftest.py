"""Shared fixtures. skalexnet is imported first, so that Keras gets an installed backend."""

import math
from collections import OrderedDict

import pytest
from digits import (
    TRANSFER_IMAGE_SIZE,
    TRANSFER_LEARNING_RATE,
    digit_images,
    few_shot_split,
    save_network_trained_on_0_to_4,
)

import skalexnet  # noqa: F401
from skalexnet import build_alexnet


def _nbytes(shape, dtype: str) -> int:
    return math.prod(shape) * int("".join(filter(str.isdigit, dtype))) // 8  # "bfloat16": 2


class SeededDrawCache:
    """HeNormal's draws, kept by seed and shape: the same seeded draw, copied out again.

    Most of the suite's fits build one of a few networks from a fixed random_state, and drawing
    their 20-60 million truncated normals is about 1.5 s of each fit (of 3.5 s for a small one).
    Keras draws the same values from the same integer seed, so a kept draw is the draw; unseeded
    initialisers (a random default seed) are drawn as always. ``max_bytes`` bounds the memory.
    """

    def __init__(self, draw, max_bytes: int = 2**31):
        self.draw, self.max_bytes, self.kept, self.bytes = draw, max_bytes, OrderedDict(), 0

    def __call__(self, initializer, shape, dtype=None):
        import keras

        seed = initializer._init_seed  # the seed as given; None draws a fresh default seed
        if not isinstance(seed, int):
            return self.draw(initializer, shape, dtype=dtype)
        dtype = keras.backend.standardize_dtype(dtype)
        key = (seed, tuple(shape), dtype)
        if key not in self.kept:
            self.kept[key] = self.draw(initializer, shape, dtype=dtype)
            self.bytes += _nbytes(shape, dtype)
            while self.bytes > self.max_bytes and len(self.kept) > 1:
                (_, kept_shape, kept_dtype), _ = self.kept.popitem(last=False)
                self.bytes -= _nbytes(kept_shape, kept_dtype)
        self.kept.move_to_end(key)
        # A copy: a Keras variable may take the tensor it is given as its storage, and train it.
        return keras.ops.copy(self.kept[key])


@pytest.fixture(scope="session", autouse=True)
def seeded_he_normal_draws():
    """The suite's HeNormal draws through a SeededDrawCache; yields it (``.draw`` is Keras's)."""
    import keras

    cache = SeededDrawCache(keras.initializers.HeNormal.__call__)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            keras.initializers.HeNormal,
            "__call__",
            lambda self, shape, dtype=None: cache(self, shape, dtype),
        )
        yield cache


@pytest.fixture(scope="session")
def digits_0_to_4_network(tmp_path_factory):
    """A network trained on digits 0-4 only, saved as a Keras file: the 'pretrained' weights
    for transfer to digits 5-9, the study's Tasks 2 and 3 in miniature."""
    directory = tmp_path_factory.mktemp("pretrained")
    return save_network_trained_on_0_to_4(directory / "digits_0_to_4.keras")


@pytest.fixture(scope="session")
def digits_0_to_4_network_at_131(tmp_path_factory):
    """The same at 131 pixels, where pool5 is 3x3: the transfer comparisons' pretrained network.
    float32, since the comparisons are of methods, not of precisions."""
    path = tmp_path_factory.mktemp("pretrained_at_131") / "digits_0_to_4.keras"
    return save_network_trained_on_0_to_4(
        path, TRANSFER_IMAGE_SIZE, learning_rate=TRANSFER_LEARNING_RATE, precision="float32"
    )


@pytest.fixture(scope="session")
def digits_5_to_9():
    """Digits 5-9: 20 training images a class (few-shot), the rest held out."""
    images, labels = digit_images()
    train, test = few_shot_split(labels, seed=0)
    return images[train], labels[train], images[test], labels[test]


@pytest.fixture(scope="module")
def fast_build():
    """build_alexnet without drawing 61M He-normal values, for tests that set every weight or
    look at shapes only. Only the networks it builds start at zero: other builds in the module
    draw as always."""
    import keras

    def build_without_drawing(*args, **kwargs):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(
                keras.initializers.HeNormal,
                "__call__",
                lambda self, shape, dtype=None: keras.ops.zeros(shape, dtype=dtype),
            )
            return build_alexnet(*args, **kwargs)

    return build_without_drawing
