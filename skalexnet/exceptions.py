"""Every exception and warning skalexnet raises of its own, in one public module.

Each is a subclass of the built-in one that code would otherwise catch (``ValueError``,
``FloatingPointError``, ``UserWarning``), so ``except ValueError`` keeps working.
"""

__all__ = [
    "ImageReadError",
    "NonFiniteLossError",
    "PixelRangeWarning",
    "SkippedImagesWarning",
    "UnsafeWeightFileError",
    "WeightFileError",
]


class ImageReadError(ValueError):
    """An image file that cannot be decoded; the message names the file and the reason."""


class SkippedImagesWarning(UserWarning):
    """Unreadable image files were left out of a fit (``on_error='skip'``)."""


class PixelRangeWarning(UserWarning):
    """Array images whose values are not pixels in [0, 255] (scaled to [0, 1], 16-bit, or
    standardised): the network subtracts the ImageNet mean from [0, 255] pixels itself."""


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


class WeightFileError(ValueError):
    """A weight file that is damaged, of no accepted format, or holds another network.

    The message names the file and, where they apply, the layer and the shapes at fault. A
    subclass of ``ValueError``, so code catching ``ValueError`` keeps working.
    """


class UnsafeWeightFileError(WeightFileError):
    """A pickled weight file that asks to call code no state dict needs; nothing was run."""
