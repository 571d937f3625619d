"""From what users pass as X (arrays or image files) to the batches Keras trains on.

Data flows one way: ``as_image_set(X)`` validates and wraps X without copying it; an
``ImageBatches`` dataset (a ``keras.utils.PyDataset``) loads, resizes, crops and (when training)
augments one batch at a time, in worker threads that run ahead of the network, so that a data set
is never held as float32 in memory.

Image files are decoded with Pillow, which releases the GIL while decoding and resizing, so
threads decode in parallel. Decoded images are kept as uint8 in a bounded ``DecodedCache`` for the
length of one fit, so that epochs after the first do not decode again.
"""

import math
import os
import tempfile
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
from PIL import Image, ImageOps

from ._augment import augment_batch, crop_batch
from .exceptions import ImageReadError, PixelRangeWarning, SkippedImagesWarning

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")

# The AlexNet paper resizes images to 256x256 and trains on 227x227 (224 in the text) crops.
CROP_RESIZE_RATIO = 256 / 227
RESIZE_POLICIES = ("squash", "crop")
ON_ERROR_POLICIES = ("raise", "skip")

# cache=True keeps at most this many bytes of decoded uint8 images per image set (X, X_val):
# 2 GiB holds about 13,800 images at 227x227, 8,700 at 256x256 ('crop').
DEFAULT_CACHE_BYTES = 2 * 1024**3

# Decoding threads; in training each keeps about two batches ready ahead of the network, as
# PyTorch's DataLoader does (prefetch_factor=2), so memory does not grow with the queue.
DECODE_WORKERS = min(16, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 4)
PREFETCH_PER_WORKER = 2

_DECODE_POOL = (None, None)  # (pid, ThreadPoolExecutor): one pool per process, made on first use
_DECODE_POOL_LOCK = threading.Lock()  # training's loading threads may ask for it at once


def decode_pool() -> ThreadPoolExecutor:
    """The process's pool of DECODE_WORKERS threads that decode a batch's files in parallel
    (a forked child makes its own: the parent's threads do not exist there)."""
    global _DECODE_POOL
    with _DECODE_POOL_LOCK:
        pid, pool = _DECODE_POOL
        if pid != os.getpid():
            pool = ThreadPoolExecutor(DECODE_WORKERS, thread_name_prefix="skalexnet-decode")
            _DECODE_POOL = (os.getpid(), pool)
        return pool


def as_path_list(X) -> list[str] | None:
    """X as a list of plain ``str`` paths when X is a sequence of file paths, else None.

    A sequence of paths is a list, tuple, 1-D array, pandas Series or one-column DataFrame whose
    every element is a str, bytes or os.PathLike (``pathlib.Path``); bytes are decoded as
    ``os.fsdecode`` does. ``str`` strips NumPy's ``np.str_``, so that messages show plain paths.
    """
    if isinstance(X, (str, bytes, os.PathLike)):
        return None
    if hasattr(X, "iloc"):  # pandas
        if X.ndim == 2:
            if X.shape[1] != 1:
                return None
            X = X.iloc[:, 0]
        values = X.tolist()
    elif isinstance(X, np.ndarray):
        if X.ndim != 1 or X.dtype.kind not in "USO":
            return None
        values = X.tolist()
    elif isinstance(X, (list, tuple)):
        values = X
    else:
        return None
    if len(values) == 0 or not all(isinstance(p, (str, bytes, os.PathLike)) for p in values):
        return None
    return [str(os.fsdecode(p)) for p in values]


