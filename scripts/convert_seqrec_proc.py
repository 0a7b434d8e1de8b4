"""Convert a SeqRecBenchmark `proc.zip` (pandas pickles) into the files of a `table` source, once.

SeqRecBenchmark (github.com/Tiny-Snow/SeqRecBenchmark-Datasets) publishes each data set as
`data/<name>/proc.zip`. Its README and `process_data/base_dataset.py` (`_save_processed_data`) give
the layout this script reads:

- `user2item.pkl`: a pandas DataFrame, one row per user, columns `UserID` (int), `ItemID` (a list of
  ints) and `Timestamp` (a list of unix seconds, same length), each list sorted by time (oldest first);
- `item2title.pkl`: a pandas DataFrame, columns `ItemID` and `Title` (only for data sets with item text);
- `summary.json`: counts (`user_size`, `item_size`, `interactions`); checked when present.

Ids start at 100 (0-99 are reserved by the publisher). The folder a file sits in inside the zip is
not documented, so files are found by name at any depth (`user2item.pkl` or `proc/user2item.pkl`);
an extracted folder works too (the files in it or in its `proc/` subfolder).

SECURITY: unpickling runs code stored in the file. Run this only on a `proc.zip` from the official
release. This script is the only place the project unpickles SeqRecBenchmark data; the pipeline
reads the CSV files it writes, never the pickles. pandas must be installed (it comes with `datasets`).

It writes to `--out`:
- `interactions.csv.gz`: `user_id,item_id,timestamp`, one row per interaction, users in the pickle's
  order, each user's rows in the list order (time order; ties keep the publisher's order, which the
  table reader's stable sort keeps too);
- `items.csv.gz`: `item_id,title` in the pickle's order (line breaks in titles become spaces, as the
  item-text cleaning would do anyway),

and prints the domain YAML to put in `configs/domains/<name>.yaml`. The read data equals what format
`seqrec` reads from the same data set's JSON-lines files (tests/test_convert_seqrec_proc.py).

    python scripts/convert_seqrec_proc.py downloads/amazon2014-toy/proc.zip --out data/amazon2014-toy
"""
from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import numbers
import os
import re
import sys
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from textcode.data.errors import DataError

USER2ITEM, ITEM2TITLE, SUMMARY = "user2item.pkl", "item2title.pkl", "summary.json"
COLUMNS = {USER2ITEM: ("UserID", "ItemID", "Timestamp"), ITEM2TITLE: ("ItemID", "Title")}
TABLE_COLUMNS = ("user_id", "item_id", "timestamp")
_LINE_BREAKS = re.compile(r"[\r\n]+")


# ----------------------------------------------------------------------------- reading proc.zip

def read_members(source: Path) -> dict[str, tuple[str, bytes]]:
    """{file name: (label naming it in errors, bytes)} of the known files found in a zip or folder."""
    if source.is_dir():
        found = {}
        for name in (USER2ITEM, ITEM2TITLE, SUMMARY):
            paths = [p for p in (source / name, source / "proc" / name) if p.is_file()]
            if len(paths) > 1:
                raise DataError(source, f"{name} is there twice ({', '.join(map(str, paths))}); keep one")
            if paths:
                found[name] = (str(paths[0]), paths[0].read_bytes())
        return found
    if not source.is_file():
        raise DataError(source, "not found (give proc.zip or the folder it was extracted to)")
    if not zipfile.is_zipfile(source):
        raise DataError(source, "not a zip file (give proc.zip or the folder it was extracted to)")
    found = {}
    with zipfile.ZipFile(source) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/") and not n.startswith("__MACOSX/")]
        for name in (USER2ITEM, ITEM2TITLE, SUMMARY):
            members = [n for n in names if PurePosixPath(n).name == name]
            if len(members) > 1:
                raise DataError(source, f"{name} is in the zip more than once ({', '.join(members)})")
            if members:
                found[name] = (f"{source}/{members[0]}", zf.read(members[0]))
    return found


