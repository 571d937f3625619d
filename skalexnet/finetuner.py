"""AlexNetFineTuner: layer-wise fine-tuning of pretrained AlexNet (Tajbakhsh et al., 2016)."""

from numbers import Integral, Real

from ._network import WEIGHTED_LAYERS
from ._pretrained import build_network
from ._training import TrainingRound
from .classifier import AlexNetClassifier

# The study's Task 2: the new top layer first, then one more layer downwards each round.
STUDY_SCHEDULE = (
    ("fc8", 10, 1e-2),
    ("fc7", 10, 1e-3),
    ("fc6", 10, 1e-3),
    ("conv5", 10, 1e-3),
    ("conv4", 10, 1e-3),
    ("conv3", 10, 1e-3),
    ("conv2", 10, 1e-3),
    ("conv1", 10, 1e-3),
)


def parse_schedule(schedule) -> list[TrainingRound]:
    """Turn the ``schedule`` parameter into training rounds, with errors that name the round."""
    rounds = STUDY_SCHEDULE if isinstance(schedule, str) and schedule == "study" else schedule
    if isinstance(rounds, str) or not hasattr(rounds, "__iter__"):
        raise ValueError(
            f"schedule must be 'study' or a list of (first trainable layer, epochs, learning "
            f"rate); got {schedule!r}."
        )
    parsed = []
    for index, entry in enumerate(rounds):
        if len(entry) != 3:
            raise ValueError(f"schedule round {index} must be (layer, epochs, learning rate).")
        layer, epochs, learning_rate = entry
        if layer not in WEIGHTED_LAYERS:
            raise ValueError(
                f"schedule round {index} names layer {layer!r}; choose from {WEIGHTED_LAYERS}."
            )
        if isinstance(epochs, bool) or not isinstance(epochs, Integral) or epochs < 0:
            raise ValueError(f"schedule round {index}: epochs must be an int >= 0; got {epochs!r}.")
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, Real):
            raise ValueError(f"schedule round {index}: learning rate must be a number.")
        if learning_rate <= 0:
            raise ValueError(f"schedule round {index}: learning rate must be > 0.")
        parsed.append(TrainingRound(layer, int(epochs), float(learning_rate)))
    if not parsed:
        raise ValueError("schedule must hold at least one round.")
    return parsed


class AlexNetFineTuner(AlexNetClassifier):
    """Pretrained AlexNet fine-tuned layer by layer, as a scikit-learn classifier.

    ``fit`` replaces ``fc8`` by a layer for the classes of y, then runs the rounds of
    ``schedule``: each round trains its layer and every weighted layer above it, keeps every layer
    below it frozen, and starts a new SGD optimizer at its learning rate. The default schedule is
    the 2017 study's Task 2 (after Tajbakhsh et al., IEEE TMI 2016): fc8 alone, then fc7, fc6,
    conv5 ... conv1 in turn, 10 epochs each, learning rate 1e-2 in the first round and 1e-3 after.

    Parameters
    ----------
    weights : 'imagenet', path or keras.Model, default='imagenet'
        The pretrained network: a weight file in any format :func:`skalexnet.weights.load_weights`
        reads (convnets-keras h5, ONNX, torchvision .pth, Keras 3 files) or 'imagenet'.
    schedule : 'study' or list of (str, int, float), default='study'
        Rounds of (lowest trainable layer, epochs, learning rate).
    arch : {'original', 'caffe', 'torchvision'} or None, default=None
        None follows the weights; an explicit value that contradicts them is an error.
    image_size, batch_size, momentum, nesterov, decay, layer_lr_decay, lr_schedule, loss, \
augment, resize, cache, on_error, class_weight, early_stopping, validation_fraction, \
n_iter_no_change, callbacks, checkpoint_dir, precision, distribution, warm_start, \
random_state, verbose
        As for :class:`AlexNetClassifier`. Early stopping ends a round, not the schedule: the
        next round starts from the best epoch's weights. A checkpoint records the round too.
        ``callbacks`` see the whole schedule as one run (one ``CSVLogger`` file, epochs numbered
        on across rounds); a learning rate that ``ReduceLROnPlateau`` lowered lasts until the
        next round starts its optimizer at its own rate.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels seen in ``fit``.
    model_ : keras.Model
        The fine-tuned network.
    history_ : dict of list
        Per-epoch metrics over all rounds, as for :class:`AlexNetClassifier`, plus ``round``:
        the index in ``schedule`` of each epoch's round.
    rounds_ : list of dict
        One entry per round: ``first_trainable``, ``epochs``, ``learning_rate`` and
        ``trainable_layers`` (the weighted layers that trained).
    n_epochs_ : int
        Epochs trained so far, over all rounds.
    precision_ : {'float32', 'bfloat16', 'bfloat16_conv'}
        The precision the network computes in.
    skipped_files_ : list of str
        Unreadable image files left out by ``fit`` (``on_error='skip'``).

    See Also
    --------
    AlexNetClassifier : Training from scratch.

    Examples
    --------
    >>> from skalexnet import AlexNetFineTuner
    >>> tuner = AlexNetFineTuner(weights="pretrained.keras", schedule=[("fc8", 5, 1e-2),
    ...                          ("fc7", 5, 1e-3)])  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        weights="imagenet",
        schedule="study",
        arch=None,
        image_size=227,
        batch_size=16,
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
        self.schedule = schedule
        self.arch = arch
        self.image_size = image_size
        self.batch_size = batch_size
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

    def _check_params(self):
        if self.weights is None:
            raise ValueError(
                "AlexNetFineTuner needs pretrained weights (weights='imagenet' or a file); to "
                "train from scratch use AlexNetClassifier."
            )
        parse_schedule(self.schedule)
        super()._check_params()

    def _build_model(self, n_classes):
        # fc8 is always new, as the study's dense_3_new: the task's classes are not ImageNet's.
        return build_network(
            self.weights,
            n_classes=n_classes,
            image_size=self.image_size,
            arch=self.arch,
            new_top=True,
            **self._layer_dtypes(),
            seed=self._seed_,
        )

    def _training_rounds(self):
        return parse_schedule(self.schedule)

    def _initialize(self, classes, seed):
        super()._initialize(classes, seed)
        self.rounds_ = []

    def _start_round(self, training_round, round_index):
        self.rounds_.append(
            {
                "first_trainable": training_round.first_trainable,
                "epochs": training_round.epochs,
                "learning_rate": training_round.learning_rate,
                "trainable_layers": list(self.trainable_layers_),
            }
        )

    def _history_extras(self, round_index):
        return {"round": round_index}

    def _training_state(self):
        return {"rounds_": self.rounds_}

    def _set_training_state(self, state):
        self.rounds_ = state["rounds_"]
