"""skalexnet.exceptions: every exception and warning of the package, importable from one place."""

import pytest

import skalexnet
from skalexnet import exceptions


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("skalexnet", "ImageReadError"),
        ("skalexnet", "WeightFileError"),
        ("skalexnet", "UnsafeWeightFileError"),
        ("skalexnet.weights", "WeightFileError"),
        ("skalexnet.weights", "UnsafeWeightFileError"),
        ("skalexnet._data", "ImageReadError"),
        ("skalexnet._data", "SkippedImagesWarning"),
        ("skalexnet._callbacks", "NonFiniteLossError"),
    ],
)
def test_earlier_import_locations_give_the_same_class(module, name):
    import importlib

    assert getattr(importlib.import_module(module), name) is getattr(exceptions, name)


def test_each_exception_is_caught_by_the_builtin_it_refines():
    assert issubclass(exceptions.ImageReadError, ValueError)
    assert issubclass(exceptions.WeightFileError, ValueError)
    assert issubclass(exceptions.UnsafeWeightFileError, exceptions.WeightFileError)
    assert issubclass(exceptions.NonFiniteLossError, FloatingPointError)
    assert issubclass(exceptions.SkippedImagesWarning, UserWarning)


def test_a_damaged_weight_file_raises_the_public_class(tmp_path):
    damaged = tmp_path / "damaged.h5"
    damaged.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(exceptions.WeightFileError, match=r"damaged\.h5"):
        skalexnet.weights.load_weights(str(damaged))
