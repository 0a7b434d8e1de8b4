"""Command `prepare`: read a domain's source files into the project's domain format.

Everything is read and checked before the output folder is opened, so bad input (a ConfigError or
DataError naming the setting, or the file and line) leaves no `<out>.partial/` behind.
"""
from __future__ import annotations

import dataclasses
import logging

from textcode.commands import common
from textcode.core import artifacts
from textcode.core.config import build
from textcode.data.config import SourceConfig
from textcode.data.sources import read_source
from textcode.data.split import leave_one_out

log = logging.getLogger("prepare")


def main(argv: list[str] | None = None) -> int:
    args = common.parser("prepare", (), __doc__).parse_args(argv)
    common.setup_logging()
    cfg = common.resolved_config(args, "prepare")
    source = build(SourceConfig, cfg["source"], prefix="source.")
    name = cfg["domain"]
    dropped: dict[str, int] = {}  # what the reader dropped (table sources), for the summary
    domain = read_source(source, name, cfg["data_root"], dropped=dropped)  # every user long enough for leave-one-out
    lengths = domain.lengths()
    summary = dict(domain=name, **domain.counts(), has_text=domain.item_text is not None,
                   mean_length=float(lengths.mean()), min_length=int(lengths.min()), max_length=int(lengths.max()),
                   training_items=len(leave_one_out(domain).training_item_set()))
    if dropped:
        summary["dropped"] = dropped
    with artifacts.OutputFolder(args.out, "prepare", cfg) as out:
        domain.save(out)
        out.summary.update(summary)
    checked = "checked against source.expect" if any(v is not None for v in dataclasses.asdict(source.expect).values()) \
        else "no source.expect to check"
    log.info("%s: %s users, %s items, %s interactions (%s) -> %s", name, f"{domain.n_users:,}", f"{domain.n_items:,}",
             f"{domain.n_interactions:,}", checked, args.out)
    return 0
