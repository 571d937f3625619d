"""Decoding image files, caching them, and feeding them to the estimators, on real image files."""

import gc
import glob
import io
import os
import pathlib
import warnings
import weakref

import numpy as np
import pytest
import sklearn
from PIL import Image
from sklearn.datasets import load_digits

import skalexnet._data as data_module
from skalexnet import AlexNetClassifier, AlexNetFeatureExtractor
from skalexnet._data import (
    ArrayImages,
    FileImages,
    ImageBatches,
    ImageReadError,
    SkippedImagesWarning,
    decode_image,
)
from skalexnet.datasets import load_image_folder, write_digits_folder
from skalexnet.exceptions import PixelRangeWarning

SKLEARN_PHOTOS = sorted(
    glob.glob(os.path.join(os.path.dirname(sklearn.__file__), "datasets", "images", "*.jpg"))
)
SMALL_FIT = {"image_size": 67, "epochs": 1, "batch_size": 16, "random_state": 0}


def _skimage_photos():
    try:
        import skimage
    except ImportError:
        return []
    folder = os.path.join(os.path.dirname(skimage.__file__), "data")
    return sorted(glob.glob(os.path.join(folder, "*.jpg")))


@pytest.fixture(scope="module")
def digits_png(tmp_path_factory):
    return load_image_folder(write_digits_folder(tmp_path_factory.mktemp("png"), n_per_class=4))


@pytest.fixture(scope="module")
def digits_jpg(tmp_path_factory):
    root = write_digits_folder(tmp_path_factory.mktemp("jpg"), n_per_class=4, extension=".jpg")
    return load_image_folder(root)


@pytest.fixture(scope="module")
def china():
    return Image.open(SKLEARN_PHOTOS[0]).convert("RGB")


