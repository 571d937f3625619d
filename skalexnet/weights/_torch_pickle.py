"""Read a ``torch.save``d state dict with numpy alone, never running pickled code.

A ``.pth`` file is a pickle, and unpickling calls whatever the file names. This reader's
unpickler resolves only the few names a state dict of tensors needs (``collections.OrderedDict``,
torch's tensor-rebuild functions, ``torch.*Storage`` types) to local stand-ins and refuses any
other, so a crafted file cannot execute code. Nor can it choose how much memory is used: every
length, memo index, tensor size and stride it declares is checked against the bytes it holds.
Both of torch's layouts are read: the zip archive (torch >= 1.6: ``*/data.pkl`` plus one raw file
per storage) and the legacy stream (magic number, protocol, system info, the pickle, storage
keys, then each storage as an int64 count and bytes).
"""

import collections
import io
import math
import pickle
import pickletools
import zipfile
from pathlib import Path

import numpy as np

from ._bounds import read_member
from ._errors import UnsafeWeightFileError, WeightFileError, reading

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


class _Sealed:
    """Refuses pickle's BUILD opcode, which would otherwise set any attribute of an object on the
    unpickler's stack (a tensor's size or stride after its checks, say)."""

    def __setstate__(self, state):
        raise pickle.UnpicklingError(f"the pickle sets the state of a {type(self).__name__}")


class _Storage(_Sealed):
    """A storage known by key and type; its bytes arrive later in the legacy layout."""

    def __init__(self, key, dtype, numel):
        self.key, self.dtype, self.numel = key, np.dtype(dtype), numel
        self.data = None
        self.view = None  # (base storage, element offset) for legacy storage views


class _PendingTensor(_Sealed):
    """A tensor whose storage may not be read yet: rebuilt once every storage is in memory."""

    def __init__(self, storage, offset, size, stride):
        if not isinstance(storage, _Storage):
            raise pickle.UnpicklingError(f"a tensor's storage is a {type(storage).__name__}")
        size, stride = tuple(size), tuple(stride)
        if not _all_counts((offset, *size, *stride)) or len(size) != len(stride):
            raise pickle.UnpicklingError(
                f"a tensor of size {size}, stride {stride}, offset {offset}"
            )
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def materialize(self) -> np.ndarray:
        storage, offset = self.storage, self.offset
        if storage.view is not None:
            storage, base_offset = storage.view
            offset += base_offset
        data = storage.data
        if data is None:
            raise pickle.UnpicklingError(f"storage {storage.key!r} is used but never stored")
        if 0 in self.size:
            return np.zeros(self.size, data.dtype)
        # Strides are non-negative, so this is the last element read; and a state dict's tensors
        # never repeat elements, so a tensor larger than its storage is a damaged file (a size
        # field claiming terabytes) rather than a broadcast view.
        needed = offset + sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=True)) + 1
        if needed > data.size or math.prod(self.size) > data.size:
            raise ValueError(
                f"a tensor of size {self.size} reaches element {needed} of a storage of {data.size}"
            )
        strides = tuple(s * data.itemsize for s in self.stride)
        view = np.lib.stride_tricks.as_strided(data[offset:], self.size, strides, writeable=False)
        return np.array(view)  # copy: never hand out a view that as_strided could make unsafe


