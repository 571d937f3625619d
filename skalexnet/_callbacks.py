"""The Keras callbacks of every fit: one records each epoch, one stops on a NaN loss."""

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
