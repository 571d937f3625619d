"""What the training benchmarks share: options, one worker process per Keras backend, the peer.

``bench_network.py``, ``bench_epoch.py`` and ``bench_estimator.py`` each measure one thing (a
module with ``measure(session)`` and ``report(args, result)``); ``bench_training.py`` runs all
three. :func:`main` starts one worker per backend (``KERAS_BACKEND`` set) running the script
again with ``--worker``; the worker opens a :class:`Session` (the backend's device, the plain
PyTorch peer on the same device, a check that both compute the same function), runs the
measurements, and prints its cumulative result as JSON after each, so that partial results
survive a time limit. The parent prints the device and each measurement's table. On a GPU every
timer is read after ``torch.cuda.synchronize()`` (JAX results come back as NumPy, which waits for
them). Never part of the test suite.
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
PRECISIONS = ("auto", "float32", "bfloat16", "bfloat16_conv")  # skalexnet's
JIT_COMPILE = {"auto": "auto", "true": True, "false": False}
SOFT_MARGIN_S = 30  # workers start no new measurement this long before the time limit

CPU_DEFAULTS = {
    "backends": ["torch"],
    "precision": ["auto"],
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


def parse_args(argv=None, description=None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--gpu", action="store_true", help="the preset for one CUDA GPU")
    parser.add_argument("--backends", nargs="+")
    parser.add_argument("--precision", nargs="+", choices=PRECISIONS)
    parser.add_argument("--batch-sizes", nargs="+", type=int, help="training batch sizes")
    parser.add_argument(
        "--infer-batch-sizes", nargs="+", type=int, help="default: the training batch sizes"
    )
    parser.add_argument("--image-size", type=int, default=227)
    parser.add_argument("--steps", type=int, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, help="untimed steps before timing")
    parser.add_argument(
        "--repeats", type=int, default=2, help="estimator fits (and peer loops) per case"
    )
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
    known, _ = parser.parse_known_args(argv)
    parser.set_defaults(**(GPU_PRESET if known.gpu else CPU_DEFAULTS))
    args = parser.parse_args(argv)
    args.infer_batch_sizes = args.infer_batch_sizes or args.batch_sizes
    return args


# -- the worker: one backend, in its own process -------------------------------------------------


def log(message):
    print(message, file=sys.stderr, flush=True)


class Session:
    """One backend's worker: its device, the peer, and what the measurements share.

    ``result`` is the cumulative result the parent reads; each measurement adds its entry and
    calls :meth:`emit`.
    """

    def __init__(self, args):
        import keras

        self.args = args
        self.keras = keras
        self.backend = keras.backend.backend()
        self.rng = np.random.default_rng(0)
        self._pool = None
        self._peers = None
        self.result = {
            "backend": self.backend,
            "versions": {"keras": keras.__version__},
            "device": keras_device(self.backend),
            "skipped": [],
        }
        self.result["versions"][self.backend] = __import__(self.backend).__version__

    def start(self) -> bool:
        """Find the devices and check the peer; False when the backend is not to be measured."""
        args, device = self.args, self.result["device"]
        log(f"[{self.backend}] Keras computes on {device['keras']}")
        if args.require_gpu and not device["gpu"]:
            self.result["not_run"] = f"Keras computes on {device['keras']}, not on a GPU"
            self.emit()
            return False
        # torch after the backend found its GPU: JAX and torch then share the CUDA libraries.
        import torch

        self.torch = torch
        self.peer_device = "cuda" if device["gpu"] and torch.cuda.is_available() else "cpu"
        device["peer"] = self.peer_device
        if self.peer_device == "cuda":
            device["peer_name"] = torch.cuda.get_device_name()
            device["cuda"] = torch.version.cuda
            # torch's defaults: TF32 in cuDNN convolutions, full float32 in matrix products.
            device["float32_matmul"] = torch.get_float32_matmul_precision()
            device["tf32_cudnn"] = getattr(torch.backends.cudnn, "allow_tf32", None)
        self.result["torch_threads"] = torch.get_num_threads()
        from _peer_torch import peer_variants

        self.result["peer_variants"] = list(peer_variants(self.peer_device))
        self.result["precisions"] = {p: self.resolved(p) for p in args.precision}
        self.result["versions"].setdefault("torch", torch.__version__)

        log(f"[{self.backend}] checking that the peer computes the same function")
        self.result["check"] = self.check_same_function()
        self.emit()
        return True

    def out_of_time(self):
        return bool(self.args.deadline) and time.time() > self.args.deadline

    def skip(self, what):
        log(f"[{self.backend}] skipped (time limit): {what}")
        self.result["skipped"].append(what)

    def cases(self, label, batch_sizes):
        """(precision, batch size, description) of each case to measure, in order; the cases
        past the time limit are recorded as skipped instead."""
        for precision in self.args.precision:
            for batch_size in batch_sizes:
                what = f"{label} {precision} batch {batch_size}"
                if self.out_of_time():
                    self.skip(what)
                else:
                    yield precision, batch_size, what

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

    def peers(self):
        """The plain PyTorch AlexNet in each variant a PyTorch user would try on this device
        (``_peer_torch.peer_variants``): name -> its training and inference steps."""
        from _peer_torch import PeerSteps, peer_variants

        if self._peers is None:
            self._peers = {
                name: PeerSteps(image_size=self.args.image_size, device=self.peer_device, **options)
                for name, options in peer_variants(self.peer_device).items()
            }
        return self._peers

    def resolved(self, precision):
        """skalexnet's precision as the estimators resolve it ('auto' -> what it picks here)."""
        from skalexnet._precision import resolve_precision

        return resolve_precision(precision)

    def build_keras(self, precision):
        """The estimator's network in ``precision``, compiled as the estimator compiles it."""
        from skalexnet import build_alexnet
        from skalexnet._precision import layer_dtypes

        dtypes = layer_dtypes(self.resolved(precision))
        model = build_alexnet("original", n_classes=2, image_size=self.args.image_size, **dtypes)
        assert model.get_layer("conv1").dtype_policy.name == dtypes["dtype"], dtypes
        assert model.get_layer("fc6").dtype_policy.name == dtypes["fc_dtype"], dtypes
        compile_as_the_estimator(model, JIT_COMPILE[self.args.jit_compile])
        return model

    def check_same_function(self):
        """Largest |difference| of the Keras model's and the peer's logits, same weights."""
        from _peer_torch import PeerSteps, load_keras_weights

        keras, torch, size = self.keras, self.torch, self.args.image_size
        model = self.build_keras("float32")
        peer = PeerSteps(image_size=size, device=self.peer_device).model.eval()
        load_keras_weights(peer, model)
        x = self.rng.uniform(0, 255, (2, size, size, 3)).astype("float32")
        logits = keras.Model(model.input, model.get_layer("fc8").output).predict_on_batch(x)
        x_peer = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(self.peer_device)
        with torch.no_grad():
            peer_logits = peer(x_peer).cpu().numpy()
        scale = float(np.abs(peer_logits).max())
        return float(np.abs(np.asarray(logits) - peer_logits).max()), scale

    def peer_fit_rate(self, peer, X, y, batch_size):
        """images/s of the peer's own loop over uint8 images X (``PeerSteps.train_epoch``),
        steady state: the clock starts after ``--warmup`` steps."""
        steps = peer.train_epoch(X, y, batch_size)
        for _ in range(self.args.warmup):
            next(steps)
        self.synchronize()
        start, n = time.perf_counter(), 0
        for _ in steps:
            n += 1
        self.synchronize()
        return n * batch_size / (time.perf_counter() - start)

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


