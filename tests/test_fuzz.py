"""Fuzzing the file readers: damaged bytes raise the documented error and nothing else.

Real files (tiny weight files of every format, JPEG and PNG crops of scikit-learn's sample
photographs) are mutated by hypothesis (bits flipped, bytes set, size fields overwritten with
extreme integers, bytes inserted, deleted, copied and truncated) and handed to the readers. A
weight reader must return a WeightSet of float32 arrays or raise WeightFileError; the image
decoder must return a (size, size, 3) uint8 image or raise ImageReadError. Slow inputs fail
hypothesis' deadline, hangs in C code a watchdog that ends the run, and allocations sized by a
damaged field an address-space cap (see ``guarded``).

CI runs a few dozen examples per target, derandomized; run longer with, e.g.,
``SKALEXNET_FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz.py -s``.
"""

import collections
import faulthandler
import io
import os
import resource
import warnings
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import numpy as np
import pytest
import tiny_weights
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sklearn.datasets import load_sample_images

from skalexnet._data import ImageReadError, decode_image
from skalexnet.weights import (
    WeightFileError,
    WeightSet,
    load_weights,
    read_convnets_keras_h5,
    read_keras_weights,
    read_onnx_bvlcalexnet,
    read_torchvision_pth,
)

FUZZ_EXAMPLES = int(os.environ.get("SKALEXNET_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=timedelta(seconds=2),
    derandomize=os.environ.get("CI", "").lower() == "true",  # the same inputs on every CI run
    database=None,  # no .hypothesis folder in the working tree; failures print a reproducer
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# Far beyond the deadline: only C code that never returns (which hypothesis cannot interrupt)
# reaches it, and then the run ends with every thread's traceback rather than hanging CI.
WATCHDOG_S = 120
MEMORY_HEADROOM = 1024**3  # bytes one example may allocate beyond what the process maps
IMAGE_SIZE = 16
OUTCOMES = collections.Counter()  # (target, reader, outcome) -> count, printed at the end

# -- mutations ---------------------------------------------------------------------------------

# Values that make length, count and offset fields absurd: zero, one, sign bits, all ones.
EXTREME_INTEGERS = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 2**32 - 1)
EXTREME_INTEGERS += (2**63 - 1, 2**63, 2**64 - 1)
position = st.integers(0, 2**32)  # taken modulo the length; shrinks towards the file's start
EDIT = st.one_of(
    st.tuples(st.just("flip"), position, st.integers(0, 7)),
    st.tuples(st.just("set"), position, st.integers(0, 255)),
    st.tuples(
        st.just("integer"),
        position,
        st.sampled_from((1, 2, 4, 8)),
        st.sampled_from(EXTREME_INTEGERS),
    ),
    st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), position, st.integers(1, 64)),
    st.tuples(st.just("copy"), position, position, st.integers(1, 64)),
    st.tuples(st.just("truncate"), position),
)
EDITS = st.lists(EDIT, min_size=1, max_size=4)


def mutate(original: bytes, edits) -> bytes:
    """Apply hypothesis' edits in order; positions wrap around the current length."""
    data = bytearray(original)
    for kind, at, *args in edits:
        at %= max(len(data), 1)
        if kind == "flip" and data:
            data[at] ^= 1 << args[0]
        elif kind == "set" and data:
            data[at] = args[0]
        elif kind == "integer":
            width, value = args
            data[at : at + width] = (value % 256**width).to_bytes(width, "little")
        elif kind == "insert":
            data[at:at] = args[0]
        elif kind == "delete":
            del data[at : at + args[0]]
        elif kind == "copy":
            source = args[0] % max(len(data), 1)
            data[at:at] = data[source : source + args[1]]
        elif kind == "truncate":
            del data[at:]
    return bytes(data)


