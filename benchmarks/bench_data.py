"""How fast image files reach the network, against peers measured in the same run.

Writes N synthetic 500x375 JPEGs (the typical size of Kaggle's dogs-vs-cats photographs) and
prints:

1. decode + resize images/s on one thread, with and without JPEG draft mode (DCT scaling);
2. pipeline images/s delivered to a no-op Keras model, from files vs. from an in-memory array;
3. training images/s of AlexNetClassifier from files vs. from the same images as an array
   (target: files at least 0.9x the array);
4. peak resident memory of one pipeline epoch over the files with the cache off, measured in a
   fresh process (target: under 1.5 GB for 25,000 files).

Example::

    python benchmarks/bench_data.py --n 2000 --train-images 256 --train-size 113
    python benchmarks/bench_data.py --n 25000 --only memory

Never part of the test suite.
"""

import argparse
import os
import resource
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from skalexnet import AlexNetClassifier
from skalexnet._data import DECODE_WORKERS, ArrayImages, FileImages, ImageBatches, decode_image

WIDTH, HEIGHT = 500, 375


def write_jpegs(folder: str, n: int) -> list[str]:
    """N smooth synthetic photographs (gradients, blocks, mild noise), reused when present."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    paths = []
    for i in range(n):
        path = os.path.join(folder, f"{i:05d}.jpg")
        paths.append(path)
        if os.path.exists(path):
            continue
        a, b, c = rng.uniform(0.2, 1.0, 3)
        image = np.stack([rows * a / 2, cols * b / 2, (rows + cols) * c / 4], axis=-1)
        for _ in range(4):
            top, left = rng.integers(0, HEIGHT - 60), rng.integers(0, WIDTH - 60)
            image[top : top + 60, left : left + 90] = rng.uniform(0, 255, 3)
        image += rng.normal(0, 8, image.shape)
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path, quality=90)
    return paths


def decode_rate(paths, size, draft) -> float:
    start = time.perf_counter()
    for path in paths:
        decode_image(path, size, draft=draft)
    return len(paths) / (time.perf_counter() - start)


def no_op_model(size):
    import keras

    return keras.Sequential([keras.Input((size, size, 3)), keras.layers.GlobalAveragePooling2D()])


def pipeline_rate(images, batch_size=64) -> float:
    model = no_op_model(images.image_size)
    batches = ImageBatches(images, batch_size=batch_size)
    start = time.perf_counter()
    model.predict(batches, verbose=0)
    return len(images) / (time.perf_counter() - start)


def training_rate(X, y, size, epochs, **params) -> float:
    clf = AlexNetClassifier(
        image_size=size, epochs=0, batch_size=32, augment="study", random_state=0, **params
    )
    clf.fit(X, y)  # builds the network outside the timing
    clf.set_params(epochs=epochs, warm_start=True)
    start = time.perf_counter()
    clf.fit(X, y)
    return epochs * len(y) / (time.perf_counter() - start)


def peak_memory_of_an_epoch(paths, size) -> tuple[float, float]:
    """(resident MB before, peak resident MB after) one no-op epoch with the cache off."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pipeline_rate(FileImages(paths, size, cache=False))
    return before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="JPEGs to write (up to 25,000)")
    parser.add_argument("--folder", default="/tmp/skalexnet-bench-jpegs")
    parser.add_argument("--image-size", type=int, default=227)
    parser.add_argument("--decode-images", type=int, default=300, help="files timed in 1.")
    parser.add_argument("--train-images", type=int, default=256)
    parser.add_argument("--train-size", type=int, default=227)
    parser.add_argument("--train-epochs", type=int, default=2)
    parser.add_argument("--only", choices=["decode", "pipeline", "train", "memory"])
    args = parser.parse_args()

    start = time.perf_counter()
    paths = write_jpegs(args.folder, args.n)
    print(
        f"{args.n} JPEGs of {WIDTH}x{HEIGHT} in {args.folder} ({time.perf_counter() - start:.0f}"
        f" s to write); {DECODE_WORKERS} decoding threads"
    )
    size = args.image_size

    if args.only in (None, "decode"):
        sample = paths[: args.decode_images]
        for s in sorted({size, 112, 67}, reverse=True):
            full, draft = decode_rate(sample, s, False), decode_rate(sample, s, True)
            print(
                f"decode+resize to {s}: {draft:7.0f} img/s with draft, {full:7.0f} without "
                f"(ratio {draft / full:.2f}), one thread"
            )

    if args.only in (None, "pipeline"):
        files = FileImages(paths, size, cache=False)
        array = ArrayImages(np.stack([decode_image(p, size) for p in paths[:1000]]), size)
        from_files, from_array = pipeline_rate(files), pipeline_rate(array)
        print(
            f"pipeline to a no-op model at {size}: files {from_files:.0f} img/s (cache off), "
            f"array {from_array:.0f} img/s (ratio {from_files / from_array:.2f})"
        )

    if args.only in (None, "train"):
        subset = paths[: args.train_images]
        y = np.arange(len(subset)) % 2
        X = np.stack([decode_image(p, args.train_size) for p in subset])
        e, s = args.train_epochs, args.train_size
        rate_array = training_rate(X, y, s, e)
        rate_files = training_rate(subset, y, s, e)
        rate_files_off = training_rate(subset, y, s, e, cache=False)
        print(
            f"training at {s}, {len(subset)} images x {e} epochs: array {rate_array:.1f} img/s, "
            f"files {rate_files:.1f} img/s (ratio {rate_files / rate_array:.2f}), files with "
            f"cache off {rate_files_off:.1f} img/s (ratio {rate_files_off / rate_array:.2f})"
        )

    if args.only == "memory":
        before, peak = peak_memory_of_an_epoch(paths, size)
        print(
            f"peak resident memory of an epoch over {len(paths)} files at {size}, cache off: "
            f"{peak:.0f} MB (before the epoch: {before:.0f} MB)"
        )
    elif args.only is None:
        command = [
            sys.executable,
            __file__,
            "--only",
            "memory",
            "--n",
            str(args.n),
            "--folder",
            args.folder,
            "--image-size",
            str(size),
        ]
        print(subprocess.run(command, capture_output=True, text=True).stdout.splitlines()[-1])


if __name__ == "__main__":
    main()
