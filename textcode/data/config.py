"""Where a domain's raw data is and how to read it (torch-free, for the settings schema)."""
from __future__ import annotations

import dataclasses

from textcode.data.domain import ExpectedCounts


@dataclasses.dataclass(frozen=True)
class SourceConfig:
    """Where a domain's raw data is and how to read it.

    `path` may contain `{data_root}`, filled from the top-level `data_root` setting.
    `prefix` is the file-name prefix of RecBole-style files (e.g. `Scientific`).
    `reviews`/`meta` name the raw Amazon files inside `path`.
    `k_core` filters users and items after reading (0 = keep as read).
    """

    format: str = "unisrec"  # a registered format (textcode.data.readers.READERS), checked when read
    path: str = ""
    prefix: str = ""
    reviews: str = ""
    meta: str = ""
    k_core: int = 0
    expect: ExpectedCounts = ExpectedCounts()
