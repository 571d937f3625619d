"""AlexNetClassifier: AlexNet trained from scratch behind scikit-learn's classifier API."""

import warnings
from dataclasses import replace

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ._pretrained import build_network
from ._state import seeded, unchanged_if_raises
from ._training import AlexNetTrainer, TrainingRound
from .exceptions import SkippedImagesWarning


class AlexNetClassifier(ClassifierMixin, AlexNetTrainer):
    """AlexNet trained from scratch, as a scikit-learn classifier.

    The defaults are the 2017 study's first task: SGD with learning rate 0.01, momentum 0.9,
    Nesterov, Keras 1's 1e-6 decay, batches of 16, 80 epochs, shear/zoom/flip augmentation, the
    'original' AlexNet at 227x227 with the ImageNet mean subtracted inside the model.

    Parameters
    ----------
    weights : None, 'imagenet' or path, default=None
        None starts from random (he_normal) weights; 'imagenet' or a weight file (any format
        :func:`skalexnet.weights.load_weights` reads) starts from those weights, with a new
        ``fc8`` when the number of classes differs, and trains every layer. For layer-wise
        fine-tuning use :class:`AlexNetFineTuner`.
    arch : {'original', 'caffe', 'torchvision'} or None, default=None
        The AlexNet variant (see :func:`skalexnet.build_alexnet`). None is 'original' without
        weights and follows the weights otherwise; a contradicting value is an error.
    image_size : int, default=227
        Images are resized to ``image_size x image_size``; at least 67 for 'original'.
    epochs : int, default=80
        Passes over the training data.
    batch_size : int, default=16
        Images per gradient step. Fewer than ``batch_size / 2`` images left over at the end of
        a training epoch join its last step rather than make a tiny, noisy step of their own.
    learning_rate : float, default=0.01
        SGD's initial learning rate.
    momentum : float, default=0.9
        SGD momentum.
    nesterov : bool, default=True
        Nesterov momentum.
    decay : float, default=1e-6
        Keras 1's decay: the learning rate at step t is ``learning_rate / (1 + decay * t)``.
        With ``decay=0`` the learning rate is a plain number that callbacks such as
        ``ReduceLROnPlateau`` can set; with ``decay > 0`` such callbacks are refused.
    layer_lr_decay : float in (0, 1] or None, default=None
        Per-layer learning rates, as timm's ``--layer-decay`` and fastai's ``slice(lr)``: the
        top trainable weighted layer trains at the learning rate, each trainable one below at
        ``layer_lr_decay`` times the rate of the one above (frozen layers are not counted).
        None or 1.0: one rate for all, as before.
    lr_schedule : {'cosine', 'one_cycle'} or None, default=None
        The learning rate's course over a round (all of its epochs): 'cosine' falls from the
        learning rate to 0; 'one_cycle' rises from rate/25 to the rate over the first quarter,
        then falls to rate/2.5e5 (torch's ``OneCycleLR``). Each round of the fine-tuner, each
        warm-start call of ``fit`` and each call of ``partial_fit`` (one epoch) starts the
        schedule afresh. ``decay`` still applies on top; callbacks that set the learning rate
        (``ReduceLROnPlateau``, ``LearningRateScheduler``) are refused. None: a constant rate.
    loss : {'categorical_crossentropy', 'mse'}, default='categorical_crossentropy'
        Training loss on one-hot targets; 'mse' is what the study used.
    augment : {'study', 'paper', None} or dict, default='study'
        Training-time augmentation: 'study' is Keras 1's ``ImageDataGenerator(shear_range=0.2,
        zoom_range=0.2, horizontal_flip=True)``; 'paper' is the AlexNet paper's random crop and
        horizontal flip (it needs ``resize='crop'``); a dict sets ``shear`` (radians), ``zoom``,
        ``horizontal_flip`` and ``random_crop``; None turns it off. Reproducible from
        ``random_state``; never applied when predicting.
    resize : {'squash', 'crop'}, default='squash'
        How images reach ``image_size x image_size``: 'squash' resizes them straight to it, as the
        study's ``flow_from_directory(target_size=...)`` did; 'crop' resizes the shorter side to
        256/227 of ``image_size`` and takes the centre square, of which the centre
        ``image_size`` crop is used (a random one while training with ``augment='paper'``).
    cache : bool, int or 'disk', default=True
        Keep decoded image files as uint8 during ``fit`` so that epochs after the first do not
        decode them again: True keeps up to 2 GiB per image set (X and the validation X each),
        an int sets that budget in bytes, 'disk' keeps all of them in a memory-mapped temporary
        file, False decodes every epoch. Files beyond the budget are decoded each epoch; memory
        never grows with the number of epochs. Arrays are never copied.
    on_error : {'raise', 'skip'}, default='raise'
        What ``fit`` does with an image file that cannot be read (missing, empty, truncated,
        corrupt, not an image, over Pillow's decompression-bomb limit): 'raise' an error naming
        the file and the reason, or 'skip' it with a warning (files of X and of
        ``validation_data``; each is decoded once before training) and record it in
        ``skipped_files_``; labels stay aligned with the images used. A second warning counts
        the skipped images of each class; a class that loses every image of X is an error
        naming it. Predictions need every image, so ``predict`` always raises on an unreadable
        file, naming it.
    class_weight : dict, 'balanced' or None, default=None
        Weights per class, multiplied into ``sample_weight``.
    early_stopping : bool, default=False
        Stop training when the validation loss has not improved for ``n_iter_no_change``
        epochs, and keep the weights of the best epoch. The validation set is
        ``validation_data`` when ``fit`` is given one, else a stratified ``validation_fraction``
        of the training data, held out of training.
    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping when no ``validation_data`` is
        given; only used when ``early_stopping`` is True.
    n_iter_no_change : int, default=10
        Epochs without a lower validation loss before early stopping stops training.
    callbacks : list of keras.callbacks.Callback, default=None
        Keras callbacks run during training (``EarlyStopping``, ``ReduceLROnPlateau``,
        ``CSVLogger`` ...), as in ``keras.Model.fit``. One call of ``fit`` is one run for them,
        however many rounds its schedule has: ``on_train_begin`` and ``on_train_end`` fire once,
        epochs are numbered on across rounds, and a callback that stops training ends the
        whole schedule. ``ReduceLROnPlateau`` and ``LearningRateScheduler`` need ``decay=0``.
    checkpoint_dir : str or path, default=None
        After every epoch the whole training state (weights, optimizer state, epoch, round of
        the schedule, history, seed) is written to ``checkpoint.npz`` in a sub-folder of
        ``checkpoint_dir`` named after the estimator and a hash of its configuration, training
        data and backend, atomically: a crash mid-write leaves the previous checkpoint whole.
        ``fit`` with the same configuration and data finds its sub-folder and resumes from its
        exact state, ending with the weights an uninterrupted run would have had; another
        configuration or data trains afresh in a sub-folder of its own. So the fits of a
        ``GridSearchCV`` can share one ``checkpoint_dir``, and a search rerun after a crash
        resumes each fit. Delete the folder to train afresh. Early stopping's patience count
        and the state of user ``callbacks`` start anew on resuming.
    precision : {'auto', 'float32', 'bfloat16', 'bfloat16_conv'}, default='auto'
        'bfloat16' computes in bfloat16 with float32 variables, loss and outputs (Keras's
        'mixed_bfloat16' policy, set on this network's layers only, never globally);
        'bfloat16_conv' does so in the convolutional layers (conv1-pool5) and computes fc6-fc8
        in float32. 'auto' picks what measured fastest on the hardware: 'bfloat16' on a GPU,
        'bfloat16_conv' on a CPU with AMX (where bfloat16 in fc6-fc8 cost more than it saved),
        'float32' elsewhere (on CPUs without AMX, bfloat16 is many times slower). Digits train
        to the float32 accuracy within one point in each (``tests/test_precision.py``).
    distribution : {None, 'data_parallel'}, default=None
        'data_parallel' trains on every device of ``keras.distribution.list_devices()``, each
        batch split over them (Keras's ``DataParallel``, JAX backend only); None uses one.
    warm_start : bool, default=False
        When True, ``fit`` continues from the fitted network instead of starting afresh, for
        ``epochs`` more epochs, and with the optimizer's state (momentum, decay's step count)
        where the last round trained the same layers at the same learning rate.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, shuffling and augmentation. The same seed on the
        same backend and data gives the same predictions.
    verbose : {0, 1, 2}, default=0
        0 is silent. 1 shows progress where it is read: Keras's progress bar when
        ``sys.stdout`` is a terminal (or a Jupyter notebook), and otherwise (a log file, CI
        output) what 2 shows, so that no ``\\r`` redraws or ANSI colour codes end up in a file.
        2 writes Keras's one summary line per epoch (after its ``Epoch i/n`` line) wherever the
        output goes. ``predict`` and ``predict_proba`` follow the same rule (with 2: one line
        when done).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels seen in ``fit``, in the order of ``predict_proba``'s columns.
    model_ : keras.Model
        The trained network; its layers are named as in Caffe (conv1 ... fc8).
    history_ : dict of list
        Per-epoch ``loss`` and ``accuracy`` on the training data, and ``val_loss`` and
        ``val_accuracy`` when ``validation_data`` is given.
    n_epochs_ : int
        Epochs trained so far.
    precision_ : {'float32', 'bfloat16', 'bfloat16_conv'}
        The precision the network computes in (what 'auto' picked).
    n_features_in_ : int
        Number of columns of X when X was a 2-D array.
    skipped_files_ : list of str
        Image files of X, then of ``validation_data``, that ``fit`` left out as unreadable
        (``on_error='skip'``); empty when none were, or when X was an array.

    See Also
    --------
    AlexNetFineTuner : Layer-wise fine-tuning of pretrained weights.
    AlexNetFeatureExtractor : AlexNet activations as features for other estimators.

    Notes
    -----
    Ctrl-C (KeyboardInterrupt) during ``fit`` ends training with a warning: the estimator keeps
    the weights and history of the last completed epoch and can predict. A loss that becomes NaN
    or infinite stops training with a ``FloatingPointError`` that names the epoch and batch; the
    estimator keeps the weights of the last completed epoch.

    X is one of: an array of RGB images (n, height, width, 3) with pixel values in [0, 255];
    grayscale images (n, height, width) or (n, height, width, 1), repeated to three channels; a 2-D
    array whose rows are flattened images (a row of s*s values is an s x s grayscale image, of 3*s*s
    values an s x s RGB image in channels-last order, any other width a one-pixel-high grayscale
    image); or a sequence of image file paths. Images of another size are resized.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skalexnet import AlexNetClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = AlexNetClassifier(image_size=67, epochs=1, batch_size=64, random_state=0)
    >>> clf.fit(X[:200] * 16, y[:200]).predict(X[:3]).shape
    (3,)
    """

    def __init__(
        self,
        *,
        weights=None,
        arch=None,
        image_size=227,
        epochs=80,
        batch_size=16,
        learning_rate=0.01,
        momentum=0.9,
        nesterov=True,
        decay=1e-6,
        layer_lr_decay=None,
        lr_schedule=None,
        loss="categorical_crossentropy",
        augment="study",
        resize="squash",
        cache=True,
        on_error="raise",
        class_weight=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        callbacks=None,
        checkpoint_dir=None,
        precision="auto",
        distribution=None,
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        self.weights = weights
        self.arch = arch
        self.image_size = image_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.decay = decay
        self.layer_lr_decay = layer_lr_decay
        self.lr_schedule = lr_schedule
        self.loss = loss
        self.augment = augment
        self.resize = resize
        self.cache = cache
        self.on_error = on_error
        self.class_weight = class_weight
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.checkpoint_dir = checkpoint_dir
        self.precision = precision
        self.distribution = distribution
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    # -- what this estimator builds and how it trains -----------------------------------------

    def _build_model(self, n_classes):
        return build_network(
            self.weights,
            n_classes=n_classes,
            image_size=self.image_size,
            arch=self.arch,
            **self._layer_dtypes(),
            seed=self._seed_,
        )

    def _training_rounds(self):
        return [TrainingRound(None, self.epochs, self.learning_rate)]

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None, validation_data=None):
        """Train the network on images X with labels y.

        Parameters
        ----------
        X : array-like of images or sequence of image file paths
            See the class Notes for the accepted layouts.
        y : array-like of shape (n_samples,)
            Class labels of any type scikit-learn accepts (ints, strings ...).
        sample_weight : array-like of shape (n_samples,), default=None
            Per-image weights of the loss.
        validation_data : tuple (X_val, y_val), default=None
            Evaluated after every epoch into ``history_['val_loss']`` and
            ``history_['val_accuracy']``; never trained on.

        Returns
        -------
        self : AlexNetClassifier
            The fitted estimator.

        Notes
        -----
        A fit that raises (a broken image file with ``on_error='raise'``, a bad label in
        ``validation_data`` ...) leaves the estimator as it was: unfitted before a first fit; with
        the previous model, weights and history intact after a refit, warm start included. A
        loss that becomes NaN or infinite is the exception (see the class Notes).
        """
        with unchanged_if_raises(self, trains_in_place=self.warm_start):
            return self._fit(X, y, sample_weight, validation_data)

    def _fit(self, X, y, sample_weight, validation_data):
        self._check_params()
        checkpoint = self._open_checkpoint(X, y, sample_weight, validation_data)
        warm = checkpoint is None and self.warm_start and hasattr(self, "model_")
        seed = self._seed_ if warm else self._draw_seed(checkpoint)
        if self.early_stopping and validation_data is None:
            X, y, sample_weight, validation_data = self._hold_out(X, y, sample_weight, seed)
        images, y = self._validate_X(X, y, reset=True)
        y = self._check_y(y)
        with self._distribution_scope():
            if not warm:
                self._initialize(np.unique(y), seed)
            position = self._resume(checkpoint) if checkpoint is not None else (0, 0)
            train = self._training_batches(images, y, sample_weight)
            validation = self._validation_batches(validation_data)
            self.skipped_files_ = self._skipped_files(train, validation)
            rounds = enumerate(self._training_rounds())
            self._train(train, validation, rounds, position, keep_optimizer=warm)
        return self

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one more epoch on X, y.

        Calls after the first go on with the optimizer's state (momentum, decay's step count):
        calls of one epoch each train as one ``fit`` of as many epochs does.

        Parameters
        ----------
        X : array-like of images or sequence of image file paths
            See the class Notes.
        y : array-like of shape (n_samples,)
            Class labels.
        classes : array-like of shape (n_classes,), default=None
            All the labels that will ever be seen; required on the first call.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-image weights of the loss.

        Returns
        -------
        self : AlexNetClassifier
            The estimator, trained one epoch further; a call that raises leaves it as it was
            before the call (see :meth:`fit`).
        """
        with unchanged_if_raises(self, trains_in_place=True):
            return self._partial_fit(X, y, classes, sample_weight)

    def _partial_fit(self, X, y, classes, sample_weight):
        first_call = not hasattr(self, "model_")
        self._check_params()
        if first_call and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        images, y = self._validate_X(X, y, reset=first_call)
        y = self._check_y(y)
        self._checkpoint_identity = None  # checkpoints are written by fit only
        with self._distribution_scope():
            if first_call:
                self._initialize(np.unique(column_or_1d(classes)), self._draw_seed(None))
            train = self._training_batches(images, y, sample_weight)
            rounds = self._training_rounds()
            last = len(rounds) - 1
            one_epoch = [(last, replace(rounds[last], epochs=1))]
            self._train(train, None, one_epoch, (last, 0), keep_optimizer=not first_call)
        return self

    def _check_y(self, y):
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        return y

    def _draw_seed(self, checkpoint):
        if checkpoint is not None:
            return checkpoint.record["seed"]
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _hold_out(self, X, y, sample_weight, seed):
        """Split off a stratified validation_fraction of the training data for early stopping."""
        arrays = [X, y] if sample_weight is None else [X, y, sample_weight]
        parts = train_test_split(
            *arrays, test_size=self.validation_fraction, stratify=y, random_state=seed
        )
        X_train, X_val, y_train, y_val = parts[:4]
        return X_train, y_train, (parts[4] if sample_weight is not None else None), (X_val, y_val)

    def _initialize(self, classes, seed):
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes; y holds 1 class: "
                f"{classes.tolist()}."
            )
        self.classes_ = classes
        self._seed_ = seed
        with seeded(self._seed_):
            self.model_ = self._build_model(len(classes))
        self.history_ = {}
        self.n_epochs_ = 0

    def _encode(self, y, what="y"):
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(
                f"{what} holds labels not seen in fit: {unknown.tolist()[:10]}; "
                f"known: {self.classes_.tolist()[:10]}."
            )
        return np.eye(len(self.classes_), dtype=np.float32)[np.searchsorted(self.classes_, y)]

    def _training_batches(self, images, y, sample_weight):
        weights = None
        if sample_weight is not None:
            weights = np.asarray(sample_weight, dtype=np.float32).reshape(-1)
            if len(weights) != len(y) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
                raise ValueError(
                    f"sample_weight must hold {len(y)} finite, non-negative numbers; got shape "
                    f"{np.shape(sample_weight)}."
                )
            if not weights.any():
                raise ValueError("sample_weight is all zero: no image would add to the loss.")
        if self.class_weight is not None:
            class_weights = compute_sample_weight(self.class_weight, y).astype(np.float32)
            weights = class_weights if weights is None else weights * class_weights
        batches = self._batches(
            images, self._encode(y), weights, training=True, epoch=getattr(self, "n_epochs_", 0)
        )
        if batches.images.skipped:
            _check_classes_survive_skipping(y, batches.images.usable)
        return batches

    def _validation_batches(self, validation_data):
        if validation_data is None:
            return None
        if not (isinstance(validation_data, tuple) and len(validation_data) == 2):
            raise ValueError("validation_data must be a tuple (X_val, y_val).")
        X_val, y_val = validation_data
        images, y_val = self._validate_X(X_val, y_val, reset=False)
        return self._batches(images, self._encode(self._check_y(y_val), "y_val"))

    # -- prediction --------------------------------------------------------------------------

    def predict_proba(self, X):
        """Class probabilities of images X.

        Parameters
        ----------
        X : array-like of images or sequence of image file paths
            See the class Notes.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), float32
            Rows sum to 1; columns follow ``classes_``. An image's row is the same bits
            whatever other images X holds and whatever ``batch_size``: the network always
            runs 32 images at a time, the last slice padded.
        """
        check_is_fitted(self)
        return self._predict_batches(self.model_, X)

    def predict(self, X):
        """Most probable class of each image.

        Parameters
        ----------
        X : array-like of images or sequence of image file paths
            See the class Notes.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def decision_function(self, X):
        """Log-probabilities of each class; for two classes, the log-odds of ``classes_[1]``.

        Parameters
        ----------
        X : array-like of images or sequence of image file paths
            See the class Notes.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Larger means more likely.
        """
        log_proba = np.log(np.clip(self.predict_proba(X), np.finfo(np.float32).tiny, None))
        if len(self.classes_) == 2:
            return log_proba[:, 1] - log_proba[:, 0]
        return log_proba

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.classifier_tags.poor_score = True  # a few epochs on tabular strips cannot score well
        return tags


def _check_classes_survive_skipping(y, usable):
    """Count the unreadable images left out (on_error='skip') per class; a class left with none
    is an error, since ``classes_`` would list a class the network never saw an image of."""
    classes, totals = np.unique(y, return_counts=True)
    kept = np.zeros(len(classes), dtype=int)
    np.add.at(kept, np.searchsorted(classes, y[usable]), 1)
    lost = [
        f"{label!r}: {total - k} of {total}"
        for label, total, k in zip(classes.tolist(), totals, kept, strict=True)
        if k < total
    ]
    emptied = [label for label, k in zip(classes.tolist(), kept, strict=True) if k == 0]
    if emptied:
        raise ValueError(
            f"on_error='skip' left out every image of class(es) {emptied}: the network would "
            f"never see one, yet classes_ would list them. Images skipped per class: "
            f"{', '.join(lost)}. Repair or remove those files, or drop the class from y."
        )
    warnings.warn(
        f"on_error='skip' left out unreadable images, per class: {', '.join(lost)} (see "
        f"skipped_files_).",
        SkippedImagesWarning,
        stacklevel=4,
    )
