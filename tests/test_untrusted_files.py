"""Weight files from strangers: nothing in them runs, and damage is a WeightFileError naming them.

Crafted files try what a malicious download would: a pickle whose ``__reduce__`` calls
``os.system`` or ``exec``, a ``.keras`` model with a Lambda layer and configs naming modules to
import, pickles and HDF5 headers whose size fields claim terabytes, and an HDF5 global heap on
which the HDF5 library itself would loop forever. Each test asserts both the error and that the
marker file the payload writes was never written.
"""

import faulthandler
import importlib.util
import io
import os
import pickle
import sys
import zipfile

import h5py
import numpy as np
import pytest
import tiny_weights

from skalexnet import AlexNetClassifier
from skalexnet.weights import (
    UnsafeWeightFileError,
    WeightFileError,
    load_weights,
    read_convnets_keras_h5,
    read_keras_weights,
    read_torch_state_dict,
    read_torchvision_pth,
)
from skalexnet.weights._torch_pickle import LEGACY_MAGIC_NUMBER

# -- pickles that run code ---------------------------------------------------------------------


class _System:
    """Unpickles as ``os.system("touch <marker>")``, as a malicious .pth would."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Exec:
    """Unpickles as ``exec`` of Python that writes the marker: no os module named."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def _payload(kind, marker):
    return {"features.0.weight": {"_System": _System, "_Exec": _Exec}[kind](marker)}


def _write_zip_pth(path, pickled):
    """torch's zip layout, with the records torch.load checks before it unpickles."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickled)
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")


def _write_legacy_pth(path, pickled):
    buffer = io.BytesIO()
    for header in (LEGACY_MAGIC_NUMBER, 1001, {"little_endian": True}):
        pickle.dump(header, buffer, protocol=2)
    path.write_bytes(buffer.getvalue() + pickled + pickle.dumps([], protocol=2))


def _write_legacy_pth_header_payload(path, pickled):
    """The payload in place of the legacy stream's system-info header, before any tensor."""
    buffer = io.BytesIO()
    for header in (LEGACY_MAGIC_NUMBER, 1001):
        pickle.dump(header, buffer, protocol=2)
    path.write_bytes(buffer.getvalue() + pickled)


LAYOUTS = {
    "zip": _write_zip_pth,
    "legacy": _write_legacy_pth,
    "legacy-header": _write_legacy_pth_header_payload,
}


# Both payloads, in the oldest, torch's and the newest pickle protocol, in every place a .pth holds
# a pickle.
MALICIOUS = [
    (kind, protocol, layout)
    for kind in ("_System", "_Exec")
    for protocol in (0, 2, 5)
    for layout in LAYOUTS
]


@pytest.fixture(params=MALICIOUS, ids=lambda v: f"{v[0].strip('_')}-protocol{v[1]}-{v[2]}")
def malicious_pth(request, tmp_path):
    """A .pth whose unpickling writes a marker file; yields (path, marker, protocol) and checks,
    after the test, that the marker was never written."""
    kind, protocol, layout = request.param
    marker = tmp_path / "code-ran"
    path = tmp_path / "alexnet-owt.pth"
    LAYOUTS[layout](path, pickle.dumps(_payload(kind, marker), protocol=protocol))
    yield path, marker, protocol
    assert not marker.exists(), "the pickle's code ran"


def test_restricted_reader_refuses_to_run_pickled_code(malicious_pth):
    path = malicious_pth[0]
    with pytest.raises(UnsafeWeightFileError, match=r"refusing to load \S+\.(system|exec):"):
        read_torch_state_dict(path)


def _expected_refusal(malicious_pth, through_torch):
    """torch.load(weights_only=True) refuses protocols 0 and 5 for an opcode before it reaches
    the global: a WeightFileError. It names the global (unsafe) only in torch's own protocol 2."""
    path, protocol = malicious_pth[0], malicious_pth[2]
    if through_torch and protocol != 2:
        return pytest.raises(WeightFileError, match=str(path))
    return pytest.raises(UnsafeWeightFileError, match=f"{path}.*Nothing was run")


