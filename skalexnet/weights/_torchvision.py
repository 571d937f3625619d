"""torchvision's AlexNet state dict (``alexnet-owt-7be5be79.pth``): keys, shapes, conversion."""

import dataclasses
import pickle

import numpy as np

from ._errors import UnsafeWeightFileError, WeightFileError, reading
from ._torch_pickle import read_torch_state_dict
from ._transforms import fc6_rows_chw_to_hwc, oihw_to_hwio, out_in_to_in_out
from ._weightset import WeightSet

SOURCE = "torchvision-pth"
# Caffe layer name -> torchvision module path (``<path>.weight`` and ``<path>.bias``).
TORCHVISION_KEYS = {
    "conv1": "features.0",
    "conv2": "features.3",
    "conv3": "features.6",
    "conv4": "features.8",
    "conv5": "features.10",
    "fc6": "classifier.1",
    "fc7": "classifier.4",
    "fc8": "classifier.6",
}
IMAGE_SIZE = 224  # torchvision's training and evaluation crop
# How the paragraphs of torch.load's advice around a weights-only error begin.
TORCH_ADVICE = ("In PyTorch", "(1)", "(2)", "Check the documentation", "Please file an issue")


def convert_torchvision_state_dict(state_dict, *, source: str = SOURCE) -> WeightSet:
    """Convert torchvision's AlexNet state dict (arrays or tensors) to Keras 3 layout.

    Parameters
    ----------
    state_dict : mapping of str to array-like
        Keys ``features.0.weight`` ... ``classifier.6.bias`` as torchvision names them.
    source : str, default='torchvision-pth'
        Recorded in the result.

    Returns
    -------
    weights : WeightSet
        arch 'torchvision', preprocessing 'torchvision'.

    Examples
    --------
    >>> import numpy as np
    >>> from skalexnet.weights import convert_torchvision_state_dict
    >>> shapes = {"features.0": (64, 3, 11, 11), "features.3": (192, 64, 5, 5),
    ...           "features.6": (384, 192, 3, 3), "features.8": (256, 384, 3, 3),
    ...           "features.10": (256, 256, 3, 3), "classifier.1": (4096, 9216),
    ...           "classifier.4": (4096, 4096), "classifier.6": (10, 4096)}
    >>> state = {}
    >>> for key, shape in shapes.items():
    ...     state[key + ".weight"] = np.zeros(shape, "float32")
    ...     state[key + ".bias"] = np.zeros(shape[0], "float32")
    >>> ws = convert_torchvision_state_dict(state)
    >>> ws.layers["fc6"][0].shape, ws.n_classes
    ((9216, 4096), 10)
    """
    missing = [f"{k}.{p}" for k in TORCHVISION_KEYS.values() for p in ("weight", "bias")]
    missing = [key for key in missing if key not in state_dict]
    if missing:
        raise ValueError(
            f"the state dict lacks {missing}: not torchvision's AlexNet (its keys are "
            f"features.0/3/6/8/10 and classifier.1/4/6, .weight and .bias)."
        )
    layers = {}
    for name, key in TORCHVISION_KEYS.items():
        weight = _as_float32(state_dict[f"{key}.weight"])
        bias = _as_float32(state_dict[f"{key}.bias"])
        expected_ndim = 4 if name.startswith("conv") else 2
        if weight.ndim != expected_ndim:
            raise ValueError(f"{key}.weight has shape {weight.shape}, not a torch {name} weight.")
        kernel = oihw_to_hwio(weight) if expected_ndim == 4 else out_in_to_in_out(weight)
        layers[name] = [kernel, bias]
    # torch.flatten on NCHW leaves pool5 (after the 6x6 adaptive pool) in C, H, W order.
    layers["fc6"][0] = fc6_rows_chw_to_hwc(layers["fc6"][0], layers["conv5"][0].shape[-1])
    return WeightSet(
        arch="torchvision",
        preprocessing="torchvision",
        layers=layers,
        source=source,
        n_classes=int(layers["fc8"][0].shape[-1]),
        image_size=IMAGE_SIZE,
    )


def read_torchvision_pth(path, *, use_torch: bool = True) -> WeightSet:
    """Read torchvision's ``alexnet-owt-*.pth`` (or any file with its state dict).

    Parameters
    ----------
    path : str or path-like
        A file written by ``torch.save(model.state_dict())``, zip or legacy layout.
    use_torch : bool, default=True
        True reads with ``torch.load(weights_only=True)`` (torch is a dependency of skalexnet);
        False with skalexnet's own restricted unpickler (numpy only, refuses anything but tensors
        and dicts), which reads the same files without torch's code.

    Returns
    -------
    weights : WeightSet
        arch 'torchvision', preprocessing 'torchvision'.

    Raises
    ------
    UnsafeWeightFileError
        When the pickle asks for anything but tensors and dicts; neither reader runs it.
    WeightFileError
        When the file is damaged or holds another network's state dict.

    Examples
    --------
    >>> from skalexnet.weights import read_torchvision_pth
    >>> ws = read_torchvision_pth("alexnet-owt-7be5be79.pth", use_torch=False)  # doctest: +SKIP
    >>> ws.n_params  # doctest: +SKIP
    61100840
    """
    state_dict = _load_with_torch(path) if use_torch else read_torch_state_dict(path)
    with reading(path, "torchvision's AlexNet state dict"):
        return dataclasses.replace(convert_torchvision_state_dict(state_dict), path=str(path))


def _load_with_torch(path):
    import torch

    with open(path, "rb") as f:  # a missing file stays a FileNotFoundError
        try:
            state_dict = torch.load(f, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
            raise _torch_refusal(path, error) from error
    if not isinstance(state_dict, dict):
        raise WeightFileError(f"{path}: holds a {type(state_dict).__name__}, not a state dict.")
    return state_dict


def _torch_refusal(path, error) -> WeightFileError:
    """The error for what torch.load(weights_only=True) raised: unsafe when it refused a global.

    torch words every refusal "unsupported GLOBAL module.name" (2.4 and later; "Unsupported
    global: GLOBAL ..." before); a damaged file raises other errors, or UnpicklingErrors without it.
    """
    reason = _torch_reason(error)
    if isinstance(error, pickle.UnpicklingError) and "GLOBAL" in reason:
        return UnsafeWeightFileError(
            f"{path}: torch.load(weights_only=True) refused it: {reason} A state dict of "
            "tensors never needs it, and unpickling it could run arbitrary code. Nothing was run."
        )
    return WeightFileError(f"{path}: torch could not load it ({type(error).__name__}: {reason}).")


def _torch_reason(error) -> str:
    """torch's reason, less its advice to retry with weights_only=False (skalexnet never will).

    torch wraps the unpickler's reason in paragraphs of advice, after "WeightsUnpickler error:"
    or on a line of its own; the first sentence of the first line that is not advice is the
    reason (what follows it is advice again: how to allowlist the global, or file an issue).
    """
    text = str(error).split("WeightsUnpickler error:", 1)[-1]
    for line in text.splitlines():
        line = line.strip().removeprefix("Weights only load failed.").strip()
        if line and not line.startswith(TORCH_ADVICE):
            return line.split(". ", 1)[0].rstrip(".") + "."
    return type(error).__name__


def _as_float32(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().float().numpy()
    return np.asarray(value, dtype=np.float32)
