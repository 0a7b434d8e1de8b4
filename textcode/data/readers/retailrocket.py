"""Reader for session-based Retail Rocket in SR-GNN form (as re-encoded in shared/data, section 7).

Files: `train_sessions.txt` (one session per line, item ids separated by spaces) and
`test_prefixes.tsv` (a header, then `session_id<TAB>prefix_item_ids<TAB>label_item_id<TAB>timestamp`).
The test sessions are prefix-augmented: session s of n clicks has one row per prefix of length
2..n-1 with the next click as label. Each is rebuilt as its longest prefix + label, and every
other row of it must agree with that (prefix = the session's first clicks, label = the next).

Domain layout (there are no users and no item text in this source):
- one "user" per session: the training sessions first, in file order, with ids `train-<line number>`;
  then the test sessions, in order of first appearance, with their `session_id`;
- `holdout[u]` is True exactly for the test sessions (evaluate on them, never train on them);
- items are every id that occurs in either file (the source ids, as strings), indexed in
  increasing numeric order (so with the staged ids 1..36,968, item index = id - 1);
- `item_text` and `times` are None (the test file's one timestamp per session is not kept).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from textcode.data.domain import Domain
from textcode.data.errors import DataError
from textcode.data.textfile import read_lines

TRAIN = "train_sessions.txt"
TEST = "test_prefixes.tsv"
TEST_HEADER = ["session_id", "prefix_item_ids", "label_item_id", "timestamp"]


def read_sessions(path: str | Path, name: str) -> Domain:
    folder = Path(path)
    train = _read_train(folder / TRAIN)
    test = _read_test(folder / TEST)
    sessions = train + test
    offsets = np.zeros(len(sessions) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(seq) for _, seq in sessions])
    clicks = np.fromiter((i for _, seq in sessions for i in seq), dtype=np.int64, count=int(offsets[-1]))
    raw_items = np.unique(clicks)
    return Domain(
        name=name,
        item_ids=np.asarray([str(raw) for raw in raw_items], dtype=object),
        item_text=None,
        user_ids=np.asarray([sid for sid, _ in sessions], dtype=object),
        offsets=offsets,
        items=np.searchsorted(raw_items, clicks).astype(np.int32),
        holdout=np.arange(len(sessions)) >= len(train),
    )


def _read_train(path: Path) -> list[tuple[str, list[int]]]:
    sessions = []
    for lineno, line in read_lines(path):  # a missing or empty file raises here
        items = _items(line.split(), path, lineno, "session")
        if not items:
            raise DataError(path, "empty session", line=lineno)
        sessions.append((f"train-{lineno}", items))
    return sessions


def _read_test(path: Path) -> list[tuple[str, list[int]]]:
    """Full test sessions rebuilt from their prefix rows, in order of first appearance."""
    rows: dict[str, list[tuple[int, list[int], int]]] = {}
    lines = read_lines(path)  # a missing or empty file raises here
    header = next(lines)[1].split("\t")
    if header != TEST_HEADER:
        raise DataError(path, f"header must be {' '.join(TEST_HEADER)} (tab-separated), found {header}", line=1)
    for lineno, line in lines:
        fields = line.split("\t")
        if len(fields) != len(TEST_HEADER):
            raise DataError(path, f"expected {len(TEST_HEADER)} tab-separated fields, found {len(fields)}", line=lineno)
        session, prefix, label, stamp = fields
        prefix_items = _items(prefix.split(), path, lineno, "prefix")
        if not prefix_items:
            raise DataError(path, "empty prefix", line=lineno)
        label_item = _items([label], path, lineno, "label")[0]
        _items([stamp], path, lineno, "timestamp")  # checked, not kept
        rows.setdefault(session, []).append((lineno, prefix_items, label_item))
    if not rows:
        raise DataError(path, "no test rows after the header")
    sessions = []
    for session, srows in rows.items():
        _, longest, label = max(srows, key=lambda r: len(r[1]))  # the first of the longest rows
        full = longest + [label]
        for lineno, prefix, label in srows:
            if prefix != full[:len(prefix)] or label != full[len(prefix)]:
                raise DataError(path, f"session {session}: this prefix row disagrees with the session rebuilt from "
                                f"its longest prefix ({' '.join(map(str, full))})", line=lineno)
        sessions.append((session, full))
    return sessions


def _items(tokens: list[str], path: Path, lineno: int, what: str) -> list[int]:
    """Non-negative integers written in plain digits (Python's int() would also take '+1' or '1_0')."""
    for t in tokens:
        if not (t.isascii() and t.isdigit()):
            raise DataError(path, f"{what}: {t!r} is not a non-negative integer", line=lineno)
        if len(t) > 18 and int(t) >= 2**63:
            raise DataError(path, f"{what}: {t} is too large (ids must fit in 64 bits)", line=lineno)
    return [int(t) for t in tokens]


def from_source(cfg, path: Path, name: str) -> Domain:
    """Registry entry of format `retailrocket_sessions` (textcode.data.readers.READERS)."""
    return read_sessions(path, name)
