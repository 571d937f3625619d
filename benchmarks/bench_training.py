"""How fast skalexnet trains and predicts, against a plain PyTorch AlexNet measured in the same run.

The peer (``_peer_torch.py``) is the same 'original' AlexNet written directly in PyTorch (native
grouped convolutions, ``F.local_response_norm``), with the same optimizer (SGD, lr 0.01, momentum
0.9, Nesterov) and loss (cross-entropy). Each Keras backend runs in its own subprocess
(``KERAS_BACKEND`` set), which also measures the peer on the device Keras computes on (CUDA when
Keras uses a GPU), in every variant a PyTorch user would try there (``_peer_torch.peer_variants``:
float32 NCHW and channels-last, and where bfloat16 is native, bfloat16 autocast channels-last
with torch's default and its fused SGD), so every ratio compares numbers taken in the same
process and time window, against the fastest variant. Before timing, the worker copies the Keras
weights into the peer and prints the largest difference of their outputs: the two compute the
same function. On a GPU every timer is read after ``torch.cuda.synchronize()`` (JAX results come
back as NumPy, which waits for them).

Prints a header (CPU, Python), then per backend, as soon as its worker ends, the device and
versions and three tables, one per measurement, each also runnable alone with the same options
(``bench_network.py``, ``bench_epoch.py``, ``bench_estimator.py``; ``_training_harness.py`` holds
the options, the workers and the peer they share):

1. ``bench_network.py``: the network's cost, ``train_on_batch`` / ``predict_on_batch`` images/s
   per precision and batch size against every peer variant, interleaved.
2. ``bench_epoch.py``: seconds for one epoch of the study's Task 1 (2000 uint8 images,
   ``augment='study'``) through ``AlexNetClassifier.fit``.
3. ``bench_estimator.py``: ``AlexNetClassifier(epochs=1, augment=None).fit(X_uint8, y)``, steady
   state, against every peer variant's own loop over the same uint8 images.

``--precision`` takes the estimators' values ('auto', the default, and what it resolves to here
are printed): 'bfloat16' is Keras's 'mixed_bfloat16' policy on every layer, 'bfloat16_conv' on
the convolutional layers only (``build_alexnet(dtype=..., fc_dtype=...)``); the global dtype
policy is never set, and the worker reports that it stayed float32. On CPUs without native bf16
(AVX2 only) bfloat16 is many times slower.

Examples::

    python benchmarks/bench_training.py                      # torch, 'auto': about 5 minutes
    python benchmarks/bench_training.py --precision auto bfloat16 float32
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

import bench_epoch
import bench_estimator
import bench_network
from _training_harness import main

MEASUREMENTS = (bench_network, bench_epoch, bench_estimator)

if __name__ == "__main__":
    main(MEASUREMENTS, __file__, __doc__.splitlines()[0])
