"""The floor under a Mult-VAE / Mult-DAE training epoch on this machine: the output layer's three dense products.

The multinomial likelihood needs every item's logit for every user, so any implementation computes, per epoch,
the output layer's forward product and the two of its backward pass (the weight's gradient and the hidden layer's):
3 x 2 x users x hidden x items floating-point operations. This times exactly those three products (fp32, torch's
threads) at Scientific's shape, for Mult-VAE's hidden width (600) and Mult-DAE's (200), and prints one JSON line.
Where a peer's epoch seconds divided by three fall below this floor, no fp32 implementation can train 3x faster
than the peer here (docs/peers.md).

    .venv/bin/python bench/output_layer_bound.py [--users 8442 --items 4385]
"""
from __future__ import annotations

import argparse
import json
import time

import torch


def floor_s(users: int, items: int, hidden: int, reps: int = 5) -> float:
    gen = torch.Generator().manual_seed(0)
    h, w = torch.randn(users, hidden, generator=gen), torch.randn(hidden, items, generator=gen)
    grad = torch.randn(users, items, generator=gen)
    for _ in range(2):  # warm-up
        h @ w
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        h @ w, grad @ w.T, h.T @ grad
        times.append(time.perf_counter() - start)
    return min(times)  # a floor: the fastest repetition


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=8442)
    p.add_argument("--items", type=int, default=4385)
    args = p.parse_args()
    out = {"users": args.users, "items": args.items, "threads": torch.get_num_threads()}
    for name, hidden in (("multvae", 600), ("multdae", 200)):
        s = floor_s(args.users, args.items, hidden)
        out[name] = {"hidden": hidden, "floor_s": round(s, 3),
                     "gflop_per_s": round(6 * args.users * hidden * args.items / s / 1e9, 1)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
