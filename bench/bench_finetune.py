"""Benchmark the VQ-Rec training and evaluation paths on Scientific; writes results/bench_finetune.json.

Measured, each in its own process so peak memory is that path's alone:
- fine-tune: seconds per training epoch (cross-entropy over all items, every position of every
  training window, the batch size, token cap and mmap threshold of the fine-tune stage's resolved config) of the
  code-embedding model at hidden 300, and the peak resident memory of that process (training,
  then evaluation);
- evaluation: one full pass over the test users (scores for all items, ranks in both protocols);
- pre-training: sequences (training windows) per second of the contrastive objective on the
  pre-training corpus of the stage's resolved config, one global batch of its size and token cap
  (split across processes), over 30 steps, with 1 and with 2 processes (torchrun, gloo).
All in the precision the stages' configs resolve to here (`train.precision`); where bf16 runs on
native units, the fine-tune and 1-process pre-training are measured again in the other precision.
The peer (RecBole's SASRec on the same split) is measured beside ours by bench/peers (results/peers.json); the
README's speed table reads it from there.

    make results/bench_finetune.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rss_mb() -> float:
    """Resident memory now (VmRSS), MB; the peak so far is `artifacts.peak_rss_mb`."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS line in /proc/self/status")


def worker_finetune(art: Path, epochs: int, batch_size: int, max_tokens: int, eval_batch: int, hidden: int,
                    precision: str, mmap_threshold_mb: int) -> dict:
    import numpy as np
    import torch

    from textcode.core import artifacts
    from textcode.data.batching import iterate
    from textcode.data.domain import Domain
    from textcode.data.split import leave_one_out
    from textcode.data.windows import cut_from_end
    from textcode.eval.evaluation import evaluate
    from textcode.rec.config import SASRecConfig
    from textcode.rec.item_embedding import CodeItemEmbedding
    from textcode.rec.objectives import NextItemCE
    from textcode.rec.sasrec import SequenceEncoder
    from textcode.runtime import distributed as dist
    from textcode.runtime.memory import release_free_memory
    from textcode.runtime.seeding import seed_everything
    from textcode.training.config import TrainConfig
    from textcode.training.loop import fit

    memory = {"imports": _rss_mb()}  # torch and our modules
    domain = Domain.load(art / "Scientific" / "prepared")
    split = leave_one_out(domain)
    codes = artifacts.load_npy(art / "Scientific" / "codes" / "codes.npy", mmap=False)
    cfg = SASRecConfig(hidden=hidden)
    seed_everything(0)
    model = SequenceEncoder(cfg, CodeItemEmbedding(torch.as_tensor(codes.astype(np.int64)), 256, hidden))
    windows = cut_from_end(split.train_offsets, split.train_items, cfg.max_len)
    memory["setup"] = _rss_mb()  # + pyarrow, the tables, the split, the codes, the model
    tc = TrainConfig(epochs=epochs, batch_size=batch_size, max_batch_tokens=max_tokens, lr=1e-3, patience=0,
                     precision=precision, mmap_threshold_mb=mmap_threshold_mb)
    result = fit(NextItemCE(model), tc, lambda e: iterate(windows, batch_size, 0, e, max_tokens=max_tokens), dist.Dist(),
                 seed=0, desc="bench")
    epoch_s = [row["train_s"] for row in result.history]
    memory["training_peak"] = artifacts.peak_rss_mb()
    memory["after_training"] = _rss_mb()  # what the allocator keeps of the epochs' activations
    model.eval()
    release_free_memory()  # as the fine-tune stage does before each validation
    memory["after_trim"] = _rss_mb()
    evaluate(model, split.test, batch_size=eval_batch)  # warm-up
    evals = []
    for _ in range(3):
        start = time.perf_counter()
        evaluate(model, split.test, batch_size=eval_batch)
        evals.append(time.perf_counter() - start)
    return {"epoch_s_all": epoch_s, "epoch_s": float(np.median(epoch_s[1:] if len(epoch_s) > 1 else epoch_s)),
            "eval_s_all": evals, "eval_s": float(np.median(evals)), "peak_rss_mb": artifacts.peak_rss_mb(),
            "memory_mb": {k: round(v, 1) for k, v in memory.items()},
            "windows": len(windows), "targets": windows.n_targets(), "batch_size": batch_size,
            "max_batch_tokens": max_tokens, "mmap_threshold_mb": mmap_threshold_mb, "eval_batch_size": eval_batch, "threads": torch.get_num_threads(),
            "precision": result.precision, "precision_reason": result.precision_reason}


