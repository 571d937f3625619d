"""What every skalexnet estimator shares: input validation, seeding, and the one training loop.

The estimators differ in the network they build and in their schedule of training rounds (which
layers train, for how many epochs, at which learning rate), never in how a round is trained.
"""

import contextlib
import random
from dataclasses import dataclass
from numbers import Integral, Real

import keras
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_array, check_consistent_length, validate_data

from ._augment import resolve_augmentation
from ._data import ImageBatches, as_image_set, check_loading_options, is_path_sequence
from ._network import ARCHITECTURES, WEIGHTED_LAYERS, min_image_size

PREDICT_BATCH_SIZE = 64


@dataclass(frozen=True)
class TrainingRound:
    """One call of Keras's fit: the lowest trainable layer (None: all), epochs, learning rate."""

    first_trainable: str | None
    epochs: int
    learning_rate: float


def set_trainable_from(model: keras.Model, first_trainable: str | None) -> list[str]:
    """Freeze the weighted layers below ``first_trainable``; return the names left trainable."""
    start = 0 if first_trainable is None else WEIGHTED_LAYERS.index(first_trainable)
    trainable = []
    for position, name in enumerate(WEIGHTED_LAYERS):
        layer = model.get_layer(name)
        layer.trainable = position >= start
        if layer.trainable:
            trainable.append(name)
    return trainable


@contextlib.contextmanager
def seeded(seed: int):
    """Seed Python, NumPy and the Keras backend, then give Python's and NumPy's states back."""
    python_state, numpy_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    keras.utils.set_random_seed(seed)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002


def _check_param(estimator, name, kind, minimum=None, include_minimum=True, choices=None):
    value = getattr(estimator, name)
    if choices is not None:
        if value not in choices:
            raise ValueError(f"{name} must be one of {list(choices)}; got {value!r}.")
        return
    if kind is Integral and (isinstance(value, bool) or not isinstance(value, Integral)):
        raise TypeError(f"{name} must be an int; got {value!r}.")
    if kind is Real and (isinstance(value, bool) or not isinstance(value, Real)):
        raise TypeError(f"{name} must be a number; got {value!r}.")
    if minimum is not None and (value < minimum or (value == minimum and not include_minimum)):
        bound = ">=" if include_minimum else ">"
        raise ValueError(f"{name} must be {bound} {minimum}; got {value!r}.")


