"""The estimators' parameters, declared once as data and checked with scikit-learn's
``check_scalar``: every error names the parameter and the value it got."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_scalar

from ._learning_rates import LR_SCHEDULES
from ._network import ARCHITECTURES
from ._precision import PRECISIONS
from ._progress import VERBOSE

# The largest image_size accepted. AlexNet's fc6 grows with the square of the input: at 1024 it
# holds 256 * 31 * 31 * 4096 = 1.0e9 weights (4 GB in float32, as much again for SGD's momentum);
# at 10,000 it would hold 1e11. Larger inputs are a mistake (pixels for image_size), not a plan.
MAX_IMAGE_SIZE = 1024

# name -> (type, min, max, include_boundaries), as sklearn.utils.check_scalar takes them; each is
# checked in fit when the estimator has the parameter, never in __init__.
NUMERIC_PARAMS = {
    "image_size": (Integral, 1, MAX_IMAGE_SIZE, "both"),
    "epochs": (Integral, 0, None, "left"),
    "batch_size": (Integral, 1, None, "left"),
    "learning_rate": (Real, 0, None, "neither"),
    "momentum": (Real, 0, 1, "both"),
    "decay": (Real, 0, None, "left"),
    "n_iter_no_change": (Integral, 1, None, "left"),
    "validation_fraction": (Real, 0, 1, "neither"),
    # Each layer below the top trains at this factor of the one above: 1 (or None) is one rate.
    "layer_lr_decay": (Real, 0, 1, "right"),
}
# Numeric parameters for which None means "not used" and is not checked.
NONE_ALLOWED = {"layer_lr_decay"}
# name -> the values it may take.
CHOICE_PARAMS = {
    "arch": (None, *ARCHITECTURES),
    "loss": ("categorical_crossentropy", "mse"),
    "nesterov": (True, False),
    "early_stopping": (True, False),
    "precision": PRECISIONS,
    "distribution": (None, "data_parallel"),
    "lr_schedule": LR_SCHEDULES,
    "verbose": VERBOSE,
}


def check_number(name, value, kind, low=None, high=None, include_boundaries="both"):
    """sklearn's check_scalar, refusing bools and naming the bad value in type errors too."""
    if isinstance(value, (bool, np.bool_)):
        what = "an int" if kind is Integral else "a number"
        raise TypeError(f"{name} must be {what}, not a bool; got {value!r}.")
    try:
        check_scalar(
            value, name, kind, min_val=low, max_val=high, include_boundaries=include_boundaries
        )
    except TypeError as error:
        raise TypeError(f"{str(error).rstrip('.')}; got {value!r}.") from None


def check_choice(name, value, choices):
    """Refuse a value outside ``choices``, naming the parameter and the value."""
    if not any(value is c or (np.isscalar(value) and value == c) for c in choices):
        raise ValueError(f"{name} must be one of {list(choices)}; got {value!r}.")
