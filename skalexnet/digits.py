"""scikit-learn's handwritten digits as the study in miniature, with no download.

A network trained on digits 0-4 plays the part of ImageNet's pretrained weights; digits 5-9,
which it never saw, are the new task to fine-tune on or to extract features for. The demo
(``skalexnet demo``), the examples, the benchmarks and the tests all build that network here, so
that one recipe is meant wherever "pretrained on digits 0-4" is written.
"""

import numpy as np

# AlexNet's smallest input ('original' variant); the 8x8 digits are upscaled to it.
DIGITS_IMAGE_SIZE = 67

# How the network standing in for ImageNet is trained, unless a caller changes it: batches of
# 32, no augmentation, and a learning rate high enough to learn digits 0-4 in 4 epochs.
PRETRAIN_PARAMS = {"epochs": 4, "batch_size": 32, "learning_rate": 0.02, "augment": None}


def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 of scikit-learn's digits as uint8 8x8 images, and their labels.

    Returns
    -------
    images : ndarray of uint8, shape (1797, 8, 8)
        The digits' pixels (0-16) times 16, clipped to 0-255.
    labels : ndarray of int, shape (1797,)
        The digit each image shows.

    Examples
    --------
    >>> from skalexnet.digits import digit_images
    >>> images, labels = digit_images()
    >>> images.shape, images.dtype, images.max(), sorted(set(labels.tolist()))[:3]
    ((1797, 8, 8), dtype('uint8'), np.uint8(255), [0, 1, 2])
    """
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X * 16).clip(0, 255).astype(np.uint8).reshape(-1, 8, 8), y


def pretrain_on_digits_0_to_4(
    *, image_size: int = DIGITS_IMAGE_SIZE, random_state: int = 0, **params
):
    """An AlexNetClassifier fitted on every image of digits 0-4: the stand-in for ImageNet.

    Its network (``model_``), saved with ``model_.save(path)``, is what the demo, the examples and
    the tests pass as ``weights=path`` to fine-tune on digits 5-9 or to extract their features;
    ``AlexNetFeatureExtractor.from_estimator`` takes the fitted classifier itself.

    Parameters
    ----------
    image_size : int, default=67
        Input size of the network; the digits are upscaled to it.
    random_state : int, default=0
        Seeds the weights' initialisation and the batches' order.
    **params
        Other parameters of :class:`~skalexnet.AlexNetClassifier`; they override
        ``PRETRAIN_PARAMS`` (4 epochs, batch 32, learning rate 0.02, no augmentation), e.g.
        ``learning_rate=0.005``.

    Returns
    -------
    classifier : AlexNetClassifier
        Fitted on the 901 images of digits 0-4.

    Examples
    --------
    >>> import tempfile
    >>> from skalexnet import AlexNetFineTuner
    >>> from skalexnet.digits import pretrain_on_digits_0_to_4
    >>> pretrained = pretrain_on_digits_0_to_4(epochs=1)
    >>> path = f"{tempfile.mkdtemp()}/digits_0_to_4.keras"
    >>> pretrained.model_.save(path)
    >>> tuner = AlexNetFineTuner(weights=path, image_size=67)  # then fit on digits 5-9
    """
    from .classifier import AlexNetClassifier

    images, labels = digit_images()
    seen = labels < 5
    classifier = AlexNetClassifier(
        image_size=image_size, random_state=random_state, **{**PRETRAIN_PARAMS, **params}
    )
    return classifier.fit(images[seen], labels[seen])
