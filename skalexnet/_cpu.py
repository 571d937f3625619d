"""What the CPU is, as Linux's /proc/cpuinfo says: its name for reports, its flags for precision."""

import functools
import platform

CPUINFO = "/proc/cpuinfo"


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