@pytest.mark.parametrize("use_torch", [True, False])
def test_torchvision_reader_refuses_to_run_pickled_code(malicious_pth, use_torch):
    if use_torch:
        pytest.importorskip("torch")
    with _expected_refusal(malicious_pth, through_torch=use_torch):
        read_torchvision_pth(malicious_pth[0], use_torch=use_torch)


def test_load_weights_refuses_to_run_pickled_code(malicious_pth):
    torch_installed = importlib.util.find_spec("torch") is not None
    with _expected_refusal(malicious_pth, through_torch=torch_installed):
        load_weights(malicious_pth[0])


def test_estimator_refuses_to_run_pickled_code(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "alexnet-owt.pth"
    _write_zip_pth(path, pickle.dumps(_payload("_System", marker), protocol=2))
    X = np.zeros((4, 8, 8), np.uint8)
    with pytest.raises(UnsafeWeightFileError, match=str(path)):
        AlexNetClassifier(weights=path, image_size=67, epochs=1).fit(X, [0, 1, 0, 1])
    assert not marker.exists()


def test_pickle_claiming_terabytes_is_refused_before_allocating(tmp_path):
    path = tmp_path / "bomb.pth"
    counted_bytes = b"\x80\x05\x8e" + (2**40).to_bytes(8, "little") + b"abc"  # BINBYTES8, 1 TiB
    huge_memo = b"\x80\x02]r\xff\xff\xff\x7f."  # LONG_BINPUT 2**31-1: a 16 GiB memo table
    for pickled in (counted_bytes, huge_memo):
        _write_zip_pth(path, pickled)
        with pytest.raises(WeightFileError, match=str(path)):
            read_torch_state_dict(path)


def test_tensor_larger_than_its_storage_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "broadcast.pth"
    # Legal for torch (a view of one element), but copying it out would take 4 TB.
    torch.save({"features.0.weight": torch.zeros(1).expand(10**6, 10**6)}, path)
    with pytest.raises(WeightFileError, match=r"size \(1000000, 1000000\)"):
        read_torch_state_dict(path)


# -- Keras files that would run code if deserialised --------------------------------------------


def test_keras_file_with_a_lambda_layer_runs_nothing(tmp_path, fast_build):
    import keras

    marker = tmp_path / "lambda-ran"
    # The path is a constant of the lambda's code, which Keras marshals into the config.
    payload = eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]")
    writes_marker = keras.layers.Lambda(payload, name="payload")
    model = tiny_weights.tiny_keras_model(extra_layer=writes_marker)  # building calls it once
    path = tmp_path / "alexnet.keras"
    model.save(path)
    marker.unlink()

    # The config is read as data, no layer is built: the Lambda is named, never called.
    for read in (read_keras_weights, load_weights):
        with pytest.raises(WeightFileError, match=r"layer 'payload' \(Lambda\)"):
            read(path)
    X = np.zeros((4, 8, 8), np.uint8)
    with pytest.raises(WeightFileError, match="'payload'"):
        AlexNetClassifier(weights=path, image_size=67, epochs=1).fit(X, [0, 1, 0, 1])
    assert not marker.exists()

    # The file is armed: Keras itself, told the file is trusted, runs the Lambda.
    keras.saving.load_model(path, safe_mode=False)
    assert marker.exists()


def test_keras_config_naming_modules_imports_nothing(tmp_path):
    source = tiny_weights.write_keras(tmp_path / "alexnet.keras")
    path = tmp_path / "crafted.keras"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(path, "w") as crafted:
        for info in original.infolist():
            data = original.read(info)
            if info.filename == "config.json":  # the module 'this' prints on import
                assert b'"module": "keras.layers"' in data
                data = data.replace(b'"module": "keras.layers"', b'"module": "this"')
            crafted.writestr(info, data)
    assert "this" not in sys.modules
    assert load_weights(path).arch == "caffe"
    assert "this" not in sys.modules


