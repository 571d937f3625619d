"""The one training loop: the estimators that learn differ in the network they build and in
their schedule of training rounds (which layers train, for how many epochs, at which learning
rate), never in how a round is trained. Checkpoints, callbacks and the optimizer's state live here.
"""

import warnings
from dataclasses import dataclass

import keras
import numpy as np

from ._base import AlexNetBase
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
from ._learning_rates import RoundSchedule, layer_rate_multipliers
from ._network import WEIGHTED_LAYERS
from ._optimizer import SGD
from ._progress import keras_verbose
from ._state import seeded


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


class AlexNetTrainer(AlexNetBase):
    """AlexNetBase plus the training loop: rounds, callbacks, checkpoints, the optimizer."""

    def _check_params(self):
        super()._check_params()
        if self.callbacks is not None and not isinstance(self.callbacks, (list, tuple)):
            raise TypeError(
                f"callbacks must be a list of Keras callbacks; got {self.callbacks!r}: pass "
                f"callbacks=[...], even for one."
            )
        for callback in self.callbacks or ():
            if not isinstance(callback, keras.callbacks.Callback):
                raise TypeError(
                    f"callbacks must be Keras callbacks (keras.callbacks.Callback); got "
                    f"{callback!r}."
                )

    # -- training ----------------------------------------------------------------------------

    def _optimizer(self, learning_rate, round_steps=1):
        # Keras 1's SGD decay, lr / (1 + decay * iterations), is exactly InverseTimeDecay; without
        # decay a plain number, which callbacks (ReduceLROnPlateau) can set.
        # Keras's SGD takes Python floats only; the checks let ints and NumPy numbers through.
        learning_rate = float(learning_rate)
        schedule = getattr(self, "lr_schedule", None)
        if schedule is not None:
            learning_rate = RoundSchedule(learning_rate, schedule, round_steps, float(self.decay))
        elif self.decay > 0:
            learning_rate = keras.optimizers.schedules.InverseTimeDecay(
                learning_rate, 1, float(self.decay)
            )
        layer_rates = layer_rate_multipliers(
            getattr(self, "layer_lr_decay", None), getattr(self, "trainable_layers_", ())
        )
        return SGD(
            learning_rate,
            momentum=float(self.momentum),
            nesterov=self.nesterov,
            layer_rates=layer_rates,
        )

    def _user_callbacks(self, total_epochs):
        """The ``callbacks`` parameter, wrapped to see the whole call of fit as one run."""
        callbacks = list(self.callbacks or ())
        setting_lr = (keras.callbacks.ReduceLROnPlateau, keras.callbacks.LearningRateScheduler)
        if any(isinstance(c, setting_lr) for c in callbacks):
            name = next(type(c).__name__ for c in callbacks if isinstance(c, setting_lr))
            schedule = getattr(self, "lr_schedule", None)
            if schedule is not None:
                raise ValueError(
                    f"callbacks holds a {name}, which sets the optimizer's learning rate; with "
                    f"lr_schedule={schedule!r} the learning rate follows that schedule, which a "
                    f"callback cannot set. Use lr_schedule=None (and decay=0) with {name}."
                )
        if self.decay > 0 and any(isinstance(c, setting_lr) for c in callbacks):
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

    def _compile(self, learning_rate, round_steps=1):
        self.model_.compile(
            optimizer=self._optimizer(learning_rate, round_steps),
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
        # A schedule spans the whole round (all its epochs), also when the round is resumed.
        self._compile(training_round.learning_rate, training_round.epochs * len(train))
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
                verbose=keras_verbose(self.verbose),
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
        if not self.early_stopping or validation is None:
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
        if self.checkpoint_dir is None:
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
