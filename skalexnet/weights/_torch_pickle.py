"""Read a ``torch.save``d state dict with numpy alone, never running pickled code.

A ``.pth`` file is a pickle, and unpickling calls whatever the file names. This reader's
unpickler resolves only the few names a state dict of tensors needs (``collections.OrderedDict``,
torch's tensor-rebuild functions, ``torch.*Storage`` types) to local stand-ins and refuses any
other, so a crafted file cannot execute code. Both of torch's layouts are read: the zip archive
(torch >= 1.6: ``*/data.pkl`` plus one raw file per storage) and the legacy stream (magic number,
protocol, system info, the pickle, storage keys, then each storage as an int64 count and bytes).
"""

import collections
import io
import pickle
import struct
import zipfile

import numpy as np

# torch's legacy storage class names -> element types (bfloat16 has no numpy type).
STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
# The legacy stream opens with pickle protocol 2 and LONG1 of the magic number's 10 bytes.
LEGACY_PREFIX = b"\x80\x02\x8a\x0a" + LEGACY_MAGIC_NUMBER.to_bytes(10, "little")


class _Storage:
    """A storage known by key and type; its bytes arrive later in the legacy layout."""

    def __init__(self, key, dtype, numel):
        self.key, self.dtype, self.numel = key, np.dtype(dtype), numel
        self.data = None
        self.view = None  # (base storage, element offset) for legacy storage views


class _PendingTensor:
    """A tensor whose storage may not be read yet: rebuilt once every storage is in memory."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = (
            storage,
            offset,
            tuple(size),
            tuple(stride),
        )

    def materialize(self) -> np.ndarray:
        storage, offset = self.storage, self.offset
        if storage.view is not None:
            storage, base_offset = storage.view
            offset += base_offset
        data = storage.data
        needed = offset + sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=True)) + 1
        if 0 not in self.size and needed > data.size:
            raise ValueError(f"a tensor reaches element {needed} of a storage of {data.size}.")
        strides = tuple(s * data.itemsize for s in self.stride)
        view = np.lib.stride_tricks.as_strided(data[offset:], self.size, strides, writeable=False)
        return np.array(view)  # copy: never hand out a view that as_strided could make unsafe


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, *args):
    return _PendingTensor(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _PendingTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *args):
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _StateDictUnpickler(pickle.Unpickler):
    """Resolves only the names a state dict needs; storages come from ``storage_for``."""

    def __init__(self, file, storage_for):
        super().__init__(file)
        self._storage_for = storage_for

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return STORAGE_DTYPES[name]
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: a state dict of tensors never needs it, and "
            "unpickling it could run arbitrary code. Load the file with torch.load("
            "weights_only=True) if you trust it."
        )

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r} in a torch file.")
        return self._storage_for(*pid[1:])


def read_torch_state_dict(path) -> dict:
    """Read a state dict saved with ``torch.save`` into numpy arrays, without torch.

    Parameters
    ----------
    path : str or path-like
        A ``.pth`` file in torch's zip or legacy layout holding a (nested) dict of tensors.

    Returns
    -------
    state_dict : dict of str to ndarray
        Keys as saved; each tensor copied out of its storage with its shape and strides.

    Raises
    ------
    ValueError
        When the file is truncated or malformed, or names anything but tensors and dicts.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(len(LEGACY_PREFIX))
            f.seek(0)
            if head == LEGACY_PREFIX:
                result = _read_legacy(f)
            else:
                result = _read_zip(f)
        return _materialize(result)
    except (
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        EOFError,
        struct.error,
        KeyError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
    ) as error:
        raise ValueError(f"{path}: not a readable torch state dict ({error}).") from error


def _read_zip(f):
    archive = zipfile.ZipFile(f)
    pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
    if len(pickles) != 1:
        raise ValueError("no data.pkl in the archive: not a file written by torch.save")
    root = pickles[0][: -len("data.pkl")]
    byteorder = "little"
    if f"{root}byteorder" in archive.namelist():
        byteorder = archive.read(f"{root}byteorder").decode()
    storages = {}

    def storage_for(storage_type, key, location, numel, *rest):
        if key not in storages:
            storage = _Storage(key, _storage_dtype(storage_type), numel)
            raw = archive.read(f"{root}data/{key}")
            dtype = storage.dtype.newbyteorder("<" if byteorder == "little" else ">")
            storage.data = np.frombuffer(raw, dtype=dtype).astype(storage.dtype, copy=False)
            storages[key] = storage
        return storages[key]

    return _StateDictUnpickler(io.BytesIO(archive.read(pickles[0])), storage_for).load()


def _read_legacy(f):
    def load_plain():  # the header pickles hold only ints, dicts and strings
        return _StateDictUnpickler(f, _refuse_storage).load()

    if load_plain() != LEGACY_MAGIC_NUMBER:
        raise ValueError("bad magic number")
    protocol = load_plain()
    if protocol != 1001:
        raise ValueError(f"legacy protocol {protocol}, expected 1001")
    sys_info = load_plain()
    byteorder = "<" if sys_info.get("little_endian", True) else ">"
    storages = {}

    def storage_for(storage_type, key, location, numel, view_metadata=None):
        if key not in storages:
            storages[key] = _Storage(key, _storage_dtype(storage_type), numel)
        if view_metadata is None:
            return storages[key]
        view_key, offset, view_size = view_metadata
        view = _Storage(view_key, storages[key].dtype, view_size)
        view.view = (storages[key], offset)
        return view

    result = _StateDictUnpickler(f, storage_for).load()
    for key in load_plain():
        storage = storages[key]
        (numel,) = struct.unpack(f"{byteorder}q", f.read(8))
        raw = f.read(numel * storage.dtype.itemsize)
        if len(raw) != numel * storage.dtype.itemsize:
            raise EOFError(f"storage {key} is truncated")
        storage.data = np.frombuffer(raw, dtype=storage.dtype.newbyteorder(byteorder))
    return result


def _refuse_storage(*args):
    raise pickle.UnpicklingError("a storage in the header of a legacy torch file")


def _storage_dtype(storage_type):
    if isinstance(storage_type, type) and issubclass(storage_type, np.generic):
        return storage_type
    raise pickle.UnpicklingError(f"unsupported storage type {storage_type!r}")


def _materialize(value):
    """Replace the pending tensors in the unpickled dicts and lists by arrays."""
    if isinstance(value, _PendingTensor):
        return value.materialize()
    if isinstance(value, dict):
        return {key: _materialize(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_materialize(item) for item in value)
    return value
