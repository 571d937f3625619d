"""The learning-rate range test (Smith 2017; fastai's ``lr_find``) for skalexnet's trainers.

A clone of the estimator trains with the learning rate growing exponentially from ``start_lr``
to ``end_lr``, one rate per mini-batch; the loss of each batch is recorded and smoothed, and the
test stops once that loss diverges. The clone trains through the estimators' own ``fit`` (the
same data loading, augmentation, network, frozen layers and optimizer); only the learning rate
is set, step by step, by a callback.
"""

import math
from dataclasses import dataclass
from numbers import Integral, Real

import keras
import numpy as np
from sklearn.base import clone

from ._params import check_number
from .classifier import AlexNetClassifier
from .exceptions import NonFiniteLossError
from .finetuner import AlexNetFineTuner, parse_schedule

__all__ = ["LRFinderResult", "lr_find"]


@dataclass(frozen=True, eq=False)
class LRFinderResult:
    """What :func:`lr_find` measured: one learning rate and loss per training step.

    Parameters
    ----------
    learning_rates : ndarray of shape (n_steps,)
        The rate each step trained at, growing by the same factor each step.
    losses : ndarray of shape (n_steps,)
        The training loss, smoothed (exponential moving average, bias-corrected, as fastai).
    raw_losses : ndarray of shape (n_steps,)
        Each step's own mini-batch loss.
    suggestion : float
        The rate at which the smoothed loss fell fastest (steepest negative slope against
        ``log(learning_rate)``, before its minimum; both past the first tenth of the steps, the
        smoothing's warm-up); where too few steps came before the minimum
        to tell a slope, a tenth of the rate at the minimum (no less than the first rate).
    diverged : bool
        True when the test stopped early because the loss diverged (the smoothed loss passed
        ``diverge_factor`` times its lowest value, or became NaN or infinite).
    """

    learning_rates: np.ndarray
    losses: np.ndarray
    raw_losses: np.ndarray
    suggestion: float
    diverged: bool

    def plot(self, ax=None):
        """Draw the smoothed loss against the learning rate (log scale), the suggestion marked.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, default=None
            Where to draw; None draws on a new figure.

        Returns
        -------
        ax : matplotlib.axes.Axes
            The axes drawn on.
        """
        if ax is None:
            from .plotting import require_matplotlib

            _, ax = require_matplotlib().subplots(figsize=(6, 4))
        ax.plot(self.learning_rates, self.losses, label="smoothed training loss")
        ax.axvline(self.suggestion, color="grey", linestyle=":", label=f"{self.suggestion:.2g}")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
        ax.legend()
        return ax


class _RangeTest(keras.callbacks.Callback):
    """Sets each step's learning rate, records each batch's loss, and stops the training once
    ``num_steps`` steps are done or the smoothed loss diverges."""

    def __init__(self, rates, smoothing, diverge_factor):
        super().__init__()
        self.rates = rates
        self.smoothing = smoothing
        self.diverge_factor = diverge_factor
        self.raw, self.smoothed = [], []
        self._average = 0.0
        self.diverged = False

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = self.rates[len(self.raw)]
        # Keras logs the epoch's running mean; reset, its value after the batch is the batch's.
        self.model.reset_metrics()

    def on_train_batch_end(self, batch, logs=None):
        loss = float(logs["loss"])  # finite: a NaN stops fit (NonFiniteLossError) first
        self._average = self.smoothing * self._average + (1 - self.smoothing) * loss
        smoothed = self._average / (1 - self.smoothing ** (len(self.raw) + 1))
        self.raw.append(loss)
        self.smoothed.append(smoothed)
        if not math.isfinite(smoothed) or smoothed > self.diverge_factor * min(self.smoothed):
            self.diverged = True
        if self.diverged or len(self.raw) == len(self.rates):
            self.model.stop_training = True


def _suggestion(rates, losses) -> float:
    """The rate at the steepest fall of the smoothed loss before its minimum, or min/10."""
    # The first tenth is the smoothing's warm-up, where its estimate is still a batch or two: a
    # low first batch there would otherwise be the minimum, and the suggestion the first rate.
    skip = len(losses) // 10
    lowest = skip + int(np.argmin(losses[skip:]))
    if lowest - skip >= 2:
        slopes = np.gradient(losses[skip : lowest + 1], np.log(rates[skip : lowest + 1]))
        return float(rates[skip + int(np.argmin(slopes))])
    return float(max(rates[lowest] / 10, rates[0]))