def as_image_list(X) -> list[np.ndarray] | None:
    """X as a list of images when X is a list or tuple of arrays of different shapes, else None.

    Each image is (height, width) grayscale or (height, width, 1 or 3), of any size; images of
    one shape are left to ``np.asarray``, which stacks them into one array.
    """
    if not isinstance(X, (list, tuple)) or len(X) == 0:
        return None
    if not all(isinstance(x, np.ndarray) for x in X) or len({x.shape for x in X}) == 1:
        return None
    for index, image in enumerate(X):
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (1, 3)):
            raise ValueError(
                f"X is a list of images of different sizes, each (height, width) or (height, "
                f"width, 1 or 3); image {index} has shape {image.shape}."
            )
        if image.dtype.kind not in "biuf" or image.size == 0:
            raise ValueError(
                f"X[{index}] must be a non-empty image of numbers (pixels in [0, 255]); got "
                f"shape {image.shape}, dtype {image.dtype}."
            )
        if image.dtype.kind == "f" and not np.all(np.isfinite(image)):
            raise ValueError(f"X[{index}] holds NaN or infinite values.")
    return list(X)


def check_pixel_range(X, what: str = "X") -> None:
    """Warn (PixelRangeWarning) when X's values are not pixels in [0, 255], saying what they
    look like and what to do; uint8 arrays are always in range and are not scanned."""
    X = np.asarray(X)
    if X.dtype == np.uint8 or X.dtype.kind == "b" or X.size == 0:
        return
    low, high = float(X.min()), float(X.max())
    if low < 0:
        hint = (
            "Negative values suggest standardised or mean-subtracted images: pass the raw "
            "pixels; the network subtracts the ImageNet mean itself."
        )
    elif high > 2 * 255:
        hint = "Values this high suggest 16-bit images (0-65535): divide them by 257."
    elif high > 255:
        hint = "Clip the values to [0, 255]."
    elif X.dtype.kind == "f" and 0 < high <= 1:
        hint = "These look like images scaled to [0, 1]: multiply them by 255."
    else:
        return
    warnings.warn(
        f"{what} holds values from {low:g} to {high:g}; skalexnet expects pixel values in "
        f"[0, 255]. {hint}",
        PixelRangeWarning,
        stacklevel=4,
    )


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


def check_loading_options(resize, cache, on_error, has_on_error: bool = True) -> None:
    """Validate the estimators' resize, cache and on_error parameters (called from fit);
    ``has_on_error=False``: the estimator has no on_error parameter and passes None."""
    if not (isinstance(resize, str) and resize in RESIZE_POLICIES):
        raise ValueError(f"resize must be one of {list(RESIZE_POLICIES)}; got {resize!r}.")
    if not has_on_error and on_error is None:
        pass
    elif not (isinstance(on_error, str) and on_error in ON_ERROR_POLICIES):
        raise ValueError(f"on_error must be one of {list(ON_ERROR_POLICIES)}; got {on_error!r}.")
    cache_bytes(cache)


def cache_bytes(cache) -> int | str:
    """The byte budget that the ``cache`` parameter stands for, or 'disk'."""
    if cache is None or cache is False:
        return 0
    if cache is True:
        return DEFAULT_CACHE_BYTES
    if isinstance(cache, str) and cache == "disk":
        return "disk"
    if isinstance(cache, (int, np.integer)) and not isinstance(cache, bool) and cache >= 0:
        return int(cache)
    raise ValueError(
        f"cache must be True (up to {DEFAULT_CACHE_BYTES // 1024**3} GiB in memory), False, a "
        f"number of bytes, or 'disk' (a memory-mapped temporary file); got {cache!r}."
    )


def stored_size(image_size: int, resize: str) -> int:
    """Side of the square image kept per file: image_size, or 256/227 of it for 'crop'."""
    return round(image_size * CROP_RESIZE_RATIO) if resize == "crop" else image_size


def _source_box(width: int, height: int, resize: str) -> tuple[float, float, float, float]:
    """The region of the source scaled to the stored square: all of it, or its centre square."""
    if resize == "squash":
        return (0.0, 0.0, float(width), float(height))
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    return (left, top, left + side, top + side)


def resize_image(image: Image.Image, size: int, resize: str) -> Image.Image:
    """Resize a Pillow image to size x size: squashed, or shorter side to size, centre cropped."""
    box = _source_box(*image.size, resize)
    if image.size == (size, size) and box == (0.0, 0.0, float(size), float(size)):
        return image
    return image.resize((size, size), Image.BILINEAR, box=box)


