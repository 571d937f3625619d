"""Known pretrained files by name, fetched once into the Keras cache like keras.applications."""

import hashlib
import os
from pathlib import Path

import keras

# name -> where the file lives and how to recognise it. torchvision publishes only the first 8 hex
# digits of each file's SHA-256 (in the file name, checked by torch.hub's check_hash), so that
# prefix is all that can be checked honestly; no full hash is invented here.
KNOWN_WEIGHTS = {
    "imagenet": {
        "url": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        "sha256_prefix": "7be5be79",
        "description": "torchvision AlexNet_Weights.IMAGENET1K_V1 (top-1 56.522%, top-5 79.066%)",
    },
}
CACHE_SUBDIR = "models"


def resolve_weights(weights, *, cache_dir=None) -> Path:
    """The local file for a known weights name or a path, downloading a known file once.

    Parameters
    ----------
    weights : str or path-like
        A name of ``KNOWN_WEIGHTS`` (``"imagenet"``: torchvision's AlexNet) or a file path.
    cache_dir : str or path-like, default=None
        Where Keras caches downloads; None is ``$KERAS_HOME`` (``~/.keras``). Files go to its
        ``models`` folder, as for ``keras.applications``.

    Returns
    -------
    path : pathlib.Path
        An existing file. A cached or fresh download has been checked against the known
        SHA-256 prefix; a download that fails the check is deleted.

    Raises
    ------
    FileNotFoundError
        When ``weights`` is neither a known name nor an existing file.
    OSError
        When the download fails (offline): the message says which file to place where.
    ValueError
        When a file does not match its known hash.

    Examples
    --------
    >>> from skalexnet.weights import resolve_weights
    >>> resolve_weights("imagenet")  # doctest: +SKIP
    PosixPath('/home/me/.keras/models/alexnet-owt-7be5be79.pth')
    """
    if str(weights) not in KNOWN_WEIGHTS:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"weights={str(weights)!r} is neither a file nor a known name "
                f"{sorted(KNOWN_WEIGHTS)}."
            )
        return path
    entry = KNOWN_WEIGHTS[str(weights)]
    file_name = entry["url"].rsplit("/", 1)[-1]
    cache_dir = Path(cache_dir or os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()
    path = cache_dir / CACHE_SUBDIR / file_name
    if path.is_file():
        if not _sha256(path).startswith(entry["sha256_prefix"]):
            raise ValueError(
                f"{path} does not match the SHA-256 prefix {entry['sha256_prefix']} of "
                f"{entry['url']}: delete it to download it again."
            )
        return path
    try:
        downloaded = Path(
            keras.utils.get_file(
                file_name, origin=entry["url"], cache_subdir=CACHE_SUBDIR, cache_dir=str(cache_dir)
            )
        )
    except Exception as error:  # keras raises a bare Exception for URL and HTTP errors
        raise OSError(
            f"could not download {entry['url']} ({error}). Without network access, download it "
            f"elsewhere and place it at {path}."
        ) from error
    digest = _sha256(downloaded)
    if not digest.startswith(entry["sha256_prefix"]):
        downloaded.unlink(missing_ok=True)  # never leave a bad file where the cache would trust it
        raise ValueError(
            f"the download of {entry['url']} has SHA-256 {digest}, not the expected prefix "
            f"{entry['sha256_prefix']}; the file was deleted. Try again, or check the URL."
        )
    return downloaded


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