def _write_broken_files(folder):
    """One file of each kind of breakage, keyed by the reason the error should give."""
    os.makedirs(folder, exist_ok=True)
    good = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(good, "JPEG")
    files = {
        "truncated": good.getvalue()[: len(good.getvalue()) // 2],
        "empty": b"",
        "not an image": b"just some text, saved as a .jpg",
        "corrupt": good.getvalue()[:20] + bytes(range(256)) * 8,
    }
    paths = {}
    for reason, content in files.items():
        path = os.path.join(folder, reason.replace(" ", "_") + ".jpg")
        with open(path, "wb") as f:
            f.write(content)
        paths[reason] = path
    paths["vanished"] = os.path.join(folder, "vanished.jpg")
    return paths


# -- decoding --------------------------------------------------------------------------------


def test_png_digits_decode_to_the_pixels_of_the_array(digits_png):
    array = (load_digits().images * 15).astype(np.uint8)
    image = decode_image(digits_png.filenames[0], 8)
    assert image.shape == (8, 8, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image[..., 0], array[0])


def test_files_and_arrays_resize_to_the_same_pixels(digits_png):
    array = np.stack([np.asarray(Image.open(f)) for f in digits_png.filenames[:5]])
    for resize in ("squash", "crop"):
        files = FileImages(digits_png.filenames[:5], 67, resize=resize)
        arrays = ArrayImages(array, 67, resize=resize)
        np.testing.assert_array_equal(files.load(range(5)), arrays.load(np.arange(5)))


@pytest.mark.parametrize("path", SKLEARN_PHOTOS + _skimage_photos(), ids=os.path.basename)
def test_shipped_jpeg_photographs_decode_to_rgb(path):
    image = decode_image(path, 96)
    assert image.shape == (96, 96, 3) and image.dtype == np.uint8
    assert 10 < image.mean() < 245


def test_skimage_photographs_are_available_or_skipped():
    if not _skimage_photos():
        pytest.skip("scikit-image is not installed")
    assert len(_skimage_photos()) >= 2


MODES = {  # mode -> a format that stores it
    "L": "PNG",
    "LA": "PNG",
    "P": "GIF",
    "RGBA": "PNG",
    "CMYK": "JPEG",
    "I;16": "PNG",
    "1": "BMP",
    "RGB": "WEBP",
}


@pytest.mark.parametrize("mode", MODES)
def test_every_pillow_mode_decodes_to_rgb(tmp_path, china, mode):
    if mode == "I;16":  # 16-bit grayscale, spread over 0-65535
        converted = Image.fromarray(np.asarray(china.convert("L"), dtype=np.uint16) * 257)
        assert converted.mode == "I;16"
    else:
        converted = china.convert(mode)
    path = tmp_path / f"china.{MODES[mode].lower()}"
    converted.save(path, MODES[mode])
    image = decode_image(str(path), 67)
    assert image.shape == (67, 67, 3) and image.dtype == np.uint8
    reference = decode_image(SKLEARN_PHOTOS[0], 67).astype(float)
    if mode in ("L", "LA", "I;16", "1"):
        assert np.array_equal(image[..., 0], image[..., 1])
        reference = reference.mean(axis=-1, keepdims=True)
    tolerance = 60 if mode == "1" else 25  # bilevel dithering and palettes are coarse
    assert np.abs(image - reference).mean() < tolerance


def test_transparent_pixels_are_composited_on_black(tmp_path):
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[:, 10:, 3] = 255  # left half transparent white, right half opaque white
    Image.fromarray(rgba, "RGBA").save(tmp_path / "half.png")
    image = decode_image(str(tmp_path / "half.png"), 20)
    assert image[:, :9].max() == 0 and image[:, 11:].min() == 255


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((40, 80, 3), np.uint8)
    pixels[:, :40] = (255, 0, 0)  # stored: red left, blue right
    pixels[:, 40:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise: red on top
    Image.fromarray(pixels).save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    image = decode_image(str(tmp_path / "rotated.jpg"), 32).astype(int)
    assert image[:8, :, 0].mean() > 200 and image[-8:, :, 2].mean() > 200


def test_crop_keeps_the_centre_square_and_squash_keeps_everything(tmp_path):
    pixels = np.zeros((100, 300, 3), np.uint8)
    pixels[:, :100], pixels[:, 100:200], pixels[:, 200:] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    cropped = decode_image(str(tmp_path / "wide.png"), 30, "crop")
    squashed = decode_image(str(tmp_path / "wide.png"), 30, "squash")
    assert (cropped[:, 1:-1, 1] == 255).all() and cropped[..., 0].mean() < 5  # edges: filter
    assert squashed[:, 0, 0].min() == 255 and squashed[:, -1, 2].min() == 255


def test_crop_stores_256_227_of_image_size_and_batches_are_cut_to_image_size(digits_png):
    images = FileImages(digits_png.filenames[:3], 227, resize="crop")
    assert images.load([0]).shape == (1, 256, 256, 3)
    (x,) = ImageBatches(images, batch_size=3, workers=1)[0]
    assert x.shape == (3, 227, 227, 3) and x.dtype == np.uint8  # the network casts


def test_draft_mode_decodes_a_large_jpeg_much_like_a_full_decode(china):
    full = decode_image(SKLEARN_PHOTOS[0], 67, draft=False).astype(float)
    drafted = decode_image(SKLEARN_PHOTOS[0], 67, draft=True).astype(float)
    assert np.abs(full - drafted).mean() < 3


def test_draft_mode_shrinks_the_jpeg_decode(monkeypatch):
    sizes = []
    real = data_module.to_rgb
    monkeypatch.setattr(
        data_module, "to_rgb", lambda image: sizes.append(image.size) or real(image)
    )
    decode_image(SKLEARN_PHOTOS[0], 67)  # 640x427: decoded at 1/4 scale
    assert sizes == [(160, 107)]


# -- broken files ----------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["truncated", "empty", "not an image", "corrupt", "vanished"])
def test_unreadable_file_error_names_the_path_and_the_reason(tmp_path, reason):
    path = _write_broken_files(str(tmp_path))[reason]
    expected = {"empty": "empty", "vanished": "does not exist"}.get(reason, "")
    with pytest.raises(ImageReadError, match=f"{os.path.basename(path)}.*{expected}"):
        decode_image(path, 67)


def test_decompression_bomb_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)  # china.jpg has 273,280 pixels
    with pytest.raises(ImageReadError, match=r"china\.jpg.*decompression bomb"):
        decode_image(SKLEARN_PHOTOS[0], 67)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200_000)  # between the limit and twice it
    with pytest.raises(ImageReadError, match=r"china\.jpg.*MAX_IMAGE_PIXELS"):
        decode_image(SKLEARN_PHOTOS[0], 67)


