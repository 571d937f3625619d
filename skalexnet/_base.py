"""What every skalexnet estimator shares: input validation, seeding, and the one training loop.

The estimators differ in the network they build and in their schedule of training rounds (which
layers train, for how many epochs, at which learning rate), never in how a round is trained.
"""

import contextlib
import copy
import importlib.util
import os
import random
import sys
import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import keras
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_scalar
from sklearn.utils.validation import check_array, check_consistent_length, validate_data

from ._augment import resolve_augmentation
from ._callbacks import EpochRecorder, NonFiniteLossError, OneRun, StopOnNonFiniteLoss
from ._checkpoint import (
    check_same_training,
    checkpoint_folder,
    checkpoint_path,
    configuration,
    data_fingerprint,
    read_checkpoint,
    write_checkpoint,
)
from ._data import (
    ImageBatches,
    as_image_list,
    as_image_set,
    as_path_list,
    check_loading_options,
)
from ._network import ARCHITECTURES, WEIGHTED_LAYERS, min_image_size
from ._precision import PRECISIONS, dtype_policy, resolve_precision

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
}
# name -> the values it may take.
CHOICE_PARAMS = {
    "arch": (None, *ARCHITECTURES),
    "loss": ("categorical_crossentropy", "mse"),
    "nesterov": (True, False),
    "early_stopping": (True, False),
    "precision": PRECISIONS,
    "distribution": (None, "data_parallel"),
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


class AlexNetBase(BaseEstimator):
    """Validation, seeding, batching and the training loop shared by the estimators."""

    def _check_params(self):
        """Check every parameter the estimator has, before any network is built (fit calls it
        first). Not ``_validate_params``, which is scikit-learn's own method."""
        for name, (kind, low, high, bounds) in NUMERIC_PARAMS.items():
            if hasattr(self, name):
                check_number(name, getattr(self, name), kind, low, high, bounds)
        for name, choices in CHOICE_PARAMS.items():
            if hasattr(self, name):
                check_choice(name, getattr(self, name), choices)
        weights = getattr(self, "weights", None)
        if not (weights is None or isinstance(weights, (str, os.PathLike, keras.Model))):
            raise TypeError(
                f"weights must be None, 'imagenet', the path of a weight file or a keras.Model; "
                f"got {weights!r}."
            )
        callbacks = getattr(self, "callbacks", None)
        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            raise TypeError(
                f"callbacks must be a list of Keras callbacks; got {callbacks!r}: pass "
                f"callbacks=[...], even for one."
            )
        for callback in callbacks or ():
            if not isinstance(callback, keras.callbacks.Callback):
                raise TypeError(
                    f"callbacks must be Keras callbacks (keras.callbacks.Callback); got "
                    f"{callback!r}."
                )
        # With arch=None the weights decide the variant (random weights: 'original'); before a
        # file is read, only the smallest input of any variant bounds image_size.
        arch = self.arch or (None if getattr(self, "weights", None) is not None else "original")
        smallest = min(min_image_size(a) for a in ([arch] if arch else ARCHITECTURES))
        if self.image_size < smallest:
            variant = f"the {arch!r} AlexNet admits" if arch else "any AlexNet variant admits"
            raise ValueError(
                f"image_size={self.image_size} is below the smallest input {variant}: {smallest}."
            )
        self._loading_options()  # resize, cache, on_error, augment, and how they combine

    # -- input -------------------------------------------------------------------------------

    def _validate_X(self, X, y=None, reset=True):
        """Check X (and y) and wrap X as an image set; sets n_features_in_ for 2-D arrays.

        X is a sequence of paths (a list, array, pandas Series or one-column DataFrame of str,
        bytes or os.PathLike), a list of images of any sizes, or an array of images.
        """
        loading = self._loading_options()
        paths, images = as_path_list(X), None
        if paths is None:
            images = as_image_list(X)
        if paths is not None or images is not None:
            if y is not None:
                check_consistent_length(paths or images, y)
            if reset and hasattr(self, "n_features_in_"):
                del self.n_features_in_
            return as_image_set(paths or images, self.image_size, **loading), y
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
        """resize, cache and on_error, checked; estimators without them get the defaults.

        on_error is None for an estimator without that parameter (the feature extractor):
        unreadable files then raise, and no message suggests a parameter it does not have.
        """
        loading = {
            "resize": getattr(self, "resize", "squash"),
            "cache": getattr(self, "cache", False),
            "on_error": getattr(self, "on_error", None),
        }
        check_loading_options(**loading, has_on_error=hasattr(self, "on_error"))
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
        devices = self._n_devices()
        batch_size = self.batch_size if training else max(self.batch_size, PREDICT_BATCH_SIZE)
        if batch_size % devices:
            if training:
                raise ValueError(
                    f"batch_size={self.batch_size} cannot be split evenly over the {devices} "
                    f"devices of distribution={self.distribution!r}: use a multiple of {devices}."
                )
            batch_size += devices - batch_size % devices
        return ImageBatches(
            images,
            targets,
            sample_weight,
            batch_size=batch_size,
            shuffle=training,
            augmentation=resolve_augmentation(getattr(self, "augment", None)) if training else None,
            seed=getattr(self, "_seed_", 0),
            first_epoch=epoch,
            devices=devices,
        )

    @staticmethod
    def _skipped_files(*batches):
        """Paths left out as unreadable (on_error='skip') by these ImageBatches, in order."""
        return [path for b in batches if b is not None for path in b.images.skipped]

    # -- training ----------------------------------------------------------------------------

    def _optimizer(self, learning_rate):
        # Keras 1's SGD decay, lr / (1 + decay * iterations), is exactly InverseTimeDecay; without
        # decay a plain number, which callbacks (ReduceLROnPlateau) can set.
        # Keras's SGD takes Python floats only; the checks let ints and NumPy numbers through.
        learning_rate = float(learning_rate)
        if self.decay > 0:
            learning_rate = keras.optimizers.schedules.InverseTimeDecay(
                learning_rate, 1, float(self.decay)
            )
        return keras.optimizers.SGD(
            learning_rate, momentum=float(self.momentum), nesterov=self.nesterov
        )

    def _user_callbacks(self, total_epochs):
        """The ``callbacks`` parameter, wrapped to see the whole call of fit as one run."""
        callbacks = list(getattr(self, "callbacks", None) or ())
        setting_lr = (keras.callbacks.ReduceLROnPlateau, keras.callbacks.LearningRateScheduler)
        if self.decay > 0 and any(isinstance(c, setting_lr) for c in callbacks):
            name = next(type(c).__name__ for c in callbacks if isinstance(c, setting_lr))
            raise ValueError(
                f"callbacks holds a {name}, which sets the optimizer's learning rate; with "
                f"decay={self.decay!r} the learning rate is Keras 1's decay schedule, which a "
                f"callback cannot set. Use decay=0 with {name}."
            )
        return OneRun(callbacks, total_epochs)

    def _kept_optimizer_state(self):
        """The optimizer's state (momenta, iteration count) to carry into the next call."""
        optimizer = getattr(getattr(self, "model_", None), "optimizer", None)
        last_round = getattr(self, "_last_round", None)
        if optimizer is None or last_round is None or not optimizer.built:
            return None
        return last_round, [keras.ops.convert_to_numpy(v.value) for v in optimizer.variables]

    def _compile(self, learning_rate):
        self.model_.compile(
            optimizer=self._optimizer(learning_rate),
            loss=self.loss,
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        )

    def _train(self, train, validation, rounds, position=(0, 0), keep_optimizer=False):
        """Run ``rounds`` (pairs of schedule index and round) from ``position`` (round index,
        epochs done in it), keeping the last completed epoch when training is interrupted.

        ``keep_optimizer`` (warm_start, partial_fit) carries the optimizer's momenta and decay
        clock on into the first round when it trains as the last one did.
        """
        rounds = [(index, r) for index, r in rounds if index >= position[0]]
        if keep_optimizer:
            self._optimizer_state = self._kept_optimizer_state()
        self._position = tuple(position)
        self._last_completed = self._variable_values()
        remaining = sum(r.epochs for _, r in rounds) - position[1]
        self._run_callbacks = self._user_callbacks(self.n_epochs_ + max(remaining, 0))
        try:
            for index, training_round in rounds:
                done = self._position[1] if index == self._position[0] else 0
                self._run_round(train, validation, training_round, index, done)
                if self._run_callbacks.stopped:
                    # A user callback stopped training: the schedule is over, also on resuming.
                    self._position = (rounds[-1][0] + 1, 0)
                    self._write_checkpoint()
                    break
            self._end_callbacks()
        except KeyboardInterrupt:
            self._roll_back()
            warnings.warn(
                f"{type(self).__name__}.fit was interrupted: the estimator keeps the weights and "
                f"history of epoch {self.n_epochs_}, the last completed one, and can predict.",
                RuntimeWarning,
                stacklevel=3,
            )
        except NonFiniteLossError as error:
            self._roll_back()
            raise NonFiniteLossError(
                f"{error} The estimator keeps the weights of epoch {self.n_epochs_}, the last "
                f"completed one."
            ) from None
        finally:
            del self._last_completed, self._position, self._run_callbacks

    def _end_callbacks(self):
        if not self._run_callbacks.callbacks:
            return
        before = self.model_.get_weights()
        self._run_callbacks.end()
        after = self.model_.get_weights()
        if any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True)):
            # A user callback (EarlyStopping(restore_best_weights=True)) set weights at the end.
            self._last_completed = self._variable_values()
            self._write_checkpoint()

    def _run_round(self, train, validation, training_round, round_index, epochs_done=0):
        """Train one round, or what is left of it after ``epochs_done`` epochs."""
        remaining = training_round.epochs - epochs_done
        if remaining <= 0:
            self._optimizer_state = None
            return
        self.trainable_layers_ = set_trainable_from(self.model_, training_round.first_trainable)
        if epochs_done == 0:
            self._start_round(training_round, round_index)
        # A change of layer.trainable only takes effect once the model is compiled again.
        self._compile(training_round.learning_rate)
        self._build_compiled(train)
        self._restore_optimizer_state(training_round)
        self._last_round = training_round
        callbacks = [
            # Dropout draws from its layer's own seed generator, a model variable that the
            # checkpoint holds: the data's epoch is all that an epoch's start has to set.
            EpochRecorder(train.set_epoch, lambda logs: self._complete_epoch(logs, round_index)),
            StopOnNonFiniteLoss(training_round.learning_rate),
            *self._early_stopping_callbacks(validation),
            self._run_callbacks,
        ]
        first = self.n_epochs_
        # Seeded per round, not per call, so that a resumed round draws as an unbroken one.
        with seeded(self._seed_ + first - epochs_done):
            self.model_.fit(
                train,
                validation_data=validation,
                epochs=first + remaining,
                initial_epoch=first,
                # The batches shuffle themselves, seeded; Keras would reorder them again with
                # Python's process-wide random, which other threads (Dask's event loop) share.
                shuffle=False,
                verbose=self.verbose,
                callbacks=callbacks,
            )
        stopped_early = self.n_epochs_ - first < remaining
        self._position = (round_index + 1, 0)
        if stopped_early or self._early_stopping_callbacks(validation):
            # Early stopping may have put the best epoch's weights back: keep those.
            self._last_completed = self._variable_values()
            self._write_checkpoint()

    def _build_compiled(self, train):
        # Keras otherwise builds the compiled loss and metrics on a batch it takes through its
        # loader, whose other prefetched batches then open the epoch, out of order (some twice,
        # some not at all): build them on a batch of our own instead.
        build = getattr(self.model_, "_symbolic_build", None)
        if build is not None:
            build(data_batch=train[0])

    def _start_round(self, training_round, round_index):
        """Called when a round begins (not when it is resumed); estimators record rounds here."""

    def _history_extras(self, round_index):
        """Extra ``history_`` entries for an epoch of round ``round_index``."""
        return {}

    def _early_stopping_callbacks(self, validation):
        if not getattr(self, "early_stopping", False) or validation is None:
            return []
        return [
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=self.n_iter_no_change, restore_best_weights=True
            )
        ]

    def _complete_epoch(self, logs, round_index):
        """Record a finished epoch: history, position, the weights to fall back to, checkpoint."""
        for key, value in {**logs, **self._history_extras(round_index)}.items():
            self.history_.setdefault(key, []).append(value)
        self.n_epochs_ += 1
        current, done = self._position
        self._position = (round_index, done + 1 if current == round_index else 1)
        self._last_completed = self._variable_values()
        self._write_checkpoint()

    def _variable_values(self):
        # Every variable, the dropout layers' random-generator states included.
        return [keras.ops.convert_to_numpy(v.value) for v in self.model_.variables]

    def _roll_back(self):
        self._last_round = None  # the optimizer's state is past the rolled-back epoch
        for variable, value in zip(self.model_.variables, self._last_completed, strict=True):
            variable.assign(value)

    # -- checkpoints -------------------------------------------------------------------------

    def _open_checkpoint(self, X, y, sample_weight, validation_data):
        """The checkpoint to resume from (None if there is none); a mismatching one raises."""
        self._checkpoint_identity = None
        self._optimizer_state = None
        if getattr(self, "checkpoint_dir", None) is None:
            return None
        self._checkpoint_identity = {
            "estimator": type(self).__name__,
            "configuration": configuration(self),
            "data": data_fingerprint(X, y, sample_weight, validation_data),
            "backend": keras.backend.backend(),
        }
        # Each configuration and training data has a sub-folder of its own: the clones that
        # GridSearchCV fits share checkpoint_dir, and a rerun search resumes each of them.
        self._checkpoint_folder = checkpoint_folder(self.checkpoint_dir, self._checkpoint_identity)
        checkpoint = read_checkpoint(self._checkpoint_folder)
        if checkpoint is not None:
            check_same_training(
                checkpoint.record,
                self._checkpoint_identity,
                checkpoint_path(self._checkpoint_folder),
            )
        return checkpoint

    def _write_checkpoint(self):
        if getattr(self, "_checkpoint_identity", None) is None:
            return
        optimizer = self.model_.optimizer
        record = {
            **self._checkpoint_identity,
            "seed": self._seed_,
            "history": self.history_,
            "n_epochs": self.n_epochs_,
            "position": list(self._position),
            "state": self._training_state(),
        }
        optimizer_values = [keras.ops.convert_to_numpy(v.value) for v in optimizer.variables]
        write_checkpoint(self._checkpoint_folder, record, self._last_completed, optimizer_values)

    def _resume(self, checkpoint):
        """Put a checkpoint's state into the freshly built model; return the position to go on."""
        record = checkpoint.record
        variables = self.model_.variables
        if len(variables) != len(checkpoint.model_variables):
            raise ValueError(
                f"The checkpoint in {self._checkpoint_folder} holds "
                f"{len(checkpoint.model_variables)} model variables; this network has "
                f"{len(variables)}."
            )
        for variable, value in zip(variables, checkpoint.model_variables, strict=True):
            variable.assign(value)
        self.history_ = record["history"]
        self.n_epochs_ = record["n_epochs"]
        self._set_training_state(record["state"])
        self._optimizer_state = None, checkpoint.optimizer_variables  # for the resumed round
        return tuple(record["position"])

    def _restore_optimizer_state(self, training_round):
        state, self._optimizer_state = getattr(self, "_optimizer_state", None), None
        if state is None:
            return
        kept_round, state = state
        same = (training_round.first_trainable, training_round.learning_rate)
        if (
            kept_round is not None
            and (kept_round.first_trainable, kept_round.learning_rate) != same
        ):
            return  # another round trains other layers at another rate: a new optimizer
        optimizer = self.model_.optimizer
        optimizer.build(self.model_.trainable_variables)
        if kept_round is not None and len(optimizer.variables) != len(state):
            return  # kept from an optimizer of another kind (decay set since): a new one
        for variable, value in zip(optimizer.variables, state, strict=True):
            variable.assign(value)

    def _training_state(self) -> dict:
        """Estimator-specific state (JSON) that a checkpoint keeps; see _set_training_state."""
        return {}

    def _set_training_state(self, state: dict):
        pass

    # -- devices and precision ---------------------------------------------------------------

    def _dtype_policy(self):
        self.precision_ = resolve_precision(getattr(self, "precision", "float32"))
        return dtype_policy(self.precision_)

    def _n_devices(self):
        if getattr(self, "distribution", None) is None:
            return 1
        return len(keras.distribution.list_devices())

    def _distribution_scope(self):
        """Keras's distribution for this estimator's work only; never left set afterwards."""
        if getattr(self, "distribution", None) is None:
            return contextlib.nullcontext()
        if keras.backend.backend() != "jax":
            raise ValueError(
                f"distribution={self.distribution!r} uses Keras's distribution API, which "
                f"Keras implements for the JAX backend only; this is the "
                f"{keras.backend.backend()!r} backend. Set KERAS_BACKEND=jax before importing "
                f"skalexnet."
            )
        return keras.distribution.DataParallel(devices=keras.distribution.list_devices()).scope()

    # -- prediction --------------------------------------------------------------------------

    def _predict_batches(self, model, X):
        """The model's output(s) for X, one batch at a time, never augmented."""
        images, _ = self._validate_X(X, reset=False)
        with self._distribution_scope():
            outputs = model.predict(self._batches(images), verbose=self.verbose)
        # Data-parallel prediction pads the last batch; the padding's outputs go.
        n = len(images.usable)
        return [o[:n] for o in outputs] if isinstance(outputs, list) else outputs[:n]