def mutate_member(member: str, original: bytes, edits) -> bytes:
    """Mutate one member of a zip archive and pack it again, so that its CRC is right and the
    damage reaches the parser of the member rather than zipfile's checksum."""
    packed = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as source, zipfile.ZipFile(packed, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            target.writestr(info, mutate(data, edits) if info.filename == member else data)
    return packed.getvalue()


# -- the files mutated, and who reads them -----------------------------------------------------


@dataclass
class Target:
    file_name: str
    write: object  # writes the unmutated file at a path
    readers: dict  # reader name -> function of a path
    member: str | None = None  # mutate only this zip member, then pack the archive again


# skalexnet's numpy-only unpickler, and load_weights, which uses torch.load(weights_only=True).
WITH_TORCH = {"restricted": partial(read_torchvision_pth, use_torch=False), "load": load_weights}
WEIGHT_TARGETS = {
    "convnets-keras-h5": Target(
        "alexnet_weights.h5",
        tiny_weights.write_convnets_keras_h5,
        {"reader": read_convnets_keras_h5, "load": load_weights},
    ),
    "onnx": Target(
        "bvlcalexnet.onnx",
        tiny_weights.write_onnx_bvlcalexnet,
        {"reader": read_onnx_bvlcalexnet, "load": load_weights},
    ),
    "pth-zip": Target("zip.pth", tiny_weights.write_torchvision_pth, WITH_TORCH),
    # torch's zip holds its pickle at <file stem>/data.pkl.
    "pth-zip-pickle": Target(
        "zip.pth", tiny_weights.write_torchvision_pth, WITH_TORCH, member="zip/data.pkl"
    ),
    "pth-legacy": Target(
        "legacy.pth", partial(tiny_weights.write_torchvision_pth, legacy=True), WITH_TORCH
    ),
    "keras-weights-h5": Target(
        "alexnet.weights.h5",
        partial(tiny_weights.write_keras, weights_only=True),
        {"reader": read_keras_weights, "load": load_weights},
    ),
    "keras": Target(
        "alexnet.keras",
        tiny_weights.write_keras,
        {"reader": read_keras_weights, "load": load_weights},
    ),
    "keras-config": Target(
        "alexnet.keras",
        tiny_weights.write_keras,
        {"reader": read_keras_weights, "load": load_weights},
        member="config.json",
    ),
}


def _sample_crop():
    """A 32x40 crop of scikit-learn's china.jpg: real photographic detail, kilobytes encoded."""
    return Image.fromarray(load_sample_images().images[0][200:232, 300:340])


def _encode_jpeg(image) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # an EXIF orientation, so that exif_transpose parses what is mutated
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()


def _encode_png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _encode_palette_png(image) -> bytes:
    buffer = io.BytesIO()
    image.quantize(16).save(buffer, "PNG", transparency=0)  # P mode with a transparent colour
    return buffer.getvalue()


def fix_png_crcs(data: bytes) -> bytes:
    """Recompute the CRC of every whole chunk, so that mutations get past Pillow's CRC check
    into the chunk parsers and the decoder; stops where the chunk layout itself is broken."""
    data = bytearray(data)
    at = 8  # after the signature
    while at + 12 <= len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        end = at + 8 + length
        if end + 4 > len(data):
            break
        data[end : end + 4] = zlib.crc32(data[at + 4 : end]).to_bytes(4, "big")
        at = end + 4
    return bytes(data)


IMAGE_TARGETS = {  # name -> (file name, encoder, what to do after mutating)
    "jpeg": ("crop.jpg", _encode_jpeg, None),
    "png": ("crop.png", _encode_png, None),
    "png-fixed-crc": ("crop.png", _encode_png, fix_png_crcs),
    "png-palette-fixed-crc": ("palette.png", _encode_palette_png, fix_png_crcs),
}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


class Originals(dict):
    """Every target's unmutated bytes, with a repr short enough for hypothesis' reports."""

    def __repr__(self):
        return f"<originals of {sorted(self)}>"


@pytest.fixture(scope="module")
def originals(scratch):
    """Every target's unmutated bytes, checked to read cleanly."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    found = Originals()
    for name, target in WEIGHT_TARGETS.items():
        path = scratch / "originals" / name / target.file_name
        path.parent.mkdir(parents=True)
        target.write(path)
        if target.member is not None:
            assert target.member in zipfile.ZipFile(path).namelist()
        assert isinstance(load_weights(path), WeightSet)
        found[name] = path.read_bytes()
    crop = _sample_crop()
    for name, (_, encode, _) in IMAGE_TARGETS.items():
        found[name] = encode(crop)
    yield found
    if OUTCOMES:
        print("\nfuzz outcomes (target, reader, result): count")
        for key, count in sorted(OUTCOMES.items()):
            print(f"  {key}: {count}")


@contextmanager
def guarded():
    """Run one example under a watchdog and an address-space cap, ignoring warnings.

    The watchdog ends the run, with every thread's traceback, should C code never return (which
    hypothesis' deadline cannot interrupt). The cap sits MEMORY_HEADROOM above what the process
    maps already, so that an allocation sized by a damaged field fails at once: in Python code
    as a MemoryError, which fails the test; in the HDF5 library as an HDF5 error, which the
    readers translate (HDF5 allocates and zero-fills the length a variable-length string claims,
    up to 4 GiB, before it checks that length against the heap: an upstream behaviour).
    """
    faulthandler.dump_traceback_later(WATCHDOG_S, exit=True)
    try:
        with _address_space_cap(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # readers may warn; only errors are checked
            yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@contextmanager
def _address_space_cap():
    if not os.path.exists("/proc/self/statm"):  # Linux only; elsewhere the deadline remains
        yield
        return
    with open("/proc/self/statm") as f:
        mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = mapped + MEMORY_HEADROOM
    if hard != resource.RLIM_INFINITY and cap > hard:
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# -- the tests ---------------------------------------------------------------------------------


def _check_weight_set(weights):
    assert isinstance(weights, WeightSet)
    for name, arrays in weights.layers.items():
        for array in arrays:
            assert isinstance(array, np.ndarray) and array.dtype == np.float32, name


def _outcome(error, success) -> str:
    """``success``, or the error class and what it was translated from: which parser gave up."""
    if error is None:
        return success
    cause = error.__cause__
    return type(error).__name__ + (f" <- {type(cause).__name__}" if cause is not None else "")


@pytest.mark.parametrize("name", list(WEIGHT_TARGETS))
@FUZZ
@given(edits=EDITS)
def test_weight_readers_raise_only_weight_file_errors(name, edits, originals, scratch):
    target = WEIGHT_TARGETS[name]
    if target.member is None:
        mutated = mutate(originals[name], edits)
    else:
        mutated = mutate_member(target.member, originals[name], edits)
    path = scratch / name / target.file_name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(mutated)
    for reader_name, reader in target.readers.items():
        error = None
        with guarded():
            try:
                _check_weight_set(reader(path))
            except WeightFileError as raised:  # UnsafeWeightFileError included
                assert str(path) in str(raised)
                error = raised
        OUTCOMES[(name, reader_name, _outcome(error, "WeightSet"))] += 1


@pytest.mark.parametrize("name", list(IMAGE_TARGETS))
@FUZZ
@given(edits=EDITS, resize=st.sampled_from(["squash", "crop"]), draft=st.booleans())
def test_image_decoder_raises_only_image_read_errors(
    name, edits, resize, draft, originals, scratch
):
    file_name, _, repair = IMAGE_TARGETS[name]
    mutated = mutate(originals[name], edits)
    path = scratch / file_name
    path.write_bytes(repair(mutated) if repair else mutated)
    error = None
    with guarded():
        try:
            image = decode_image(str(path), IMAGE_SIZE, resize, draft)
            assert image.shape == (IMAGE_SIZE, IMAGE_SIZE, 3) and image.dtype == np.uint8
        except ImageReadError as raised:
            assert path.name in str(raised)
            error = raised
    OUTCOMES[(name, "decode_image", _outcome(error, "image"))] += 1


def test_mutations_reach_every_kind_of_edit():
    original = bytes(range(16))
    assert mutate(original, [("flip", 0, 0)])[0] == 1
    assert mutate(original, [("integer", 2, 2, 0xFFFF)])[2:4] == b"\xff\xff"
    assert mutate(original, [("insert", 1, b"ab")])[:4] == b"\x00ab\x01"
    assert mutate(original, [("delete", 0, 4)]) == original[4:]
    assert mutate(original, [("copy", 0, 4, 2)])[:4] == b"\x04\x05\x00\x01"
    assert mutate(original, [("truncate", 20)]) == original[:4]  # 20 wraps to 4
    assert mutate(b"", [("set", 3, 1), ("flip", 0, 1)]) == b""


def test_png_crcs_are_repaired(originals, scratch):
    png = bytearray(originals["png"])
    png[29:33] = bytes(4)  # IHDR's CRC: after the 8-byte signature, length, type and 13 bytes
    path = scratch / "crc.png"
    path.write_bytes(png)
    with pytest.raises(ImageReadError, match=r"(?i)crc"):
        decode_image(str(path), IMAGE_SIZE)
    path.write_bytes(fix_png_crcs(bytes(png)))
    assert decode_image(str(path), IMAGE_SIZE).shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
