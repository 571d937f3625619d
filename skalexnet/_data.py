"""From what users pass as X (arrays or image files) to the batches Keras trains on.

Data flows one way: ``as_image_set(X)`` validates and wraps X without copying it; an
``ImageBatches`` dataset loads, resizes and (when training) augments one batch at a time, so that a
data set is never held as float32 in memory.
"""

import math
import os

import keras
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ._augment import augment_batch

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def is_path_sequence(X) -> bool:
    """True when X is a 1-D sequence of file paths (str or os.PathLike)."""
    if isinstance(X, (str, os.PathLike)):
        return False
    if isinstance(X, np.ndarray):
        return (
            X.ndim == 1
            and (X.dtype.kind in "US" or X.dtype == object)
            and len(X) > 0
            and (isinstance(X[0], (str, os.PathLike)))
        )
    if isinstance(X, (list, tuple)):
        return len(X) > 0 and all(isinstance(x, (str, os.PathLike)) for x in X)
    return False


def image_shape_of_rows(n_features: int) -> tuple[int, int, int]:
    """The image that a row of a 2-D X stands for.

    A row of s*s values is an s x s grayscale image and a row of 3*s*s values an s x s RGB image
    (channels last, as ``X.reshape(n, s, s, 3)``); any other width is read as a one-pixel-high
    grayscale strip, so that tabular data still passes through (scikit-learn's generic checks).
    """
    side = math.isqrt(n_features)
    if side * side == n_features:
        return (side, side, 1)
    side = math.isqrt(n_features // 3)
    if n_features % 3 == 0 and side * side * 3 == n_features:
        return (side, side, 3)
    return (1, n_features, 1)


def check_image_array(X: np.ndarray) -> None:
    """Reject arrays that cannot be a batch of images, naming the shape at fault."""
    if X.ndim not in (2, 3, 4):
        raise ValueError(
            f"X must be images: (n, height, width, 3) RGB, (n, height, width) grayscale, "
            f"(n, n_pixels) flattened, or a list of image file paths; got an array of shape "
            f"{X.shape}."
        )
    if X.ndim == 4 and X.shape[-1] not in (1, 3):
        raise ValueError(
            f"X has {X.shape[-1]} channels (shape {X.shape}); expected 1 (grayscale) or 3 (RGB), "
            f"channels last."
        )
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X must hold numbers (pixels in [0, 255]); got dtype {X.dtype}.")


class ArrayImages:
    """Images held in a user's array, converted to (n, size, size, 3) one batch at a time."""

    def __init__(self, X: np.ndarray, image_size: int):
        check_image_array(X)
        self.X = X
        self.image_size = image_size

    def __len__(self):
        return len(self.X)

    def load(self, indices) -> np.ndarray:
        batch = self.X[indices]
        if batch.ndim == 2:
            batch = batch.reshape(len(batch), *image_shape_of_rows(batch.shape[1]))
        if batch.ndim == 3:
            batch = batch[..., None]
        if batch.dtype != np.uint8:
            batch = batch.astype(np.float32, copy=False)
        if batch.shape[1:3] != (self.image_size, self.image_size):
            batch = np.stack([resize_array(image, self.image_size) for image in batch])
        if batch.shape[-1] == 1:
            batch = np.repeat(batch, 3, axis=-1)
        return batch


class FileImages:
    """Image files decoded with Pillow, one batch at a time."""

    def __init__(self, paths, image_size: int):
        self.paths = [os.fspath(p) for p in paths]
        missing = [p for p in self.paths if not os.path.isfile(p)]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} image file(s) do not exist, first: {missing[0]!r}."
            )
        self.image_size = image_size

    def __len__(self):
        return len(self.paths)

    def load(self, indices) -> np.ndarray:
        return np.stack([decode_image(self.paths[i], self.image_size) for i in indices])


def as_image_set(X, image_size: int):
    """Wrap X (array or file paths) as an image set that loads batches of RGB images."""
    if is_path_sequence(X):
        return FileImages(X, image_size)
    return ArrayImages(np.asarray(X), image_size)


def resize_array(image: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of one (h, w, c) image to (size, size, c), keeping uint8 or float32."""
    if image.dtype == np.uint8 and image.shape[-1] in (1, 3):
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        out = np.asarray(pil.resize((size, size), Image.BILINEAR))
        return out.reshape(size, size, image.shape[-1])
    channels = [
        np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c])).resize((size, size)))
        for c in range(image.shape[-1])
    ]
    return np.stack(channels, axis=-1)


def decode_image(path: str, size: int) -> np.ndarray:
    """Decode an image file to (size, size, 3) uint8 RGB, squashed to size x size."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", (size, size))  # JPEG DCT scaling: no full decode just to shrink
            image = ImageOps.exif_transpose(image)
            image = to_rgb(image)
            return np.asarray(image.resize((size, size), Image.BILINEAR))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise ValueError(f"Cannot read image {path!r}: {error}") from error


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB; transparent pixels are composited on black."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") else max(float(array.max()), 1.0)
        image = Image.fromarray(np.clip(array / peak * 255.0, 0, 255).astype(np.uint8))
    if "A" in image.getbands() or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("RGB")
    return image.convert("RGB")


class ImageBatches(keras.utils.PyDataset):
    """Batches of float32 images (and one-hot targets, sample weights) for Keras.

    Shuffling and augmentation draw from generators seeded by ``(seed, epoch, batch)``, so an epoch
    is the same whatever the number of worker threads and whatever order batches are loaded in.
    """

    def __init__(
        self,
        images,
        targets=None,
        sample_weight=None,
        *,
        batch_size=32,
        shuffle=False,
        augmentation=None,
        seed=0,
        first_epoch=0,
        workers=1,
    ):
        super().__init__(workers=workers, use_multiprocessing=False)
        self.images = images
        self.targets = targets
        self.sample_weight = sample_weight
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augmentation = augmentation
        self.seed = seed
        self.epoch = first_epoch
        self._set_order()

    def _set_order(self):
        n = len(self.images)
        self.order = (
            np.random.default_rng([self.seed, self.epoch]).permutation(n)
            if self.shuffle
            else np.arange(n)
        )

    def __len__(self):
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, index):
        indices = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        x = self.images.load(indices)
        if self.augmentation is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index, 1])
            x = augment_batch(x, self.augmentation, rng)
        x = x.astype(np.float32, copy=False)
        if self.targets is None:
            return (x,)
        if self.sample_weight is None:
            return x, self.targets[indices]
        return x, self.targets[indices], self.sample_weight[indices]

    def on_epoch_end(self):
        self.epoch += 1
        self._set_order()
