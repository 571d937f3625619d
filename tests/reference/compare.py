"""What the weight tests compare: fc8 logits of a Keras model, and an error relative to scale."""

import keras
import numpy as np


def fc8_logits(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """The model's fc8 output (logits), in float64, for RGB images in [0, 255]."""
    logits = keras.Model(model.input, model.get_layer("fc8").output)
    return np.asarray(keras.ops.convert_to_numpy(logits(images)), dtype=np.float64)


def relative_error(found: np.ndarray, reference: np.ndarray) -> float:
    """Largest absolute difference over the largest reference magnitude."""
    return float(np.max(np.abs(found - reference)) / np.max(np.abs(reference)))
