"""What identifies training data and weights, cheaply: the keys of feature caches and checkpoints.

Files are identified by path, size and modification time, never by reading them, so that a key
over 25,000 image files costs 25,000 ``stat`` calls; arrays by their contents.
"""

import os

import joblib
import keras
import numpy as np

from ._data import as_path_list


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
    paths = as_path_list(X)  # plain str paths, from a list, array, Series or DataFrame column
    if paths is None:
        return X
    keys = []
    for path in paths:
        try:
            stat = os.stat(path)
            keys.append((path, stat.st_size, stat.st_mtime_ns))
        except OSError:
            keys.append((path, None, None))
    return keys