def test_missing_files_are_reported_when_wrapped(digits_png):
    with pytest.raises(FileNotFoundError, match=r"1 image file.*gone\.png.*on_error='skip'"):
        FileImages([*digits_png.filenames[:2], "gone.png"], 67)


def test_skip_leaves_unreadable_files_out_and_warns_naming_them(tmp_path, digits_png):
    broken = _write_broken_files(str(tmp_path))
    paths = [digits_png.filenames[0], *broken.values(), digits_png.filenames[1]]
    images = FileImages(paths, 67, on_error="skip")
    with pytest.warns(SkippedImagesWarning, match=r"Skipped 5 of 7.*truncated\.jpg.*vanished\.jpg"):
        images.skip_unreadable()
    assert images.usable.tolist() == [0, 6]
    assert sorted(images.skipped) == sorted(broken.values())


# -- batches and the cache -------------------------------------------------------------------


def test_labels_stay_aligned_with_images_when_shuffled_and_skipping(tmp_path):
    paths, labels = [], []
    for i in range(23):
        path = str(tmp_path / f"{i}.png")
        Image.new("L", (8, 8), 10 * i).save(path)
        paths.append(path)
        labels.append(10 * i)
    for i in (3, 11, 12):
        with open(paths[i], "wb"):
            pass  # emptied: unreadable
    images = FileImages(paths, 8, on_error="skip")
    with pytest.warns(SkippedImagesWarning):
        images.skip_unreadable()
    batches = ImageBatches(images, np.array(labels), batch_size=4, shuffle=True, seed=3, workers=1)
    for _ in range(2):
        seen = []
        for index in range(len(batches)):
            x, y = batches[index]
            np.testing.assert_array_equal(x[:, 0, 0, 0], y)
            seen.extend(y.tolist())
        assert sorted(seen) == sorted(set(labels) - {30, 110, 120})
        batches.on_epoch_end()


@pytest.mark.parametrize(
    ("n", "shuffle", "sizes"),
    [
        (67, True, [32, 35]),  # 3 left over: they join the last training batch
        (80, True, [32, 32, 16]),  # half a batch left over: a batch of its own
        (67, False, [32, 32, 3]),  # prediction keeps the plain batches
    ],
)
def test_a_handful_of_left_over_images_joins_the_last_training_batch(n, shuffle, sizes):
    images = ArrayImages(np.arange(n, dtype=np.uint8).reshape(n, 1, 1).repeat(8, 1).repeat(8, 2), 8)
    batches = ImageBatches(images, np.arange(n), batch_size=32, shuffle=shuffle, workers=1)
    for _ in range(2):
        labels = [batches[i][1] for i in range(len(batches))]
        assert [len(y) for y in labels] == sizes
        assert sorted(np.concatenate(labels).tolist()) == list(range(n))  # each image once
        batches.on_epoch_end()


def _count_decodes(monkeypatch):
    calls = []
    real = data_module.decode_image
    monkeypatch.setattr(
        data_module, "decode_image", lambda path, *a, **k: calls.append(path) or real(path, *a, **k)
    )
    return calls


def _run_epochs(batches, n_epochs):
    for _ in range(n_epochs):
        for index in range(len(batches)):
            batches[index]
        batches.on_epoch_end()


def test_cache_decodes_each_file_once_however_many_epochs(monkeypatch, digits_png):
    calls = _count_decodes(monkeypatch)
    images = FileImages(digits_png.filenames, 67)
    _run_epochs(ImageBatches(images, batch_size=8, shuffle=True, workers=1), 3)
    assert sorted(calls) == sorted(digits_png.filenames)


def test_cache_off_decodes_every_epoch(monkeypatch, digits_png):
    calls = _count_decodes(monkeypatch)
    images = FileImages(digits_png.filenames, 67, cache=False)
    _run_epochs(ImageBatches(images, batch_size=8, workers=1), 3)
    assert len(calls) == 3 * len(digits_png.filenames)


