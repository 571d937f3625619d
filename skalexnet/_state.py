"""State an estimator must leave as it found it: the process's random generators while it
trains (``seeded``), and its own fitted state when a fit raises (``unchanged_if_raises``)."""

import contextlib
import copy
import importlib.util
import random
import sys

import keras
import numpy as np

from .exceptions import NonFiniteLossError


def _global_random_states():
    """Snapshot every process-wide generator keras.utils.set_random_seed reseeds; a function
    that puts them all back."""
    from keras.src.backend.common import global_state
    from keras.src.random.seed_generator import GLOBAL_SEED_GENERATOR
    from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED

    python_state, numpy_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    # Keras's global seed and SeedGenerator (what keras.random draws from without a seed):
    # set_random_seed drops the generator, so keeping the object keeps its state.
    keras_seed = global_state.get_global_attribute(GLOBAL_RANDOM_SEED)
    keras_generator = global_state.get_global_attribute(GLOBAL_SEED_GENERATOR)
    restores = []
    if keras.backend.backend() == "torch":
        import torch

        cpu = torch.random.get_rng_state()
        restores.append(lambda: torch.random.set_rng_state(cpu))
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            cuda = torch.cuda.get_rng_state_all()
            restores.append(lambda: torch.cuda.set_rng_state_all(cuda))
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        # set_random_seed seeds TensorFlow's global seed whenever TensorFlow is installed. Its
        # previous value comes back; TensorFlow's per-op seed counters restart, which no
        # public API can undo.
        from tensorflow.python.eager import context

        tf_seed = context.global_seed()
        restores.append(lambda: tf.random.set_seed(tf_seed))

    def restore():
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002
        global_state.set_global_attribute(GLOBAL_RANDOM_SEED, keras_seed)
        global_state.set_global_attribute(GLOBAL_SEED_GENERATOR, keras_generator)
        for restore_one in restores:
            restore_one()

    return restore


@contextlib.contextmanager
def unchanged_if_raises(estimator, trains_in_place: bool):
    """Give ``estimator`` back the state it had before the block if the block raises: a first
    fit that fails leaves no fitted attribute, and a refit that fails keeps the previous model.

    ``trains_in_place`` (warm start, partial_fit) also copies the weights first, to put back
    the ones a failing epoch changed; a cold fit builds a new network and leaves the old one be.
    NonFiniteLossError is the exception: it keeps the last completed epoch, as documented.
    """
    # Parameters are never changed by fit; fitted and private attributes are, some in place.
    state = {
        name: value if isinstance(value, keras.Model) else copy.deepcopy(value)
        for name, value in vars(estimator).items()
        if name.endswith("_") or name.startswith("_")
    }
    model = state.get("model_")
    weights = None
    if trains_in_place and model is not None:
        weights = [keras.ops.convert_to_numpy(v.value) for v in model.variables]
    try:
        yield
    except NonFiniteLossError:
        raise
    except BaseException:
        for name in [n for n in vars(estimator) if n.endswith("_") or n.startswith("_")]:
            delattr(estimator, name)
        vars(estimator).update(state)
        if weights is not None:
            for variable, value in zip(model.variables, weights, strict=True):
                variable.assign(value)
        raise


@contextlib.contextmanager
def seeded(seed: int):
    """Seed Python, NumPy, the Keras backend and Keras's global generator for the block, then
    give every one of them the state it had: a fit never changes its caller's random draws."""
    if "tensorflow" not in sys.modules and importlib.util.find_spec("tensorflow") is not None:
        import tensorflow  # noqa: F401  (set_random_seed imports it: snapshot its seed first)
    restore = _global_random_states()
    keras.utils.set_random_seed(seed)
    try:
        yield
    finally:
        restore()
