"""How much memory an untrusted file may make a reader allocate: what its bytes can hold.

Size fields are the cheapest thing to damage or forge. Each reader holds them to the size of the
file they come from, times the most a compression method can expand, before allocating.
"""

import zipfile

from ._errors import WeightFileError

# The most a deflate stream can expand (zlib's worst case is about 1032:1); other compression
# methods and HDF5 filters are held to the same ratio.
MAX_COMPRESSION_RATIO = 1032


def read_member(archive: zipfile.ZipFile, name: str, archive_bytes: int, path) -> bytes:
    """One member of a zip archive, refused when its sizes could not come from the archive.

    zipfile trusts the central directory's sizes: it asks for up to 1 GiB at a time of a member
    whose compressed size claims more than the archive holds, and inflates up to the claimed
    uncompressed size.
    """
    info = archive.getinfo(name)
    ratio = 1 if info.compress_type == zipfile.ZIP_STORED else MAX_COMPRESSION_RATIO
    if info.compress_size > archive_bytes or info.file_size > info.compress_size * ratio:
        raise WeightFileError(
            f"{path}: the archive member {name!r} claims {info.compress_size} bytes, "
            f"{info.file_size} uncompressed, in an archive of {archive_bytes} bytes: damaged."
        )
    return archive.read(info)
