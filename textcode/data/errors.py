"""Errors for bad input data: every message names the file and the line or key."""
from __future__ import annotations

from pathlib import Path

from textcode.core.errors import ProjectError


class DataError(ProjectError, ValueError):
    """Bad input data. `str(err)` reads `file:line: message` or `file [key]: message`."""

    def __init__(self, path: str | Path, message: str, line: int | None = None, key: str | None = None):
        self.path, self.line, self.key = str(path), line, key
        where = self.path
        if line is not None:
            where += f":{line}"
        if key is not None:
            where += f" [{key}]"
        super().__init__(f"{where}: {message}")
