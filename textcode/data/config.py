"""Data settings: where a domain's raw data is and how to read it, and how sequences become windows
(torch-free, for the settings schema)."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal, Mapping

from textcode.core.config import ConfigError
from textcode.data.domain import ExpectedCounts


@dataclasses.dataclass(frozen=True)
class TableColumns:
    """The column names of a `table` source's interactions file (its items file uses `item` too)."""

    user: str = "user_id"
    item: str = "item_id"
    time: str = "timestamp"  # integer (e.g. unix seconds)


@dataclasses.dataclass(frozen=True)
class SourceConfig:
    """Where a domain's raw data is and how to read it.

    `format` names a registered reader (textcode.data.readers.READERS); it has no default, so
    every domain config says which reader reads it (checked when read).
    `path` may contain `{data_root}`, filled from the top-level `data_root` setting.
    `prefix` is the file-name prefix of RecBole-style files (e.g. `Scientific`).
    `reviews`/`meta` name the raw Amazon files inside `path`.
    `k_core` filters users and items after reading: 0 = keep as read, k >= 2 = iterative k-core.

    Format `table` (textcode/data/readers/table.py) reads `interactions` and `items` (CSV, TSV, their
    `.gz`, or Parquet; a relative path in a YAML file is relative to that file's folder, see
    `rebase_table_paths`) with the names in `columns`; `text_columns` are cleaned and joined into
    the item text; items without text are dropped (`drop_items_without_text`, else an error), and
    users with fewer than `min_length` interactions are dropped and counted. Other formats ignore
    these keys.
    """

    format: str = ""  # required when read ("" = not set); the default only lets stages that never read data resolve
    path: str = ""
    prefix: str = ""
    reviews: str = ""
    meta: str = ""
    k_core: int = 0
    expect: ExpectedCounts = ExpectedCounts()
    # format `table` only
    interactions: str = ""
    items: str = ""
    columns: TableColumns = TableColumns()
    text_columns: tuple[str, ...] = ()
    drop_items_without_text: bool = True  # the VQ-Rec chain needs text; false = an item without text is an error
    min_length: int = 3  # what the leave-one-out split needs; shorter users are dropped (and counted)

    def __post_init__(self) -> None:
        if self.k_core < 0 or self.k_core == 1:
            raise ConfigError(f"source.k_core must be 0 (no filtering) or at least 2, got {self.k_core}")


TABLE_PATH_KEYS = ("interactions", "items")  # the `source` keys that `rebase_table_paths` rewrites


def rebase_table_paths(data: Mapping[str, Any], folder: str | Path) -> Mapping[str, Any]:
    """A YAML layer's tree with its relative `source.interactions`/`source.items` joined to `folder`
    (the folder of the YAML file), so they name the same file from any working directory.

    Absolute paths, and every other key (`source.path` stays relative to the working directory,
    as the existing domains write it), are left as they are; values that are not strings are left
    for the schema check to report.
    """
    source = data.get("source")
    if not isinstance(source, Mapping):
        return data
    rebased = {k: (str(Path(folder) / v) if k in TABLE_PATH_KEYS and isinstance(v, str) and v
                   and not Path(v).is_absolute() else v) for k, v in source.items()}
    return {**data, "source": rebased} if rebased != dict(source) else data


@dataclasses.dataclass(frozen=True)
class WindowConfig:
    """How sequences become fixed-length windows, and how users/sessions are held out.

    Windows never cross the split: users (or sessions) are assigned to train/valid/test first,
    then each side is cut into windows on its own.
    """

    length: int = 20  # L: window length (padding, never modelled, fills the tail of a short window)
    train_stride: int = 0  # start-to-start distance of training windows; 0 = L (non-overlapping chunks)
    min_length: int = 2  # drop windows shorter than this (a 1-item window has no order to model)
    valid_fraction: float = 0.1  # of users/sessions, for model selection
    test_fraction: float = 0.1  # of users/sessions, for every reported number
    # random: seeded split of users; source: test = the source's own held-out sessions;
    # train_part: like random, but only each user's leave-one-out training part s[:-2] is used, so a
    # generator trained for augmentation never sees a recommender's validation or test items
    holdout: Literal["random", "source", "train_part"] = "random"

    def __post_init__(self) -> None:
        if self.length < 2:
            raise ConfigError(f"windows.length must be at least 2, got {self.length}")
        if not 0 <= self.train_stride <= self.length:
            raise ConfigError(f"windows.train_stride must be in [0, length], got {self.train_stride}")
        if not (0 < self.valid_fraction < 1 and 0 < self.test_fraction < 1 and self.valid_fraction + self.test_fraction < 1):
            raise ConfigError("windows.valid_fraction and windows.test_fraction must be in (0, 1) and sum below 1")
