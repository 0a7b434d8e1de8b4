"""Leave-one-out splits by time: last item = test, second to last = validation.

Training uses s[:-2] of every user (every prefix of it is a training example); validation
history = the training sequence; test history = training sequence + validation item.

Held out are interactions (positions), not items: an item a user bought twice may be both a
training target and a held-out target of that user. This is common enough to matter: in the
canonical Scientific, 243 users have an item more than once, and for 83 of them a validation or
test target also occurs in their training sequence. So "no leakage" means no held-out position
is trained on; never filter or check by item identity.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from textcode.data.domain import Domain
from textcode.data.errors import DataError


@dataclasses.dataclass(frozen=True)
class EvalSet:
    """One held-out target per user, with the full (untruncated) history before it."""

    users: np.ndarray  # (E,) user indices
    offsets: np.ndarray  # (E+1,) CSR over `items`
    items: np.ndarray  # (sum of history lengths,) int32
    targets: np.ndarray  # (E,) int32
    # the protocol (one of textcode.eval.metrics.PROTOCOLS) whose NDCG@10 selects models on this set: epochs, searches,
    # EASE's l2; the top-level setting `selection` (configs/base.yaml)
    selection: str = "history_kept"

    def __len__(self) -> int:
        return len(self.targets)

    def history(self, row: int) -> np.ndarray:
        return self.items[self.offsets[row]:self.offsets[row + 1]]


@dataclasses.dataclass(frozen=True)
class LeaveOneOut:
    n_items: int
    train_offsets: np.ndarray  # (U+1,) CSR over `train_items`: each user's s[:-2]
    train_items: np.ndarray
    valid: EvalSet
    test: EvalSet

    def train_sequence(self, user: int) -> np.ndarray:
        return self.train_items[self.train_offsets[user]:self.train_offsets[user + 1]]

    def training_item_set(self) -> np.ndarray:
        """Sorted unique items that occur in training sequences (what 'strict' OPQ fits on)."""
        return np.unique(self.train_items)


# the fewest interactions a user needs: one to train on, one validation and one test target
MIN_LENGTH = 3


def leave_one_out(domain: Domain, min_length: int = MIN_LENGTH, selection: str = "history_kept") -> LeaveOneOut:
    """The split; `selection` is the protocol its validation set selects models on (EvalSet.selection; the
    setting of that name is checked where configs are read)."""
    lengths = domain.lengths()
    short = np.flatnonzero(lengths < min_length)
    if len(short):
        raise DataError(domain.name, f"{len(short)} user(s) have fewer than {min_length} interactions; "
                        "filter them (k-core) before a leave-one-out split", key=str(domain.user_ids[short[0]]))
    train_len = lengths - 2
    train_offsets = np.zeros(domain.n_users + 1, dtype=np.int64)
    train_offsets[1:] = np.cumsum(train_len)
    keep = np.ones(domain.n_interactions, dtype=bool)
    last = domain.offsets[1:] - 1
    keep[last] = False
    keep[last - 1] = False
    train_items = domain.items[keep]
    users = np.arange(domain.n_users)
    valid = EvalSet(users, train_offsets, train_items, domain.items[last - 1].astype(np.int32), selection)
    test_offsets = np.zeros(domain.n_users + 1, dtype=np.int64)
    test_offsets[1:] = np.cumsum(lengths - 1)
    keep_test = np.ones(domain.n_interactions, dtype=bool)
    keep_test[last] = False
    test = EvalSet(users, test_offsets, domain.items[keep_test], domain.items[last].astype(np.int32))
    return LeaveOneOut(domain.n_items, train_offsets, train_items, valid, test)