def worker_pretrain(art: Path, domains: list[str], steps: int, batch_size: int, max_tokens: int,
                    hidden: int, precision: str) -> dict | None:
    import numpy as np
    import torch

    from textcode.core import artifacts
    from textcode.data.batching import iterate
    from textcode.data.domain import Domain
    from textcode.rec.config import SASRecConfig
    from textcode.rec.item_embedding import CodeItemEmbedding
    from textcode.rec.objectives import Contrastive
    from textcode.rec.pretrain import build_corpus
    from textcode.rec.sasrec import SequenceEncoder
    from textcode.runtime import distributed as dist
    from textcode.runtime.seeding import seed_everything
    from textcode.training.loop import forward_precision

    seed_everything(0)
    d = dist.setup("cpu")
    precision, why, autocast = forward_precision(precision, d.device)
    corpus = build_corpus([Domain.load(art / n / "prepared", n) for n in domains], 50, 10, 0)
    # throughput does not depend on which codes items have, so random codes stand in for a fitted codec
    codes = torch.randint(0, 256, (corpus.n_items, 32), generator=torch.Generator().manual_seed(0))
    cfg = SASRecConfig(hidden=hidden)
    objective = Contrastive(SequenceEncoder(cfg, CodeItemEmbedding(codes, 256, hidden)), 0.07, 0.75, d)
    model = dist.wrap(d, objective)
    opt = torch.optim.Adam(objective.parameters(), lr=1e-3)
    batches = iterate(corpus.windows, batch_size, 0, 1, d.rank, d.world, max_tokens)
    times, windows = [], []
    for step, batch in zip(range(steps + 2), batches):
        start = time.perf_counter()
        with autocast:
            loss, _ = model(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
        windows.append(len(batch.inputs))
    # batches differ in size (the token cap shrinks those of long windows): windows over time, not a median
    # step; the first two steps warm up allocators. Ranks step in lockstep, so rank 0's windows x world.
    seq_per_s = sum(windows[2:]) * d.world / sum(times[2:])
    dist.cleanup(d)
    return ({"seq_per_s": seq_per_s, "step_s": float(np.mean(times[2:])), "steps": steps,
             "batch_per_process": batch_size, "max_batch_tokens": max_tokens, "world": d.world, "domains": domains,
             "precision": precision, "precision_reason": why, "peak_rss_mb": round(artifacts.peak_rss_mb(), 1)}
            if d.is_main else None)


def _finetune_settings(path: str) -> dict:
    """The fine-tune stage's resolved config for Scientific (what `make finetune` runs)."""
    from textcode.core import artifacts

    cfg = artifacts.read_json(path)
    return {"batch_size": cfg["train"]["batch_size"], "max_batch_tokens": cfg["train"]["max_batch_tokens"],
            "eval_batch_size": cfg["finetune"]["eval_batch_size"], "precision": cfg["train"]["precision"],
            "mmap_threshold_mb": cfg["train"]["mmap_threshold_mb"]}


def _pretrain_settings(path: str) -> dict:
    """The pre-training stage's resolved config (what `make pretrain` runs), not the raw YAML layers."""
    from textcode.core import artifacts

    cfg = artifacts.read_json(path)
    return {"domains": cfg["pretrain"]["domains"], "batch_size": cfg["train"]["batch_size"],
            "max_batch_tokens": cfg["train"]["max_batch_tokens"], "precision": cfg["train"]["precision"]}


def _sub(args: list[str], torchrun: int = 0) -> dict:
    if torchrun:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={torchrun}", __file__]
    else:
        cmd = [sys.executable, __file__]
    out = subprocess.run(cmd + args, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd + args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--art", default="artifacts")
    p.add_argument("--out", default="results/bench_finetune.json")
    p.add_argument("--hidden", type=int, default=300)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--finetune-config", default="artifacts/Scientific/config/finetune.vqrec_pretrained.json",
                   help="the fine-tune stage's resolved config: its batch size, token cap and evaluation batch")
    p.add_argument("--pretrain-config", default="artifacts/pretrain/config/pretrain.default.json",
                   help="the pre-training stage's resolved config: its domains, batch size and token cap")
    p.add_argument("--pretrain-steps", type=int, default=30)
    p.add_argument("--worker", choices=["finetune", "pretrain"])
    p.add_argument("--precision", help="a worker's precision instead of the stage config's (the fp32 comparison)")
    args = p.parse_args()
    art = Path(args.art)
    if args.worker == "finetune":
        fc = _finetune_settings(args.finetune_config)
        print(json.dumps(worker_finetune(art, args.epochs, fc["batch_size"], fc["max_batch_tokens"],
                                         fc["eval_batch_size"], args.hidden, args.precision or fc["precision"],
                                         fc["mmap_threshold_mb"])))
        return
    if args.worker == "pretrain":
        pc = _pretrain_settings(args.pretrain_config)
        world = int(os.environ.get("WORLD_SIZE", "1"))
        # one global batch whatever the process count (the stage's windows and token cap, split across
        # processes), so 1 and 2 processes do the same work per step: more processes would otherwise
        # also mean more in-batch negatives per position
        res = worker_pretrain(art, pc["domains"], args.pretrain_steps, pc["batch_size"] // world,
                              pc["max_batch_tokens"] // world, args.hidden, args.precision or pc["precision"])
        if res is not None:
            print(json.dumps(res))
        return
    common = ["--art", str(art), "--hidden", str(args.hidden)]
    ft_args = common + ["--worker", "finetune", "--epochs", str(args.epochs), "--finetune-config", args.finetune_config]
    pre_args = common + ["--worker", "pretrain", "--pretrain-steps", str(args.pretrain_steps),
                         "--pretrain-config", args.pretrain_config]
    ft = _sub(ft_args)
    pre = {str(world): _sub(pre_args, torchrun=world) for world in (1, 2)}
    # where bf16 runs natively, the same work in the other precision says what the configured one buys
    from textcode.runtime.device import resolve_precision

    other_precision = None
    if resolve_precision("auto", "cpu")[0] == "bf16":
        swap = {"fp32": "bf16", "bf16": "fp32"}
        ft_o = _sub(ft_args + ["--precision", swap[ft["precision"]]])
        pre_o = _sub(pre_args + ["--precision", swap[pre["1"]["precision"]]], torchrun=1)
        other_precision = {"finetune": ft_o["precision"], "epoch_s": round(ft_o["epoch_s"], 3),
                           "eval_s": round(ft_o["eval_s"], 3), "peak_rss_mb": round(ft_o["peak_rss_mb"], 1),
                           "pretrain": pre_o["precision"], "pretrain_seq_per_s_1": round(pre_o["seq_per_s"], 1),
                           "details": {"finetune": ft_o, "pretrain": pre_o}}
    from textcode.runtime import device

    result = {
        "hidden": args.hidden,
        "epoch_s": round(ft["epoch_s"], 3),
        "eval_s": round(ft["eval_s"], 3),
        "peak_rss_mb": round(ft["peak_rss_mb"], 1),
        "pretrain_seq_per_s": {w: round(r["seq_per_s"], 1) for w, r in pre.items()},
        "precision": {"finetune": ft["precision"], "pretrain": pre["1"]["precision"]},
        "other_precision": other_precision,
        "details": {"finetune": ft, "pretrain": pre, "pretrain_domains": pre["1"]["domains"]},
        "machine": device.describe(),  # load average at the end
    }
    from textcode.core import artifacts

    artifacts.write_text(args.out, json.dumps(result, indent=2) + "\n")  # atomic: make never sees half a file
    print(json.dumps({k: result[k] for k in ("hidden", "epoch_s", "eval_s", "peak_rss_mb", "pretrain_seq_per_s")}))


if __name__ == "__main__":
    main()
