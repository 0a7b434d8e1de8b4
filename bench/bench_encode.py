"""Benchmark: our text encoder (textcode.rec.encoders) against a plain SentenceTransformer.encode.

Both sides embed the same texts (the first N Scientific item texts) with the same model and
max length, in the same process and thread setting; model loading and a warm-up batch are not
timed; the rest is wall clock, tokenization included. Sides alternate for `--repeats` rounds and
the best round of each is reported (other processes share this machine's cores; the load
average before and after is recorded so a noisy run can be recognised).

Besides speed it checks that ours computes the same thing: cosine of every item against an fp32
reference of our own encoder that pads nothing (batch size 1), and against SentenceTransformer's
output. Candidate configurations (batch sizes, attention kernels, bf16, int8) are measured too;
for lossy ones the fraction of OPQ codes that change is measured with a codec fitted on the fp32
reference, next to the change caused by float rounding alone (fp32 batched vs unbatched).

    python bench/bench_encode.py --out results/bench_encode.json
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from textcode.core import artifacts
from textcode.data.readers.recbole import read_unisrec
from textcode.rec.config import CodesConfig, EncodeConfig
from textcode.rec.encoders import TransformersEncoder, encode_texts, model_path
from textcode.rec.opq import fit_codec
from textcode.runtime.device import cpu_flags

log = logging.getLogger("bench_encode")

WARMUP_TEXTS = 64
FLAG_PREFIXES = ("avx", "amx", "fma", "f16c", "sse4", "bf16", "asimd", "sve")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data/amazon/Scientific", help="UniSRec-format domain folder")
    p.add_argument("--prefix", default="Scientific")
    p.add_argument("--texts", type=int, default=2000, help="first N item texts")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--model", default="default")
    p.add_argument("--st-batch-size", type=int, default=32, help="SentenceTransformer.encode batch size")
    p.add_argument("--threads", type=int, default=0, help="torch threads for both sides; 0 = torch's default")
    p.add_argument("--reference-batch-size", type=int, default=1,
                   help="batch size of the fp32 reference (1 = no padding at all)")
    p.add_argument("--repeats", type=int, default=2, help="alternating timed rounds per side; the best is reported")
    p.add_argument("--candidate-texts", type=int, default=500,
                   help="texts for the candidate rows (bf16 is slow without native units)")
    p.add_argument("--no-candidates", action="store_true", help="measure only ours and the baseline")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")

    import torch
    from sentence_transformers import SentenceTransformer

    if args.threads:
        torch.set_num_threads(args.threads)  # the baseline's threads; ours gets the same through its config
    load_before = os.getloadavg()
    domain = read_unisrec(args.data, args.prefix)
    if domain.n_items < args.texts:
        raise SystemExit(f"{args.data}: {domain.n_items} items, fewer than --texts {args.texts}")
    texts = [str(t) for t in domain.item_text[:args.texts]]
    ours_cfg = EncodeConfig(model=args.model, max_length=args.max_length, threads=args.threads)
    ours = TransformersEncoder(ours_cfg)
    # pinned from here on: fitting a codec (candidates) must not leave other rows with other threads
    ours_cfg = dataclasses.replace(ours_cfg, threads=ours.threads)
    baseline = SentenceTransformer(model_path(args.model), device="cpu")
    baseline.max_seq_length = args.max_length
    log.info("%d texts, max length %d; ours: precision %s (%s), batch %d, %d threads", len(texts), args.max_length,
             ours.precision, ours.precision_reason, ours_cfg.batch_size, ours.threads)

    def run_baseline() -> np.ndarray:
        return baseline.encode(texts, batch_size=args.st_batch_size, convert_to_numpy=True)

    def run_ours() -> np.ndarray:
        return encode_texts(texts, ours)[0]

    baseline.encode(texts[:WARMUP_TEXTS], batch_size=args.st_batch_size)
    ours(texts[:WARMUP_TEXTS])
    times: dict[str, list[float]] = {"sentence_transformers": [], "ours": []}
    for r in range(args.repeats):
        for name, fn in (("sentence_transformers", run_baseline), ("ours", run_ours)):
            start = time.perf_counter()
            emb = fn()
            times[name].append(time.perf_counter() - start)
            log.info("round %d %s: %.1f items/s", r + 1, name, len(texts) / times[name][-1])
            if name == "ours":
                ours_emb = emb
            else:
                st_emb = emb

    log.info("fp32 reference: our encoder, batch size %d", args.reference_batch_size)
    ref_cfg = dataclasses.replace(ours_cfg, precision="fp32", batch_size=args.reference_batch_size)
    reference = encode_texts(texts, TransformersEncoder(ref_cfg))[0]
    result = {
        "texts": len(texts),
        "max_length": args.max_length,
        "ours_items_per_s": round(len(texts) / min(times["ours"]), 2),
        "sentence_transformers_items_per_s": round(len(texts) / min(times["sentence_transformers"]), 2),
        "max_abs_cosine_gap_vs_fp32": _cosine(ours_emb, reference)["max_abs_gap"],
    }
    result["speedup"] = round(result["ours_items_per_s"] / result["sentence_transformers_items_per_s"], 3)
    result.update(
        ours_config=dataclasses.asdict(ours_cfg),
        ours_chosen=ours.describe(),
        rounds_s={k: [round(t, 3) for t in v] for k, v in times.items()},
        cosine_vs_fp32_reference=_cosine(ours_emb, reference),
        cosine_vs_sentence_transformers=_cosine(ours_emb, st_emb),
        reference=f"our encoder, fp32, batch size {args.reference_batch_size}"
                  f"{' (no padding)' if args.reference_batch_size == 1 else ''}, same texts and max length",
        baseline=f"SentenceTransformer(path, device='cpu'), max_seq_length={args.max_length}, "
                 f"encode(texts, batch_size={args.st_batch_size})",
    )
    if not args.no_candidates:
        result["candidates"] = candidates(texts, ours_cfg, reference, args.candidate_texts)
    result["hardware"] = hardware(torch, load_before, ours.threads)
    artifacts.write_json(args.out, result)
    log.info("ours %.1f items/s, SentenceTransformer %.1f items/s (%.2fx); max |1 - cos| vs fp32 %.2g -> %s",
             result["ours_items_per_s"], result["sentence_transformers_items_per_s"], result["speedup"],
             result["max_abs_cosine_gap_vs_fp32"], args.out)
    return 0


def candidates(texts: list[str], base: EncodeConfig, reference: np.ndarray, n: int) -> list[dict]:
    """Speed and loss of alternative configurations, on the first `n` texts.

    Code changes are measured with an OPQ codec fitted on the fp32 reference of all texts; the
    `fp32 batched` row's change (float rounding of padded batches alone) is the noise floor.
    """
    import torch

    sub = texts[:n]
    codec = fit_codec(reference, CodesConfig(opq_iterations=20))
    ref_codes = codec.encode(reference[:n])
    variants = [
        ("fp32 batch 16", dataclasses.replace(base, precision="fp32", batch_size=16), None),
        ("fp32 batch 32", dataclasses.replace(base, precision="fp32", batch_size=32), None),
        ("fp32 batch 64", dataclasses.replace(base, precision="fp32", batch_size=64), None),
        ("fp32 batch 32, eager attention", dataclasses.replace(base, precision="fp32", attention="eager"), None),
        ("bf16 autocast batch 32", dataclasses.replace(base, precision="bf16"), None),
        ("int8 dynamic Linear, per-channel weights (torch.ao; not offered)", dataclasses.replace(base, precision="fp32"),
         "int8"),
    ]
    rows = []
    for name, cfg, transform in variants:
        enc = TransformersEncoder(cfg)
        if transform == "int8":
            qconfig = torch.ao.quantization.per_channel_dynamic_qconfig  # per-tensor weights lose far more
            enc.model = torch.ao.quantization.quantize_dynamic(enc.model, {torch.nn.Linear: qconfig}, dtype=torch.qint8)
        enc(sub[:WARMUP_TEXTS])
        start = time.perf_counter()
        emb = encode_texts(sub, enc)[0]
        wall = time.perf_counter() - start
        codes = codec.encode(emb)
        row = {"name": name, "texts": len(sub), "items_per_s": round(len(sub) / wall, 2), "precision": enc.precision,
               "batch_size": cfg.batch_size, "attention": cfg.attention, **_cosine(emb, reference[:n]),
               "items_with_changed_codes": float((codes != ref_codes).any(1).mean()),
               "changed_subcodes": float((codes != ref_codes).mean())}
        log.info("%s: %.1f items/s, min cos %.5f, codes changed for %.1f%% of items", name, row["items_per_s"],
                 row["min_cosine"], 100 * row["items_with_changed_codes"])
        rows.append(row)
    return rows


def _cosine(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"min_cosine": float(cos.min()), "mean_cosine": float(cos.mean()),
            "max_abs_gap": float(np.abs(1.0 - cos).max())}


def hardware(torch, load_before: tuple[float, float, float], threads: int) -> dict:
    flags = cpu_flags()
    model = "unknown"
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    versions = {}
    for pkg in ("torch", "transformers", "sentence-transformers", "tokenizers", "faiss-cpu", "numpy"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return {
        "cpu_model": model,
        "cpu_count": os.cpu_count(),
        "cpu_flags": sorted(f for f in (flags or ()) if f.startswith(FLAG_PREFIXES)),
        "torch_threads": threads,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cuda": torch.cuda.is_available(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": versions,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


if __name__ == "__main__":
    sys.exit(main())
