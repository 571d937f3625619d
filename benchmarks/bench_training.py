"""How fast skalexnet trains and predicts, against a plain PyTorch AlexNet measured in the same run.

The peer (``_peer_torch.py``) is the same 'original' AlexNet written directly in PyTorch (channels
first, native grouped convolutions, ``F.local_response_norm``), with the same optimizer (SGD,
lr 0.01, momentum 0.9, Nesterov) and loss (cross-entropy). Each Keras backend runs in its own
subprocess (``KERAS_BACKEND`` set), which also measures the peer, so every ratio compares numbers
taken in the same process and time window. Before timing, the worker copies the Keras weights into
the peer and prints the largest difference of their outputs: the two compute the same function.

Prints, after a header with the CPU model, thread count and versions:

1. Network cost per backend, precision and batch size, at ``--image-size`` (227): training and
   inference images/s of the Keras model itself (``train_on_batch`` / ``predict_on_batch`` on one
   in-memory float32 batch) and of the peer, steps of all of them interleaved round by round (so
   that load from other processes hits them alike), warm-up steps excluded; ratio skalexnet/peer
   against the peer's float32 (target: >= 0.9).
2. The estimator path: ``AlexNetClassifier(epochs=1, augment=None).fit(X_uint8, y)`` on in-memory
   uint8 images (validation, the ``PyDataset`` pipeline, conversion to float32 included); a timing
   callback takes the steady state after ``--warmup`` batches; ratio to the peer's training rate.
3. Seconds for one epoch of the study's Task 1 (``--epoch-images`` 2000 images, ``augment='study'``,
   batch 16 as the study and 32) through AlexNetClassifier from uint8 images: the real user path.
   The steady-state rate is measured on ``--epoch-sample`` images and scaled to the epoch (set
   ``--epoch-sample 2000`` to time a whole epoch, about 2000 / rate seconds).

Examples::

    python benchmarks/bench_training.py                      # torch, float32: about 5 minutes
    python benchmarks/bench_training.py --precision float32 bfloat16
    /work/bench-venv/bin/python benchmarks/bench_training.py --backends torch jax tensorflow \\
        --batch-sizes 32 --epoch-sample 0

Backends that the interpreter (``--python``) cannot import are reported and skipped. bfloat16 means
Keras's ``mixed_bfloat16`` policy (set before building, reset after) and ``torch.autocast('cpu',
bfloat16)`` for the peer; on CPUs without native bf16 (AVX2 only) it is usually slower. Timings on
a shared machine are noisy: read the ratios. Never part of the test suite.
"""

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

RESULT_PREFIX = "BENCH_RESULT "
STUDY_EPOCH_IMAGES = 2000
STUDY_BATCH_SIZE = 16


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["torch"])
    parser.add_argument("--precision", nargs="+", default=["float32"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[32, 64])
    parser.add_argument("--image-size", type=int, default=227)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps before timing")
    parser.add_argument("--epoch-images", type=int, default=STUDY_EPOCH_IMAGES)
    parser.add_argument(
        "--epoch-sample",
        type=int,
        default=64,
        help="images timed for the epoch estimate (the epoch's size: a full epoch; 0: skip)",
    )
    parser.add_argument("--epoch-batch-sizes", nargs="+", type=int, default=[STUDY_BATCH_SIZE, 32])
    parser.add_argument("--python", default=sys.executable, help="interpreter of the workers")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--peer-bf16", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# -- worker: one backend, in its own process ---------------------------------------------------


def log(message):
    print(message, file=sys.stderr, flush=True)


class SteadyStateTimer:
    """Keras callback: wall time from the start of batch ``warmup`` to the end of the last batch."""

    def __new__(cls, warmup):
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.start = self.end = None
                self.batches = 0

            def on_train_batch_begin(self, batch, logs=None):
                if batch == warmup:
                    self.start = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                self.batches = batch + 1
                self.end = time.perf_counter()

        return _Timer()


def timed_fit(clf, X, y, warmup):
    """Fit clf (warm_start) twice: once on one batch to build and warm up, then timed.

    Returns (seconds of the steady state, timed batches, seconds of the first fit). The timed fit
    is the estimator's own loop with a timer added to its Keras model's fit.
    """
    clf.set_params(warm_start=True)
    start = time.perf_counter()
    clf.fit(X[: clf.batch_size], y[: clf.batch_size])
    first_fit = time.perf_counter() - start
    timer = SteadyStateTimer(warmup)
    model = clf.model_
    original_fit = model.fit

    def fit_with_timer(*args, **kwargs):
        return original_fit(*args, callbacks=[timer], **kwargs)

    model.fit = fit_with_timer  # an instance attribute, removed again below
    try:
        clf.fit(X, y)
    finally:
        del model.fit
    return timer.end - timer.start, timer.batches - warmup, first_fit


@contextlib.contextmanager
def dtype_policy(precision):
    """Keras's global dtype policy for layers built inside: mixed_bfloat16 or float32."""
    import keras

    keras.mixed_precision.set_dtype_policy(
        "mixed_bfloat16" if precision == "bfloat16" else "float32"
    )
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


def build_keras(precision, image_size):
    from skalexnet._network import build_alexnet

    with dtype_policy(precision):
        model = build_alexnet("original", n_classes=2, image_size=image_size)
    compile_like_the_estimator(model)
    return model


def compile_like_the_estimator(model):
    import keras

    schedule = keras.optimizers.schedules.InverseTimeDecay(0.01, 1, 1e-6)
    model.compile(  # as AlexNetClassifier compiles it
        optimizer=keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True),
        loss="categorical_crossentropy",
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )


