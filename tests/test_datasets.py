"""load_image_folder: one sub-folder per class, sorted, deterministic, clear errors."""

import os

import numpy as np
import pytest
from PIL import Image

from skalexnet.datasets import load_image_folder, write_digits_folder


def _touch_image(path, extension_format="PNG"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("RGB", (4, 4), (10, 20, 30)).save(path, format=extension_format)


def test_class_folders_are_sorted_and_targets_follow_them(tmp_path):
    write_digits_folder(tmp_path, n_per_class=3)
    data = load_image_folder(tmp_path)
    assert data.target_names == [str(d) for d in range(10)]
    assert data.filenames.shape == (30,)
    assert data.target.tolist() == [d for d in range(10) for _ in range(3)]
    for path, label in zip(data.filenames, data.target, strict=True):
        assert os.path.basename(os.path.dirname(path)) == data.target_names[label]


def test_listing_is_deterministic_and_sorted_within_a_class(tmp_path):
    for name in ["b.png", "a.png", "c.png"]:
        _touch_image(str(tmp_path / "dogs" / name))
    _touch_image(str(tmp_path / "cats" / "z.png"))
    first, second = load_image_folder(tmp_path), load_image_folder(str(tmp_path))
    assert first.filenames.tolist() == second.filenames.tolist()
    assert first.target_names == ["cats", "dogs"]
    assert [os.path.basename(f) for f in first.filenames] == ["z.png", "a.png", "b.png", "c.png"]


def test_every_image_extension_in_any_case_is_listed(tmp_path):
    names = ["a.jpg", "b.JPEG", "c.Png", "d.bmp", "e.GIF", "f.webp", "g.tif", "h.TIFF"]
    for name in names:
        (tmp_path / "only").mkdir(exist_ok=True)
        (tmp_path / "only" / name).write_bytes(b"not decoded by the listing")
    assert sorted(os.path.basename(f) for f in load_image_folder(tmp_path).filenames) == names


def test_hidden_files_hidden_folders_and_non_images_are_skipped(tmp_path):
    _touch_image(str(tmp_path / "cats" / "cat.0.png"))
    _touch_image(str(tmp_path / "cats" / ".hidden.png"))
    _touch_image(str(tmp_path / "cats" / ".thumbnails" / "cat.0.png"))
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    (tmp_path / "cats" / "Thumbs.db").write_bytes(b"\0")
    _touch_image(str(tmp_path / ".git" / "x.png"))
    data = load_image_folder(tmp_path)
    assert data.target_names == ["cats"]
    assert [os.path.basename(f) for f in data.filenames] == ["cat.0.png"]


def test_images_in_nested_folders_of_a_class_are_listed(tmp_path):
    _touch_image(str(tmp_path / "dogs" / "2017" / "dog.1.png"))
    _touch_image(str(tmp_path / "dogs" / "dog.0.png"))
    data = load_image_folder(tmp_path)
    assert len(data.filenames) == 2
    assert np.all(data.target == 0)


def test_empty_class_folder_is_an_error_naming_it(tmp_path):
    _touch_image(str(tmp_path / "cats" / "cat.0.png"))
    (tmp_path / "dogs").mkdir()
    (tmp_path / "dogs" / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match=r"dogs'? holds no image file"):
        load_image_folder(tmp_path)


def test_root_without_class_folders_is_an_error(tmp_path):
    _touch_image(str(tmp_path / "cat.0.png"))
    with pytest.raises(ValueError, match=r"holds no class folder.*1 image"):
        load_image_folder(tmp_path)


def test_missing_root_is_an_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_image_folder(tmp_path / "nowhere")


def test_a_file_as_root_is_an_error(tmp_path):
    _touch_image(str(tmp_path / "x.png"))
    with pytest.raises(NotADirectoryError, match=r"x\.png"):
        load_image_folder(tmp_path / "x.png")
