"""Dynamically padded batches of next-item training windows (textcode.data.windows.cut_from_end).

Every position of a window is a training example (input s[t], target s[t+1]). Batches are
padded only to their own longest window: windows are bucketed by length before shuffling,
which keeps padding small when the mean history is 4-6 items.
"""
from __future__ import annotations

import dataclasses
from typing import Iterator, Sequence

import numpy as np
import torch

from textcode.data.windows import Windows


@dataclasses.dataclass
class Batch:
    inputs: torch.Tensor  # (B, T) long, 0 where padded
    targets: torch.Tensor  # (B, T) long, next item at each position, 0 where padded
    mask: torch.Tensor  # (B, T) bool, True at positions with a target

    def to(self, device) -> "Batch":
        return Batch(self.inputs.to(device), self.targets.to(device), self.mask.to(device))


def collate(windows: Windows, idx: np.ndarray) -> Batch:
    """Left-aligned, padded to the longest window in `idx`."""
    lengths = windows.lengths()[idx] - 1  # inputs/targets per window
    T = int(lengths.max())
    pos = np.arange(T)
    valid = pos[None, :] < lengths[:, None]  # (B, T)
    src = windows.starts[idx][:, None] + pos[None, :]  # (B, T)
    src = np.where(valid, src, 0)
    inputs = np.where(valid, windows.items[src], 0)
    targets = np.where(valid, windows.items[np.minimum(src + 1, len(windows.items) - 1)], 0)
    return Batch(torch.from_numpy(inputs.astype(np.int64)), torch.from_numpy(targets.astype(np.int64)),
                 torch.from_numpy(valid))


def batch_order(windows: Windows, batch_size: int, seed: int, epoch: int, bucket: int = 64,
                max_tokens: int = 0) -> list[np.ndarray]:
    """Window indices grouped into batches, shuffled reproducibly for (seed, epoch).

    Windows are shuffled, then sorted by length within chunks of `bucket` batches, so
    batches are nearly uniform in length (little padding) while batch order stays random.
    A batch holds at most `batch_size` windows and, with `max_tokens`, at most that many padded
    positions (windows x longest window): long windows come in smaller batches, which bounds the
    memory of a full-softmax step (positions x items logits).
    """
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(len(windows))
    lengths = windows.lengths() - 1  # positions (inputs) per window
    chunk = batch_size * bucket
    batches = []
    for lo in range(0, len(perm), chunk):
        part = perm[lo:lo + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        start = 0
        while start < len(part):
            end = min(start + batch_size, len(part))
            if max_tokens:
                # sorted ascending, so the batch's longest window is its last one
                fits = np.flatnonzero(lengths[part[start:end]] * np.arange(1, end - start + 1) <= max_tokens)
                end = start + max(1, int(fits[-1]) + 1 if len(fits) else 1)
            batches.append(part[start:end])
            start = end
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def iterate(windows: Windows, batch_size: int, seed: int, epoch: int, rank: int = 0, world: int = 1,
            max_tokens: int = 0) -> Iterator[Batch]:
    """This rank's share of the epoch's batches: batch k goes to rank k % world, and the
    remainder is dropped so that every rank takes the same number of optimizer steps."""
    batches = batch_order(windows, batch_size, seed, epoch, max_tokens=max_tokens)
    usable = len(batches) // world * world
    for b in batches[rank:usable:world]:
        yield collate(windows, b)


def pad_histories(histories: Sequence[np.ndarray], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(items (B, T), mask (B, T)) from histories, keeping the last `max_len` items, left-aligned."""
    cut = [np.asarray(h[-max_len:]) for h in histories]
    T = max(1, max(len(h) for h in cut))
    items = np.zeros((len(cut), T), dtype=np.int64)
    mask = np.zeros((len(cut), T), dtype=bool)
    for i, h in enumerate(cut):
        items[i, :len(h)] = h
        mask[i, :len(h)] = True
    return torch.from_numpy(items), torch.from_numpy(mask)
