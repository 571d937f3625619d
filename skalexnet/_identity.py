"""What identifies training data and weights, cheaply: the keys of feature caches and checkpoints.

Files are identified by path, size and modification time, never by reading them, so that a key
over 25,000 image files costs 25,000 ``stat`` calls; arrays by their contents.
"""

import os

import joblib
import keras
import numpy as np

from ._data import is_path_sequence


def weights_key(weights):
    """A file's path, size and mtime; a Keras model's arrays hashed; anything else as given."""
    if isinstance(weights, keras.Model):
        return joblib.hash([np.asarray(w) for w in weights.get_weights()])
    if isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights):
        stat = os.stat(weights)
        return (os.path.abspath(weights), stat.st_size, stat.st_mtime_ns)
    return weights


def data_key(X):
    """Each file's path, size and mtime for a sequence of paths; X itself otherwise."""
    if not is_path_sequence(X):
        return X
    keys = []
    for path in X:
        try:
            stat = os.stat(path)
            keys.append((os.fspath(path), stat.st_size, stat.st_mtime_ns))
        except OSError:
            keys.append((os.fspath(path), None, None))
    return keys
