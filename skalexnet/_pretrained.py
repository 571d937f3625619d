"""An AlexNet whose architecture and preprocessing follow the weights it is given."""

from collections.abc import Iterable

import keras

from ._network import ARCHITECTURES, PREPROCESSING, WEIGHTED_LAYERS, build_alexnet
from .weights import apply_weights, load_weights, resolve_weights


def build_network(
    weights=None,
    *,
    n_classes: int | None = None,
    image_size: int = 227,
    arch: str | None = None,
    new_top: bool = False,
    dtype=None,
    seed: int | None = None,
    fc_dtype=None,
    up_to: str | Iterable[str] = "prob",
) -> keras.Model:
    """Build AlexNet with random weights (``weights=None``) or the weights of a file.

    Parameters
    ----------
    weights : None, 'imagenet', path or keras.Model
        Where the weights come from; a Keras model (e.g. a fitted estimator's ``model_``) is
        used as it is when its input size and classes fit.
    n_classes : int, default=None
        Units of ``fc8``; None keeps the file's. ``fc8`` is always replaced (randomly
        initialised) when it differs from the file's.
    image_size : int, default=227
        Input height and width.
    arch : str, default=None
        None follows the weights ('original' without weights); an explicit value that
        contradicts the weights raises a ValueError. It also says the variant of a Keras 3
        file that does not (see :func:`skalexnet.weights.read_keras_weights`).
    new_top : bool, default=False
        Replace ``fc8`` by a randomly initialised layer even when the classes match in number
        (the new task's classes are not the old ones).
    dtype, fc_dtype : str or keras.DTypePolicy, default=None
        The layers' dtype policies (see :func:`build_alexnet`).
    seed : int, default=None
        Seeds the initialisers and dropout layers (see :func:`build_alexnet`).
    up_to : str or iterable of str, default='prob'
        Build up to these layers and no further (see :func:`build_alexnet`); the weights of the
        layers above are neither drawn nor loaded.

    Returns
    -------
    model : keras.Model
    """
    if weights is None:
        return build_alexnet(
            arch or "original",
            n_classes or 1000,
            image_size,
            dtype=dtype,
            seed=seed,
            fc_dtype=fc_dtype,
            up_to=up_to,
        )
    if isinstance(weights, keras.Model):
        dtypes = {"dtype": dtype, "fc_dtype": fc_dtype}
        return _from_model(weights, n_classes, image_size, arch, new_top, dtypes, seed, up_to)
    # A Keras 3 file that does not say its variant takes arch from here; any file refuses an
    # arch that contradicts it (a WeightFileError, a ValueError).
    weight_set = load_weights(resolve_weights(weights), arch=arch)
    model, skip = _build_to_load(
        {
            "arch": weight_set.arch,
            "preprocessing": weight_set.preprocessing,
            "n_classes": weight_set.n_classes,
        },
        weight_set.layers,
        n_classes,
        image_size,
        new_top,
        {"dtype": dtype, "fc_dtype": fc_dtype},
        seed,
        up_to,
    )
    apply_weights(model, weight_set, skip=skip)
    return model


def _from_model(
    source: keras.Model, n_classes, image_size, arch, new_top, dtypes, seed, up_to
) -> keras.Model:
    """Copy a skalexnet Keras model into a fresh one (new fc8 where the classes differ)."""
    config = _network_config(source)
    if arch is not None and arch != config["arch"]:
        raise ValueError(
            f"arch={arch!r} contradicts the given model, a {config['arch']!r} AlexNet; leave "
            f"arch=None to follow it."
        )
    loaded = [layer.name for layer in source.layers if layer.weights]
    model, skip = _build_to_load(
        config, loaded, n_classes, image_size, new_top, dtypes, seed, up_to
    )
    for layer in source.layers:
        if not layer.weights or layer.name in skip:
            continue
        target = model.get_layer(layer.name)
        for mine, theirs in zip(target.weights, layer.weights, strict=True):
            if tuple(mine.shape) != tuple(theirs.shape):
                raise ValueError(
                    f"{layer.name} expects {tuple(mine.shape)}, the given model holds "
                    f"{tuple(theirs.shape)}: was it built for image_size={image_size}?"
                )
            mine.assign(theirs)
    return model


def _build_to_load(
    source: dict, loaded, n_classes, image_size, new_top, dtypes, seed, up_to
) -> tuple[keras.Model, tuple[str, ...]]:
    """The network that receives the weights of ``source``, and the layers not to copy.

    ``source`` gives the weights' arch, preprocessing and classes; ``loaded`` names their
    layers. Only the layers that keep their initial weights (a replaced fc8, any layer the
    weights lack) draw random values: the others are overwritten at once. The layers above
    ``up_to`` are not built, so neither drawn nor copied.
    """
    n_classes = n_classes or source["n_classes"]
    skip = ("fc8",) if new_top or n_classes != source["n_classes"] else ()
    model = build_alexnet(
        source["arch"],
        n_classes,
        image_size,
        preprocessing=source["preprocessing"],
        **dtypes,
        seed=seed,
        random_layers=[name for name in WEIGHTED_LAYERS if name not in loaded or name in skip],
        up_to=up_to,
    )
    built = {layer.name for layer in model.layers}
    return model, skip + tuple(name for name in WEIGHTED_LAYERS if name not in built)


def _network_config(model: keras.Model) -> dict:
    """Architecture, preprocessing and classes of a model built by build_alexnet."""
    arch = model.name.removeprefix("alexnet_")
    if arch not in ARCHITECTURES:
        raise ValueError(
            f"The model {model.name!r} was not built by skalexnet's build_alexnet; pass a "
            f"weights file instead."
        )
    preprocess = model.get_layer("preprocess").get_config()
    preprocessing = next(
        name
        for name, values in PREPROCESSING.items()
        if tuple(values["mean"]) == tuple(preprocess["mean"])
        and tuple(values["std"]) == tuple(preprocess["std"])
    )
    return {
        "arch": arch,
        "preprocessing": preprocessing,
        "n_classes": model.get_layer("fc8").units,
    }
