"""How fast skalexnet trains and predicts, against a plain PyTorch AlexNet measured in the same run.

The peer (``_peer_torch.py``) is the same 'original' AlexNet written directly in PyTorch (native
grouped convolutions, ``F.local_response_norm``), with the same optimizer (SGD, lr 0.01, momentum
0.9, Nesterov) and loss (cross-entropy). Each Keras backend runs in its own subprocess
(``KERAS_BACKEND`` set), which also measures the peer on the device Keras computes on (CUDA when
Keras uses a GPU: channels-last there, channels-first on CPU), so every ratio compares numbers
taken in the same process and time window. Before timing, the worker copies the Keras weights into
the peer and prints the largest difference of their outputs: the two compute the same function.
On a GPU every timer is read after ``torch.cuda.synchronize()`` (JAX results come back as NumPy,
which waits for them).

Prints a header (CPU, Python), then per backend, as soon as its worker ends, the device and
versions and three tables:

1. Network cost per precision and batch size, at ``--image-size`` (227): training and inference
   images/s of the Keras model itself (``train_on_batch`` / ``predict_on_batch`` on one batch
   already on the device) and of the peer in float32 and bfloat16 (autocast), steps of all of them
   interleaved round by round (so that load from other processes hits them alike), warm-up steps
   excluded; ratios against the peer's float32 (target: >= 0.9) and against the peer in the same
   precision.
2. Seconds for one epoch of the study's Task 1 (``--epoch-images`` 2000 uint8 images in memory,
   ``augment='study'``) through ``AlexNetClassifier.fit``: the real user path. When
   ``--epoch-sample`` is at least the epoch, the classifier trains 2 epochs and the second is
   timed whole (wall clock, epoch-end work included; 'first s' is the model's build and the first
   epoch); otherwise the steady-state rate is measured on ``--epoch-sample`` images after
   ``--warmup`` batches and scaled to the epoch.
3. The estimator path: ``AlexNetClassifier(epochs=1, augment=None).fit(X_uint8, y)`` on in-memory
   uint8 images (the ``PyDataset`` pipeline, conversion to float32 included); a timing callback
   takes the steady state after ``--warmup`` batches; ratio to the peer's float32 training rate.

bfloat16 is the estimator's ``precision='bfloat16'`` (``build_alexnet(dtype='mixed_bfloat16')``
for the network cost): Keras's 'mixed_bfloat16' policy on the network's layers; the global dtype
policy is never set, and the worker reports that it stayed float32. On CPUs without native bf16
(AVX2 only) bfloat16 is many times slower.

Examples::

    python benchmarks/bench_training.py                      # torch, float32: about 5 minutes
    python benchmarks/bench_training.py --precision float32 bfloat16
    /work/bench-venv/bin/python benchmarks/bench_training.py --backends torch jax tensorflow \\
        --batch-sizes 32 --epoch-sample 0
    python benchmarks/bench_training.py --gpu                # torch and jax on a GPU, ~4 minutes

``--gpu`` is a preset for one CUDA GPU (any option given explicitly overrides it): backends torch
and jax, float32 and bfloat16, training batches 32 and 128, inference batch 256, 20 timed steps
after 5 warm-up, the 2000-image epoch timed whole at batches 32 and 128, a backend whose Keras
does not compute on a GPU skipped, and the whole run bounded by ``--time-limit`` (330 s): workers
start nothing new 30 s before it and are stopped at it, and whatever was measured is printed.

Backends that the interpreter (``--python``) cannot import are reported and skipped. Timings on a
shared machine are noisy: read the ratios. Never part of the test suite.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

RESULT_PREFIX = "BENCH_RESULT "
STUDY_EPOCH_IMAGES = 2000
STUDY_BATCH_SIZE = 16
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
JIT_COMPILE = {"auto": "auto", "true": True, "false": False}
IMPLEMENTATIONS = (("peer", "float32"), ("peer", "bfloat16"))
SOFT_MARGIN_S = 30  # workers start no new measurement this long before the time limit

CPU_DEFAULTS = {
    "backends": ["torch"],
    "precision": ["float32"],
    "batch_sizes": [32, 64],
    "infer_batch_sizes": None,  # the training batch sizes
    "steps": 3,
    "warmup": 1,
    "epoch_sample": 64,
    "epoch_batch_sizes": [STUDY_BATCH_SIZE, 32],
    "time_limit": 0,
    "require_gpu": False,
}
GPU_PRESET = {
    "backends": ["torch", "jax"],
    "precision": ["float32", "bfloat16"],
    "batch_sizes": [32, 128],
    "infer_batch_sizes": [256],
    "steps": 20,
    "warmup": 5,
    "epoch_sample": STUDY_EPOCH_IMAGES,
    "epoch_batch_sizes": [32, 128],
    "time_limit": 330,
    "require_gpu": True,
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gpu", action="store_true", help="the preset for one CUDA GPU")
    parser.add_argument("--backends", nargs="+")
    parser.add_argument("--precision", nargs="+", choices=sorted(POLICIES))
    parser.add_argument("--batch-sizes", nargs="+", type=int, help="training batch sizes")
    parser.add_argument(
        "--infer-batch-sizes", nargs="+", type=int, help="default: the training batch sizes"
    )
    parser.add_argument("--image-size", type=int, default=227)
    parser.add_argument("--steps", type=int, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, help="untimed steps before timing")
    parser.add_argument("--epoch-images", type=int, default=STUDY_EPOCH_IMAGES)
    parser.add_argument(
        "--epoch-sample",
        type=int,
        help="images timed for the epoch estimate (the epoch's size: a full epoch; 0: skip)",
    )
    parser.add_argument("--epoch-batch-sizes", nargs="+", type=int)
    parser.add_argument(
        "--time-limit", type=float, help="seconds for the whole run; 0: none (default)"
    )
    parser.add_argument(
        "--require-gpu",
        action=argparse.BooleanOptionalAction,
        help="skip a backend whose Keras computes on the CPU (--gpu's default)",
    )
    parser.add_argument(
        "--jit-compile",
        choices=("auto", "true", "false"),
        default="auto",
        help="Keras's compile(jit_compile=...) for the network cost (default: the estimator's)",
    )
    parser.add_argument("--python", default=sys.executable, help="interpreter of the workers")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--peer-bf16", action="store_true", help=argparse.SUPPRESS)
    known, _ = parser.parse_known_args(argv)
    parser.set_defaults(**(GPU_PRESET if known.gpu else CPU_DEFAULTS))
    args = parser.parse_args(argv)
    args.infer_batch_sizes = args.infer_batch_sizes or args.batch_sizes
    return args


# -- worker: one backend, in its own process ---------------------------------------------------


def log(message):
    print(message, file=sys.stderr, flush=True)


class Worker:
    """The measurements of one backend; ``result`` is printed (cumulative) after each section."""

    def __init__(self, args):
        import keras

        self.args = args
        self.keras = keras
        self.backend = keras.backend.backend()
        self.rng = np.random.default_rng(0)
        self._pool = None
        self.result = {
            "backend": self.backend,
            "versions": {"keras": keras.__version__},
            "device": keras_device(self.backend),
            "skipped": [],
        }
        self.result["versions"][self.backend] = __import__(self.backend).__version__

    # -- helpers -------------------------------------------------------------------------------

    def out_of_time(self):
        return bool(self.args.deadline) and time.time() > self.args.deadline

    def skip(self, what):
        log(f"[{self.backend}] skipped (time limit): {what}")
        self.result["skipped"].append(what)

    def emit(self):
        self.result["global_policy"] = self.keras.config.dtype_policy().name
        print(RESULT_PREFIX + json.dumps(self.result), flush=True)

    def synchronize(self):
        """Wait for the device's queued work (CUDA; JAX results arrive as NumPy, already done)."""
        if self.peer_device == "cuda":
            self.torch.cuda.synchronize()

    def images(self, n):
        """n random uint8 images (views of one pool, drawn once)."""
        size = self.args.image_size
        if self._pool is None or len(self._pool) < n:
            self._pool = self.rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
        return self._pool[:n], np.arange(n) % 2

    def classifier(self, precision, batch_size, **params):
        from skalexnet import AlexNetClassifier

        return AlexNetClassifier(
            image_size=self.args.image_size,
            batch_size=batch_size,
            precision=precision,
            random_state=0,
            **params,
        )

    # -- the run -------------------------------------------------------------------------------

    def run(self):
        args, device = self.args, self.result["device"]
        log(f"[{self.backend}] Keras computes on {device['keras']}")
        if args.require_gpu and not device["gpu"]:
            self.result["not_run"] = f"Keras computes on {device['keras']}, not on a GPU"
            self.emit()
            return
        # torch after the backend found its GPU: JAX and torch then share the CUDA libraries.
        import torch

        self.torch = torch
        self.peer_device = "cuda" if device["gpu"] and torch.cuda.is_available() else "cpu"
        self.channels_last = self.peer_device == "cuda"
        device["peer"] = self.peer_device
        if self.peer_device == "cuda":
            device["peer_name"] = torch.cuda.get_device_name()
            device["cuda"] = torch.version.cuda
            # torch's defaults: TF32 in cuDNN convolutions, full float32 in matrix products.
            device["float32_matmul"] = torch.get_float32_matmul_precision()
            device["tf32_cudnn"] = getattr(torch.backends.cudnn, "allow_tf32", None)
        device["peer_layout"] = "channels_last" if self.channels_last else "channels_first"
        self.result["torch_threads"] = torch.get_num_threads()
        self.result["versions"].setdefault("torch", torch.__version__)

        log(f"[{self.backend}] checking that the peer computes the same function")
        self.result["check"] = self.check_same_function()
        self.emit()
        self.network_cost()
        self.emit()
        self.study_epoch()
        self.emit()
        self.estimator_path()
        self.emit()

    def peer(self, precision):
        from _peer_torch import PeerSteps

        return PeerSteps(
            precision,
            image_size=self.args.image_size,
            device=self.peer_device,
            channels_last=self.channels_last,
        )

    def build_keras(self, precision):
        """The estimator's network, compiled as it compiles it; mixed_bfloat16 on its layers."""
        from skalexnet import build_alexnet

        model = build_alexnet(
            "original", n_classes=2, image_size=self.args.image_size, dtype=POLICIES[precision]
        )
        compute_dtype = model.get_layer("conv1").compute_dtype
        expected = "bfloat16" if precision == "bfloat16" else "float32"
        assert compute_dtype == expected, (precision, compute_dtype)
        compile_like_the_estimator(model, JIT_COMPILE[self.args.jit_compile])
        return model

    def check_same_function(self):
        """Largest |difference| of the Keras model's and the peer's logits, same weights."""
        from _peer_torch import load_keras_weights

        keras, torch, size = self.keras, self.torch, self.args.image_size
        model = self.build_keras("float32")
        peer = self.peer("float32").model.eval()
        load_keras_weights(peer, model)
        x = self.rng.uniform(0, 255, (2, size, size, 3)).astype("float32")
        logits = keras.Model(model.input, model.get_layer("fc8").output).predict_on_batch(x)
        x_peer = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(self.peer_device)
        with torch.no_grad():
            peer_logits = peer(x_peer).cpu().numpy()
        scale = float(np.abs(peer_logits).max())
        return float(np.abs(np.asarray(logits) - peer_logits).max()), scale

    def network_cost(self):
        args, keras, size = self.args, self.keras, self.args.image_size
        peers = {"float32": self.peer("float32")}
        # bfloat16 autocast is cheap on a GPU; on CPU it is measured by the first worker only.
        if "bfloat16" in args.precision and (args.peer_bf16 or self.peer_device == "cuda"):
            peers["bfloat16"] = self.peer("bfloat16")
        models = {precision: self.build_keras(precision) for precision in args.precision}
        self.peers = peers
        measurements = []
        for kind, batch_sizes in (("train", args.batch_sizes), ("infer", args.infer_batch_sizes)):
            for batch_size in batch_sizes:
                # One batch on the device, as the peer's: the network's cost, no host copies.
                x = self.rng.uniform(0, 255, (batch_size, size, size, 3)).astype(np.float32)
                y = np.eye(2, dtype=np.float32)[np.arange(batch_size) % 2]
                x, y = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)
                for precision, peer in peers.items():
                    step = peer.train_step if kind == "train" else peer.infer_step
                    key = ("peer", precision, batch_size, kind)
                    measurements.append((key, _bind(step, batch_size, size), batch_size))
                for precision, model in models.items():
                    key = ("skalexnet", precision, batch_size, kind)
                    step = (
                        _bind(model.train_on_batch, x, y)
                        if kind == "train"
                        else _bind(model.predict_on_batch, x)
                    )
                    measurements.append((key, step, batch_size))
        log(f"[{self.backend}] network: {len(measurements)} measurements, interleaved")
        rates, rounds = self.interleaved_rates(measurements)
        self.result["network"] = [[*key, rate] for key, rate in rates.items()]
        self.result["jit_compile"] = next(iter(models.values())).jit_compile
        self.result["network_rounds"] = rounds
        for key, rate in rates.items():
            log(f"[{self.backend}]   {' '.join(map(str, key))}: {rate:.1f} img/s")

    def interleaved_rates(self, measurements):
        """images/s of each (key, step, images) measurement, one step of each per round in turn."""
        args = self.args
        for key, step, _ in measurements:
            log(f"  warm-up {' '.join(map(str, key))}")
            for _ in range(args.warmup):
                step()
        self.synchronize()
        seconds = {key: 0.0 for key, _, _ in measurements}
        rounds = 0
        while rounds < args.steps and not (rounds and self.out_of_time()):
            log(f"  round {rounds + 1}/{args.steps}")
            for key, step, _ in measurements:
                start = time.perf_counter()
                step()
                self.synchronize()
                seconds[key] += time.perf_counter() - start
            rounds += 1
        if rounds < args.steps:
            self.skip(f"network rounds {rounds + 1}-{args.steps}")
        return {key: rounds * images / seconds[key] for key, _, images in measurements}, rounds

    def study_epoch(self):
        """The study's Task 1 epoch: augment='study', uint8 images, every precision."""
        args = self.args
        self.result["epoch"] = []
        sample = min(args.epoch_sample, args.epoch_images)
        if sample <= 0:
            return
        full = sample >= args.epoch_images
        for precision in args.precision:
            for batch_size in args.epoch_batch_sizes:
                what = f"study epoch {precision} batch {batch_size}"
                if self.out_of_time():
                    self.skip(what)
                    continue
                if full:
                    row = self.full_epoch(precision, batch_size)
                else:
                    row = self.estimated_epoch(precision, batch_size, sample)
                self.result["epoch"].append(row)
                log(
                    f"[{self.backend}] {what}: {row['rate']:.1f} img/s, "
                    f"{row['epoch_seconds'] or args.epoch_images / row['rate']:.2f} s/epoch"
                )
                self.emit()

    def full_epoch(self, precision, batch_size):
        """Two epochs of the whole study epoch; the second timed whole, wall clock."""
        n = self.args.epoch_images
        X, y = self.images(n)
        log(f"[{self.backend}] study epoch {precision} batch {batch_size}: 2 epochs of {n}")
        timer = fit_timer(self.args.warmup, self.synchronize)
        clf = self.classifier(precision, batch_size, epochs=2, augment="study", callbacks=[timer])
        start = time.perf_counter()
        clf.fit(X, y)
        self.synchronize()
        total = time.perf_counter() - start
        epoch_seconds = timer.epoch_seconds[-1]
        return {
            "precision": clf.precision_,
            "batch": batch_size,
            "rate": timer.steady_rate(n, batch_size),
            "timed": n,
            "epoch_seconds": epoch_seconds,
            "first_seconds": total - epoch_seconds,
        }

    def estimated_epoch(self, precision, batch_size, sample):
        n = batch_size * self.args.warmup + sample
        X, y = self.images(n)
        log(f"[{self.backend}] study epoch {precision} batch {batch_size}: fit on {n} images")
        clf = self.classifier(precision, batch_size, epochs=1, augment="study")
        rate, first_fit = self.timed_fit(clf, X, y)
        return {
            "precision": clf.precision_,
            "batch": batch_size,
            "rate": rate,
            "timed": sample,
            "epoch_seconds": None,
            "first_seconds": first_fit,
        }

    def estimator_path(self):
        """In-memory uint8 images, no augmentation, one epoch, steady state; peer just around."""
        args, size = self.args, self.args.image_size
        self.result["estimator"] = []
        peer = self.peers["float32"]
        for precision in args.precision:
            for batch_size in args.batch_sizes:
                what = f"estimator {precision} batch {batch_size}"
                if self.out_of_time():
                    self.skip(what)
                    continue
                n = batch_size * (args.warmup + args.steps)
                X, y = self.images(n)
                log(f"[{self.backend}] {what}: fit on {n} images")
                clf = self.classifier(precision, batch_size, epochs=1, augment=None)
                # The peer's reference: one step just before the fit and one just after.
                peer_seconds = self.timed_peer_step(peer, batch_size, size)
                rate, _ = self.timed_fit(clf, X, y)
                peer_seconds += self.timed_peer_step(peer, batch_size, size)
                peer_rate = 2 * batch_size / peer_seconds
                self.result["estimator"].append([clf.precision_, batch_size, rate, peer_rate])
                log(f"[{self.backend}]   {rate:.1f} img/s, peer float32 {peer_rate:.1f}")

    def timed_peer_step(self, peer, batch_size, size) -> float:
        """Seconds of one training step of the peer, finished on the device."""
        start = time.perf_counter()
        peer.train_step(batch_size, size)
        self.synchronize()
        return time.perf_counter() - start

    def timed_fit(self, clf, X, y):
        """Fit clf (warm_start) twice: once on one batch to build and warm up, then timed.

        Returns (images/s of the steady state of the second fit, seconds of the first fit).
        """
        batch_size = clf.batch_size
        clf.set_params(warm_start=True)
        start = time.perf_counter()
        clf.fit(X[:batch_size], y[:batch_size])
        self.synchronize()
        first_fit = time.perf_counter() - start
        timer = fit_timer(self.args.warmup, self.synchronize)
        clf.set_params(callbacks=[timer])
        clf.fit(X, y)
        return timer.steady_rate(len(X), batch_size), first_fit


