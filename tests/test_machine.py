import pytest

from textcode.runtime.device import cpu_flags, cpu_model, describe, resolve_precision


def test_describe_reads_model_and_speed_flags(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9B14\nflags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 ht\n\n"
                    "processor\t: 1\nmodel name\t: AMD EPYC 9B14\nflags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 ht\n")
    d = describe(info)
    assert d["cpu"] == "AMD EPYC 9B14"
    assert d["simd"] == ["avx2", "avx512_bf16", "avx512f", "fma"]
    assert len(d["load_avg"]) == 3 and d["cores"] >= 1


def test_describe_without_cpuinfo(tmp_path):
    missing = tmp_path / "none"
    assert cpu_model(missing) is None
    d = describe(missing)
    assert d["simd"] is None and d["cpu"]


def test_cpu_flags_read_x86_and_arm_cpuinfo(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse4_2 avx avx2 fma\n\n"
                   "processor\t: 1\nflags\t\t: fpu sse4_2 avx avx2 fma\n")
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n")
    assert cpu_flags(x86) == {"fpu", "sse4_2", "avx", "avx2", "fma"}
    assert "bf16" in cpu_flags(arm)
    assert cpu_flags(tmp_path / "absent") is None


@pytest.mark.parametrize("flags, expected", [
    ({"avx", "avx2", "fma"}, "fp32"),  # AMD EPYC here: bf16 would be emulated
    ({"avx2", "avx512f", "avx512_bf16"}, "bf16"),
    ({"avx2", "avx512f", "amx_tile", "amx_bf16"}, "bf16"),
    ({"avx2", "avx512f", "avx512_vnni"}, "fp32"),  # AVX-512 without its bf16 extension
])
def test_auto_precision_follows_native_bf16_units(flags, expected):
    chosen, why = resolve_precision("auto", "cpu", frozenset(flags))
    assert chosen == expected
    assert why.startswith("auto:") and (expected == "bf16") == ("native bf16 (" in why)


def test_auto_precision_without_cpuinfo_is_fp32_and_says_why(monkeypatch):
    import textcode.runtime.device

    monkeypatch.setattr(textcode.runtime.device, "cpu_flags", lambda: None)
    chosen, why = resolve_precision("auto", "cpu")
    assert chosen == "fp32" and "cannot read /proc/cpuinfo" in why


def test_explicit_precision_is_honoured():
    for p in ("fp32", "bf16"):
        assert resolve_precision(p, "cpu", frozenset({"avx2"}))[0] == p
        assert resolve_precision(p, "cpu", frozenset({"amx_bf16"}))[0] == p
