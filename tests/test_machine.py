from pipeline.machine import cpu_model, describe


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
