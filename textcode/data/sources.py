"""Read one domain as its config says: the registered reader of its format, then k-core and count checks."""
from __future__ import annotations

from pathlib import Path

from textcode.data.config import SourceConfig
from textcode.data.domain import Domain
from textcode.data.kcore import k_core
from textcode.data.readers import reader


def read_source(cfg: SourceConfig, name: str, data_root: str = "") -> Domain:
    """Read, k-core filter, validate and count-check one domain."""
    path = Path(cfg.path.format(data_root=data_root))
    domain = reader(cfg.format)(cfg, path, name)
    domain.validate(str(path))
    if cfg.k_core > 1:
        domain = k_core(domain, cfg.k_core)
    domain.check_counts(cfg.expect, str(path))
    return domain
