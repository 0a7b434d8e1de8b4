"""The one way readers open their input files: text or gzip, with every failure a DataError.

A file whose name ends in `.gz` is read through gzip, any other as it is. Failures name the file,
and the line where one is known:

- a missing file, a folder in its place, a 0-byte file, or one with nothing but blank lines;
- bytes that are not valid in the file's encoding (UTF-8 unless the format says otherwise), at the
  line that holds them;
- a `.gz` file that is not gzip, a truncated one (it ends before the end-of-stream marker: the
  line being read when the data ran out is named) and corrupt compressed data (zlib errors, CRC).

Lines are split at `\\n` (a trailing `\\r` is removed too), so line numbers are those of any editor.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import IO, Iterator

from textcode.data.errors import DataError


def check_file(path: str | Path) -> Path:
    """The path, checked to be an existing, non-empty regular file."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "file not found")
    if not path.is_file():
        raise DataError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise DataError(path, "empty file (0 bytes)")
    return path


def read_lines(path: str | Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """Yield (line number from 1, line without its line ending) for every line, blank ones included.

    Raises DataError (see the module docstring) for files that cannot be read as text in
    `encoding`, and for a file without any non-blank line.
    """
    path = check_file(path)
    lineno, seen_text = 0, False
    with _guarded(path, lambda: lineno + 1), _open_binary(path) as f:
        for raw in f:
            lineno += 1
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                bad = exc.object[exc.start:exc.end]
                raise DataError(path, f"not valid {encoding} ({exc.reason}: byte(s) {bad!r} at column "
                                f"{exc.start + 1}); the file must be {encoding}-encoded", line=lineno) from None
            line = line.rstrip("\n").rstrip("\r")
            seen_text = seen_text or bool(line.strip())
            yield lineno, line
    if not seen_text:
        raise DataError(path, "empty file (only blank lines" + (" after decompression)" if _is_gz(path) else ")"))


def read_bytes(path: str | Path) -> bytes:
    """The whole (decompressed) content of a file, with the same checks as `read_lines`."""
    path = check_file(path)
    with _guarded(path, lambda: None), _open_binary(path) as f:
        data = f.read()
    if not data.strip():
        raise DataError(path, "empty file (no data" + (" after decompression)" if _is_gz(path) else ")"))
    return data


def _is_gz(path: Path) -> bool:
    return path.suffix == ".gz"


def _open_binary(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if _is_gz(path) else open(path, "rb")


class _guarded:
    """Turn gzip and I/O failures while reading `path` into DataError (`line()`: where it stopped)."""

    def __init__(self, path: Path, line):
        self.path, self.line = path, line

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None or issubclass(exc_type, (DataError, GeneratorExit)):
            return False
        if issubclass(exc_type, gzip.BadGzipFile) and str(exc).startswith("Not a gzipped file"):
            message = f"not a gzip file, though its name ends in .gz ({exc})"
            line = None
        elif issubclass(exc_type, gzip.BadGzipFile):  # CRC or length check failed, trailing garbage
            message = f"corrupt gzip file ({exc})"
            line = None
        elif issubclass(exc_type, EOFError):
            message = "truncated gzip file: the compressed data ends before its end-of-stream marker"
            line = self.line()
        elif issubclass(exc_type, zlib.error):
            message = f"corrupt gzip data ({exc})"
            line = self.line()
        elif issubclass(exc_type, OSError):
            message = f"cannot be read ({exc.strerror or exc})"
            line = None
        else:
            return False
        raise DataError(self.path, message, line=line) from None
