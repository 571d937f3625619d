"""Numerical precision: float32, or bfloat16 compute where the hardware is fast at it.

Mixed bfloat16 keeps variables, the loss and the outputs in float32 and computes in bfloat16. It
roughly doubles training speed on GPUs and on CPUs with AMX (and AVX-512 BF16), and is many times
slower on CPUs without them, where bfloat16 matrix products are emulated: measured 11-15x slower
on an AVX2-only AMD EPYC. So 'auto' picks bfloat16 only where it can be fast.
"""

import functools

import keras

from ._cpu import cpu_flags

PRECISIONS = ("auto", "float32", "bfloat16")

# Keras dtype policies: each layer gets its own, so the global policy is never touched.
_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


def resolve_precision(precision: str) -> str:
    """'float32' or 'bfloat16': ``precision`` itself, or what 'auto' picks on this machine."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}; got {precision!r}.")
    if precision == "auto":
        return "bfloat16" if fast_bfloat16() else "float32"
    return precision


def dtype_policy(precision: str) -> str:
    """The Keras dtype policy name for a resolved precision."""
    return _POLICIES[precision]


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
    # CPU; AVX-512 BF16 alone was not measured, so it does not count.
    return "amx_bf16" in cpu_flags()
