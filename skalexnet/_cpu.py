"""What the CPU is, as Linux's /proc/cpuinfo says: its name for reports, its flags for precision,
and the vector unit oneDNN computes with (the flags, capped by ONEDNN_MAX_CPU_ISA)."""

import functools
import os
import platform

CPUINFO = "/proc/cpuinfo"

# oneDNN's instruction sets, weakest first, each with the /proc/cpuinfo flags it needs. Float
# sums round by the vector width and the kernels it selects, and 'auto' precision needs AMX.
ISA_LADDER = (
    ("SSE41", {"sse4_1"}),
    ("AVX", {"avx"}),
    ("AVX2", {"avx2", "fma"}),
    ("AVX512_CORE", {"avx512f", "avx512bw", "avx512vl", "avx512dq"}),
    ("AVX512_CORE_VNNI", {"avx512_vnni"}),
    ("AVX512_CORE_BF16", {"avx512_bf16"}),
    ("AVX512_CORE_AMX", {"amx_tile", "amx_bf16"}),
)
ISA_NAMES = tuple(name for name, _ in ISA_LADDER)
# Caps oneDNN also accepts, as the rung of the ladder they allow at most.
_CAP_ALIASES = {"AVX10_1_512": "AVX512_CORE_BF16", "AVX10_1_512_AMX": "AVX512_CORE_AMX"}


@functools.cache
def _cpuinfo_field(name: str) -> str | None:
    """The first value of ``name`` in /proc/cpuinfo (every core repeats it); None if absent."""
    try:
        with open(CPUINFO) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:  # not Linux
        pass
    return None


def cpu_name() -> str:
    """The CPU's model name, e.g. 'AMD EPYC 7B13'; what ``platform`` knows elsewhere."""
    return _cpuinfo_field("model name") or platform.processor() or "unknown CPU"


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (e.g. 'avx2', 'amx_bf16'); empty where /proc/cpuinfo is absent."""
    return frozenset((_cpuinfo_field("flags") or "").split())


def vector_isa() -> str:
    """The instruction set oneDNN computes with here, e.g. 'AVX2' or 'AVX512_CORE_AMX'.

    The best rung of ``ISA_LADDER`` the CPU's flags allow, lowered to ``ONEDNN_MAX_CPU_ISA``
    (or its older name ``DNNL_MAX_CPU_ISA``) where that is set: the cap makes a CPU compute
    as one of a lower class would, which is how one machine tests the others' numerics.
    """
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return f"{platform.machine()} (no x86 vector unit)"
    flags = cpu_flags()
    best = 0  # an x86-64 CPU without /proc/cpuinfo: SSE4.1 at least, as far as we can tell
    for rung, (_, needs) in enumerate(ISA_LADDER):
        if not needs <= flags:
            break
        best = rung
    return ISA_NAMES[min(best, _cap_rung())]


def _cap_rung() -> int:
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "ALL"
    cap = _CAP_ALIASES.get(cap.upper(), cap.upper())
    if cap in ("ALL", "DEFAULT"):
        return len(ISA_NAMES) - 1
    # Finer caps (AVX2_VNNI, AVX512_CORE_FP16, ...) allow at least the rung they extend.
    # A name it does not know, oneDNN ignores.
    rungs = [rung for rung, name in enumerate(ISA_NAMES) if cap.startswith(name)]
    return max(rungs, default=len(ISA_NAMES) - 1)
