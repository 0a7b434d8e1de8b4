"""Metrics of generated (and reconstructed) item sequences. numpy only.

Every distribution metric compares a sample of sequences with the held-out real test windows.
Because such numbers have a floor set by sample size (two real samples of the same data are
not identical), each one is reported beside a *reference*: held-out validation windows, which
are real, unseen in training and drawn the same way, scored by the same function on the same
number of sequences. A generator is as good as real data on a metric when it matches the
reference, not when it reaches zero.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from textcode.data.windows import Windows

BIGRAM_SHIFT = np.int64(1 << 31)  # (a, b) -> a * 2**31 + b, collision-free for item indices < 2**31


# ----------------------------------------------------------------------------- reconstruction

def reconstruction_summary(rec: dict[str, np.ndarray], length: int) -> dict:
    """Cross-entropy (nats) and token accuracy over real positions (padding is never counted)."""
    correct = rec["pred"] == rec["target"]
    per_position = [float(correct[rec["position"] == p].mean()) if np.any(rec["position"] == p) else None
                    for p in range(length)]
    return {"ce": float(rec["nll"].mean()), "accuracy": float(correct.mean()), "positions": int(len(correct)),
            "accuracy_by_position": per_position}


def codebook_usage(codes: dict[int, np.ndarray]) -> dict[str, dict]:
    """Per level and stack depth: perplexity exp(H) of code usage over real positions, and codes used."""
    out = {}
    for level, c in sorted(codes.items()):
        for depth in range(c.shape[-1]):
            x = c[..., depth]
            x = x[x >= 0]
            p = np.bincount(x) / max(len(x), 1)
            p = p[p > 0]
            out[f"level{level}/depth{depth}"] = {"perplexity": float(np.exp(-(p * np.log(p)).sum())), "used": int(len(p))}
    return out


# ----------------------------------------------------------------------------- sequence distributions

def popularity(seqs: Sequence[np.ndarray], n_items: int) -> np.ndarray:
    flat = np.concatenate(seqs) if len(seqs) else np.zeros(0, np.int64)
    counts = np.bincount(flat, minlength=n_items).astype(np.float64)
    return counts / max(counts.sum(), 1.0)


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits (log base 2), so it lies in [0, 1]."""
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float((a[nz] * np.log2(a[nz] / m[nz])).sum())

    return 0.5 * kl(p) + 0.5 * kl(q)


def bigrams(seqs: Sequence[np.ndarray]) -> np.ndarray:
    """Distinct consecutive item pairs, encoded as int64."""
    pairs = [s[:-1].astype(np.int64) * BIGRAM_SHIFT + s[1:] for s in seqs if len(s) > 1]
    return np.unique(np.concatenate(pairs)) if pairs else np.zeros(0, np.int64)


def ngrams(seqs: Sequence[np.ndarray], n: int) -> set[tuple]:
    return {tuple(s[i:i + n]) for s in seqs for i in range(len(s) - n + 1)}


def length_stats(seqs: Sequence[np.ndarray], max_length: int) -> dict:
    lengths = np.array([len(s) for s in seqs])
    return {"mean": float(lengths.mean()), "std": float(lengths.std()), "full_fraction": float((lengths == max_length).mean())}


def repeat_stats(seqs: Sequence[np.ndarray]) -> dict:
    """Fraction of positions whose item already occurred earlier in the window, and right before it."""
    repeats = consecutive = positions = 0
    for s in seqs:
        positions += len(s)
        repeats += len(s) - len(np.unique(s))
        consecutive += int((s[1:] == s[:-1]).sum())
    return {"repeat_rate": repeats / max(positions, 1), "consecutive_repeat_rate": consecutive / max(positions, 1)}


def sequence_metrics(sample: Sequence[np.ndarray], test: Windows, train: Windows, n_items: int,
                     train_windows: set[tuple] | None = None, train_4grams: set[tuple] | None = None) -> dict:
    """Everything that compares a sample of sequences with held-out test data and with training data."""
    test_seqs = test.sequences()
    if train_windows is None:
        train_windows = {tuple(s) for s in train.sequences()}
    if train_4grams is None:
        train_4grams = ngrams(train.sequences(), 4)
    lengths_test = np.bincount(test.lengths(), minlength=test.length + 1) / len(test)
    lengths_sample = np.bincount([len(s) for s in sample], minlength=test.length + 1) / len(sample)
    big_s, big_t = bigrams(sample), bigrams(test_seqs)
    shared = len(np.intersect1d(big_s, big_t, assume_unique=True))
    grams = [tuple(s[i:i + 4]) for s in sample for i in range(len(s) - 3)]
    return {
        "n_sequences": len(sample),
        "popularity_js": js_divergence(popularity(sample, n_items), popularity(test_seqs, n_items)),
        # against the (about 8x larger) training windows: a lower noise floor for large catalogues
        "popularity_js_train": js_divergence(popularity(sample, n_items), popularity(train.sequences(), n_items)),
        "items_covered": int(len(np.unique(np.concatenate(sample)))),
        "length": length_stats(sample, test.length),
        "length_tv": float(0.5 * np.abs(lengths_sample - lengths_test).sum()),
        **repeat_stats(sample),
        "bigram_precision": shared / max(len(big_s), 1),  # distinct sample bigrams that real test data has
        "bigram_recall": shared / max(len(big_t), 1),  # distinct test bigrams the sample has
        "copied_windows": float(np.mean([tuple(s) in train_windows for s in sample])),  # memorisation: exact copies
        "train_4gram_fraction": float(np.mean([g in train_4grams for g in grams])) if grams else 0.0,
    }


def reference_metrics(valid: Windows, test: Windows, train: Windows, n_items: int, n: int, draws: int, seed: int) -> dict:
    """`sequence_metrics` of real held-out validation windows (n of them, averaged over draws): the floor."""
    rng = np.random.default_rng(seed)
    train_windows = {tuple(s) for s in train.sequences()}
    train_4grams = ngrams(train.sequences(), 4)
    valid_seqs = valid.sequences()
    runs = []
    for _ in range(draws if n < len(valid_seqs) else 1):
        rows = rng.choice(len(valid_seqs), size=min(n, len(valid_seqs)), replace=False)
        runs.append(sequence_metrics([valid_seqs[i] for i in rows], test, train, n_items, train_windows, train_4grams))
    return _mean_nested(runs)


def _mean_nested(runs: list[dict]) -> dict:
    out = {}
    for k, v in runs[0].items():
        out[k] = _mean_nested([r[k] for r in runs]) if isinstance(v, dict) else float(np.mean([r[k] for r in runs]))
    return out
