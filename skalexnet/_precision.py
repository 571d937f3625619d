"""Numerical precision: float32, or bfloat16 compute in the layers where the hardware is fast at it.

Mixed bfloat16 keeps variables, the loss and the outputs in float32 and computes in bfloat16. It
is many times slower on CPUs without native bfloat16, where bfloat16 matrix products are emulated
(11-15x on an AVX2-only AMD EPYC), and pays per layer where it is native. Measured with
``benchmarks/bench_precision_layers.py`` (227 px, batch 32 and 64):

- a GPU (H100): bfloat16 in every layer is fastest;
- a 2-core Xeon with AMX: bfloat16 in the convolutions (conv1-pool5) trains 2.2-2.5x and
  infers 2.5-2.7x faster than float32, while bfloat16 in fc6-fc8 alone gains nothing (0.99-1.00x
  training, 0.90-0.93x inference: at these batch sizes their float32 weights are read and cast
  at every step, a memory-bound pass as long as the matrix product itself); 'bfloat16_conv'
  beat 'bfloat16' by 3-18 % in training and 4-38 % in inference.

So 'auto' picks 'bfloat16' on a GPU, 'bfloat16_conv' on a CPU with AMX, and 'float32' elsewhere
(AVX-512 BF16 without AMX was measured slower in bfloat16 than in float32 as a whole network,
and not per layer).
"""

import functools

import keras

from ._cpu import vector_isa

PRECISIONS = ("auto", "float32", "bfloat16", "bfloat16_conv")

# Keras dtype policies of (the input scaling and convolutional layers, fc6-fc8), each set on the
# network's own layers, so that the global policy is never touched.
_POLICIES = {
    "float32": ("float32", "float32"),
    "bfloat16": ("mixed_bfloat16", "mixed_bfloat16"),
    "bfloat16_conv": ("mixed_bfloat16", "float32"),
}


def resolve_precision(precision: str) -> str:
    """``precision`` itself, or what 'auto' picks on this machine (see the module's notes)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}; got {precision!r}.")
    if precision != "auto":
        return precision
    if _accelerator_supports_bfloat16():
        return "bfloat16"
    return "bfloat16_conv" if _cpu_has_amx() else "float32"


def layer_dtypes(precision: str) -> dict:
    """``build_alexnet``'s ``dtype`` and ``fc_dtype`` for a resolved precision."""
    conv, fc = _POLICIES[precision]
    return {"dtype": conv, "fc_dtype": fc}


@functools.cache
def fast_bfloat16() -> bool:
    """Whether the device Keras computes on runs bfloat16 fast: a GPU, or a CPU with AMX."""
    return _accelerator_supports_bfloat16() or _cpu_has_amx()


def _accelerator_supports_bfloat16() -> bool:
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        # The device Keras puts tensors on (KERAS_TORCH_DEVICE may keep it on the CPU).
        device = keras.ops.convert_to_tensor(0.0).device
        return device.type == "cuda" and torch.cuda.is_bf16_supported()
    if backend == "jax":
        import jax

        return jax.default_backend() in ("gpu", "tpu")
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    return False


def _cpu_has_amx() -> bool:
    # AMX tiles with bfloat16 (Intel Sapphire Rapids and later) are what make bfloat16 fast on a
    # CPU; AVX-512 BF16 alone measured slower than float32. ONEDNN_MAX_CPU_ISA below AMX turns
    # them off in oneDNN, so 'auto' then chooses as on a CPU without them.
    return vector_isa() == "AVX512_CORE_AMX"