def test_cache_stays_within_its_byte_budget(monkeypatch, digits_png):
    reference = FileImages(digits_png.filenames, 67, cache=False).load(range(40))
    calls = _count_decodes(monkeypatch)
    image_bytes = 67 * 67 * 3
    images = FileImages(digits_png.filenames, 67, cache=10 * image_bytes + 5)
    _run_epochs(ImageBatches(images, batch_size=8, workers=1), 3)
    assert images.cache.nbytes == 10 * image_bytes
    assert len(calls) == 40 + 2 * 30
    np.testing.assert_array_equal(images.load(range(40)), reference)


def test_disk_cache_gives_the_same_images(digits_jpg):
    on_disk = FileImages(digits_jpg.filenames, 67, cache="disk")
    in_memory = FileImages(digits_jpg.filenames, 67)
    for _ in range(2):
        np.testing.assert_array_equal(on_disk.load(range(40)), in_memory.load(range(40)))
    assert isinstance(on_disk.cache._store, np.memmap)


@pytest.mark.parametrize("cache", [-1, "yes", 1.5])
def test_invalid_cache_is_an_error(digits_png, cache):
    with pytest.raises(ValueError, match="cache must be"):
        AlexNetClassifier(**SMALL_FIT, cache=cache).fit(digits_png.filenames, digits_png.target)


# -- the estimators --------------------------------------------------------------------------


def test_training_from_files_equals_training_from_the_array(digits_png):
    array = np.stack([np.asarray(Image.open(f)) for f in digits_png.filenames])
    from_files = AlexNetClassifier(**SMALL_FIT).fit(digits_png.filenames, digits_png.target)
    from_array = AlexNetClassifier(**SMALL_FIT).fit(array, digits_png.target)
    assert from_files.history_ == from_array.history_
    np.testing.assert_array_equal(
        from_files.predict_proba(digits_png.filenames), from_array.predict_proba(array)
    )


def test_fit_from_jpeg_folder_with_validation_data(digits_jpg):
    clf = AlexNetClassifier(**SMALL_FIT, resize="crop", augment="paper")
    clf.fit(
        digits_jpg.filenames,
        digits_jpg.target,
        validation_data=(digits_jpg.filenames[::3], digits_jpg.target[::3]),
    )
    assert set(clf.history_) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert clf.skipped_files_ == []
    assert clf.predict(digits_jpg.filenames[:5]).shape == (5,)


def test_fit_skips_broken_files_records_them_and_keeps_labels_aligned(tmp_path, digits_png):
    broken = _write_broken_files(str(tmp_path))
    X = [*digits_png.filenames, broken["truncated"], broken["empty"]]
    y = [*digits_png.target, 9, 9]
    X_val = [broken["not an image"], *digits_png.filenames[:8]]
    y_val = [0, *digits_png.target[:8]]
    clf = AlexNetClassifier(**SMALL_FIT, on_error="skip")
    with pytest.warns(SkippedImagesWarning) as record:
        clf.fit(X, y, validation_data=(X_val, y_val))
    assert clf.skipped_files_ == [broken["truncated"], broken["empty"], broken["not an image"]]
    skip_warnings = [w for w in record if issubclass(w.category, SkippedImagesWarning)]
    assert len(skip_warnings) == 3  # one for X, one for X_val, X's count per class
    clean = AlexNetClassifier(**SMALL_FIT).fit(
        digits_png.filenames, digits_png.target, validation_data=(X_val[1:], y_val[1:])
    )
    assert clf.history_ == clean.history_


def test_skip_that_empties_a_class_is_an_error_naming_the_class(tmp_path, digits_png):
    broken = _write_broken_files(str(tmp_path))
    X = [*digits_png.filenames, broken["truncated"], broken["empty"]]
    y = [*map(str, digits_png.target), "ten", "ten"]
    clf = AlexNetClassifier(**SMALL_FIT, on_error="skip")
    with pytest.warns(SkippedImagesWarning), pytest.raises(ValueError, match=r"'ten': 2 of 2"):
        clf.fit(X, y)
    assert not hasattr(clf, "classes_")


def test_skip_counts_the_skipped_images_of_each_class(tmp_path, digits_png):
    broken = _write_broken_files(str(tmp_path))
    X = [*digits_png.filenames, broken["truncated"], broken["empty"], broken["not an image"]]
    y = [*digits_png.target, 9, 9, 3]
    with pytest.warns(SkippedImagesWarning, match=r"per class: 3: 1 of 5, 9: 2 of 6"):
        AlexNetClassifier(**SMALL_FIT, on_error="skip").fit(X, y)


