"""Speed and memory of the RSVQ-AE family on this machine -> JSON.

- training: sequences/s of the real training loop (`train_autoencoder`, adversary on from step 0,
  full-length windows of random items over an ML-1M-sized catalogue), one epoch, at L=20 and L=100;
- memory: peak resident set size of a fresh process that runs only that training (and its
  resident size right after imports, so the difference is the model's and the batches');
- generation: sequences/s of prior sampling + decoding at L=20 and L=100, full-length windows
  (the prior's length distribution is pinned to L: the worst case; weights are untrained, speed does not
  depend on them).

Each measurement runs in its own subprocess, REPEATS times; the run with the median speed is reported
with every run's speed (two runs on the same quiet VM differed up to 3x). The machine is shared, so
the load average is recorded.
Usage: python bench/bench_generation.py --out results/bench_generation.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
N_ITEMS = 3416  # ML-1M
WINDOWS = {20: 2048, 100: 512}
REPEATS = 3


def train_worker(length: int) -> dict:
    import resource
    import tempfile

    import numpy as np

    from textcode.data.windows import UserSplit, Windows, WindowSplit
    from textcode.gen.config import DiscriminatorConfig, GenTrainConfig, SeqAEConfig
    from textcode.gen.discriminator import SequenceDiscriminator
    from textcode.gen.rsvq import SeqAutoencoder
    from textcode.gen.train import train_autoencoder
    from textcode.runtime.seeding import seed_everything

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rng = np.random.default_rng(0)
    n = WINDOWS[length]

    def windows(k: int) -> Windows:
        starts = np.arange(k, dtype=np.int64) * length
        return Windows(rng.integers(0, N_ITEMS, k * length), starts, starts + length, length, np.arange(k))

    split = WindowSplit(windows(n), windows(64), windows(64), UserSplit(np.arange(1), np.arange(1), np.arange(1)))
    seed_everything(0)
    model = SeqAutoencoder(SeqAEConfig(), N_ITEMS, length)
    disc = SequenceDiscriminator(DiscriminatorConfig(), model.cfg.d_item)
    cfg = GenTrainConfig(epochs=1, adversary_start=0.0, checkpoint_every=10**9)
    with tempfile.TemporaryDirectory() as tmp:
        result = train_autoencoder(model, disc, split, cfg, DiscriminatorConfig(), Path(tmp), seed=0)
    seconds = result.history[0]["train_s"]  # the epoch's steps (validation and checkpoints not counted)
    return {"length": length, "windows": n, "batch_size": cfg.batch_size, "train_seconds": round(seconds, 2),
            "sequences_per_s": round(n / seconds, 1), "positions_per_s": round(n * length / seconds, 0),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "rss_after_imports_mib": round(base_rss / 1024, 1)}


def generate_worker(length: int) -> dict:
    import torch

    from textcode.gen.config import GenerateConfig, PriorConfig, SeqAEConfig
    from textcode.gen.prior import CodePrior, SlotLayout
    from textcode.gen.rsvq import SeqAutoencoder
    from textcode.gen.sampling import sample_from_prior
    from textcode.runtime.seeding import seed_everything

    seed_everything(0)
    model = SeqAutoencoder(SeqAEConfig(), N_ITEMS, length).eval()
    q = model.cfg.quantizer
    prior = CodePrior(PriorConfig(), SlotLayout(length, model.cfg.quantized_levels), q.n_codebooks, q.codebook_size).eval()
    with torch.no_grad():  # every sampled window is full length
        prior.length_logprob.fill_(-math.inf)
        prior.length_logprob[length] = 0.0
    n = 512 if length == 20 else 128
    cfg = GenerateConfig(batch_size=128)
    start = time.perf_counter()
    seqs = sample_from_prior(model, prior, n, cfg, seed=0)
    seconds = time.perf_counter() - start
    assert all(len(s) == length for s in seqs)
    return {"length": length, "sequences": n, "batch_size": cfg.batch_size, "seconds": round(seconds, 2),
            "sequences_per_s": round(n / seconds, 1)}


def measured(kind: str, length: int) -> dict:
    """The median of REPEATS runs by sequences/s, with every run's speed (the VM's speed varies between runs)."""
    runs = sorted((run(kind, length) for _ in range(REPEATS)), key=lambda r: r["sequences_per_s"])
    return {**runs[len(runs) // 2], "sequences_per_s_runs": [r["sequences_per_s"] for r in runs]}


def run(kind: str, length: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", kind, "--length", str(length)], cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode:  # the worker's own traceback, not only its exit status
        raise RuntimeError(f"bench worker {kind} L={length} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out")
    p.add_argument("--worker", choices=["train", "generate"])
    p.add_argument("--length", type=int)
    args = p.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.worker:
        print(json.dumps((train_worker if args.worker == "train" else generate_worker)(args.length)))
        return 0
    import torch

    from textcode.runtime import device

    started = os.getloadavg()
    result = {
        "threads": torch.get_num_threads(),
        "machine": device.describe(),
        "load_average_before": [round(x, 2) for x in started],
        "repeats": REPEATS,
        "training": [measured("train", L) for L in (20, 100)],
        "generation": [measured("generate", L) for L in (20, 100)],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        from textcode.core import artifacts

        artifacts.write_text(args.out, text + "\n")  # atomic: make never sees half a file
    return 0


if __name__ == "__main__":
    sys.exit(main())
