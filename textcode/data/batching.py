"""Training windows and dynamically padded batches for sequence models.

Every position of a training sequence is a training example (input s[t], target s[t+1]),
so one pass over a window trains on all its prefixes at once, instead of materialising one
row per prefix padded to 50 as RecBole does. Sequences longer than `max_len + 1` are cut
into windows from the end, so every target is trained exactly once per epoch.

Batches are padded only to their own longest window: windows are bucketed by length
before shuffling, which keeps padding small when the mean history is 4-6 items.
"""
from __future__ import annotations

import dataclasses
from typing import Iterator, Sequence

import numpy as np
import torch


@dataclasses.dataclass(frozen=True)
class Windows:
    """Training windows over a CSR of sequences; window w is items[starts[w]:ends[w]]."""

    items: np.ndarray  # (N,) int, the flat sequences
    starts: np.ndarray  # (W,) int64
    ends: np.ndarray  # (W,) int64, exclusive; each window has >= 2 items (>= 1 target)
    domain: np.ndarray | None = None  # (W,) int16: which domain a window belongs to (mixed-domain pretraining)

    def __len__(self) -> int:
        return len(self.starts)

    def lengths(self) -> np.ndarray:
        return self.ends - self.starts

    def n_targets(self) -> int:
        return int((self.lengths() - 1).sum())


def make_windows(offsets: np.ndarray, items: np.ndarray, max_len: int) -> Windows:
    """Cut each sequence (CSR `offsets` over `items`) into windows of at most max_len + 1 items.

    Window ends are counted back from the sequence end in steps of max_len, so consecutive
    windows share one item (the last input of one is the first of the next) and every
    position t >= 1 of a sequence is a target in exactly one window.
    """
    starts, ends = [], []
    for lo, hi in zip(offsets[:-1], offsets[1:]):
        end = int(hi)
        while end - lo >= 2:
            start = max(int(lo), end - max_len - 1)
            starts.append(start)
            ends.append(end)
            end = start + 1
    return Windows(items, np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64))


def concat_windows(parts: Sequence[Windows], item_offsets: Sequence[int]) -> Windows:
    """Merge windows of several domains into one global item space (item ids shifted by offset)."""
    items, starts, ends, dom = [], [], [], []
    base = 0
    for d, (w, shift) in enumerate(zip(parts, item_offsets)):
        items.append(w.items.astype(np.int64) + shift)
        starts.append(w.starts + base)
        ends.append(w.ends + base)
        dom.append(np.full(len(w), d, dtype=np.int16))
        base += len(w.items)
    return Windows(np.concatenate(items), np.concatenate(starts), np.concatenate(ends), np.concatenate(dom))


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
