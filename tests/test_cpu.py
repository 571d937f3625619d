"""skalexnet._cpu: the CPU's name and flags, read once from /proc/cpuinfo."""

import platform

import pytest

from skalexnet import _cpu

# The flags each rung of the vector unit needs, as a CPU of that class lists them.
AVX2_FLAGS = "fpu sse4_1 avx avx2 fma"
AVX512_FLAGS = AVX2_FLAGS + " avx512f avx512bw avx512vl avx512dq"
AMX_FLAGS = AVX512_FLAGS + " avx512_vnni avx512_bf16 amx_tile amx_bf16"  # Sapphire Rapids
# Two cores of a real /proc/cpuinfo, shortened: every core repeats its name and flags.
CPUINFO = f"""\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: {AMX_FLAGS}
bogomips\t: 4000.00

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: {AMX_FLAGS}
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


def test_fast_bfloat16_on_a_cpu_follows_its_amx_flag(cpuinfo, monkeypatch):
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    from skalexnet._precision import _cpu_has_amx

    cpuinfo.write_text(CPUINFO)
    assert _cpu_has_amx()
    _cpu._cpuinfo_field.cache_clear()
    cpuinfo.write_text(CPUINFO.replace(" amx_bf16", ""))
    assert not _cpu_has_amx()


@pytest.mark.parametrize(
    ("flags", "cap", "isa"),
    [
        (AVX2_FLAGS, None, "AVX2"),
        (AVX512_FLAGS, None, "AVX512_CORE"),
        (AVX512_FLAGS + " avx512_vnni avx512_bf16", None, "AVX512_CORE_BF16"),
        (AMX_FLAGS, None, "AVX512_CORE_AMX"),
        (AMX_FLAGS, "AVX512_CORE", "AVX512_CORE"),
        (AMX_FLAGS, "avx2", "AVX2"),
        (AMX_FLAGS, "AVX2_VNNI", "AVX2"),  # a finer cap allows the rung it extends
        (AMX_FLAGS, "ALL", "AVX512_CORE_AMX"),
        (AVX2_FLAGS, "AVX512_CORE", "AVX2"),  # a cap above the CPU changes nothing
        # AVX-512 without avx512dq and avx512vl is not oneDNN's AVX512_CORE (Xeon Phi's).
        (AVX2_FLAGS + " avx512f avx512bw", None, "AVX2"),
    ],
)
def test_vector_isa_is_the_best_the_flags_allow_under_the_cap(
    cpuinfo, monkeypatch, flags, cap, isa
):
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    if cap is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    cpuinfo.write_text(CPUINFO.replace(AMX_FLAGS, flags))
    assert _cpu.vector_isa() == isa


def test_auto_precision_follows_the_cap_on_an_amx_cpu(cpuinfo, monkeypatch):
    # Capped below AMX, oneDNN computes bfloat16 without its tiles: 'auto' takes float32 as on
    # a CPU without them.
    from skalexnet._precision import _cpu_has_amx

    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    cpuinfo.write_text(CPUINFO)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert _cpu_has_amx()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")
    assert not _cpu_has_amx()


def test_vector_isa_names_a_cpu_other_than_x86(monkeypatch):
    monkeypatch.setattr(platform, "machine", lambda: "arm64")
    assert _cpu.vector_isa() == "arm64 (no x86 vector unit)"