# -- damaged HDF5 files ------------------------------------------------------------------------

H5_WRITERS = {
    "convnets-keras": (tiny_weights.write_convnets_keras_h5, read_convnets_keras_h5),
    "keras-weights": (
        lambda path: tiny_weights.write_keras(path, weights_only=True),
        read_keras_weights,
    ),
}


@pytest.mark.parametrize("kind", list(H5_WRITERS))
def test_truncated_hdf5_fails_naming_the_file(tmp_path, kind):
    write, reader = H5_WRITERS[kind]
    whole = write(tmp_path / "whole.weights.h5").read_bytes()
    for length in (0, 7, 8, 100, 512, 2048, len(whole) // 2, len(whole) - 1):
        path = tmp_path / f"truncated-{length}.h5"
        path.write_bytes(whole[:length])
        for read in (reader, load_weights):
            with pytest.raises(WeightFileError, match=str(path)):
                read(path)


@pytest.mark.parametrize("signature", [b"", b"\x89HDF\r\n\x1a\n"])
def test_random_bytes_named_h5_fail_naming_the_file(tmp_path, signature):
    rng = np.random.default_rng(0)
    for index in range(20):
        path = tmp_path / f"random-{index}.h5"
        path.write_bytes(signature + rng.bytes(int(rng.integers(1, 5000))))
        for read in (read_convnets_keras_h5, read_keras_weights, load_weights):
            with pytest.raises(WeightFileError, match=str(path)):
                read(path)


def test_dataset_claiming_more_than_the_file_holds_is_not_read(tmp_path):
    path = tiny_weights.write_convnets_keras_h5(tmp_path / "alexnet_weights.h5")
    with h5py.File(path, "a") as f:
        del f["conv_1/conv_1_W"]
        # Chunked and never written: HDF5 would fill 1.5 GB with the fill value on reading.
        f["conv_1"].create_dataset("conv_1_W", (2**20, 3, 11, 11), "f4", chunks=(1, 3, 11, 11))
    with pytest.raises(WeightFileError, match=r"conv_1/conv_1_W claims shape \(1048576, 3"):
        read_convnets_keras_h5(path)


def test_global_heap_that_would_hang_hdf5_is_refused(tmp_path):
    """HDF5 loops forever on a heap object that does not move it on (HDFGroup/hdf5#1707)."""
    path = tiny_weights.write_convnets_keras_h5(tmp_path / "alexnet_weights.h5")
    data = bytearray(path.read_bytes())
    first_object = data.find(b"GCOL") + 16  # after signature, version, 3 reserved bytes, size
    data[first_object : first_object + 2] = bytes(2)  # index 0: free space, which HDF5 moves
    data[first_object + 8 : first_object + 16] = bytes(8)  # past by its size, here 0
    path.write_bytes(data)
    faulthandler.dump_traceback_later(60, exit=True)  # were the guard gone, fail, do not hang
    try:
        with pytest.raises(WeightFileError, match="damaged HDF5 global heap"):
            load_weights(path)
    finally:
        faulthandler.cancel_dump_traceback_later()


def test_weights_that_spell_a_global_heap_by_chance_still_load(tmp_path):
    """The guard walks every b'GCOL' it finds; one inside weights, whose walk ends, is let be."""
    path = tiny_weights.write_convnets_keras_h5(tmp_path / "alexnet_weights.h5")
    # Signature, version 1, a 40-byte collection, then an object the walk steps past the end of.
    spelled = b"GCOL\x01\x00\x00\x00" + (40).to_bytes(8, "little") + b"\x01" * 20
    with h5py.File(path, "a") as f:
        f["dense_2/dense_2_W"][...] = np.frombuffer(spelled, np.float32).reshape(3, 3)
    assert path.read_bytes().count(b"GCOL") == 2  # HDF5's own heap, and the one spelled
    assert load_weights(path).n_classes == 3