def check_same_function(image_size):
    """Largest |difference| of the logits of the Keras model and the peer with the same weights."""
    import keras
    import torch
    from _peer_torch import TorchAlexNet, load_keras_weights

    model = build_keras("float32", image_size)
    peer = TorchAlexNet(2, image_size).eval()
    load_keras_weights(peer, model)
    x = np.random.default_rng(0).uniform(0, 255, (2, image_size, image_size, 3)).astype("float32")
    logits = keras.Model(model.input, model.get_layer("fc8").output).predict_on_batch(x)
    with torch.no_grad():
        peer_logits = peer(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    scale = float(np.abs(peer_logits).max())
    return float(np.abs(np.asarray(logits) - peer_logits).max()), scale


def interleaved_rates(measurements, steps, warmup):
    """images/s of each (key, step, images) measurement, one step of each per round in turn."""
    for key, step, _ in measurements:
        log(f"  warm-up {key}")
        for _ in range(warmup):
            step()
    seconds = {key: 0.0 for key, _, _ in measurements}
    for round_index in range(steps):
        log(f"  round {round_index + 1}/{steps}")
        for key, step, _ in measurements:
            start = time.perf_counter()
            step()
            seconds[key] += time.perf_counter() - start
    return {key: steps * images / seconds[key] for key, _, images in measurements}


def run_worker(args):
    import keras
    import torch
    from _peer_torch import PeerSteps

    from skalexnet import AlexNetClassifier

    backend = keras.backend.backend()
    size = args.image_size
    result = {"backend": backend, "versions": {"keras": keras.__version__}}
    result["versions"][backend] = __import__(backend).__version__
    result["torch_threads"] = torch.get_num_threads()
    log(f"[{backend}] checking that the peer computes the same function")
    result["check"] = check_same_function(size)

    rng = np.random.default_rng(0)
    peers = {"float32": PeerSteps("float32", image_size=size)}
    if "bfloat16" in args.precision and args.peer_bf16:
        peers["bfloat16"] = PeerSteps("bfloat16", image_size=size)
    models = {("skalexnet", p): build_keras(p, size) for p in args.precision}
    measurements = []
    for batch_size in args.batch_sizes:
        x = rng.uniform(0, 255, (batch_size, size, size, 3)).astype(np.float32)
        y = np.eye(2, dtype=np.float32)[np.arange(batch_size) % 2]
        for precision, peer in peers.items():
            key = ("peer", precision, batch_size)
            measurements.append(
                ((*key, "train"), _bind(peer.train_step, batch_size, size), batch_size)
            )
            measurements.append(
                ((*key, "infer"), _bind(peer.infer_step, batch_size, size), batch_size)
            )
        for (impl, precision), model in models.items():
            key = (impl, precision, batch_size)
            measurements.append(((*key, "train"), _bind(model.train_on_batch, x, y), batch_size))
            measurements.append(((*key, "infer"), _bind(model.predict_on_batch, x), batch_size))
    log(f"[{backend}] network: {len(measurements)} measurements, interleaved")
    rates = interleaved_rates(measurements, args.steps, args.warmup)
    result["network"] = [[*key, rate] for key, rate in rates.items()]
    del models

    # The estimator path: in-memory uint8 images, no augmentation, one epoch, steady state.
    result["estimator"] = []
    for precision in args.precision:
        for batch_size in args.batch_sizes:
            n = batch_size * (args.warmup + args.steps)
            X = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
            labels = np.arange(n) % 2
            log(f"[{backend}] estimator {precision} batch {batch_size}: fit on {n} images")
            clf = AlexNetClassifier(
                image_size=size, epochs=1, batch_size=batch_size, augment=None, random_state=0
            )
            # The peer's reference: one step just before the fit and one just after.
            peer = peers["float32"]
            start = time.perf_counter()
            peer.train_step(batch_size, size)
            peer_seconds = time.perf_counter() - start
            with dtype_policy(precision):
                seconds, batches, _ = timed_fit(clf, X, labels, args.warmup)
            start = time.perf_counter()
            peer.train_step(batch_size, size)
            peer_rate = 2 * batch_size / (peer_seconds + time.perf_counter() - start)
            rate = batches * batch_size / seconds
            result["estimator"].append([precision, batch_size, rate, peer_rate])
            del clf

    # The study's Task 1 epoch: augment='study', uint8 images, the first precision listed.
    result["epoch"] = []
    sample = min(args.epoch_sample, args.epoch_images)
    for batch_size in args.epoch_batch_sizes if sample > 0 else ():
        n = batch_size * args.warmup + sample
        X = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
        labels = np.arange(n) % 2
        log(f"[{backend}] study epoch, batch {batch_size}: fit on {n} images")
        clf = AlexNetClassifier(
            image_size=size, epochs=1, batch_size=batch_size, augment="study", random_state=0
        )
        with dtype_policy(args.precision[0]):
            seconds, batches, first_fit = timed_fit(clf, X, labels, args.warmup)
        rate = batches * batch_size / seconds
        result["epoch"].append([args.precision[0], batch_size, rate, sample, first_fit])
        del clf
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def _bind(function, *args):
    return lambda: function(*args)


# -- parent: start the workers, print the tables ------------------------------------------------


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def is_installed(python, module):
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([python, "-c", code], capture_output=True).returncode == 0


def run_backend(args, backend, peer_bf16):
    command = [args.python, os.path.abspath(__file__), "--worker", backend]
    command += ["--precision", *args.precision, "--batch-sizes", *map(str, args.batch_sizes)]
    command += ["--image-size", str(args.image_size), "--steps", str(args.steps)]
    command += ["--warmup", str(args.warmup), "--epoch-images", str(args.epoch_images)]
    command += ["--epoch-sample", str(args.epoch_sample)]
    command += ["--epoch-batch-sizes", *map(str, args.epoch_batch_sizes)]
    if peer_bf16:
        command.append("--peer-bf16")
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    completed = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True)
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    raise RuntimeError(f"the {backend} worker failed (exit {completed.returncode}); see above.")


