"""Does bfloat16 pay, layer group by layer group? The evidence behind ``precision='auto'``.

Builds the 'original' AlexNet at ``--image-size`` (227) with Keras's 'mixed_bfloat16' policy on
one group of layers and float32 on the rest, for each split below, compiles it as the estimator
does, and times ``train_on_batch`` and ``predict_on_batch`` (whole network, and up to pool5 for
feature extraction) on one batch, the splits interleaved round by round:

- float32 everywhere; bfloat16 everywhere (``precision='bfloat16'``);
- bfloat16 in the convolutional part only, conv1-pool5 (``precision='bfloat16_conv'``);
- bfloat16 in fc6-fc8 only (bfloat16 matrix products where the weights are);
- bfloat16 everywhere but conv1, whose 3 input channels use AMX tiles poorly.

Run it on the CPU class whose 'auto' is in question; prints images/s and the ratio to float32::

    python benchmarks/bench_precision_layers.py --batch-sizes 16 32 64

Never part of the test suite.
"""

import argparse
import os
import time
from functools import partial

os.environ.setdefault("KERAS_BACKEND", "torch")

# isort: off
import numpy as np
import skalexnet  # chooses the Keras backend: before Keras
import keras
from _training_harness import compile_as_the_estimator
from skalexnet._cpu import cpu_flags, cpu_name
# isort: on

CONV = ("preprocess", "conv1", "pool1", "norm1", "conv2", "pool2", "norm2", "conv3", "conv4")
CONV += ("conv5", "pool5", "flatten")
FC = ("fc6", "drop6", "fc7", "drop7", "fc8")
SPLITS = {
    "float32": (),
    "bfloat16 everywhere": CONV + FC,
    "bfloat16 conv1-pool5 (bfloat16_conv)": CONV,
    "bfloat16 fc6-fc8 only": FC,
    "bfloat16 but conv1": tuple(name for name in CONV + FC if name not in ("preprocess", "conv1")),
}


def build(split, image_size):
    model = skalexnet.build_alexnet(n_classes=2, image_size=image_size, seed=0)
    for name in SPLITS[split]:
        model.get_layer(name).dtype_policy = "mixed_bfloat16"
    compile_as_the_estimator(model)
    pool5 = keras.Model(model.input, model.get_layer("pool5").output)
    return model, pool5


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[32])
    parser.add_argument("--image-size", type=int, default=227)
    parser.add_argument("--steps", type=int, default=5, help="timed rounds")
    args = parser.parse_args()
    size = args.image_size
    flags = sorted(f for f in cpu_flags() if f.startswith(("amx", "avx512_bf16")))
    print(f"{cpu_name()}, {os.cpu_count()} CPUs, bfloat16 flags: {' '.join(flags) or 'none'}")
    models = {split: build(split, size) for split in SPLITS}
    rng = np.random.default_rng(0)
    for batch in args.batch_sizes:
        x = keras.ops.convert_to_tensor(rng.uniform(0, 255, (batch, size, size, 3)), "float32")
        y = keras.ops.convert_to_tensor(np.eye(2, dtype="float32")[np.arange(batch) % 2])
        steps = {}
        for split, (model, pool5) in models.items():
            steps[split, "train"] = partial(model.train_on_batch, x, y)
            steps[split, "infer"] = partial(model.predict_on_batch, x)
            steps[split, "pool5"] = partial(pool5.predict_on_batch, x)
        seconds = dict.fromkeys(steps, 0.0)
        for step in steps.values():
            step()  # warm-up
        for _ in range(args.steps):
            for key, step in steps.items():
                start = time.perf_counter()
                step()
                seconds[key] += time.perf_counter() - start
        rate = {key: args.steps * batch / s for key, s in seconds.items()}
        print(f"\n{size}x{size}, batch {batch}: images/s (ratio to float32)")
        print(f"{'':<40}{'train':>16}{'infer':>16}{'pool5':>16}")
        for split in SPLITS:
            cells = "".join(
                f"{rate[split, k]:>8.1f} ({rate[split, k] / rate['float32', k]:.2f})"
                for k in ("train", "infer", "pool5")
            )
            print(f"{split:<40}{cells}")


if __name__ == "__main__":
    main()