def fit_timer(warmup, synchronize):
    """Keras callback: each epoch's wall time, and the last epoch's steady state (from the start
    of batch ``warmup`` to the end of its last batch), the device synchronized at each mark."""
    import keras

    class _FitTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epoch_seconds = []
            self.start = self.end = None

        def on_epoch_begin(self, epoch, logs=None):
            synchronize()
            self.epoch_start = time.perf_counter()
            self.start = self.end = None

        def on_train_batch_begin(self, batch, logs=None):
            if batch == warmup:
                synchronize()
                self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            synchronize()
            self.end = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            synchronize()
            self.epoch_seconds.append(time.perf_counter() - self.epoch_start)

        def steady_rate(self, images, batch_size):
            """images/s after the warm-up batches of an epoch of ``images`` images."""
            if self.start is None:
                raise ValueError(f"an epoch of {images} images has no batch after the warm-up")
            return (images - warmup * batch_size) / (self.end - self.start)

    return _FitTimer()


def keras_device(backend):
    """Where Keras computes: {'gpu': bool, 'keras': description}."""
    if backend == "torch":
        import keras
        import torch

        device = keras.ops.convert_to_tensor(np.zeros(1)).device
        if device.type == "cuda":
            return {"gpu": True, "keras": f"{device} ({torch.cuda.get_device_name(device)})"}
        return {"gpu": False, "keras": str(device)}
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        # None: XLA's default, which on a GPU computes float32 products in TF32.
        precision = jax.config.jax_default_matmul_precision
        return {
            "gpu": device.platform == "gpu",
            "keras": f"{device} ({device.device_kind}; default matmul precision {precision})",
        }
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return {"gpu": bool(gpus), "keras": gpus[0].name if gpus else "CPU"}
    return {"gpu": False, "keras": "CPU"}


