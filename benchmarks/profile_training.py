"""Where a training step of skalexnet's AlexNet spends its time, layer by layer (torch backend).

Wraps each layer's forward pass in ``torch.profiler.record_function(<layer name>)`` and profiles
``train_on_batch`` at 227x227: the first table is each layer's forward time, the second the
operators by self time (the backward passes appear there as ``...Backward0`` operators, the
optimizer as ``_foreach_*``/``add_``/``mul_``). Answers "which layers take the time" when a speed
target is missed.

Examples::

    python benchmarks/profile_training.py                       # 'auto', batch 32
    python benchmarks/profile_training.py --precision bfloat16 --steps 1
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

# isort: off
import numpy as np
import skalexnet  # chooses the Keras backend: before Keras
import keras
import torch
from torch.profiler import ProfilerActivity, profile, record_function
from _training_harness import compile_as_the_estimator
from skalexnet._precision import PRECISIONS, layer_dtypes, resolve_precision
# isort: on

build_alexnet = skalexnet.build_alexnet


def label_layers(model):
    """Run every layer's call inside a profiler range named after the layer."""
    for layer in model.layers[1:]:
        call = layer.call

        def labelled(*args, _call=call, _name=layer.name, **kwargs):
            with record_function(f"layer:{_name}"):
                return _call(*args, **kwargs)

        layer.call = labelled


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=227)
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    assert keras.backend.backend() == "torch", "this profile reads torch's profiler"

    precision = resolve_precision(args.precision)
    model = build_alexnet(
        n_classes=2, image_size=args.image_size, seed=0, **layer_dtypes(precision)
    )
    compile_as_the_estimator(model)  # its optimizer, loss and metrics
    rng = np.random.default_rng(0)
    size, batch = args.image_size, args.batch_size
    x = rng.uniform(0, 255, (batch, size, size, 3)).astype("float32")
    y = np.eye(2, dtype="float32")[np.arange(batch) % 2]
    model.train_on_batch(x, y)  # warm-up: builds the optimizer, primes oneDNN
    label_layers(model)

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(args.steps):
            model.train_on_batch(x, y)
        seconds = time.perf_counter() - start
    print(
        f"{args.precision} ({precision}), batch {batch}, {size}x{size}, "
        f"{torch.get_num_threads()} threads: "
        f"{args.steps * batch / seconds:.1f} images/s training ({seconds / args.steps:.2f} s/step)"
    )

    events = prof.key_averages()
    layers = sorted(
        (e for e in events if e.key.startswith("layer:")), key=lambda e: -e.cpu_time_total
    )
    step_us = seconds / args.steps * 1e6
    print("\nforward pass, per layer (ms per step, share of the whole step)")
    for e in layers:
        per_step = e.cpu_time_total / args.steps
        print(f"  {e.key[6:]:<12} {per_step / 1e3:8.1f} ms  {per_step / step_us:6.1%}")
    print("\noperators by self time, forward and backward (ms per step, share of the step)")
    operators = sorted(
        (e for e in events if not e.key.startswith("layer:")), key=lambda e: -e.self_cpu_time_total
    )
    for e in operators[:15]:
        per_step = e.self_cpu_time_total / args.steps
        print(f"  {e.key:<48} {per_step / 1e3:8.1f} ms  {per_step / step_us:6.1%}")


if __name__ == "__main__":
    main()
