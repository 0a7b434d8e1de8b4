"""`textcode <command> ...`: one entry point for every command of textcode.commands.

A command is a module `textcode/commands/<name>.py` (hyphens in the command name, underscores in
the module) with `main(argv) -> int`; its help line is the first line of its docstring, read
without importing it, so `textcode --help` starts in milliseconds and needs no torch. The
project's own errors (bad config, bad data, a missing or corrupt artifact) print one line and
exit with 2; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import pkgutil
import sys
from pathlib import Path
from typing import Sequence

from textcode.core.errors import ProjectError

USAGE_ERROR = 2


def commands(package: str = "textcode.commands") -> dict[str, str]:
    """command name -> module name, for every command module of `package`."""
    spec = importlib.util.find_spec(package)
    found = {}
    for info in pkgutil.iter_modules(spec.submodule_search_locations):
        if not info.name.startswith("_") and info.name != "common":
            found[info.name.replace("_", "-")] = f"{package}.{info.name}"
    return dict(sorted(found.items()))


def summary(module: str) -> str:
    """First line of a module's docstring, without importing it."""
    origin = importlib.util.find_spec(module).origin
    doc = ast.get_docstring(ast.parse(Path(origin).read_text(encoding="utf-8"))) or ""
    line = doc.strip().splitlines()[0] if doc.strip() else ""
    if line.startswith("Command `") and ": " in line:
        line = line.split(": ", 1)[1]
    return line[:1].upper() + line[1:]


def main(argv: Sequence[str] | None = None, package: str = "textcode.commands", prog: str = "textcode") -> int:
    try:
        code = _dispatch(argv, package, prog)
        sys.stdout.flush()  # here, not at exit, so a closed pipe is caught below
        return code
    except BrokenPipeError:  # output piped into a reader that stopped early (`textcode --help | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush cannot fail again
        return 0


def _dispatch(argv: Sequence[str] | None, package: str, prog: str) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    table = commands(package)
    if not argv or argv[0] in ("-h", "--help", "help"):
        width = max(map(len, table))
        print(f"usage: {prog} <command> [options]   ({prog} <command> --help for a command's options)\n\ncommands:")
        for name, module in table.items():
            print(f"  {name:<{width}}  {summary(module)}")
        return 0 if argv else USAGE_ERROR
    name, rest = argv[0], argv[1:]
    if name not in table:
        print(f"{prog}: unknown command {name!r} (commands: {', '.join(table)})", file=sys.stderr)
        return USAGE_ERROR
    module = importlib.import_module(table[name])
    try:
        return int(module.main(rest) or 0)
    except ProjectError as exc:
        print(f"{prog} {name}: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