def compile_as_the_estimator(model, jit_compile="auto"):
    """Compile model with AlexNetClassifier's own compile step: its optimizer, loss and metrics
    at its default parameters; ``jit_compile`` other than 'auto' then overrides Keras's choice."""
    from skalexnet import AlexNetClassifier

    estimator = AlexNetClassifier()
    estimator.model_ = model
    estimator._compile(estimator.learning_rate)
    if jit_compile != "auto":
        model.jit_compile = jit_compile


def bind(function, *args):
    return lambda: function(*args)


# -- the parent: start the workers, print the tables ---------------------------------------------


def is_installed(python, module):
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([python, "-c", code], capture_output=True).returncode == 0


def worker_command(args, script, backend, deadline):
    command = [args.python, os.path.abspath(script), "--worker", backend]
    command += ["--backends", backend, "--precision", *args.precision]
    command += ["--batch-sizes", *map(str, args.batch_sizes)]
    command += ["--infer-batch-sizes", *map(str, args.infer_batch_sizes)]
    command += ["--image-size", str(args.image_size), "--steps", str(args.steps)]
    command += ["--warmup", str(args.warmup), "--epoch-images", str(args.epoch_images)]
    command += ["--repeats", str(args.repeats)]
    command += ["--epoch-sample", str(args.epoch_sample)]
    command += ["--epoch-batch-sizes", *map(str, args.epoch_batch_sizes)]
    command += ["--require-gpu" if args.require_gpu else "--no-require-gpu"]
    command += ["--jit-compile", args.jit_compile]
    if deadline:
        command += ["--deadline", repr(deadline - SOFT_MARGIN_S)]
    return command


def run_backend(args, script, backend, deadline, jax_cache):
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
    command = worker_command(args, script, backend, deadline)
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
    peer = f"peer (torch) on {device['peer']}, variants: {', '.join(result['peer_variants'])}"
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


def main(measurements, script, description, argv=None):
    """Run ``measurements`` (modules with ``measure`` and ``report``) on each backend."""
    args = parse_args(argv, description)
    if args.worker:
        import skalexnet  # noqa: F401  (before Keras: it sets KERAS_BACKEND's fallback)

        session = Session(args)
        if session.start():
            for measurement in measurements:
                measurement.measure(session)
                session.emit()
        return
    from skalexnet._cpu import cpu_name

    sys.stdout.reconfigure(line_buffering=True)  # partial results survive a kill, even piped
    started = time.time()
    deadline = started + args.time_limit if args.time_limit else 0
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
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
            result = run_backend(args, script, backend, deadline, jax_cache)
            if result is None:
                print(f"{backend}: no result")
                continue
            measured += "not_run" not in result
            print_device(result)
            if "not_run" not in result:
                for measurement in measurements:
                    measurement.report(args, result)
    if not measured:
        sys.exit("no backend measured")
    print(f"\ntotal {time.time() - started:.0f} s")
