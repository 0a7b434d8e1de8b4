"""Source formats: one reader module per format, and the registry that maps `source.format` to it.

A reader entry is "module:function"; the function takes (SourceConfig, resolved path, domain name)
and returns a Domain (or `(Domain, {what it dropped: count})`, see sources.read_source). Modules are imported only when their format is read (raw Amazon needs
`datasets`), so this registry stays torch-free and cheap. Adding a format: one reader file and
one line here (docs/extending.md). Readers open their files through `textcode.data.textfile`
(`read_lines`, `read_bytes`) or `textcode.data.jsonlines.read_jsonl`, which turn missing and empty
files, undecodable text and broken gzip into DataError naming the file and line.
"""
from __future__ import annotations

import importlib
from typing import Callable

from textcode.core.config import ConfigError

READERS: dict[str, str] = {
    "unisrec": "textcode.data.readers.recbole:from_source",
    "seqrec": "textcode.data.readers.seqrec:from_source",
    "amazon2018": "textcode.data.readers.amazon_raw:from_source_2018",
    "amazon2023": "textcode.data.readers.amazon_raw:from_source_2023",
    "movielens_dat": "textcode.data.readers.movielens:from_source_dat",
    "recbole_inter": "textcode.data.readers.movielens:from_source_inter",
    "retailrocket_sessions": "textcode.data.readers.retailrocket:from_source",
    "table": "textcode.data.readers.table:from_source",
}


def reader(fmt: str) -> Callable:
    """The reader function of a registered format."""
    if not fmt:
        raise ConfigError(f"source.format: missing (formats: {', '.join(READERS)})")
    if fmt not in READERS:
        raise ConfigError(f"source.format: unknown format {fmt!r} (formats: {', '.join(READERS)})")
    module, func = READERS[fmt].split(":")
    return getattr(importlib.import_module(module), func)
