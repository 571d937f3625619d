"""skalexnet._cpu: the CPU's name and flags, read once from /proc/cpuinfo."""

import platform

import pytest

from skalexnet import _cpu

# Two cores of a real /proc/cpuinfo, shortened: every core repeats its name and flags.
CPUINFO = """\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 avx512f amx_bf16 amx_tile
bogomips\t: 4000.00

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 avx512f amx_bf16 amx_tile
"""


@pytest.fixture
def cpuinfo(tmp_path, monkeypatch):
    """Point the module at a file of our own; its cache is emptied before and after."""
    path = tmp_path / "cpuinfo"
    monkeypatch.setattr(_cpu, "CPUINFO", str(path))
    _cpu._cpuinfo_field.cache_clear()
    yield path
    _cpu._cpuinfo_field.cache_clear()


def test_name_and_flags_come_from_cpuinfo(cpuinfo):
    cpuinfo.write_text(CPUINFO)
    assert _cpu.cpu_name() == "Intel(R) Xeon(R) Platinum 8480+"
    assert {"avx2", "amx_bf16"} <= _cpu.cpu_flags()
    assert "flags" not in _cpu.cpu_flags()


def test_without_cpuinfo_the_name_is_platforms_and_there_are_no_flags(cpuinfo):
    # cpuinfo is never written: a machine without /proc (macOS, Windows)
    assert _cpu.cpu_name() == (platform.processor() or "unknown CPU")
    assert _cpu.cpu_flags() == frozenset()


def test_fast_bfloat16_on_a_cpu_follows_its_amx_flag(cpuinfo):
    from skalexnet._precision import _cpu_has_amx

    cpuinfo.write_text(CPUINFO)
    assert _cpu_has_amx()
    _cpu._cpuinfo_field.cache_clear()
    cpuinfo.write_text(CPUINFO.replace(" amx_bf16", ""))
    assert not _cpu_has_amx()