def resize_array(image: np.ndarray, size: int, resize: str = "squash") -> np.ndarray:
    """Bilinear resize of one (h, w, c) image to (size, size, c), keeping uint8 or float32."""
    if image.dtype == np.uint8 and image.shape[-1] in (1, 3):
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        return np.asarray(resize_image(pil, size, resize)).reshape(size, size, image.shape[-1])
    channels = [
        np.asarray(
            resize_image(
                Image.fromarray(np.ascontiguousarray(image[..., c], dtype=np.float32)), size, resize
            )
        )
        for c in range(image.shape[-1])
    ]
    return np.stack(channels, axis=-1)


def decode_image(path: str, size: int, resize: str = "squash", draft: bool = True) -> np.ndarray:
    """Decode an image file to (size, size, 3) uint8 RGB.

    JPEGs are decoded at the smallest DCT scale (1/2, 1/4 or 1/8) that still covers size x size
    (Pillow's draft mode), so that a large photograph is not fully decoded just to be shrunk; the
    EXIF orientation is applied; the mode is converted by :func:`to_rgb`; the image is then resized
    by ``resize`` ('squash' or 'crop', see :func:`resize_image`). Pillow's decompression-bomb limit
    (``PIL.Image.MAX_IMAGE_PIXELS``) is enforced as an error. Any failure raises
    :class:`ImageReadError` naming the path and the reason.
    Pillow's own DecompressionBombWarning is not shown: every image it warns of is rejected.
    """
    path = str(os.fsdecode(path))
    try:
        with _open_image(path) as image:
            _check_pixel_limit(image)
            if draft:
                image.draft("RGB", (size, size))
            # In place: a copy of every image without an EXIF rotation cost a quarter of decoding.
            ImageOps.exif_transpose(image, in_place=True)
            return np.asarray(resize_image(to_rgb(image), size, resize))
    except ImageReadError:
        raise
    except FileNotFoundError as error:
        raise ImageReadError(f"Cannot read image {path!r}: the file does not exist.") from error
    except Image.DecompressionBombError as error:
        raise ImageReadError(f"Cannot read image {path!r}: {error}") from error
    except Exception as error:  # Pillow raises many types for broken files
        reason = str(error) or type(error).__name__
        if os.path.isfile(path) and os.path.getsize(path) == 0:
            reason = "the file is empty (0 bytes)"
        raise ImageReadError(f"Cannot read image {path!r}: {reason}.") from error


# Pillow warns of images between its pixel limit and twice it, which _check_pixel_limit
# rejects anyway: the warning is silenced around Image.open. warnings.catch_warnings swaps the
# process-wide filter list, so the decoding threads take turns (Image.open reads only headers).
_OPEN_LOCK = threading.Lock()


def _open_image(path: str) -> Image.Image:
    with _OPEN_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(path)


