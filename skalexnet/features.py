"""AlexNetFeatureExtractor: AlexNet activations as features for any scikit-learn estimator."""

import keras
import numpy as np
from sklearn.base import TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, check_memory

from ._base import AlexNetBase
from ._identity import data_key, weights_key
from ._pretrained import build_network
from ._state import seeded, unchanged_if_raises

FEATURE_LAYERS = (
    "conv1",
    "norm1",
    "pool1",
    "conv2",
    "norm2",
    "pool2",
    "conv3",
    "conv4",
    "conv5",
    "pool5",
    "fc6",
    "fc7",
    "fc8",
    "prob",
)
_POOLINGS = {"avg": keras.layers.GlobalAveragePooling2D, "max": keras.layers.GlobalMaxPooling2D}


class AlexNetFeatureExtractor(TransformerMixin, AlexNetBase):
    """Activations of named AlexNet layers as a 2-D feature matrix.

    The 2017 study's Task 3 fed pool5 activations of pretrained AlexNet to a small MLP; the DeCAF
    line of work fed fc6/fc7 activations to linear SVMs. Both are this transformer in a
    :class:`~sklearn.pipeline.Pipeline`. ``fit`` learns nothing from the data: it builds the
    network and the feature model; ``transform`` runs images through it in batches, never with
    augmentation.

    Parameters
    ----------
    weights : 'imagenet', path, keras.Model or None, default='imagenet'
        The network's weights: any file :func:`skalexnet.weights.load_weights` reads, a skalexnet
        Keras model (see :meth:`from_estimator`), or None for random weights.
    layer : str or list of str, default='pool5'
        Layer(s) whose outputs become features: 'conv1' ... 'conv5', 'norm1', 'norm2', 'pool1',
        'pool2', 'pool5', 'fc6', 'fc7', 'fc8' (logits) or 'prob'. Several layers are computed in
        one pass and concatenated in the order given.
    pooling : {None, 'avg', 'max'}, default=None
        None flattens convolutional maps (height x width x channels, channels last); 'avg' and
        'max' reduce them to one value per channel. Dense layers are never pooled.
    arch : {'original', 'caffe', 'torchvision'} or None, default=None
        None follows the weights.
    image_size : int, default=227
        Images are resized to this size. It sets pool5's map: 6x6 at 227, 3x3 at 131, 1x1 at
        67, where pool5 keeps which patterns an image holds but not where. On digits 5-9, with
        a network trained on digits 0-4, pool5 features beat raw pixels for an MLP at 131 and
        lose at 67 (see the README).
    batch_size : int, default=64
        Images decoded and resized at a time. The network itself always runs 32 images at a
        time (the last slice padded), so an image's features are the same bits whatever the
        batch size and whatever other images X holds.
    resize : {'squash', 'crop'}, default='squash'
        How images reach ``image_size`` (see :class:`AlexNetClassifier`).
    memory : None, str or joblib.Memory, default=None
        Caches ``transform``'s output on disk, keyed on the extractor's parameters, the weights
        file (path, size, modification time) and X (array contents, or each file's path, size
        and modification time): inside :class:`~sklearn.model_selection.GridSearchCV` over the
        downstream estimator, each fold's features are then computed once, not once per
        candidate. With ``weights=None`` the key holds the seed the network was built from, so
        the features of one random network are never served for another.
    precision : {'auto', 'float32', 'bfloat16', 'bfloat16_conv'}, default='auto'
        As for :class:`AlexNetClassifier`; the features are float32 whatever the precision.
    random_state : int, RandomState instance or None, default=None
        Seeds the random weights of ``weights=None``: the same seed builds the same network
        and gives the same features. Pretrained weights draw nothing from it.
    verbose : {0, 1, 2}, default=0
        0 is silent. 1 shows progress while extracting: Keras's progress bar when
        ``sys.stdout`` is a terminal (or a Jupyter notebook), one line when done otherwise (a
        log file, CI output), as 2 always does.

    Attributes
    ----------
    model_ : keras.Model
        Maps images to the (pooled) outputs of ``layer``. It holds the network only up to the
        deepest layer asked for: a pool5 extractor has no fc6, fc7 or fc8, whose weights are
        then neither drawn nor loaded.
    feature_shapes_ : dict
        Layer name -> shape of its output for one image, before pooling.
    n_features_out_ : int
        Number of columns ``transform`` returns.
    precision_ : {'float32', 'bfloat16', 'bfloat16_conv'}
        The precision the network computes in.
    n_features_in_ : int
        Number of columns of X, when ``fit`` saw a 2-D array.

    See Also
    --------
    AlexNetFineTuner : Fine-tuning instead of fixed features.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skalexnet import AlexNetFeatureExtractor
    >>> X, _ = load_digits(return_X_y=True)
    >>> extractor = AlexNetFeatureExtractor(weights=None, layer=["pool5", "fc7"], image_size=67)
    >>> extractor.fit_transform(X[:4] * 16).shape
    (4, 4352)
    """

    def __init__(
        self,
        *,
        weights="imagenet",
        layer="pool5",
        pooling=None,
        arch=None,
        image_size=227,
        batch_size=64,
        resize="squash",
        memory=None,
        precision="auto",
        random_state=None,
        verbose=0,
    ):
        self.weights = weights
        self.layer = layer
        self.pooling = pooling
        self.arch = arch
        self.image_size = image_size
        self.batch_size = batch_size
        self.resize = resize
        self.memory = memory
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def from_estimator(cls, estimator, **params) -> "AlexNetFeatureExtractor":
        """A fitted extractor on the network of a fitted AlexNetClassifier or AlexNetFineTuner.

        Parameters
        ----------
        estimator : AlexNetClassifier or AlexNetFineTuner
            A fitted estimator; its network is copied, so later training of it does not change
            the extractor.
        **params
            Other parameters of the extractor (``layer``, ``pooling``, ``batch_size`` ...);
            ``image_size`` and ``resize`` default to the estimator's.

        Returns
        -------
        extractor : AlexNetFeatureExtractor
            Fitted; ``clone`` of it copies the network along.
        """
        check_is_fitted(estimator, "model_")
        params.setdefault("image_size", estimator.image_size)
        params.setdefault("resize", getattr(estimator, "resize", "squash"))
        return cls(weights=estimator.model_, **params)._build()

    def _layers(self):
        layers = [self.layer] if isinstance(self.layer, str) else list(self.layer)
        unknown = [name for name in layers if name not in FEATURE_LAYERS]
        if not layers or unknown:
            raise ValueError(f"layer must be one or more of {FEATURE_LAYERS}; got {self.layer!r}.")
        return layers

    def _check_params(self):
        self._layers()
        if self.pooling not in (None, "avg", "max"):
            raise ValueError(f"pooling must be None, 'avg' or 'max'; got {self.pooling!r}.")
        super()._check_params()

    def _build(self):
        self._check_params()
        self._seed_ = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        with seeded(self._seed_):
            network = build_network(
                self.weights,
                image_size=self.image_size,
                arch=self.arch,
                **self._layer_dtypes(),
                seed=self._seed_,
                # Nothing above the deepest requested layer: pool5 features need no fc6 (37.7
                # million weights at 227 pixels, whose random draw alone peaked at 1 GB).
                up_to=self._layers(),
            )
        outputs, self.feature_shapes_ = [], {}
        for name in self._layers():
            x = network.get_layer(name).output
            self.feature_shapes_[name] = tuple(x.shape[1:])
            if len(x.shape) == 4:
                pool = _POOLINGS.get(self.pooling)
                reduce = pool(name=f"{name}_{self.pooling}") if pool else None
                x = (reduce or keras.layers.Flatten(name=f"{name}_flat"))(x)
            outputs.append(x)
        self.model_ = keras.Model(network.input, outputs, name="alexnet_features")
        self.n_features_out_ = sum(int(np.prod(o.shape[1:])) for o in outputs)
        # Random weights are identified by their seed; pretrained ones draw nothing from it.
        seed = self._seed_ if self.weights is None else None
        self._weights_key = (weights_key(self.weights), seed)
        return self

    def fit(self, X, y=None):
        """Build the network; nothing is learnt from X, which is only validated.

        Parameters
        ----------
        X : array-like of images or sequence of image file paths
            As for :class:`AlexNetClassifier`.
        y : None
            Ignored.

        Returns
        -------
        self : AlexNetFeatureExtractor
            A fit that raises (an unreadable weights file ...) leaves the extractor as it was:
            unfitted, or with its previous network.
        """
        with unchanged_if_raises(self, trains_in_place=False):
            self._validate_X(X, reset=True)
            return self._build()

    def transform(self, X):
        """Features of images X.

        Parameters
        ----------
        X : array-like of images or sequence of image file paths
            As for :class:`AlexNetClassifier`.

        Returns
        -------
        features : ndarray of shape (n_samples, ``n_features_out_``), float32
        """
        check_is_fitted(self, "model_")
        memory = check_memory(self.memory)
        cached = memory.cache(_extract, ignore=["extractor", "X"])
        # random_state counts through the seed in _weights_key, and only for random weights.
        ignored = ("weights", "memory", "random_state")
        params = {k: v for k, v in self.get_params().items() if k not in ignored}
        return cached(self, X, data_key(X), self._weights_key, params, keras.backend.backend())

    def _forward(self, X):
        """One pass of X through the feature model (the work that ``memory`` saves)."""
        return self._predict_batches(self.model_, X)

    def get_feature_names_out(self, input_features=None):
        """Names ``<layer>_<index>`` (``<layer>_<pooling>_<channel>`` when pooled).

        Parameters
        ----------
        input_features : ignored
            Present for scikit-learn's API.

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self, "model_")
        names: list[str] = []
        for name, output in zip(self._layers(), self.model_.outputs, strict=True):
            pooled = self.pooling is not None and len(self.feature_shapes_[name]) == 3
            prefix = f"{name}_{self.pooling}" if pooled else name
            names.extend(f"{prefix}_{i}" for i in range(int(np.prod(output.shape[1:]))))
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def _extract(extractor, X, data_key, weights_key, params, backend):
    """The cached unit of work; every argument but the first two forms the cache key."""
    return extractor._forward(X)
