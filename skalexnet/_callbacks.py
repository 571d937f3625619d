"""The Keras callbacks of every fit: one records each epoch, one stops on a NaN loss, one
shows the user's callbacks a schedule of rounds as one run."""

import math

import keras

from .exceptions import NonFiniteLossError


class EpochRecorder(keras.callbacks.Callback):
    """Tells the estimator when an epoch begins, and hands it the metrics the moment one ends.

    The estimator then sets the data's epoch (its shuffling and augmentation) from Keras's own
    epoch count, and holds the history and weights of the last completed epoch at every moment
    of training, so that an interruption (Ctrl-C, a non-finite loss) can fall back to them and a
    checkpoint can be written.
    """

    def __init__(self, on_epoch_begin, on_epoch_end):
        super().__init__()
        self._on_epoch_begin = on_epoch_begin
        self._on_epoch_end = on_epoch_end

    def on_epoch_begin(self, epoch, logs=None):
        self._on_epoch_begin(epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._on_epoch_end({key: float(value) for key, value in (logs or {}).items()})


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raise :class:`NonFiniteLossError`, naming the epoch and batch, when the loss is not finite.

    Keras reports the epoch's running mean of the loss after each batch, so the first batch whose
    loss is NaN or infinite is the first at which that mean is.
    """

    def __init__(self, learning_rate):
        super().__init__()
        self.learning_rate = learning_rate
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(
                f"The training loss became {float(loss)} in epoch {self._epoch + 1}, batch "
                f"{batch + 1}: training stopped. The learning rate ({self.learning_rate}) is "
                f"probably too high for this data; try a lower learning_rate."
            )


class OneRun(keras.callbacks.Callback):
    """The user's callbacks, shown a whole schedule of training rounds as one run.

    Each round is one call of ``keras.Model.fit``, which begins and ends its callbacks every time:
    a ``CSVLogger`` would rewrite its file each round, ``ReduceLROnPlateau`` forget its patience.
    This forwards every event but ``on_train_begin`` (sent once, before the first round) and
    ``on_train_end`` (sent once by :meth:`end`, after the last); epochs are numbered on across
    rounds (fit's ``initial_epoch``) and ``params['epochs']`` is the schedule's total. A user
    callback that stops training (``model.stop_training``) ends the schedule, not just the round.
    """

    def __init__(self, callbacks, total_epochs):
        super().__init__()
        self.callbacks = list(callbacks)
        self.total_epochs = total_epochs
        self.started = False
        self.stopped = False
        self._last_logs = None

    def set_model(self, model):
        super().set_model(model)
        for callback in self.callbacks:
            callback.set_model(model)

    def set_params(self, params):
        params = {**(params or {}), "epochs": self.total_epochs}
        super().set_params(params)
        for callback in self.callbacks:
            callback.set_params(params)

    def _send(self, event, *args):
        for callback in self.callbacks:
            getattr(callback, event)(*args)

    def _send_watching_stop(self, event, *args):
        # Our own early stopping may have ended the round already: only a user callback's
        # request to stop ends the schedule.
        earlier, self.model.stop_training = self.model.stop_training, False
        self._send(event, *args)
        self.stopped = self.stopped or self.model.stop_training
        self.model.stop_training = earlier or self.model.stop_training

    def on_train_begin(self, logs=None):
        if not self.started:
            self.started = True
            self._send("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._last_logs = logs

    def end(self):
        """Send ``on_train_end`` once, when the schedule is over."""
        if self.started:
            self._send("on_train_end", self._last_logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._send("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._send_watching_stop("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._send("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._send_watching_stop("on_train_batch_end", batch, logs)

    def on_test_begin(self, logs=None):
        self._send("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._send("on_test_end", logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._send("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._send("on_test_batch_end", batch, logs)