def compile_like_the_estimator(model, jit_compile="auto"):
    import keras

    schedule = keras.optimizers.schedules.InverseTimeDecay(0.01, 1, 1e-6)
    model.compile(  # as AlexNetClassifier compiles it
        optimizer=keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True),
        loss="categorical_crossentropy",
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile,
    )


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


def worker_command(args, backend, deadline, peer_bf16):
    command = [args.python, os.path.abspath(__file__), "--worker", backend]
    command += ["--backends", backend, "--precision", *args.precision]
    command += ["--batch-sizes", *map(str, args.batch_sizes)]
    command += ["--infer-batch-sizes", *map(str, args.infer_batch_sizes)]
    command += ["--image-size", str(args.image_size), "--steps", str(args.steps)]
    command += ["--warmup", str(args.warmup), "--epoch-images", str(args.epoch_images)]
    command += ["--epoch-sample", str(args.epoch_sample)]
    command += ["--epoch-batch-sizes", *map(str, args.epoch_batch_sizes)]
    command += ["--require-gpu" if args.require_gpu else "--no-require-gpu"]
    command += ["--jit-compile", args.jit_compile]
    if deadline:
        command += ["--deadline", repr(deadline - SOFT_MARGIN_S)]
    if peer_bf16:
        command.append("--peer-bf16")
    return command


