"""Checkpoints: the whole training state after an epoch, in one file that a crash cannot corrupt.

A checkpoint is one ``.npz`` file: every variable of the model (weights, and the dropout layers'
random-generator states), every variable of the optimizer (momenta, iteration count), and a JSON
record of the rest (epoch, round of the schedule, history, seed, and what the estimator was
configured and trained with). It is written to a temporary file in the same folder, flushed to
disk, then renamed over the previous one: a rename within a folder is atomic, so a reader sees
the old checkpoint or the new one, never half of one. Reading never unpickles anything. Each
run (estimator, configuration, training data, backend) keeps its checkpoint in a sub-folder of
``checkpoint_dir`` of its own, so that the fits of a grid search, which share ``checkpoint_dir``,
neither collide nor refuse each other's checkpoints, and a rerun search resumes each one.
"""

import json
import os
import tempfile
from dataclasses import dataclass

import joblib
import numpy as np

from ._identity import data_key, weights_key

CHECKPOINT_FILE = "checkpoint.npz"
FORMAT_VERSION = 1

# Parameters that change how training is watched or stored, not what it computes.
NOT_CONFIGURATION = ("verbose", "callbacks", "checkpoint_dir", "warm_start", "cache")
UNSET_IS_UNCHANGED = ("layer_lr_decay", "lr_schedule")


@dataclass
class Checkpoint:
    """A training state read back from ``checkpoint_dir``."""

    record: dict
    model_variables: list
    optimizer_variables: list


def checkpoint_folder(directory, identity: dict) -> str:
    """The sub-folder of ``directory`` for one training run: named by its estimator and a hash
    of its identity (configuration, data fingerprint, backend), so that runs never share one."""
    return os.path.join(os.fspath(directory), f"{identity['estimator']}-{joblib.hash(identity)}")


def checkpoint_path(directory) -> str:
    return os.path.join(os.fspath(directory), CHECKPOINT_FILE)


def write_checkpoint(directory, record: dict, model_variables, optimizer_variables) -> None:
    """Write the state atomically: the previous checkpoint stays whole until this one is."""
    os.makedirs(directory, exist_ok=True)
    arrays = {f"model_{i}": np.asarray(v) for i, v in enumerate(model_variables)}
    arrays.update({f"optimizer_{i}": np.asarray(v) for i, v in enumerate(optimizer_variables)})
    record = {
        **record,
        "format": FORMAT_VERSION,
        "n_model_variables": len(model_variables),
        "n_optimizer_variables": len(optimizer_variables),
    }
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".checkpoint-", suffix=".npz")
    try:
        with os.fdopen(descriptor, "wb") as f:
            np.savez(f, record=np.asarray(json.dumps(record)), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, checkpoint_path(directory))
    except BaseException:
        os.unlink(temporary)
        raise


def read_checkpoint(directory) -> Checkpoint | None:
    """The checkpoint in ``directory``, or None when there is none."""
    path = checkpoint_path(directory)
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            record = json.loads(str(data["record"]))
            if record.get("format") != FORMAT_VERSION:
                raise ValueError(f"format {record.get('format')!r}, expected {FORMAT_VERSION}")
            model = [data[f"model_{i}"] for i in range(record["n_model_variables"])]
            optimizer = [data[f"optimizer_{i}"] for i in range(record["n_optimizer_variables"])]
    except (OSError, ValueError, KeyError, EOFError) as error:
        raise ValueError(
            f"Cannot read the checkpoint {path}: {error}. Delete it to train afresh."
        ) from error
    return Checkpoint(record, model, optimizer)


def configuration(estimator) -> dict:
    """What the estimator computes with, as comparable strings (``repr`` of each parameter)."""
    params = estimator.get_params(deep=False)
    config = {name: repr(value) for name, value in params.items() if name not in NOT_CONFIGURATION}
    for name in UNSET_IS_UNCHANGED:
        if config.get(name) == "None":
            # Parameters added since checkpoints were first written: at their default they
            # train as before, and a checkpoint written before they existed still resumes.
            del config[name]
    if "weights" in params:
        config["weights"] = repr(weights_key(params["weights"]))
    if not (params.get("random_state") is None or isinstance(params["random_state"], int)):
        # A RandomState's repr holds its address; the seed it gave is in the checkpoint.
        config["random_state"] = "RandomState"
    return config


def data_fingerprint(X, y, sample_weight, validation_data) -> str:
    """A hash of the training data: array contents, or each file's path, size and mtime."""
    validation = None
    if validation_data is not None:
        validation = (data_key(validation_data[0]), np.asarray(validation_data[1]))
    weights = None if sample_weight is None else np.asarray(sample_weight)
    return joblib.hash((data_key(X), np.asarray(y), weights, validation))


def check_same_training(record: dict, identity: dict, path: str) -> None:
    """Refuse to resume from a checkpoint of another estimator, configuration, data or backend."""
    stored, current = record.get("configuration", {}), identity["configuration"]
    differing = [
        f"{name}: {stored.get(name, '-')} in the checkpoint, {current.get(name, '-')} now"
        for name in sorted(stored.keys() | current.keys())
        if stored.get(name) != current.get(name)
    ]
    differing += [
        f"{key}: {record.get(key)!r} in the checkpoint, {identity[key]!r} now"
        for key in ("estimator", "backend")
        if record.get(key) != identity[key]
    ]
    if record.get("data") != identity["data"]:
        differing.append("the training data (X, y, sample_weight or validation_data)")
    if differing:
        raise ValueError(
            f"The checkpoint {path} was written by a different training run; it differs in "
            f"{'; '.join(differing)}. Use another checkpoint_dir, or delete this one to train "
            f"afresh."
        )
