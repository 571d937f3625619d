"""Training-time augmentation: the study's shear, zoom and flip, and the AlexNet paper's crops.

Two recipes, chosen by the estimators' ``augment`` parameter: 'study' (the 2017 study's Keras 1
``ImageDataGenerator(shear_range=0.2, zoom_range=0.2, horizontal_flip=True)``) and 'paper'
(Krizhevsky et al. 2012: a random ``image_size`` crop of the image resized to 256/227 of it, and a
horizontal flip; the paper's PCA colour noise is not included). Both draw from a generator seeded
by ``(seed, epoch, batch)`` and are only ever applied while training.

Keras's RandomShear/RandomZoom layers would be the obvious choice, but on CPU they ran at about 60
images/s at 227x227 here, slower than training itself; one Pillow affine resample per image, run in
the data pipeline's worker threads, costs about 2 ms. The semantics are those of Keras 1's
``ImageDataGenerator`` that the study used: shear angle uniform in +-shear radians, zoom factors
uniform in [1 - zoom, 1 + zoom] per axis independently, points outside filled with the nearest edge
pixel, then a horizontal flip with probability 1/2.
"""

import math
from numbers import Real

import numpy as np
from PIL import Image
from sklearn.utils import check_scalar

NO_AUGMENTATION = {"shear": 0.0, "zoom": 0.0, "horizontal_flip": False, "random_crop": False}
STUDY_AUGMENTATION = {**NO_AUGMENTATION, "shear": 0.2, "zoom": 0.2, "horizontal_flip": True}
PAPER_AUGMENTATION = {**NO_AUGMENTATION, "horizontal_flip": True, "random_crop": True}

# A shear of pi/2 folds the image onto a line, and a zoom range of 1 draws factors down to 0
# (an image collapsed to a point): both bounds are excluded.
NUMERIC_LIMITS = {"shear": (0.0, math.pi / 2), "zoom": (0.0, 1.0)}


def resolve_augmentation(augment) -> dict | None:
    """Normalise the estimators' ``augment`` parameter to a settings dict or None."""
    if augment is None or augment is False:
        return None
    if augment is True or (isinstance(augment, str) and augment == "study"):
        return dict(STUDY_AUGMENTATION)
    if isinstance(augment, str) and augment == "paper":
        return dict(PAPER_AUGMENTATION)
    if isinstance(augment, dict):
        unknown = set(augment) - set(NO_AUGMENTATION)
        if unknown:
            raise ValueError(
                f"augment has unknown keys {sorted(unknown)}; known: {sorted(NO_AUGMENTATION)}."
            )
        settings = {**NO_AUGMENTATION, **augment}
        _check_settings(settings)
        return settings
    raise ValueError(
        f"augment must be None, False, True, 'study', 'paper' or a dict with keys "
        f"{sorted(NO_AUGMENTATION)}; got {augment!r}."
    )


def _check_settings(settings: dict) -> None:
    """Each value of an ``augment`` dict: shear and zoom in their ranges, the switches bools."""
    for key, (low, high) in NUMERIC_LIMITS.items():
        value = settings[key]
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
            raise TypeError(f"augment[{key!r}] must be a number; got {value!r}.")
        check_scalar(
            value, f"augment[{key!r}]", Real, min_val=low, max_val=high, include_boundaries="left"
        )
    for key in ("horizontal_flip", "random_crop"):
        if not isinstance(settings[key], (bool, np.bool_)):
            raise TypeError(f"augment[{key!r}] must be True or False; got {settings[key]!r}.")


def crop_batch(images: np.ndarray, size: int, rng: np.random.Generator | None = None):
    """Crop an (n, h, w, c) batch to (n, size, size, c): centred, or at random offsets from rng.

    The random offsets are the AlexNet paper's training crops; the centre crop is what predict,
    transform and validation see. A batch already ``size`` x ``size`` is returned as it is.
    """
    n, height, width, _ = images.shape
    if (height, width) == (size, size):
        return images
    if rng is None:
        tops = np.full(n, (height - size) // 2)
        lefts = np.full(n, (width - size) // 2)
    else:
        tops = rng.integers(0, height - size + 1, n)
        lefts = rng.integers(0, width - size + 1, n)
    return np.stack(
        [image[t : t + size, s : s + size] for image, t, s in zip(images, tops, lefts, strict=True)]
    )


def _affine_for_pillow(height, width, shear, zoom_rows, zoom_cols, pad):
    """Pillow's output->input affine coefficients for Keras 1's centred shear @ zoom matrix."""
    # Keras 1 works in (row, col) coordinates: M = shear @ zoom maps output to input.
    m = np.array([[1.0, -np.sin(shear)], [0.0, np.cos(shear)]]) @ np.diag([zoom_rows, zoom_cols])
    centre = np.array([(height - 1) / 2, (width - 1) / 2])
    offset = centre - m @ centre + pad
    # Pillow wants x (col) and y (row): x_in = a x + b y + c, y_in = d x + e y + f.
    return (m[1, 1], m[1, 0], offset[1], m[0, 1], m[0, 0], offset[0])


def augment_batch(images: np.ndarray, settings: dict, rng: np.random.Generator) -> np.ndarray:
    """Apply one random shear/zoom/flip per image of an (n, h, w, 3) batch, keeping its dtype."""
    n, height, width, _ = images.shape
    if not (settings["shear"] or settings["zoom"] or settings["horizontal_flip"]):
        return images
    shears = rng.uniform(-settings["shear"], settings["shear"], n)
    zooms = rng.uniform(1 - settings["zoom"], 1 + settings["zoom"], (n, 2))
    flips = rng.random(n) < 0.5 if settings["horizontal_flip"] else np.zeros(n, bool)
    # Edge padding turns Pillow's constant fill into Keras 1's fill_mode='nearest'.
    pad = (height + width) // 4
    out = np.empty_like(images)
    for i, image in enumerate(images):
        if settings["shear"] or settings["zoom"]:
            coefficients = _affine_for_pillow(height, width, shears[i], *zooms[i], pad)
            padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
            image = _transform(padded, (width, height), coefficients)
        out[i] = image[:, ::-1] if flips[i] else image
    return out


def _transform(image, size, coefficients):
    if image.dtype == np.uint8:
        pil = Image.fromarray(image).transform(size, Image.AFFINE, coefficients, Image.BILINEAR)
        return np.asarray(pil)
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(image[..., c], dtype=np.float32)).transform(
                size, Image.AFFINE, coefficients, Image.BILINEAR
            )
        )
        for c in range(image.shape[-1])
    ]
    return np.stack(channels, axis=-1).astype(image.dtype, copy=False)