def run_backend(args, backend, peer_bf16, deadline, jax_cache):
    """The worker's last result (None if it printed none), after it ends or the time limit."""
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONUNBUFFERED": "1",
    }
    if backend == "jax":
        # torch shares the GPU in the same process; a persistent cache spares the recompilation
        # of identical train steps (a new estimator, a warm-start fit).
        env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        env.setdefault("JAX_COMPILATION_CACHE_DIR", jax_cache)
    command = worker_command(args, backend, deadline, peer_bf16)
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    results = []

    def read():
        for line in process.stdout:
            if line.startswith(RESULT_PREFIX):
                results.append(json.loads(line[len(RESULT_PREFIX) :]))
            else:
                print(line, end="")

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        process.wait(timeout=max(deadline - time.time(), 1) if deadline else None)
    except subprocess.TimeoutExpired:
        log(f"{backend}: stopped at the time limit")
        process.kill()
        process.wait()
    reader.join(timeout=10)
    if process.returncode:
        print(f"{backend}: the worker ended with exit status {process.returncode}; see above.")
    return results[-1] if results else None


def _format(value, spec):
    """value formatted by spec ('13.1f'), or a '-' as wide."""
    return format("-", f">{spec.split('.')[0]}") if value is None else format(value, spec)


def print_device(result):
    device = result["device"]
    versions = ", ".join(f"{k} {v}" for k, v in result["versions"].items())
    print(f"\n== {result['backend']} == {versions}")
    print(f"Keras computes on {device['keras']}")
    if "not_run" in result:
        print(f"skipped: {result['not_run']}")
        return
    peer = f"peer (torch) on {device['peer']}, {device['peer_layout']}"
    if device["peer"] == "cuda":
        peer += (
            f" ({device['peer_name']}, CUDA {device['cuda']}; torch float32 matmul precision "
            f"{device['float32_matmul']!r}, TF32 in cuDNN {device['tf32_cudnn']})"
        )
    print(f"{peer}; torch threads {result['torch_threads']}")
    policy = result.get("global_policy")
    note = "untouched" if policy == "float32" else "CHANGED"
    print(f"Keras global dtype policy after the run: {policy} ({note})")
    if "check" in result:
        difference, scale = result["check"]
        print(
            f"peer vs skalexnet logits, same weights: max |diff| {difference:.2e} "
            f"(max |logit| {scale:.2e})"
        )
    if "jit_compile" in result:
        print(f"network cost measured with jit_compile={result['jit_compile']}")
    for what in result["skipped"]:
        print(f"skipped at the time limit: {what}")


