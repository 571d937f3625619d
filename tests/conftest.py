"""Shared fixtures. skalexnet is imported first, so that Keras gets an installed backend."""

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
    """build_alexnet without drawing 61M He-normal values, for tests that set every weight."""
    import keras

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            keras.initializers.HeNormal,
            "__call__",
            lambda self, shape, dtype=None: keras.ops.zeros(shape, dtype=dtype),
        )
        yield build_alexnet
