"""A toy source format, following docs/extending.md "A new source format": lines `user item`, in time order."""
from __future__ import annotations

from pathlib import Path

from textcode.data.domain import Domain, from_sequences
from textcode.data.errors import DataError


def from_source(cfg, path: Path, name: str) -> Domain:
    file = path / "events.txt"
    users: dict[str, list[str]] = {}
    for line_no, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if len(parts) != 2:
            raise DataError(file, f"expected 'user item', got {line!r}", line=line_no)
        users.setdefault(parts[0], []).append(parts[1])
    item_ids = sorted({i for seq in users.values() for i in seq})
    index = {item: k for k, item in enumerate(item_ids)}
    return from_sequences(name, item_ids, [f"item {i}" for i in item_ids], list(users),
                          [[index[i] for i in seq] for seq in users.values()])
