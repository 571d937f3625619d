"""skalexnet: AlexNet as scikit-learn estimators, on Keras 3 and any of its backends."""

from ._backend import select_backend

select_backend()  # before anything imports Keras

__version__ = "0.1.0"

from ._network import build_alexnet, min_image_size  # noqa: E402
from .classifier import AlexNetClassifier  # noqa: E402
from .datasets import load_image_folder  # noqa: E402
from .exceptions import ImageReadError, UnsafeWeightFileError, WeightFileError  # noqa: E402
from .export import export_onnx  # noqa: E402
from .features import AlexNetFeatureExtractor  # noqa: E402
from .finetuner import AlexNetFineTuner  # noqa: E402
from .lr_finder import LRFinderResult, lr_find  # noqa: E402

__all__ = [
    "AlexNetClassifier",
    "AlexNetFeatureExtractor",
    "AlexNetFineTuner",
    "ImageReadError",
    "LRFinderResult",
    "UnsafeWeightFileError",
    "WeightFileError",
    "__version__",
    "build_alexnet",
    "export_onnx",
    "load_image_folder",
    "lr_find",
    "min_image_size",
]