def print_network(args, result):
    if "network" not in result:
        return
    rates = {tuple(row[:4]): row[4] for row in result["network"]}
    print(
        f"\nTable 1. Network cost: images/s at {args.image_size}x{args.image_size}, "
        f"{result['network_rounds']} timed steps after {args.warmup} warm-up, 'original' "
        "AlexNet, 2 classes, one batch on the device; ratios to the peer in float32 (/peer32) "
        "and in the same precision (/peer same), same process, interleaved"
    )
    header = (
        f"{'':<21}{'precision':<10}{'batch':>6}{'train img/s':>13}{'infer img/s':>13}"
        f"{'train/peer32':>14}{'infer/peer32':>14}{'train/same':>12}{'infer/same':>12}"
    )
    print(header)
    print("-" * len(header))
    batches = sorted({row[2] for row in result["network"]})
    rows = [*IMPLEMENTATIONS, *(("skalexnet", p) for p in args.precision)]
    for impl, precision in rows:
        for batch in batches:
            train, infer = (rates.get((impl, precision, batch, k)) for k in ("train", "infer"))
            if train is None and infer is None:
                continue
            cells = []
            for reference in ("float32", precision):
                if impl == "peer" and reference == precision:
                    cells += [None, None]
                    continue
                for kind, rate in (("train", train), ("infer", infer)):
                    peer = rates.get(("peer", reference, batch, kind))
                    cells.append(rate / peer if rate and peer else None)
            label = "peer (torch)" if impl == "peer" else f"skalexnet {result['backend']}"
            print(
                f"{label:<21}{precision:<10}{batch:>6}{_format(train, '13.1f')}"
                f"{_format(infer, '13.1f')}{_format(cells[0], '14.2f')}"
                f"{_format(cells[1], '14.2f')}{_format(cells[2], '12.2f')}"
                f"{_format(cells[3], '12.2f')}"
            )


