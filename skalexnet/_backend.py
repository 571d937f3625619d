"""Pick a Keras backend that is installed, before Keras is imported.

Keras 3 reads its backend from ``KERAS_BACKEND`` or ``~/.keras/keras.json`` and, when neither
names one, tries TensorFlow: without TensorFlow installed, ``import keras`` then fails outright.
skalexnet must import wherever one backend is installed, so this module runs first and only fills
in ``KERAS_BACKEND`` when the user has not made a choice that can work. torch is a dependency of
skalexnet (pyproject.toml), so it is always there to fall back on.
"""

import importlib.util
import json
import os
import sys

# The backend when the configured one is missing: skalexnet's dependency, and on CPU the fastest
# of the three (1.1x a plain PyTorch AlexNet in benchmarks/bench_training.py; jax was slowest).
DEFAULT_BACKEND = "torch"


def _is_installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


def _configured_backend() -> str:
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    try:
        with open(os.path.join(keras_home, "keras.json")) as f:
            return json.load(f).get("backend", "tensorflow")
    except (OSError, ValueError):
        return "tensorflow"


def select_backend() -> str:
    """Set ``KERAS_BACKEND`` to an installed backend unless the user chose one explicitly.

    Returns
    -------
    backend : str
        The backend Keras will use.
    """
    if "keras" in sys.modules:  # too late to choose: Keras fixed its backend on import
        return sys.modules["keras"].backend.backend()
    if "KERAS_BACKEND" in os.environ:
        return os.environ["KERAS_BACKEND"]
    configured = _configured_backend()
    if configured == "numpy" or _is_installed(configured):
        return configured
    # Silent on purpose: Keras writes "tensorflow" into keras.json on its first import, so a
    # configured-but-missing backend is usually nobody's choice.
    os.environ["KERAS_BACKEND"] = DEFAULT_BACKEND
    return DEFAULT_BACKEND