def unpickle_frame(label: str, data: bytes, columns: tuple[str, ...]) -> Any:
    """The DataFrame pickled in `data` (this runs the pickle's code: official files only), with `columns`."""
    try:
        import pandas as pd
    except ImportError:
        raise SystemExit("pandas is needed to read SeqRecBenchmark pickles: pip install pandas") from None
    try:
        frame = pd.read_pickle(io.BytesIO(data))
    except Exception as exc:  # a pickle can fail in any way
        raise DataError(label, f"not a readable pandas pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(frame, pd.DataFrame):
        raise DataError(label, f"expected a pandas DataFrame, found {type(frame).__name__}")
    found = [str(c) for c in frame.columns]
    for c in columns:
        if c not in frame.columns:
            raise DataError(label, f"no column {c!r}; columns found: {', '.join(map(repr, found))}",
                            key=f"column {c}")
    return frame


def _int(value: Any) -> int | None:
    """`value` as an int (ints, NumPy ints, integral floats), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return int(value)
    return None


def _list(value: Any) -> list | None:
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) == 1:  # a NumPy array
        return value.tolist()
    return None


def interactions_of(label: str, frame: Any) -> list[tuple[int, int, int]]:
    """(user, item, timestamp) rows: users in the frame's order, each user's items in list order."""
    rows: list[tuple[int, int, int]] = []
    first: dict[int, int] = {}
    for r, (raw_user, raw_items, raw_times) in enumerate(zip(frame["UserID"], frame["ItemID"], frame["Timestamp"])):
        user = _int(raw_user)
        if user is None:
            raise DataError(label, f"UserID {raw_user!r} is not an integer", key=f"row {r + 1}, column UserID")
        where = f"row {r + 1}, UserID {user}"
        if user in first:
            raise DataError(label, f"user {user} appears twice (rows {first[user] + 1} and {r + 1})", key=where)
        first[user] = r
        items, times = _list(raw_items), _list(raw_times)
        if items is None or times is None:
            column = "ItemID" if items is None else "Timestamp"
            raise DataError(label, f"{column} must be a list, found {type(raw_items if items is None else raw_times).__name__}",
                            key=where)
        if len(items) != len(times):
            raise DataError(label, f"{len(items)} items but {len(times)} timestamps", key=where)
        ints = [_int(i) for i in items]
        stamps = [_int(t) for t in times]
        if None in ints:
            raise DataError(label, f"item id {items[ints.index(None)]!r} is not an integer", key=where)
        if None in stamps:
            raise DataError(label, f"timestamp {times[stamps.index(None)]!r} is not an integer", key=where)
        if any(b < a for a, b in zip(stamps, stamps[1:])):
            raise DataError(label, "timestamps are not in order (the release sorts each list by time)", key=where)
        rows.extend((user, i, t) for i, t in zip(ints, stamps))
    if not rows:
        raise DataError(label, "no interactions")
    return rows


def items_of(label: str, frame: Any) -> list[tuple[int, str]]:
    """(item, title) rows in the frame's order; a missing title is written empty (the table reader drops
    such items and counts them)."""
    rows = []
    seen: set[int] = set()
    for r, (raw_item, title) in enumerate(zip(frame["ItemID"], frame["Title"])):
        item = _int(raw_item)
        if item is None:
            raise DataError(label, f"ItemID {raw_item!r} is not an integer", key=f"row {r + 1}, column ItemID")
        if item in seen:
            raise DataError(label, f"item {item} appears twice", key=f"row {r + 1}, ItemID {item}")
        seen.add(item)
        text = title if isinstance(title, str) else ""
        rows.append((item, _LINE_BREAKS.sub(" ", text)))
    return rows


def check_summary(label: str, data: bytes, counts: dict[str, int]) -> None:
    """The publisher's counts in summary.json must equal what was read."""
    try:
        summary = json.loads(data)
    except ValueError as exc:
        raise DataError(label, f"not valid JSON ({exc})") from None
    for key, ours in (("user_size", counts["users"]), ("item_size", counts["items"]),
                      ("interactions", counts["interactions"])):
        if key in summary and summary[key] != ours:
            raise DataError(label, f"{key} is {summary[key]}, but {USER2ITEM} holds {ours}", key=key)


# ----------------------------------------------------------------------------- writing the table files

def write_csv_gz(path: Path, header: tuple[str, ...], rows: list[tuple]) -> None:
    """A gzipped UTF-8 CSV (mtime 0, so the same input gives the same bytes), written whole or not at all."""
    tmp = path.with_name(path.name + ".partial")
    with gzip.GzipFile(tmp, "wb", mtime=0) as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(tmp, path)