def _check_pixel_limit(image: Image.Image) -> None:
    """Turn Pillow's decompression-bomb warning zone (1x-2x the limit) into an error as well."""
    limit = Image.MAX_IMAGE_PIXELS
    width, height = image.size
    if limit is not None and width * height > limit:
        raise ImageReadError(
            f"Cannot read image {image.filename!r}: {width}x{height} = {width * height} pixels "
            f"exceeds PIL.Image.MAX_IMAGE_PIXELS = {limit} (a possible decompression bomb); raise "
            f"that limit if the image is trusted."
        )


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB.

    Transparent pixels (modes RGBA, LA, PA, and P or L with a transparent colour) are composited
    on black. Integer images wider than 8 bits, 16-bit (I;16) and 32-bit (I) alike, are read as
    16-bit: 0-65535 is scaled to 0-255, whatever the image holds, so that a pixel value means the
    same brightness in every file (Pillow opens 16-bit PNG, PGM and TIFF files as either mode);
    values outside 0-65535 are clipped. Float images (F) are scaled by their maximum, having no
    fixed range. CMYK, 1 (bilevel), L and P use Pillow's conversion. The first frame of an
    animated GIF, WebP or multi-page TIFF is used.
    """
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I") or image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        peak = max(float(array.max()), 1.0) if image.mode == "F" else 65535.0
        image = Image.fromarray(np.clip(array / peak * 255.0, 0, 255).astype(np.uint8))
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("RGB")
    return image.convert("RGB")


class DecodedCache:
    """Decoded uint8 images kept for the length of one fit, within a byte budget.

    The first images stored stay until the cache is dropped; once the budget is spent, further
    images are decoded again each epoch. (Epochs visit every image, so evicting would only trade
    one decode for another.) Memory is bounded by the budget, whatever the number of epochs. With
    ``budget='disk'`` every image is kept in a memory-mapped temporary file, deleted with the cache.
    """

    def __init__(self, n_images: int, image_shape: tuple[int, ...], budget: int | str):
        image_bytes = int(np.prod(image_shape))
        self.on_disk = budget == "disk"
        self.capacity = n_images if self.on_disk else min(n_images, budget // image_bytes)
        self.image_shape = image_shape
        self.slot = np.full(n_images, -1, dtype=np.int64)
        self._store = None
        self._file = None
        self._n_stored = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Bytes of images held so far."""
        return self._n_stored * int(np.prod(self.image_shape))

    def get(self, index: int) -> np.ndarray | None:
        slot = self.slot[index]
        return None if slot < 0 else self._store[slot]

    def put(self, index: int, image: np.ndarray) -> None:
        with self._lock:
            if self.slot[index] >= 0 or self._n_stored >= self.capacity:
                return
            if self._store is None:
                self._store = self._allocate()
            slot = self._n_stored
            self._n_stored += 1
        self._store[slot] = image
        self.slot[index] = slot  # published only once the pixels are written

    def _allocate(self):
        shape = (self.capacity, *self.image_shape)
        if not self.on_disk:
            return np.empty(shape, dtype=np.uint8)  # pages are only touched as images arrive
        self._file = tempfile.TemporaryFile(prefix="skalexnet-cache-")
        return np.memmap(self._file, dtype=np.uint8, mode="w+", shape=shape)


class ArrayImages:
    """Images held in a user's array, converted to (n, size, size, 3) one batch at a time."""

    def __init__(self, X: np.ndarray, image_size: int, resize: str = "squash"):
        check_image_array(X)
        check_pixel_range(X)
        self.X = X
        self.image_size = image_size
        self.resize = resize
        self.stored_size = stored_size(image_size, resize)
        self.usable = np.arange(len(X))
        self.skipped = {}

    def __len__(self):
        return len(self.X)

    def load(self, indices) -> np.ndarray:
        """(n, s, s, 3) images, s = ``stored_size``; uint8 if X is uint8, float32 otherwise."""
        batch = self.X[indices]
        if batch.ndim == 2:
            batch = batch.reshape(len(batch), *image_shape_of_rows(batch.shape[1]))
        if batch.ndim == 3:
            batch = batch[..., None]
        if batch.dtype != np.uint8:
            batch = batch.astype(np.float32, copy=False)
        size = self.stored_size
        if batch.shape[1:3] != (size, size) or self.resize == "crop":
            batch = np.stack([resize_array(image, size, self.resize) for image in batch])
        if batch.shape[-1] == 1:
            batch = np.repeat(batch, 3, axis=-1)
        return batch


