"""Command `recommend`: top-k items with their text for histories of item ids, for users, or for every user.

Reads a serving folder (written by `textcode export`) and the prepared domain folder it was exported
from. Each `--items ID ID ...` is one history (oldest first; repeat the option for more), each user id
of `--user` is one history (the user's whole sequence); a readable table is printed per history.
`--all-users --out FILE.parquet` writes the top-k of every user (columns user, rank, item, score).
History items are never recommended unless `--keep-history`. Items without any interaction are in
the index too: their vectors come from their codes, that is from their text.
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from textcode.commands import common
from textcode.core import artifacts
from textcode.core.config import ConfigError

log = logging.getLogger("recommend")
TEXT_WIDTH = 60


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="textcode recommend", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--serving", required=True, help="input folder: the output of `textcode export`")
    p.add_argument("--prepared", required=True, help="input folder: the prepared domain the serving folder was exported from")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--items", nargs="+", action="append", metavar="ID",
                      help="one history of item ids, oldest first (repeat for more histories)")
    what.add_argument("--user", nargs="+", metavar="USER_ID", help="users of the domain: each one's sequence is a history")
    what.add_argument("--all-users", action="store_true", help="every user of the domain; needs --out")
    p.add_argument("--out", help="with --all-users: the Parquet file to write (replaced atomically)")
    p.add_argument("--k", type=int, default=10, help="items per history (default 10)")
    p.add_argument("--keep-history", action="store_true", help="allow a history's own items in its top-k")
    args = p.parse_args(argv)
    if args.k < 1:
        raise ConfigError(f"--k must be at least 1, got {args.k}")
    if args.all_users and not args.out:
        raise ConfigError("--all-users needs --out FILE.parquet")
    if args.out and not args.all_users:
        raise ConfigError("--out is only for --all-users (other modes print their tables)")
    common.setup_logging()
    serving_dir, prepared = common.input_path(args, "serving"), common.input_path(args, "prepared")

    from textcode.rec.recommend import (
        TopK,  # torch-free until here, so errors above are fast
    )

    recs = TopK.load(serving_dir, prepared)
    exclude = not args.keep_history
    if args.all_users:
        cols = recs.all_users(args.k, exclude)
        write_parquet(Path(args.out), cols)
        log.info("%s: top-%d of %d users (%d rows) -> %s", recs.domain.name, args.k,
                 len(set(cols["user"])), len(cols["user"]), args.out)
        return 0
    if args.items:
        labels = [f"history: {' '.join(h)}" for h in args.items]
        results = recs.recommend(args.items, args.k, exclude)
    else:
        labels = [f"user {u} ({len(recs.user_history(u))} items)" for u in args.user]
        results = recs.recommend_users(args.user, args.k, exclude)
    for n, (label, rows) in enumerate(zip(labels, results)):
        if n:
            print()
        print(format_table(label, rows))
    return 0


def format_table(label: str, rows) -> str:
    """A header line, then one line per recommendation: rank, item id, score, text (truncated)."""
    width = max([len("item")] + [len(r.item) for r in rows])
    lines = [label, f"{'rank':>4}  {'item':<{width}}  {'score':>8}  text"]
    for r in rows:
        lines.append(f"{r.rank:>4}  {r.item:<{width}}  {r.score:>8.4f}  {_short(r.text)}")
    return "\n".join(lines)


def _short(text: str | None) -> str:
    if text is None:
        return "-"
    text = " ".join(text.split())
    return text if len(text) <= TEXT_WIDTH else text[:TEXT_WIDTH - 1] + "…"


def write_parquet(path: Path, columns) -> None:
    """save_table into a temporary file beside `path`, then renamed over it: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        artifacts.save_table(tmp, columns)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
