"""scikit-learn's real handwritten digits as images, shared by the tests."""

import numpy as np
from sklearn.datasets import load_digits

# AlexNet's smallest input; the 8x8 digits are upscaled to it.
DIGITS_IMAGE_SIZE = 67


def digit_images():
    """The 1797 digits as uint8 8x8 images (0..16 scaled to 0..255) and their labels."""
    X, y = load_digits(return_X_y=True)
    return (X * 16).clip(0, 255).astype(np.uint8).reshape(-1, 8, 8), y
