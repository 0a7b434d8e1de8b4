"""Per-event scores of the utility experiments, and the intervals of shares of train-on-real over them.

Window events (experiments.utility_data.window_events) give a held-out user several test events, which are
not independent, so every interval resamples users (groups) with all their events: the intervals themselves
are textcode.eval.bootstrap's (bootstrap_ci with groups, share_ci); this module finds the scores and groups
an evaluate-utility folder recorded. Kept apart from experiments.utility_data so that a change here
re-scores the utility models without rebuilding their training data.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from textcode.core import artifacts
from textcode.eval.bootstrap import share_ci
from textcode.eval.evaluation import per_user_file, users_file

GROUPS_FILE = "per_user/test_groups.npy"  # in an evaluate-utility folder: the resampling group of each event


def event_metric(folder: str | Path, protocol: str, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(events, values, groups) of one evaluate-utility folder: its test events' metric and their groups."""
    folder = Path(folder)
    return tuple(artifacts.load_npy(folder / rel, mmap=False)
                 for rel in (users_file("test"), per_user_file("test", protocol, metric), GROUPS_FILE))


def paired_event_metric(folder: str | Path, reference: str | Path, protocol: str,
                        metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(events, folder's values, reference's values, groups) of two models scored on the same test events."""
    events, a, groups = event_metric(folder, protocol, metric)
    ref_events, b, ref_groups = event_metric(reference, protocol, metric)
    if not (np.array_equal(events, ref_events) and np.array_equal(groups, ref_groups)):
        raise artifacts.ArtifactError(f"{folder} and {reference} were not scored on the same test events")
    return events, a, b, groups


def share_between(folder: str | Path, reference: str | Path, protocol: str, metric: str, n_boot: int = 1000,
                  seed: int = 0) -> tuple[float, float]:
    """95% interval of `folder`'s mean metric over `reference`'s, both scored on the same test events."""
    _, a, b, groups = paired_event_metric(folder, reference, protocol, metric)
    return share_ci(a, b, groups, n_boot, seed)
