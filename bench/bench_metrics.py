"""Speed of the metric part of evaluation at the size of the canonical Scientific split.

Scores are precomputed, so only what `textcode.eval.evaluation.evaluate` spends on ranking is timed
(`EvalResult.rank_s`: targets' ranks in both protocols and the per-user metrics). Scores are
rounded to create ties, as collided codes and EASE zeros do. Target: well under a second.
The machine is shared, so wall time depends on the load (recorded); the process CPU time of the
whole evaluate() call (replaying scores costs nothing) is the load-independent figure.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

from textcode.core import artifacts
from textcode.data.split import EvalSet
from textcode.eval.evaluation import evaluate
from textcode.runtime import device

USERS, ITEMS = 8442, 4385  # the canonical Scientific


class FixedScores:
    """A Recommender replaying precomputed score rows in order."""

    def __init__(self, scores: torch.Tensor):
        self.scores, self.n_items, self.next = scores, scores.shape[1], 0

    def score_histories(self, histories):
        rows = self.scores[self.next:self.next + len(histories)]
        self.next += len(histories)
        return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", required=True)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=512)
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    scores = torch.from_numpy(np.round(rng.standard_normal((USERS, ITEMS)), 2).astype(np.float32))
    lengths = rng.integers(3, 20, USERS)  # Scientific's test histories: mean about 6, a long tail
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    evalset = EvalSet(np.arange(USERS), offsets, rng.integers(0, ITEMS, offsets[-1]).astype(np.int32),
                      rng.integers(0, ITEMS, USERS).astype(np.int32))
    runs, cpu = [], []
    for _ in range(args.repeats + 1):  # the first pass warms up allocators and caches
        start = time.process_time()
        runs.append(evaluate(FixedScores(scores), evalset, (10, 50), args.batch_size).rank_s)
        cpu.append(time.process_time() - start)
    runs, cpu = runs[1:], cpu[1:]
    result = {"users": USERS, "items": ITEMS, "batch_size": args.batch_size, "rank_s_median": statistics.median(runs),
              "rank_s_runs": [round(r, 4) for r in runs], "evaluate_cpu_s_median": statistics.median(cpu),
              "machine": device.describe()}
    artifacts.write_json(args.out, result)
    print(f"metric part, both protocols, {USERS} users x {ITEMS} items: median {result['rank_s_median']:.3f}s wall, "
          f"{result['evaluate_cpu_s_median']:.3f}s CPU over {args.repeats} runs (load {result['machine']['load_avg'][0]:.1f}) "
          f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
