"""Image folders as scikit-learn data sets: one sub-folder per class, as the study kept its data."""

import os

import numpy as np
from sklearn.utils import Bunch

from ._data import IMAGE_EXTENSIONS


def load_image_folder(root: str | os.PathLike) -> Bunch:
    """List the images of a folder with one sub-folder per class, like ``load_files``.

    ``root/cats/cat.0.jpg, root/dogs/dog.0.jpg ...`` gives the classes ``['cats', 'dogs']``. Only
    the paths are listed: the images are decoded later, batch by batch, by the estimators, which
    accept ``filenames`` as X.

    Parameters
    ----------
    root : str or os.PathLike
        A folder holding one sub-folder per class. Class folders are sorted by name; in each, the
        image files (extensions .jpg, .jpeg, .png, .bmp, .gif, .webp, .tif, .tiff, in any case) of
        the folder and of its sub-folders are listed in sorted path order. Hidden files and folders
        (names starting with '.') and files with other extensions are skipped; nothing is opened.

    Returns
    -------
    data : sklearn.utils.Bunch
        With the fields

        filenames : ndarray of str, shape (n_images,)
            Paths of the images, class by class.
        target : ndarray of int, shape (n_images,)
            Index of each image's class in ``target_names``.
        target_names : list of str
            The class folders' names, sorted.
        DESCR : str
            Where the images came from.

    Raises
    ------
    FileNotFoundError
        If ``root`` does not exist.
    NotADirectoryError
        If ``root`` is not a folder.
    ValueError
        If ``root`` holds no class folder, or a class folder holds no image.

    See Also
    --------
    sklearn.datasets.load_files : The same layout for text documents.

    Examples
    --------
    >>> import tempfile
    >>> from skalexnet.datasets import load_image_folder, write_digits_folder
    >>> root = write_digits_folder(tempfile.mkdtemp(), n_per_class=3)
    >>> digits = load_image_folder(root)
    >>> digits.target_names[:3], digits.filenames.shape, digits.target[:4].tolist()
    (['0', '1', '2'], (30,), [0, 0, 0, 1])
    """
    root = os.fspath(root)
    if not os.path.exists(root):
        raise FileNotFoundError(f"Image folder {root!r} does not exist.")
    if not os.path.isdir(root):
        raise NotADirectoryError(f"{root!r} is a file; expected a folder of class folders.")
    classes = sorted(
        entry.name
        for entry in os.scandir(root)
        if entry.is_dir() and not entry.name.startswith(".")
    )
    if not classes:
        loose = [name for name in os.listdir(root) if _is_image(name)]
        hint = f" It holds {len(loose)} image(s) directly:" if loose else ""
        raise ValueError(
            f"{root!r} holds no class folder.{hint} expected one sub-folder per class, as in "
            f"{os.path.join(root, 'cats', 'cat.0.jpg')!r}."
        )
    filenames, target = [], []
    for label, name in enumerate(classes):
        images = _list_images(os.path.join(root, name))
        if not images:
            raise ValueError(
                f"Class folder {os.path.join(root, name)!r} holds no image file (extensions "
                f"{', '.join(IMAGE_EXTENSIONS)}, any case; hidden files skipped). Remove the "
                f"folder or add its images."
            )
        filenames.extend(images)
        target.extend([label] * len(images))
    return Bunch(
        filenames=np.array(filenames, dtype=str),
        target=np.array(target, dtype=np.intp),
        target_names=classes,
        DESCR=f"{len(filenames)} images in {len(classes)} class folders of {root!r}.",
    )


def _is_image(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def _list_images(folder: str) -> list[str]:
    """Image files under folder, recursively, in sorted path order, hidden entries skipped."""
    found: list[str] = []
    for directory, subdirectories, files in os.walk(folder, followlinks=True):
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith("."))
        found.extend(os.path.join(directory, f) for f in sorted(files) if _is_image(f))
    return sorted(found)


def write_digits_folder(
    root: str | os.PathLike, *, n_per_class: int | None = None, extension: str = ".png"
) -> str:
    """Write scikit-learn's 8x8 digits as an image folder, one sub-folder per digit.

    A small real data set in the layout :func:`load_image_folder` reads, for examples and tests.
    Pixels (0-16) are scaled by 15 to 0-240 and written as 8-bit grayscale images.

    Parameters
    ----------
    root : str or os.PathLike
        Folder to write into (created if needed); ``root/0/0000.png`` ... ``root/9/...``.
    n_per_class : int, default=None
        Images per digit, the first ones of ``load_digits``; None writes all 1797.
    extension : str, default='.png'
        Any extension Pillow writes, e.g. '.png' (lossless) or '.jpg'.

    Returns
    -------
    root : str
        The folder written.

    Examples
    --------
    >>> import tempfile
    >>> from skalexnet.datasets import write_digits_folder
    >>> root = write_digits_folder(tempfile.mkdtemp(), n_per_class=2, extension=".jpg")
    >>> sorted(os.listdir(os.path.join(root, "7")))
    ['0000.jpg', '0001.jpg']
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    root = os.fspath(root)
    digits = load_digits()
    images = (digits.images * 15).astype(np.uint8)
    for digit in range(10):
        folder = os.path.join(root, str(digit))
        os.makedirs(folder, exist_ok=True)
        indices = np.flatnonzero(digits.target == digit)[:n_per_class]
        for k, i in enumerate(indices):
            Image.fromarray(images[i]).save(os.path.join(folder, f"{k:04d}{extension}"))
    return root