class ImageList(ArrayImages):
    """In-memory images of different sizes (a list of arrays), resized one batch at a time."""

    def __init__(self, images: list, image_size: int, resize: str = "squash"):
        for index, image in enumerate(images):
            check_pixel_range(image, f"X[{index}]")
        self.X = images
        self.image_size = image_size
        self.resize = resize
        self.stored_size = stored_size(image_size, resize)
        self.usable = np.arange(len(images))
        self.skipped = {}
        # One dtype per batch: uint8 when every image is, float32 otherwise.
        self.uint8 = all(image.dtype == np.uint8 for image in images)

    def load(self, indices) -> np.ndarray:
        size, batch = self.stored_size, []
        for i in indices:
            image = self.X[i]
            image = image[..., None] if image.ndim == 2 else image
            image = image if self.uint8 else image.astype(np.float32, copy=False)
            image = resize_array(image, size, self.resize)
            batch.append(np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image)
        return np.stack(batch)


class FileImages:
    """Image files decoded with Pillow when a batch asks for them, and cached as uint8.

    ``on_error='raise'`` makes a missing or unreadable file an error naming it; ``'skip'`` lets
    :meth:`skip_unreadable` decode every file once (filling the cache), after which ``usable``
    lists the readable files and ``skipped`` maps each unreadable path to the reason; None
    raises as 'raise' does, for estimators without an ``on_error`` parameter, whose errors then
    do not suggest it.
    """

    def __init__(
        self,
        paths,
        image_size: int,
        resize: str = "squash",
        cache=True,
        on_error: str = "raise",
    ):
        self.paths = [str(os.fsdecode(p)) for p in paths]
        self.image_size = image_size
        self.resize = resize
        self.stored_size = stored_size(image_size, resize)
        self.on_error = on_error
        if on_error != "skip":
            missing = [p for p in self.paths if not os.path.isfile(p)]
            if missing:
                hint = " Pass on_error='skip' to train without them." if on_error else ""
                raise FileNotFoundError(
                    f"{len(missing)} image file(s) do not exist: {_list_paths(missing)}.{hint}"
                )
        budget = cache_bytes(cache)
        shape = (self.stored_size, self.stored_size, 3)
        self.cache = DecodedCache(len(self.paths), shape, budget) if budget else None
        self.usable = np.arange(len(self.paths))
        self.skipped = {}

    def __len__(self):
        return len(self.paths)

    def load_one(self, index: int) -> np.ndarray:
        """The (s, s, 3) uint8 image of file ``index``, from the cache when it is there."""
        if self.cache is not None:
            image = self.cache.get(index)
            if image is not None:
                return image
        image = decode_image(self.paths[index], self.stored_size, self.resize)
        if self.cache is not None:
            self.cache.put(index, image)
        return image

    def load(self, indices) -> np.ndarray:
        """(n, s, s, 3) uint8 images, s = ``stored_size``, decoded in parallel."""
        return np.stack(list(decode_pool().map(self.load_one, indices)))

    def skip_unreadable(self) -> None:
        """Decode every file once, in parallel (:func:`decode_pool`); leave unreadable ones out
        of ``usable``; warn."""

        def reason(index):
            try:
                self.load_one(index)
            except ImageReadError as error:
                return str(error)
            return None

        reasons = list(decode_pool().map(reason, range(len(self.paths))))
        self.skipped = {self.paths[i]: r for i, r in enumerate(reasons) if r is not None}
        self.usable = np.flatnonzero([r is None for r in reasons])
        if len(self.usable) == 0:
            raise ValueError(
                f"None of the {len(self.paths)} image files could be read; first: "
                f"{next(iter(self.skipped.values()))}"
            )
        if self.skipped:
            warnings.warn(
                f"Skipped {len(self.skipped)} of {len(self.paths)} image files that could not be "
                f"read (on_error='skip'): "
                + "; ".join(list(self.skipped.values())[:10])
                + (" ..." if len(self.skipped) > 10 else ""),
                SkippedImagesWarning,
                stacklevel=2,
            )


