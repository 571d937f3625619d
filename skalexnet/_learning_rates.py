"""Learning rates that vary: per layer (``layer_lr_decay``) and per step (``lr_schedule``).

A round's schedule spans that round alone: it starts from the round's learning rate at the
round's first step and ends at its last, so each of the fine-tuner's rounds (and each
warm-start call of ``fit``) begins its schedule afresh. Keras 1's ``decay`` multiplies in on
top, on the optimizer's whole step count, as it does without a schedule.
"""

import math

import keras

from ._network import WEIGHTED_LAYERS

LR_SCHEDULES = (None, "cosine", "one_cycle")

# one_cycle as fastai's fit_one_cycle and torch's OneCycleLR: a cosine warm-up over the first
# 25 % of the steps from rate / 25 up to the rate, then a cosine down to rate / 25e4.
ONE_CYCLE_WARMUP = 0.25
ONE_CYCLE_DIV = 25.0
ONE_CYCLE_FINAL_DIV = 1e4


def layer_rate_multipliers(layer_lr_decay, trainable_layers) -> dict:
    """``{layer name: factor}``: the top trainable weighted layer trains at 1, each one below at
    ``layer_lr_decay`` times the one above it (frozen layers take no part in the count)."""
    if layer_lr_decay is None or layer_lr_decay == 1:
        return {}
    ordered = [name for name in WEIGHTED_LAYERS if name in set(trainable_layers)]
    depth = len(ordered) - 1
    return {name: float(layer_lr_decay) ** (depth - i) for i, name in enumerate(ordered)}


def schedule_factor(kind, step, total_steps):
    """The schedule's factor on the round's rate at ``step`` (a tensor) of ``total_steps``."""
    total = max(float(total_steps), 1.0)
    # mod: a warm-start call keeps the optimizer's step count, and restarts the schedule.
    t = keras.ops.mod(keras.ops.cast(step, "float32"), total) / total
    if kind == "cosine":
        return 0.5 * (1.0 + keras.ops.cos(math.pi * t))
    low, final = 1.0 / ONE_CYCLE_DIV, 1.0 / (ONE_CYCLE_DIV * ONE_CYCLE_FINAL_DIV)
    up = keras.ops.minimum(t / ONE_CYCLE_WARMUP, 1.0)
    down = keras.ops.maximum((t - ONE_CYCLE_WARMUP) / (1.0 - ONE_CYCLE_WARMUP), 0.0)
    rising = low + (1.0 - low) * 0.5 * (1.0 - keras.ops.cos(math.pi * up))
    falling = final + (1.0 - final) * 0.5 * (1.0 + keras.ops.cos(math.pi * down))
    return keras.ops.where(t < ONE_CYCLE_WARMUP, rising, falling)


@keras.saving.register_keras_serializable(package="skalexnet")
class RoundSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """``learning_rate * factor(step) / (1 + decay * step)``: one round's ``lr_schedule``."""

    def __init__(self, learning_rate, kind, total_steps, decay=0.0):
        self.learning_rate = float(learning_rate)
        self.kind = kind
        self.total_steps = int(total_steps)
        self.decay = float(decay)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        rate = self.learning_rate * schedule_factor(self.kind, step, self.total_steps)
        return rate / (1.0 + self.decay * step)

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "kind": self.kind,
            "total_steps": self.total_steps,
            "decay": self.decay,
        }