def test_fit_raises_naming_the_broken_file_by_default(tmp_path, digits_png):
    broken = _write_broken_files(str(tmp_path))
    X = [*digits_png.filenames[:10], broken["truncated"]]
    with pytest.raises(ImageReadError, match=r"truncated\.jpg"):
        AlexNetClassifier(**SMALL_FIT).fit(X, [*digits_png.target[:10], 0])


def test_predict_raises_on_a_broken_file_even_when_fit_skips(tmp_path, digits_png):
    broken = _write_broken_files(str(tmp_path))
    clf = AlexNetClassifier(**SMALL_FIT, on_error="skip").fit(
        digits_png.filenames, digits_png.target
    )
    with pytest.raises(ImageReadError, match=r"corrupt\.jpg"):
        clf.predict([digits_png.filenames[0], broken["corrupt"]])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"resize": "stretch"}, "resize must be one of"),
        ({"on_error": "ignore"}, "on_error must be one of"),
        ({"augment": "paper"}, "needs resize='crop'"),
    ],
)
def test_invalid_loading_parameters_are_errors(digits_png, params, match):
    with pytest.raises(ValueError, match=match):
        AlexNetClassifier(**{**SMALL_FIT, **params}).fit(digits_png.filenames, digits_png.target)


def test_decoded_images_are_released_after_fit(digits_png, monkeypatch):
    created = []
    real = data_module.FileImages.__init__

    def tracking_init(self, *args, **kwargs):
        real(self, *args, **kwargs)
        created.append(weakref.ref(self))

    monkeypatch.setattr(data_module.FileImages, "__init__", tracking_init)
    AlexNetClassifier(**SMALL_FIT).fit(digits_png.filenames, digits_png.target)
    gc.collect()
    assert created and all(ref() is None for ref in created)


# -- what users pass as X ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def extractor(digits_png):
    """A small feature extractor, fitted once: every form of X must give the same features."""
    return AlexNetFeatureExtractor(weights=None, layer="pool2", image_size=67).fit(
        digits_png.filenames[:2]
    )


def test_paths_as_series_dataframe_pathlib_and_bytes_give_the_same_features(extractor, digits_png):
    import pandas as pd

    paths = [str(p) for p in digits_png.filenames[::4]]
    expected = extractor.transform(paths)
    forms = {
        "np.str_ array": np.asarray(paths),
        "Series": pd.Series(paths, index=np.arange(len(paths)) * 7),
        "DataFrame": pd.DataFrame({"file": paths}),
        "pathlib": [pathlib.Path(p) for p in paths],
        "bytes": [os.fsencode(p) for p in paths],
        "bytes array": np.asarray([os.fsencode(p) for p in paths]),
    }
    for name, X in forms.items():
        np.testing.assert_array_equal(extractor.transform(X), expected, err_msg=name)


def test_classifier_trains_on_a_series_of_paths_with_labels(digits_png):
    import pandas as pd

    X = pd.DataFrame({"file": digits_png.filenames})
    clf = AlexNetClassifier(**SMALL_FIT, augment=None).fit(X, pd.Series(digits_png.target))
    assert clf.predict(X["file"]).shape == (len(X),)


def test_a_list_of_images_of_different_sizes_is_resized_image_by_image(extractor, china):
    digits = load_digits().images[:2]
    images = [
        np.asarray(china),  # 427 x 640 x 3
        (digits[0] * 15).astype(np.uint8),  # 8 x 8 grayscale
        np.asarray(china.convert("L").resize((90, 40)))[..., None],  # 40 x 90 x 1
    ]
    features = extractor.transform(images)
    one_by_one = np.vstack([extractor.transform(image[None]) for image in images])
    np.testing.assert_array_equal(features, one_by_one)


def test_a_list_mixing_uint8_and_float_images_resizes_in_float(china):
    small = np.asarray(china.resize((100, 80)))
    images = [small, np.asarray(china).astype(np.float32)]
    batch = data_module.as_image_set(images, 67).load([0, 1])
    assert batch.dtype == np.float32 and batch.shape == (2, 67, 67, 3)
    reference = data_module.as_image_set(small[None], 67).load([0])[0]
    assert np.abs(batch[0] - reference).max() <= 1  # uint8 resizing rounds