def print_epoch(args, result):
    if not result.get("epoch"):
        return
    print(
        f"\nTable 2. The study's Task 1 epoch: {args.epoch_images} uint8 images, "
        "augment='study', AlexNetClassifier.fit; s/epoch 'timed' = the second of two epochs, "
        "wall clock (first s = build + first epoch), else scaled from the steady rate on "
        "'timed' images (first s = build + one batch); img/s = steady state after "
        f"{args.warmup} warm-up batches"
    )
    header = (
        f"{'backend':<12}{'precision':<10}{'batch':>6}{'img/s':>9}{'s/epoch':>10}{'how':>12}"
        f"{'first s':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in result["epoch"]:
        seconds, how = row["epoch_seconds"], "timed"
        if seconds is None:
            seconds, how = args.epoch_images / row["rate"], f"est. {row['timed']}"
        print(
            f"{result['backend']:<12}{row['precision']:<10}{row['batch']:>6}{row['rate']:>9.1f}"
            f"{seconds:>10.2f}{how:>12}{row['first_seconds']:>9.1f}"
        )


def print_estimator(result):
    if not result.get("estimator"):
        return
    print(
        "\nTable 3. Estimator path: AlexNetClassifier(epochs=1, augment=None).fit(X_uint8, y), "
        "steady state; ratio = estimator / peer float32 training (same process)"
    )
    header = (
        f"{'backend':<12}{'precision':<10}{'batch':>6}{'fit img/s':>13}{'peer train':>12}"
        f"{'ratio':>8}"
    )
    print(header)
    print("-" * len(header))
    for precision, batch, rate, peer_rate in result["estimator"]:
        print(
            f"{result['backend']:<12}{precision:<10}{batch:>6}{rate:>13.1f}{peer_rate:>12.1f}"
            f"{rate / peer_rate:>8.2f}"
        )


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        import skalexnet  # noqa: F401  (before Keras: it sets KERAS_BACKEND's fallback)

        Worker(args).run()
        return
    sys.stdout.reconfigure(line_buffering=True)  # partial results survive a kill, even piped
    started = time.time()
    deadline = started + args.time_limit if args.time_limit else 0
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    limit = f"; time limit {args.time_limit:.0f} s" if deadline else ""
    print(f"preset: {'gpu' if args.gpu else 'cpu'}{limit}")
    available = [b for b in args.backends if is_installed(args.python, b)]
    for backend in args.backends:
        if backend not in available:
            print(f"skipped {backend}: not importable by {args.python}")
    measured = 0
    with tempfile.TemporaryDirectory(prefix="bench_jax_cache_") as jax_cache:
        for backend in available:
            if deadline and deadline - time.time() < 2 * SOFT_MARGIN_S:
                print(f"skipped {backend}: too little time left")
                continue
            log(f"== {backend} ==")
            peer_bf16 = measured == 0
            result = run_backend(args, backend, peer_bf16, deadline, jax_cache)
            if result is None:
                print(f"{backend}: no result")
                continue
            measured += "not_run" not in result
            print_device(result)
            print_network(args, result)
            print_epoch(args, result)
            print_estimator(result)
    if not measured:
        sys.exit("no backend measured")
    print(f"\ntotal {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