class AlexNetBase(BaseEstimator):
    """Validation, seeding, batching and the training loop shared by the estimators."""

    # name -> (type, minimum, include_minimum); checked in fit, never in __init__.
    _numeric_params = {
        "epochs": (Integral, 0, True),
        "batch_size": (Integral, 1, True),
        "learning_rate": (Real, 0, False),
        "momentum": (Real, 0, True),
        "decay": (Real, 0, True),
    }
    _choice_params = {
        "arch": (None, *ARCHITECTURES),
        "loss": ("categorical_crossentropy", "mse"),
        "nesterov": (True, False),
    }

    def _validate_params(self):
        for name, (kind, minimum, include) in self._numeric_params.items():
            if hasattr(self, name):
                _check_param(self, name, kind, minimum, include)
        for name, choices in self._choice_params.items():
            if hasattr(self, name):
                _check_param(self, name, None, choices=choices)
        _check_param(self, "image_size", Integral)
        # With arch=None the weights decide the variant; build_alexnet then checks the size.
        smallest = min_image_size(self.arch or "original")
        if self.arch is not None and self.image_size < smallest:
            raise ValueError(
                f"image_size={self.image_size} is below the smallest input the {self.arch!r} "
                f"AlexNet admits: {smallest}."
            )
        resolve_augmentation(getattr(self, "augment", None))

    # -- input -------------------------------------------------------------------------------

    def _validate_X(self, X, y=None, reset=True):
        """Check X (and y) and wrap X as an image set; sets n_features_in_ for 2-D arrays."""
        loading = self._loading_options()
        if is_path_sequence(X):
            if y is not None:
                check_consistent_length(X, y)
            if reset and hasattr(self, "n_features_in_"):
                del self.n_features_in_
            return as_image_set(list(X), self.image_size, **loading), y
        X_array = np.asarray(X) if not hasattr(X, "iloc") else X
        if getattr(X_array, "ndim", 2) == 2:
            if y is None:
                X = validate_data(self, X, reset=reset)
            else:
                X, y = validate_data(self, X, y, reset=reset, ensure_min_samples=1)
        else:
            if reset and hasattr(self, "n_features_in_"):
                del self.n_features_in_
            X = check_array(X, allow_nd=True, dtype="numeric", input_name="X")
            if y is not None:
                check_consistent_length(X, y)
        return as_image_set(X, self.image_size, **loading), y

    def _loading_options(self):
        """resize, cache and on_error, checked; estimators without them get the defaults."""
        loading = {
            "resize": getattr(self, "resize", "squash"),
            "cache": getattr(self, "cache", False),
            "on_error": getattr(self, "on_error", "raise"),
        }
        check_loading_options(**loading)
        augmentation = resolve_augmentation(getattr(self, "augment", None)) or {}
        if augmentation.get("random_crop") and loading["resize"] != "crop":
            raise ValueError(
                f"augment={self.augment!r} takes random {self.image_size}x{self.image_size} crops "
                f"of images resized to 256/227 of image_size: it needs resize='crop', not "
                f"{loading['resize']!r}."
            )
        return loading

    def _batches(self, images, targets=None, sample_weight=None, *, training=False, epoch=0):
        # Labelled data (training and validation) may leave unreadable files out; predictions
        # cannot (every input needs an output), so there a broken file raises, naming it.
        if targets is not None and getattr(images, "on_error", "raise") == "skip":
            images.skip_unreadable()
        return ImageBatches(
            images,
            targets,
            sample_weight,
            batch_size=self.batch_size if training else max(self.batch_size, PREDICT_BATCH_SIZE),
            shuffle=training,
            augmentation=resolve_augmentation(getattr(self, "augment", None)) if training else None,
            seed=getattr(self, "_seed_", 0),
            first_epoch=epoch,
        )

    @staticmethod
    def _skipped_files(*batches):
        """Paths left out as unreadable (on_error='skip') by these ImageBatches, in order."""
        return [path for b in batches if b is not None for path in b.images.skipped]

    # -- training ----------------------------------------------------------------------------

    def _optimizer(self, learning_rate):
        # Keras 1's SGD decay, lr / (1 + decay * iterations), is exactly InverseTimeDecay.
        schedule = keras.optimizers.schedules.InverseTimeDecay(learning_rate, 1, self.decay)
        return keras.optimizers.SGD(schedule, momentum=self.momentum, nesterov=self.nesterov)

    def _compile(self, learning_rate):
        self.model_.compile(
            optimizer=self._optimizer(learning_rate),
            loss=self.loss,
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        )

    def _run_round(self, train, validation, training_round, round_index):
        """Train one round; append its epochs to history_."""
        if training_round.epochs == 0:
            return
        self.trainable_layers_ = set_trainable_from(self.model_, training_round.first_trainable)
        # A change of layer.trainable only takes effect once the model is compiled again.
        self._compile(training_round.learning_rate)
        done = self.n_epochs_
        with seeded(self._seed_ + done):
            history = self.model_.fit(
                train,
                validation_data=validation,
                epochs=done + training_round.epochs,
                initial_epoch=done,
                verbose=self.verbose,
            )
        for key, values in history.history.items():
            self.history_.setdefault(key, []).extend(float(v) for v in values)
        self.n_epochs_ += training_round.epochs

    # -- prediction --------------------------------------------------------------------------

    def _predict_batches(self, model, X):
        """The model's output(s) for X, one batch at a time, never augmented."""
        images, _ = self._validate_X(X, reset=False)
        return model.predict(self._batches(images), verbose=self.verbose)
