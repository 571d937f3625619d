"""Shared fixtures. skalexnet is imported first, so that Keras gets an installed backend."""

import os

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

# Fixtures too slow to build once in each pytest-xdist worker: the tests that use one share a
# worker (``--dist loadgroup``). The first that a test uses names its group.
SHARED_FIXTURES = ("digits_0_to_4_network_at_131", "fitted", "run_output", "two_tiny_demos")


def pytest_configure(config):
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        # The workers share the cores: with torch's default, one thread per core in each,
        # they would oversubscribe them. Subprocesses that tests start inherit the setting.
        import torch

        threads = str(max(1, (os.cpu_count() or 1) // int(workers)))
        os.environ["OMP_NUM_THREADS"] = threads
        torch.set_num_threads(int(threads))


def pytest_collection_modifyitems(items):
    for item in items:
        shared = [name for name in SHARED_FIXTURES if name in item.fixturenames]
        if shared:
            scope = "session" if shared[0].startswith("digits_") else item.module.__name__
            item.add_marker(pytest.mark.xdist_group(f"{scope}.{shared[0]}"))


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
