"""Reader for the SeqRecBenchmark JSON-lines files (`user2item.jsonl.gz`, `item2title.jsonl.gz`).

The publisher time-sorted and 5-core filtered the users. We check what the reader can: every line
is an object with integer ids (`ItemID` a flat list of integers, `Timestamp` as long and in
order), no user or item appears twice, and every item of a sequence has a title. How many
interactions each user needs is the split's business: `prepare` (`sources.read_source`) checks
it after k-core filtering. Titles carry raw HTML entities, which `itemtext.clean` unescapes.
"""
from __future__ import annotations

from pathlib import Path

from textcode.data.domain import Domain, from_sequences
from textcode.data.errors import DataError
from textcode.data.itemtext import clean
from textcode.data.jsonlines import field, read_jsonl


def read_seqrec(folder: str | Path, name: str) -> Domain:
    folder = Path(folder)
    title_path = folder / "item2title.jsonl.gz"
    titles: dict[int, str] = {}
    for lineno, obj in read_jsonl(title_path):
        item = field(obj, "ItemID", int, title_path, lineno)
        title = clean(field(obj, "Title", str, title_path, lineno))
        if not title:
            raise DataError(title_path, f"empty title for item {item}", line=lineno)
        if item in titles:
            raise DataError(title_path, f"item {item} appears twice", line=lineno)
        titles[item] = title
    raw_items = sorted(titles)
    index = {raw: i for i, raw in enumerate(raw_items)}

    seq_path = folder / "user2item.jsonl.gz"
    users, seqs, times = [], [], []
    first_line: dict[int, int] = {}
    for lineno, obj in read_jsonl(seq_path):
        user = field(obj, "UserID", int, seq_path, lineno)
        if user in first_line:
            raise DataError(seq_path, f"user {user} appears twice (first on line {first_line[user]})", line=lineno)
        first_line[user] = lineno
        items = field(obj, "ItemID", list, seq_path, lineno)
        stamps = field(obj, "Timestamp", list, seq_path, lineno)
        if len(items) != len(stamps):
            raise DataError(seq_path, f"user {user}: {len(items)} items but {len(stamps)} timestamps", line=lineno)
        bad = [i for i in items if not _is_int(i)]
        if bad:
            raise DataError(seq_path, f"user {user}: item ids must be integers, found {bad[0]!r}", line=lineno)
        unknown = [i for i in items if i not in index]
        if unknown:
            raise DataError(seq_path, f"user {user}: item {unknown[0]!r} has no title in {title_path.name}", line=lineno)
        seq = [index[i] for i in items]
        if not all(_is_int(t) and -2**63 <= t < 2**63 for t in stamps):
            raise DataError(seq_path, f"user {user}: timestamps must be integers", line=lineno)
        if any(b < a for a, b in zip(stamps, stamps[1:])):
            raise DataError(seq_path, f"user {user}: timestamps are not in order", line=lineno)
        users.append(str(user))
        seqs.append(seq)
        times.append(stamps)
    return from_sequences(name, [str(i) for i in raw_items], [titles[i] for i in raw_items], users, seqs, times)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def from_source(cfg, path: Path, name: str) -> Domain:
    """Registry entry of format `seqrec` (textcode.data.readers.READERS)."""
    return read_seqrec(path, name)