def print_tables(args, results):
    print(
        f"\nTable 1. Network cost: images/s at {args.image_size}x{args.image_size}, "
        f"{args.steps} timed steps after {args.warmup} warm-up, 'original' AlexNet, 2 classes; "
        "ratio = skalexnet / peer float32 (same process, interleaved)"
    )
    header = (
        f"{'backend':<12}{'precision':<10}{'batch':>6}{'train img/s':>13}{'infer img/s':>13}"
        f"{'peer train':>12}{'peer infer':>12}{'train ratio':>13}{'infer ratio':>13}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        rates = {tuple(row[:4]): row[4] for row in result["network"]}
        for (impl, precision, batch, kind), rate in rates.items():
            if kind != "train":
                continue
            peer_train = rates[("peer", "float32", batch, "train")]
            peer_infer = rates[("peer", "float32", batch, "infer")]
            infer = rates[(impl, precision, batch, "infer")]
            label = "peer:torch" if impl == "peer" else result["backend"]
            if impl == "peer" and precision == "float32" and result is not results[0]:
                label = f"peer@{result['backend']}"[:11]
            print(
                f"{label:<12}{precision:<10}{batch:>6}{rate:>13.2f}{infer:>13.2f}"
                f"{peer_train:>12.2f}{peer_infer:>12.2f}{rate / peer_train:>13.2f}"
                f"{infer / peer_infer:>13.2f}"
            )

    print(
        "\nTable 2. Estimator path: AlexNetClassifier(epochs=1, augment=None).fit(X_uint8, y), "
        "steady state; ratio = estimator / peer float32 training (same process)"
    )
    header = (
        f"{'backend':<12}{'precision':<10}{'batch':>6}{'fit img/s':>13}{'peer train':>12}"
        f"{'ratio':>8}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        for precision, batch, rate, peer_rate in result["estimator"]:
            print(
                f"{result['backend']:<12}{precision:<10}{batch:>6}{rate:>13.2f}{peer_rate:>12.2f}"
                f"{rate / peer_rate:>8.2f}"
            )

    if not any(result["epoch"] for result in results):
        return
    print(
        f"\nTable 3. The study's Task 1 epoch: {args.epoch_images} uint8 images, augment='study', "
        "AlexNetClassifier.fit (steady-state rate measured on 'timed' images, scaled to the epoch)"
    )
    header = (
        f"{'backend':<12}{'precision':<10}{'batch':>6}{'img/s':>9}{'s/epoch':>10}{'timed':>7}"
        f"{'first fit s':>13}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        for precision, batch, rate, sample, build_seconds in result["epoch"]:
            print(
                f"{result['backend']:<12}{precision:<10}{batch:>6}{rate:>9.2f}"
                f"{args.epoch_images / rate:>10.1f}{sample:>7}{build_seconds:>13.1f}"
            )


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        run_worker(args)
        return
    started = time.perf_counter()
    results = []
    available = [b for b in args.backends if is_installed(args.python, b)]
    for backend in args.backends:
        if backend not in available:
            print(f"skipped {backend}: not importable by {args.python}")
    for backend in available:
        log(f"== {backend} ==")
        results.append(run_backend(args, backend, peer_bf16=backend == available[0]))
        log(f"{backend} raw: {json.dumps(results[-1])}")  # kept if a later backend fails
    if not results:
        sys.exit("no backend to measure")

    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    for result in results:
        versions = ", ".join(f"{k} {v}" for k, v in result["versions"].items())
        difference, scale = result["check"]
        print(
            f"{result['backend']}: {versions}; torch threads {result['torch_threads']}; "
            f"peer vs skalexnet logits, same weights: max |diff| {difference:.2e} (max |logit| "
            f"{scale:.2e})"
        )
    print_tables(args, results)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