def lr_find(
    estimator: AlexNetClassifier,
    X,
    y,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    smoothing: float = 0.98,
    diverge_factor: float = 4.0,
) -> LRFinderResult:
    """The learning-rate range test: the loss of a clone trained at rates rising exponentially.

    A clone of ``estimator`` (``sklearn.base.clone``: ``estimator`` itself is not changed, nor
    fitted) trains on X, y for up to ``num_steps`` mini-batches, going round the data as often
    as that takes; step ``i`` trains at ``start_lr * (end_lr / start_lr) ** (i / (num_steps -
    1))``. The test stops early when the smoothed loss passes ``diverge_factor`` times the
    lowest it reached. A good learning rate lies where the loss falls fastest, below the rate
    at its minimum: see ``LRFinderResult.suggestion``.

    The clone trains as ``estimator.fit`` would (its batch size, augmentation, momentum,
    precision, ``layer_lr_decay``: the rates found are the top trainable layer's) except that
    the learning rate follows the test: ``decay`` and ``lr_schedule`` do not apply, and neither
    do the estimator's ``callbacks``, ``checkpoint_dir``, ``early_stopping`` and ``verbose``.

    Parameters
    ----------
    estimator : AlexNetClassifier or AlexNetFineTuner
        The estimator to find a learning rate for; unfitted or fitted, it is left as it is. For
        :class:`AlexNetFineTuner` the clone trains the layers of its schedule's first round
        (that round's layer and those above it, the rest frozen) from its pretrained weights
        and new ``fc8``: the rate found is for that round. To test a later round's layers, pass
        a fine-tuner whose schedule starts with that round.
    X : array-like of images or sequence of image file paths
        Training images, as for ``estimator.fit``.
    y : array-like of shape (n_samples,)
        Their labels.
    start_lr : float, default=1e-7
        The first step's learning rate, > 0.
    end_lr : float, default=10.0
        The last step's learning rate, > ``start_lr``.
    num_steps : int, default=100
        Training steps (mini-batches) at most, >= 5; small data is gone through several times.
    smoothing : float, default=0.98
        The moving average's factor in [0, 1): 0 records each batch's loss as it is.
    diverge_factor : float, default=4.0
        The test stops once the smoothed loss exceeds this many times its lowest value (> 1).

    Returns
    -------
    result : LRFinderResult
        The rates, the smoothed and raw losses, the suggested rate, and whether the loss
        diverged; ``result.plot()`` draws the curve (needs matplotlib).

    Raises
    ------
    TypeError
        When ``estimator`` is not an AlexNetClassifier or AlexNetFineTuner.
    ValueError
        When the bounds are not positive and increasing, or another argument is out of range.

    Examples
    --------
    >>> from skalexnet import AlexNetClassifier, lr_find
    >>> from skalexnet.digits import digit_images
    >>> X, y = digit_images()
    >>> clf = AlexNetClassifier(image_size=67, augment=None, random_state=0)
    >>> result = lr_find(clf, X[:160], y[:160], start_lr=1e-5, end_lr=1, num_steps=20)
    >>> len(result.learning_rates) == len(result.losses) <= 20
    True
    >>> hasattr(clf, "model_")  # the estimator passed in is not fitted
    False
    """
    if not isinstance(estimator, AlexNetClassifier):
        raise TypeError(
            f"lr_find needs an AlexNetClassifier or AlexNetFineTuner; got "
            f"{type(estimator).__name__}."
        )
    check_number("start_lr", start_lr, Real, 0, None, "neither")
    check_number("end_lr", end_lr, Real, 0, None, "neither")
    if start_lr >= end_lr:
        raise ValueError(
            f"start_lr must be below end_lr: the rates grow from one to the other; got "
            f"start_lr={start_lr!r}, end_lr={end_lr!r}."
        )
    check_number("num_steps", num_steps, Integral, 5, None, "left")
    check_number("smoothing", smoothing, Real, 0, 1, "left")
    check_number("diverge_factor", diverge_factor, Real, 1, None, "neither")

    rates = np.geomspace(float(start_lr), float(end_lr), int(num_steps))
    test = _RangeTest(rates, float(smoothing), float(diverge_factor))
    trial = clone(estimator)
    # Every epoch holds at least n // batch_size batches (the last may take the rest).
    epochs = math.ceil(num_steps / max(1, len(np.asarray(y)) // trial.batch_size))
    trial.set_params(
        decay=0,
        lr_schedule=None,
        callbacks=[test],
        checkpoint_dir=None,
        early_stopping=False,
        warm_start=False,
        verbose=0,
    )
    if isinstance(trial, AlexNetFineTuner):
        first = parse_schedule(trial.schedule)[0].first_trainable
        trial.set_params(schedule=[(first, epochs, float(start_lr))])
    else:
        trial.set_params(epochs=epochs, learning_rate=float(start_lr))
    try:
        trial.fit(X, y)
    except NonFiniteLossError:
        test.diverged = True  # that batch's loss was NaN or infinite: not recorded

    done = len(test.raw)
    frozen = [np.array(values, dtype=float) for values in (rates[:done], test.smoothed, test.raw)]
    for values in frozen:
        values.flags.writeable = False
    if done == 0:
        raise NonFiniteLossError(
            f"The loss of the first step, at learning rate {start_lr!r}, was not finite: lower "
            f"start_lr."
        )
    learning_rates, losses, raw_losses = frozen
    return LRFinderResult(
        learning_rates=learning_rates,
        losses=losses,
        raw_losses=raw_losses,
        suggestion=_suggestion(learning_rates, losses),
        diverged=test.diverged,
    )
