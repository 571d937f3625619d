"""The errors a weight file can raise, and the one place low-level parse errors are translated.

Readers parse untrusted bytes with h5py, zipfile, pickle, json, protobuf and numpy, each of which
has its own exceptions for damaged input. Every reader promises instead that a bad file raises
:class:`WeightFileError` naming it, so callers (and ``except ValueError`` code) need one clause.
"""

import pickle
import struct
import zipfile
import zlib
from contextlib import contextmanager

# Defined in skalexnet.exceptions with the package's other errors; the readers import them here.
from ..exceptions import UnsafeWeightFileError, WeightFileError  # noqa: F401

# What the parsing libraries raise on damaged input: h5py maps HDF5 errors to OSError, KeyError,
# ValueError, TypeError and RuntimeError; zipfile adds BadZipFile, zlib.error, EOFError and
# NotImplementedError (a RuntimeError) for unknown compression; pickle adds UnpicklingError and
# struct.error; json adds RecursionError (a RuntimeError) on deep nesting; numpy adds OverflowError
# for sizes beyond an index. Anything else escaping a reader is a bug to fix, not to hide.
MALFORMED_FILE_ERRORS = (
    OSError,
    ValueError,
    LookupError,
    TypeError,
    RuntimeError,
    EOFError,
    OverflowError,
    struct.error,
    zipfile.BadZipFile,
    zlib.error,
    pickle.UnpicklingError,
)


@contextmanager
def reading(path, what: str):
    """Turn any error of a damaged file inside the block into a WeightFileError naming ``path``.

    ``what`` says what the file was read as, e.g. "a convnets-keras HDF5 file". A missing file
    stays a FileNotFoundError: that is the caller's path, not the file's content.
    """
    try:
        yield
    except FileNotFoundError:
        raise
    except WeightFileError as error:
        if str(path) in str(error):
            raise
        # Raised where the file is not known (deep in an unpickler): name it here.
        raise type(error)(f"{path}: {error}") from error.__cause__
    except MALFORMED_FILE_ERRORS as error:
        raise WeightFileError(f"{path}: cannot read it as {what}: {describe(error)}.") from error


def describe(error: BaseException) -> str:
    """The reason an error gives, with its type when that is not a plain ValueError."""
    message = str(error).rstrip(".") or "no details"
    return message if type(error) is ValueError else f"{type(error).__name__}: {message}"
