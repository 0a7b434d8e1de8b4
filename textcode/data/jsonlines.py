"""Line-by-line JSON reading with errors that name the file and line (gzip or plain, UTF-8)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from textcode.data.errors import DataError
from textcode.data.textfile import read_lines


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-empty line.

    Bad JSON, a line that is not an object, and every failure of `textfile.read_lines` (missing,
    empty, not UTF-8, broken gzip) raise DataError.
    """
    for lineno, line in read_lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"unparsable JSON: {exc.msg}", line=lineno) from None
        except RecursionError:
            raise DataError(path, "unparsable JSON: nested too deeply", line=lineno) from None
        if not isinstance(obj, dict):
            raise DataError(path, "expected a JSON object", line=lineno)
        yield lineno, obj


def field(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], path: str | Path, lineno: int) -> Any:
    """obj[key], checked for presence and type."""
    if key not in obj:
        raise DataError(path, f"missing field {key!r}", line=lineno)
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DataError(path, f"field {key!r} must be {names}, got {type(value).__name__}", line=lineno)
    return value
