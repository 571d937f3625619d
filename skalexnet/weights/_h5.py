"""Opening an untrusted HDF5 file, and reading arrays out of it, without letting it choose the
memory used or hang the HDF5 library.

h5py allocates a dataset's full shape before HDF5 reads a byte, and HDF5 fills chunks the file
lacks with the fill value; a damaged shape field could so claim terabytes. A dataset is read only
when the file could hold its data, and only when the data lives in the file itself (HDF5 external
storage and virtual datasets read other files, which a weight file has no reason to do).

HDF5 itself loops forever on one kind of damage a fuzzer finds within minutes: a global heap
collection (where variable-length strings, such as Keras' layer names, live) whose objects do not
tile it (HDFGroup/hdf5#1707, h5py/h5py#2088, not worked around upstream). Those collections are
checked here before HDF5 sees the file.
"""

import contextlib
import io
import mmap
import os

import h5py
import numpy as np

from ._bounds import MAX_COMPRESSION_RATIO
from ._errors import WeightFileError


def read_array(item, file_bytes: int, path, where: str) -> np.ndarray:
    """A float32 copy of the dataset ``item``, refused if ``file_bytes`` could not hold it.

    Parameters
    ----------
    item : h5py object
        What the file holds at ``where``; anything but a self-contained numeric dataset fails.
    file_bytes : int
        Size of the whole HDF5 file, the bound on what an uncompressed dataset can hold.
    path : str or path-like
        Named in errors.
    where : str
        The dataset's place in the file, named in errors.
    """
    if not isinstance(item, h5py.Dataset):
        raise WeightFileError(f"{path}: {where} is a {type(item).__name__}, not a dataset.")
    if item.external or item.is_virtual:
        raise WeightFileError(
            f"{path}: {where} keeps its data in other files (HDF5 external or virtual storage); "
            "skalexnet reads only self-contained weight files."
        )
    filtered = item.id.get_create_plist().get_nfilters() > 0
    limit = file_bytes * (MAX_COMPRESSION_RATIO if filtered else 1)
    # Read as float32 whatever the stored type, so count both sizes against the limit.
    needed = item.size * max(item.dtype.itemsize, np.dtype(np.float32).itemsize)
    if needed > limit:
        raise WeightFileError(
            f"{path}: {where} claims shape {item.shape} of {item.dtype} ({needed} bytes to "
            f"read) in a file of {file_bytes} bytes: the file is damaged."
        )
    return np.asarray(item, dtype=np.float32)


def text_attribute(value) -> str | None:
    """An HDF5 string attribute as str, or None when it holds anything else."""
    if isinstance(value, np.bytes_ | bytes):
        return bytes(value).decode("utf8", errors="replace")
    if isinstance(value, str):
        return value
    return None


GLOBAL_HEAP_SIGNATURE = b"GCOL"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
SIZE_T = 2**64  # HDF5 adds object sizes to pointers in size_t arithmetic
MAX_HEAP_OBJECTS = 2**16 + 1  # a collection's objects have distinct 16-bit indices, plus free space


@contextlib.contextmanager
def open_h5(source, path):
    """``h5py.File`` of a path or of a file's bytes, once its global heaps are known safe.

    Parameters
    ----------
    source : str, path-like or bytes
        The file, or its contents (a member of a zip archive).
    path : str or path-like
        Named in errors.
    """
    with _contents(source) as data:
        looping = _looping_global_heap(data)
    if looping is not None:
        raise WeightFileError(
            f"{path}: a damaged HDF5 global heap (the objects of the collection at byte "
            f"{looping} do not tile it); HDF5 would never finish reading it."
        )
    with h5py.File(io.BytesIO(source) if isinstance(source, bytes) else source, "r") as f:
        yield f


@contextlib.contextmanager
def _contents(source):
    """The bytes of a file, memory-mapped rather than read, so a large file costs no memory."""
    if isinstance(source, bytes):
        yield source
        return
    with open(source, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            yield b""
            return
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            yield data


def _looping_global_heap(data):
    """The offset of the first global heap collection HDF5 would never finish parsing, or None.

    Walks every ``GCOL`` signature as HDF5's ``H5HG__cache_heap_deserialize`` does: each object
    is a 2-byte index, 2-byte reference count, 4 reserved bytes and its size; HDF5 moves on by the
    size padded to 8 bytes plus the header, or by the bare size for object 0 (free space). A step
    of 0, or one so large that it wraps the pointer backwards, loops forever. Only that is
    refused (and a walk longer than 16-bit indices can name, to bound the time spent here), so
    four bytes that spell GCOL by chance inside weights do not fail a good file.
    """
    length_size = _length_size(data)
    at = data.find(GLOBAL_HEAP_SIGNATURE)
    while at >= 0:
        if _collection_loops(data, at, length_size):
            return at
        at = data.find(GLOBAL_HEAP_SIGNATURE, at + 1)
    return None


def _length_size(data) -> int:
    """Bytes of an HDF5 length field, from the superblock (8 in every file h5py writes)."""
    if data[:8] != HDF5_SIGNATURE or len(data) < 16:
        return 8
    version = data[8]
    size = data[14] if version in (0, 1) else data[10]
    return size if size in (2, 4, 8, 16) else 8


def _collection_loops(data, at, length_size) -> bool:
    header = 8 + length_size  # signature, version, 3 reserved bytes, collection size
    object_header = 8 + length_size  # index, reference count, 4 reserved bytes, object size
    if data[at + 4 : at + 5] != b"\x01" or at + header > len(data):
        return False  # HDF5 refuses another version, or cannot read the size, before looping
    size = int.from_bytes(data[at + 8 : at + header], "little")
    end = at + size
    if end > len(data):
        return False  # HDF5 fails to read the collection before parsing it
    p = at + header
    for _ in range(MAX_HEAP_OBJECTS):
        if p + object_header > end:
            return False
        index = int.from_bytes(data[p : p + 2], "little")
        object_size = int.from_bytes(data[p + 8 : p + object_header], "little")
        padded = -(-object_size // 8) * 8
        step = (object_header + padded if index else object_size) % SIZE_T
        if step == 0 or step >= SIZE_T // 2:
            return True
        p += step
    return True
