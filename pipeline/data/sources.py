"""Source formats -> Domain. The only place that maps a config's `source.format` to a reader."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from pipeline.data.domain import Domain, ExpectedCounts
from pipeline.data.kcore import k_core

Format = Literal["unisrec", "seqrec", "amazon2018", "amazon2023", "movielens_dat", "recbole_inter", "retailrocket_sessions"]


@dataclasses.dataclass(frozen=True)
class SourceConfig:
    """Where a domain's raw data is and how to read it.

    `path` may contain `{data_root}`, filled from the top-level `data_root` setting.
    `prefix` is the file-name prefix of RecBole-style files (e.g. `Scientific`).
    `reviews`/`meta` name the raw Amazon files inside `path`.
    `k_core` filters users and items after reading (0 = keep as read).
    """

    format: Format = "unisrec"
    path: str = ""
    prefix: str = ""
    reviews: str = ""
    meta: str = ""
    k_core: int = 0
    expect: ExpectedCounts = ExpectedCounts()


def _read(cfg: SourceConfig, path: Path, name: str) -> Domain:
    """Dispatch on the format; readers are imported only when used (raw Amazon needs `datasets`)."""
    if cfg.format == "unisrec":
        from pipeline.data.recbole import read_unisrec

        return read_unisrec(path, cfg.prefix or name, name=name)
    if cfg.format == "seqrec":
        from pipeline.data.seqrec import read_seqrec

        return read_seqrec(path, name)
    if cfg.format in ("amazon2018", "amazon2023"):
        from pipeline.data import amazon_raw

        schema = amazon_raw.SCHEMA_2018 if cfg.format == "amazon2018" else amazon_raw.SCHEMA_2023
        return amazon_raw.read_amazon(path / cfg.reviews, path / cfg.meta, name, schema)
    if cfg.format == "movielens_dat":
        from pipeline.data.movielens import read_movielens_dat

        return read_movielens_dat(path, name)
    if cfg.format == "recbole_inter":
        from pipeline.data.movielens import read_recbole_inter

        return read_recbole_inter(path, cfg.prefix or name, name)
    if cfg.format == "retailrocket_sessions":
        from pipeline.data.retailrocket import read_sessions

        return read_sessions(path, name)
    raise ValueError(f"unknown source format {cfg.format!r}")


def read_source(cfg: SourceConfig, name: str, data_root: str = "") -> Domain:
    """Read, k-core filter, validate and count-check one domain."""
    path = Path(cfg.path.format(data_root=data_root))
    domain = _read(cfg, path, name)
    domain.validate(str(path))
    if cfg.k_core > 1:
        domain = k_core(domain, cfg.k_core)
    domain.check_counts(cfg.expect, str(path))
    return domain