def convert(source: str | Path, out: str | Path, force: bool = False) -> dict[str, Any]:
    """Read `source` (proc.zip or its folder), write the table files into `out`; returns the counts and
    the paths written."""
    source, out = Path(source), Path(out)
    members = read_members(source)
    if USER2ITEM not in members:
        raise DataError(source, f"no {USER2ITEM} in it (a SeqRecBenchmark proc.zip holds {USER2ITEM}, {ITEM2TITLE} "
                        f"and {SUMMARY})")
    if ITEM2TITLE not in members:
        raise DataError(source, f"no {ITEM2TITLE} in it: this data set has no item titles, and a table source "
                        "needs item text")
    inter_path, items_path = out / "interactions.csv.gz", out / "items.csv.gz"
    if not force:
        for p in (inter_path, items_path):
            if p.exists():
                raise DataError(p, "already exists (pass --force to overwrite)")
    label, data = members[USER2ITEM]
    interactions = interactions_of(label, unpickle_frame(label, data, COLUMNS[USER2ITEM]))
    label, data = members[ITEM2TITLE]
    items = items_of(label, unpickle_frame(label, data, COLUMNS[ITEM2TITLE]))
    used = {i for _, i, _ in interactions}
    counts = {"users": len({u for u, _, _ in interactions}), "items": len(used), "interactions": len(interactions)}
    if SUMMARY in members:
        check_summary(*members[SUMMARY], counts)
    titled = {i for i, title in items if title.strip()}
    untitled = sorted(used - titled)
    out.mkdir(parents=True, exist_ok=True)
    write_csv_gz(inter_path, TABLE_COLUMNS, interactions)
    write_csv_gz(items_path, ("item_id", "title"), items)
    return {**counts, "items_without_title": len(untitled), "first_untitled": untitled[:5],
            "interactions_file": inter_path, "items_file": items_path}


def domain_yaml(name: str, source: Path, result: dict[str, Any]) -> str:
    """The `configs/domains/<name>.yaml` text for the written files (absolute paths, JSON-quoted for YAML)."""
    lines = [f"# SeqRecBenchmark {name}, converted from {source.name} by scripts/convert_seqrec_proc.py",
             "source:",
             "  format: table",
             f"  interactions: {json.dumps(str(Path(result['interactions_file']).resolve()))}",
             f"  items: {json.dumps(str(Path(result['items_file']).resolve()))}",
             "  columns: {user: user_id, item: item_id, time: timestamp}",
             "  text_columns: [title]"]
    if not result["items_without_title"]:  # otherwise the reader drops some, and these counts would not hold
        lines.append(f"  expect: {{users: {result['users']}, items: {result['items']}, "
                     f"interactions: {result['interactions']}}}")
    return "\n".join(lines) + "\n"


def default_name(source: Path) -> str:
    """`data/<name>/proc.zip` or `data/<name>/proc/` -> `<name>`; else the folder's own name."""
    source = source.resolve()
    if source.is_file() or source.name == "proc":
        return source.parent.name
    return source.name


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="proc.zip from the SeqRecBenchmark release, or the folder it was extracted to")
    p.add_argument("--out", required=True, help="folder for interactions.csv.gz and items.csv.gz")
    p.add_argument("--name", help="domain name for the printed YAML (default: the folder holding proc.zip)")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    args = p.parse_args(argv)
    source = Path(args.source)
    try:
        result = convert(source, args.out, args.force)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    name = args.name or default_name(source)
    print(f"wrote {result['interactions_file']} ({result['interactions']:,} interactions of {result['users']:,} users, "
          f"{result['items']:,} items) and {result['items_file']}", file=sys.stderr)
    if result["items_without_title"]:
        print(f"warning: {result['items_without_title']:,} item(s) used in interactions have no title (the first: "
              f"{result['first_untitled']}); the table reader drops them and their interactions, so the YAML "
              "has no `expect` counts", file=sys.stderr)
    print(f"Put this in configs/domains/{name}.yaml, then `make codes DOMAIN={name}`:\n", file=sys.stderr)
    print(domain_yaml(name, source, result), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