def _all_counts(values) -> bool:
    """Whether every value is a non-negative int (sizes, strides and offsets are)."""
    return all(isinstance(v, int) and v >= 0 for v in values)


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
        raise UnsafeWeightFileError(
            f"refusing to load {module}.{name}: a state dict of tensors never needs it, and "
            "unpickling it could run arbitrary code. Nothing was run."
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
    UnsafeWeightFileError
        When the pickle names anything but tensors and dicts (a file crafted to run code);
        nothing it names is imported or called.
    WeightFileError
        When the file is truncated or malformed, or holds no dict.
    """
    with reading(path, "a torch state dict"), open(path, "rb") as f:
        if f.read(len(LEGACY_PREFIX)) == LEGACY_PREFIX:
            # The legacy stream is read whole: storages then become views into it, not copies.
            result = _read_legacy(Path(path).read_bytes())
        else:
            result = _read_zip(f)
        if not isinstance(result, dict):
            raise WeightFileError(f"{path}: holds a {type(result).__name__}, not a state dict.")
        return _materialize(result)


def _unpickle(stream, storage_for):
    """Unpickle one pickle from ``stream`` once its opcodes have been checked."""
    _check_opcodes(stream)
    try:
        return _StateDictUnpickler(stream, storage_for).load()
    except AttributeError as error:  # APPEND or EXTEND onto an object that is not a list
        raise pickle.UnpicklingError(str(error)) from error


def _check_opcodes(stream):
    """Walk a pickle's opcodes first, then rewind: the C unpickler allocates what a length or memo
    field claims before reading, so a 20-byte pickle could ask for terabytes. pickletools reads
    each counted string with a bounded read, failing on a short one; memo indices are held below
    the pickle's size, which bounds the memo the unpickler grows to reach them."""
    start = stream.tell()
    limit = stream.seek(0, io.SEEK_END) - start  # not getbuffer(), which would copy the file
    stream.seek(start)
    for opcode, arg, _ in pickletools.genops(stream):
        if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT") and not 0 <= arg < limit:
            raise pickle.UnpicklingError(f"memo index {arg} in a pickle of {limit} bytes")
    stream.seek(start)


def _read_zip(f):
    archive = zipfile.ZipFile(f)
    archive_bytes = f.seek(0, io.SEEK_END)

    def read(name):
        return read_member(archive, name, archive_bytes, f.name)

    pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
    if len(pickles) != 1:
        raise ValueError("no data.pkl in the archive: not a file written by torch.save")
    root = pickles[0][: -len("data.pkl")]
    byteorder = "little"
    if f"{root}byteorder" in archive.namelist():
        byteorder = read(f"{root}byteorder").decode()
    if byteorder not in ("little", "big"):
        raise ValueError(f"byteorder {byteorder!r}")
    storages = {}

    def storage_for(storage_type, key, location, numel, *rest):
        if key not in storages:
            storage = _Storage(key, _storage_dtype(storage_type), numel)
            raw = read(f"{root}data/{key}")
            dtype = storage.dtype.newbyteorder("<" if byteorder == "little" else ">")
            storage.data = np.frombuffer(raw, dtype=dtype).astype(storage.dtype, copy=False)
            storages[key] = storage
        return storages[key]

    return _unpickle(io.BytesIO(read(pickles[0])), storage_for)


def _read_legacy(data):
    stream = io.BytesIO(data)

    def load_plain():  # the header pickles hold only ints, dicts and strings
        return _unpickle(stream, _refuse_storage)

    if load_plain() != LEGACY_MAGIC_NUMBER:
        raise ValueError("bad magic number")
    protocol = load_plain()
    if protocol != 1001:
        raise ValueError(f"legacy protocol {protocol}, expected 1001")
    sys_info = load_plain()
    if not isinstance(sys_info, dict):
        raise ValueError(f"system info is a {type(sys_info).__name__}, not a dict")
    byteorder = "<" if sys_info.get("little_endian", True) else ">"
    storages = {}

    def storage_for(storage_type, key, location, numel, view_metadata=None):
        if key not in storages:
            storages[key] = _Storage(key, _storage_dtype(storage_type), numel)
        if view_metadata is None:
            return storages[key]
        view_key, offset, view_size = view_metadata
        if not _all_counts((offset,)):
            raise ValueError(f"storage view {view_key!r} at offset {offset!r}")
        view = _Storage(view_key, storages[key].dtype, view_size)
        view.view = (storages[key], offset)
        return view

    result = _unpickle(stream, storage_for)
    for key in load_plain():
        _read_legacy_storage(stream, data, storages[key], byteorder)
    return result


def _read_legacy_storage(stream, data, storage, byteorder):
    """Point a storage at its bytes in ``data`` (an int64 count, then the elements), no copy."""
    header = stream.read(8)
    if len(header) != 8:
        raise EOFError(f"storage {storage.key!r} is truncated")
    numel = int.from_bytes(header, "little" if byteorder == "<" else "big", signed=True)
    start = stream.tell()
    if not 0 <= numel * storage.dtype.itemsize <= len(data) - start:
        raise EOFError(
            f"storage {storage.key!r} claims {numel} elements; {len(data) - start} bytes are left"
        )
    dtype = storage.dtype.newbyteorder(byteorder)
    storage.data = np.frombuffer(data, dtype=dtype, count=numel, offset=start)
    stream.seek(start + numel * storage.dtype.itemsize)


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
