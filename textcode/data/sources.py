"""Read one domain as its config says: the registered reader of its format, then k-core and the checks
every prepared domain must pass (structure, non-empty, `source.expect`, enough interactions per user)."""
from __future__ import annotations

import string
from pathlib import Path

import numpy as np

from textcode.core.config import ConfigError
from textcode.data.config import SourceConfig
from textcode.data.domain import Domain
from textcode.data.errors import DataError
from textcode.data.kcore import k_core
from textcode.data.readers import reader
from textcode.data.split import MIN_LENGTH

PLACEHOLDERS = ("data_root",)  # what `source.path` may contain, as `{name}`


def source_path(template: str, data_root: str = "") -> Path:
    """`source.path` with its placeholders filled; a typo in a placeholder is a ConfigError naming it."""
    known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    if not template:
        raise ConfigError("source.path: missing (the folder of the domain's raw files)")
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ConfigError(f"source.path: {template!r} is not a valid path template ({exc}); "
                          f"known placeholders: {known} (write a literal brace as {{{{ or }}}})") from None
    for field in fields:
        if field not in PLACEHOLDERS:
            raise ConfigError(f"source.path: unknown placeholder {{{field}}} in {template!r} "
                              f"(known placeholders: {known})")
    if "data_root" in fields and not data_root:
        raise ConfigError(f"source.path: {template!r} uses {{data_root}}, but data_root is empty")
    return Path(template.format(data_root=data_root))


def source_location(cfg: SourceConfig, data_root: str = "") -> Path:
    """What the reader is given and errors name: `source.path` with its placeholders filled, or for a
    `table` source (whose files are `source.interactions` and `source.items`) its interactions file."""
    if cfg.format == "table":
        if not cfg.interactions:
            raise ConfigError("source.interactions: missing (the interactions file of a table source)")
        return Path(cfg.interactions)
    return source_path(cfg.path, data_root)


def read_source(cfg: SourceConfig, name: str, data_root: str = "", min_length: int = MIN_LENGTH,
                dropped: dict | None = None) -> Domain:
    """Read, validate, k-core filter and count-check one domain.

    After k-core filtering every user must have at least `min_length` interactions (what the
    leave-one-out split needs); a shorter one is a DataError naming the user. A reader may return
    `(domain, counts of what it dropped)` instead of a domain; those counts are added to `dropped`.
    """
    path = source_location(cfg, data_root)
    domain = reader(cfg.format)(cfg, path, name)
    if isinstance(domain, tuple):
        domain, counts = domain
        if dropped is not None:
            dropped.update(counts)
    domain.validate(str(path))
    if domain.n_interactions == 0:
        raise DataError(path, f"domain {name!r}: no interactions were read")
    if cfg.k_core > 1:
        domain = k_core(domain, cfg.k_core)
    domain.check_counts(cfg.expect, str(path))
    if domain.n_interactions == 0:
        raise DataError(path, f"domain {name!r}: k-core filtering (source.k_core={cfg.k_core}) left no interactions")
    check_lengths(domain, min_length, str(path), cfg.k_core)
    return domain


def check_lengths(domain: Domain, min_length: int, source: str, k: int = 0) -> None:
    """Raise DataError naming the first user with fewer than `min_length` interactions."""
    lengths = domain.lengths()
    short = np.flatnonzero(lengths < min_length)
    if len(short):
        first = int(short[0])
        fix = (f"raise source.k_core to at least {min_length}" if k > 1 else
               f"set source.k_core (at least {min_length}) to filter them")
        raise DataError(source, f"domain {domain.name!r}: {len(short)} user(s) have fewer than {min_length} "
                        f"interactions, which a leave-one-out split needs (the first has {int(lengths[first])}); {fix}",
                        key=f"user {domain.user_ids[first]}")