@pytest.mark.parametrize(
    ("scale", "dtype", "match"),
    [
        (1 / 255, np.float32, r"from 0 to 1; .*\[0, 255\].*scaled to \[0, 1\].*by 255"),
        (257, np.uint16, r"to 65535; .*\[0, 255\].*16-bit.*257"),
        (None, np.float64, r"from -\d.*\[0, 255\].*standardised"),
        (256 / 255, np.float64, r"to 256; .*\[0, 255\]. Clip"),  # digits * 16 reach 256
    ],
    ids=["[0, 1] floats", "uint16", "standardised", "a little above 255"],
)
def test_pixels_on_another_scale_get_a_warning_naming_the_range(
    extractor, china, scale, dtype, match
):
    images = np.asarray(china.resize((67, 67)), dtype=np.float64)[None]
    if scale is None:
        images = (images - images.mean()) / images.std()
    else:
        images = images * scale
    with pytest.warns(PixelRangeWarning, match=match):
        extractor.transform(images.astype(dtype))


def test_pixels_in_range_get_no_warning(extractor, china):
    images = np.asarray(china.resize((67, 67)))[None]
    with warnings.catch_warnings():
        warnings.simplefilter("error", PixelRangeWarning)
        extractor.transform(images)
        extractor.transform(images.astype(np.float32))
        extractor.transform([images[0], images[0, :50]])


def test_missing_file_hint_names_on_error_only_where_the_parameter_exists(extractor, digits_png):
    X = [*digits_png.filenames[:2], "gone.png"]
    with pytest.raises(FileNotFoundError, match=r"gone\.png") as error:
        extractor.transform(X)
    assert "on_error" not in str(error.value)
    with pytest.raises(FileNotFoundError, match=r"gone\.png.*on_error='skip'"):
        AlexNetClassifier(**SMALL_FIT).fit(X, [0, 1, 2])


def test_messages_show_plain_paths_not_numpy_strings(tmp_path, digits_png):
    broken = _write_broken_files(str(tmp_path))
    with pytest.raises(FileNotFoundError) as missing:
        FileImages(np.asarray([*digits_png.filenames[:2], "gone.png"]), 67)
    assert "np.str_" not in str(missing.value) and "'gone.png'" in str(missing.value)
    images = FileImages(
        np.asarray([digits_png.filenames[0], broken["corrupt"]]), 67, on_error="skip"
    )
    with pytest.warns(SkippedImagesWarning) as skipped:
        images.skip_unreadable()
    assert "np.str_" not in str(skipped[0].message)
    assert f"{broken['corrupt']!r}" in str(skipped[0].message)


def test_pillows_decompression_bomb_warning_is_not_shown_for_rejected_files(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200_000)  # china.jpg: 273,280, under twice
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with pytest.raises(ImageReadError, match="MAX_IMAGE_PIXELS"):
            decode_image(SKLEARN_PHOTOS[0], 67)
    assert not [w for w in shown if issubclass(w.category, Image.DecompressionBombWarning)]


def test_16_and_32_bit_integer_images_share_one_scale(tmp_path, china):
    # The same pixel values, up to 255 * 100 = 25,500: Pillow opens the PNG as I;16 and the
    # TIFF as I (32-bit). Both are read on the 16-bit scale, 0-65535 to 0-255.
    values = np.asarray(china.convert("L"), dtype=np.int32) * 100
    Image.fromarray(values.astype(np.uint16)).save(tmp_path / "16.png")
    Image.fromarray(values).save(tmp_path / "32.tif")
    assert Image.open(tmp_path / "16.png").mode == "I;16"
    assert Image.open(tmp_path / "32.tif").mode == "I"
    sixteen = decode_image(str(tmp_path / "16.png"), 67)
    thirty_two = decode_image(str(tmp_path / "32.tif"), 67)
    np.testing.assert_array_equal(sixteen, thirty_two)
    expected = decode_image(SKLEARN_PHOTOS[0], 67).mean(axis=-1) * 100 / 257
    assert abs(sixteen[..., 0].mean() - expected.mean()) < 2
