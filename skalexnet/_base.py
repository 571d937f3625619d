"""What every skalexnet estimator shares: parameter checks, input validation, batching,
precision and devices, and prediction. Training lives in ``_training``; the feature extractor,
which never trains, builds on this class alone.
"""

import contextlib
import os

import keras
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_array, check_consistent_length, validate_data

from ._augment import resolve_augmentation
from ._data import (
    DECODE_WORKERS,
    ImageBatches,
    as_image_list,
    as_image_set,
    as_path_list,
    check_loading_options,
)
from ._network import ARCHITECTURES, min_image_size
from ._params import CHOICE_PARAMS, NONE_ALLOWED, NUMERIC_PARAMS, check_choice, check_number
from ._precision import layer_dtypes, resolve_precision
from ._predict import SlicedPredictor
from ._progress import keras_verbose

PREDICT_BATCH_SIZE = 64


class AlexNetBase(BaseEstimator):
    """Parameter checks, input validation, batching, precision and prediction: what every
    estimator shares, the feature extractor included."""

    def _check_params(self):
        """Check every parameter the estimator has, before any network is built (fit calls it
        first). Not ``_validate_params``, which is scikit-learn's own method."""
        for name, (kind, low, high, bounds) in NUMERIC_PARAMS.items():
            if hasattr(self, name) and not (name in NONE_ALLOWED and getattr(self, name) is None):
                check_number(name, getattr(self, name), kind, low, high, bounds)
        for name, choices in CHOICE_PARAMS.items():
            if hasattr(self, name):
                check_choice(name, getattr(self, name), choices)
        weights = self.weights
        if not (weights is None or isinstance(weights, (str, os.PathLike, keras.Model))):
            raise TypeError(
                f"weights must be None, 'imagenet', the path of a weight file or a keras.Model; "
                f"got {weights!r}."
            )
        # With arch=None the weights decide the variant (random weights: 'original'); before a
        # file is read, only the smallest input of any variant bounds image_size.
        arch = self.arch or (None if self.weights is not None else "original")
        smallest = min(min_image_size(a) for a in ([arch] if arch else ARCHITECTURES))
        if self.image_size < smallest:
            variant = f"the {arch!r} AlexNet admits" if arch else "any AlexNet variant admits"
            raise ValueError(
                f"image_size={self.image_size} is below the smallest input {variant}: {smallest}."
            )
        self._loading_options()  # resize, cache, on_error, augment, and how they combine

    # -- input -------------------------------------------------------------------------------

    def _validate_X(self, X, y=None, reset=True):
        """Check X (and y) and wrap X as an image set; sets n_features_in_ for 2-D arrays.

        X is a sequence of paths (a list, array, pandas Series or one-column DataFrame of str,
        bytes or os.PathLike), a list of images of any sizes, or an array of images.
        """
        loading = self._loading_options()
        paths, images = as_path_list(X), None
        if paths is None:
            images = as_image_list(X)
        if paths is not None or images is not None:
            if y is not None:
                check_consistent_length(paths or images, y)
            if reset and hasattr(self, "n_features_in_"):
                del self.n_features_in_
            return as_image_set(paths or images, self.image_size, **loading), y
        X_array = np.asarray(X) if not hasattr(X, "iloc") else X
        if getattr(X_array, "ndim", 2) == 2:
            if y is None:
                X = validate_data(self, X, reset=reset)
            else:
                X, y = validate_data(self, X, y, reset=reset, ensure_min_samples=1)
        else:
            if reset and hasattr(self, "n_features_in_"):
                del self.n_features_in_
            X = check_array(X, allow_nd=True, dtype="numeric", input_name="X")
            if y is not None:
                check_consistent_length(X, y)
        return as_image_set(X, self.image_size, **loading), y

    def _loading_options(self):
        """resize, cache and on_error, checked; estimators without them get the defaults.

        on_error is None for an estimator without that parameter (the feature extractor):
        unreadable files then raise, and no message suggests a parameter it does not have.
        """
        loading = {
            "resize": getattr(self, "resize", "squash"),
            "cache": getattr(self, "cache", False),
            "on_error": getattr(self, "on_error", None),
        }
        check_loading_options(**loading, has_on_error=hasattr(self, "on_error"))
        augmentation = resolve_augmentation(getattr(self, "augment", None)) or {}
        if augmentation.get("random_crop") and loading["resize"] != "crop":
            raise ValueError(
                f"augment={self.augment!r} takes random {self.image_size}x{self.image_size} crops "
                f"of images resized to 256/227 of image_size: it needs resize='crop', not "
                f"{loading['resize']!r}."
            )
        return loading

    def _batches(self, images, targets=None, sample_weight=None, *, training=False, epoch=0):
        # Labelled data (training and validation) may leave unreadable files out; predictions
        # cannot (every input needs an output), so there a broken file raises, naming it.
        if targets is not None and getattr(images, "on_error", "raise") == "skip":
            images.skip_unreadable()
        devices = self._n_devices()
        batch_size = self.batch_size if training else max(self.batch_size, PREDICT_BATCH_SIZE)
        if batch_size % devices:
            if training:
                raise ValueError(
                    f"batch_size={self.batch_size} cannot be split evenly over the {devices} "
                    f"devices of distribution={self.distribution!r}: use a multiple of {devices}."
                )
            batch_size += devices - batch_size % devices
        return ImageBatches(
            images,
            targets,
            sample_weight,
            batch_size=batch_size,
            # Prediction loads each batch when the network asks for it, its files decoded in
            # parallel: loading ahead, on the cores that compute, extracted pool5 from JPEG files
            # 7 % slower (2-core AMX Xeon). Training, whose steps take longer, loads ahead.
            workers=DECODE_WORKERS if training else 1,
            shuffle=training,
            augmentation=resolve_augmentation(getattr(self, "augment", None)) if training else None,
            seed=getattr(self, "_seed_", 0),
            first_epoch=epoch,
            devices=devices,
        )

    @staticmethod
    def _skipped_files(*batches):
        """Paths left out as unreadable (on_error='skip') by these ImageBatches, in order."""
        return [path for b in batches if b is not None for path in b.images.skipped]

    # -- devices and precision ---------------------------------------------------------------

    def _layer_dtypes(self):
        """``build_alexnet``'s dtype policies for ``precision``; sets ``precision_``."""
        self.precision_ = resolve_precision(self.precision)
        return layer_dtypes(self.precision_)

    def _n_devices(self):
        if getattr(self, "distribution", None) is None:
            return 1
        return len(keras.distribution.list_devices())

    def _distribution_scope(self):
        """Keras's distribution for this estimator's work only; never left set afterwards."""
        if getattr(self, "distribution", None) is None:
            return contextlib.nullcontext()
        if keras.backend.backend() != "jax":
            raise ValueError(
                f"distribution={self.distribution!r} uses Keras's distribution API, which "
                f"Keras implements for the JAX backend only; this is the "
                f"{keras.backend.backend()!r} backend. Set KERAS_BACKEND=jax before importing "
                f"skalexnet."
            )
        return keras.distribution.DataParallel(devices=keras.distribution.list_devices()).scope()

    # -- prediction --------------------------------------------------------------------------

    def _predict_batches(self, model, X):
        """The model's outputs for X, flattened and concatenated, float32; never augmented.

        Each image's row is the same bits whatever else X holds and whatever ``batch_size``:
        the network always sees slices of one size (``_predict.SlicedPredictor``).
        """
        images, _ = self._validate_X(X, reset=False)
        predictor = SlicedPredictor(model, devices=self._n_devices())
        with self._distribution_scope():
            outputs = predictor.predict(self._batches(images), verbose=keras_verbose(self.verbose))
        # Data-parallel prediction pads the last batch; the padding's outputs go.
        return outputs[: len(images.usable)]