def _list_paths(paths, limit=5) -> str:
    shown = ", ".join(repr(p) for p in paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def as_image_set(X, image_size: int, resize: str = "squash", cache=True, on_error="raise"):
    """Wrap X (file paths, a list of images of different sizes, or an array) as an image set
    that loads batches of RGB images."""
    paths = as_path_list(X)
    if paths is not None:
        return FileImages(paths, image_size, resize=resize, cache=cache, on_error=on_error)
    images = as_image_list(X)
    if images is not None:
        return ImageList(images, image_size, resize=resize)
    return ArrayImages(np.asarray(X), image_size, resize=resize)


class ImageBatches(keras.utils.PyDataset):
    """Batches of images (and one-hot targets, sample weights) for Keras: uint8 when the images
    are, float32 otherwise. The network scales its input itself, and its first cast of uint8 runs
    on the compute threads: a batch converted to float32 here fed pool5 extraction 15-30 % slower
    (2-core AMX Xeon), in a worker thread that competes with them, and is four times larger.

    ``workers`` threads load batches ahead of the network (Keras's ``OrderedEnqueuer``), and
    batches reach the network in order. Shuffling and augmentation draw from generators seeded by
    ``(seed, epoch, batch)``, so an epoch is the same whatever the number of workers and whatever
    order batches are loaded in. Only ``images.usable`` are visited; targets and sample weights are
    indexed by the same positions as the images, so they stay aligned whatever is shuffled or
    skipped. Data-parallel training splits every batch over ``devices``: each epoch then leaves
    out its last ``len % devices`` labelled images (others each epoch, when shuffled), and
    unlabelled images are padded with copies of the last one, whose outputs the caller drops.

    When shuffling (training), fewer than ``batch_size / 2`` images left over join the epoch's
    last batch instead of making a batch of their own: a step on a handful of images, at the
    full learning rate, made AlexNet's training on digits swing (held-out accuracy 0.98 -> 0.49
    in one epoch with 3 images left over; smooth without them).
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
        workers=DECODE_WORKERS,
        devices=1,
    ):
        super().__init__(
            workers=workers,
            use_multiprocessing=False,
            max_queue_size=PREFETCH_PER_WORKER * workers,
        )
        self.images = images
        self.targets = targets
        self.sample_weight = sample_weight
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augmentation = augmentation
        self.seed = seed
        self.epoch = first_epoch
        self.devices = devices
        self._set_order()

    def _set_order(self):
        usable = self.images.usable
        order = (
            usable[np.random.default_rng([self.seed, self.epoch]).permutation(len(usable))]
            if self.shuffle
            else usable
        )
        excess = len(order) % self.devices
        if excess and self.targets is None:
            order = np.concatenate([order, np.repeat(order[-1:], self.devices - excess)])
        elif excess:
            order = order[:-excess]
        self.order = order

    def __len__(self):
        full, rest = divmod(len(self.order), self.batch_size)
        if self.shuffle and full and rest < self.batch_size / 2:
            return full  # the last batch takes the rest
        return full + (rest > 0)

    def __getitem__(self, index):
        start = index * self.batch_size
        stop = len(self.order) if index == len(self) - 1 else start + self.batch_size
        indices = self.order[start:stop]
        x = self.images.load(indices)
        augmentation = self.augmentation or {}
        rng = np.random.default_rng([self.seed, self.epoch, index, 1]) if augmentation else None
        x = crop_batch(x, self.images.image_size, rng if augmentation.get("random_crop") else None)
        if augmentation:
            x = augment_batch(x, augmentation, rng)
        if x.dtype != np.uint8:
            x = x.astype(np.float32, copy=False)
        if self.targets is None:
            return (x,)
        if self.sample_weight is None:
            return x, self.targets[indices]
        return x, self.targets[indices], self.sample_weight[indices]

    def set_epoch(self, epoch):
        """Shuffle and augment as epoch ``epoch``; the estimators call it as each epoch begins,
        since Keras also calls ``on_epoch_end`` when a ``fit`` starts."""
        if epoch != self.epoch:
            self.epoch = epoch
            self._set_order()

    def on_epoch_end(self):
        self.set_epoch(self.epoch + 1)
