"""Command `deps`: write Make's code dependencies (DEPS.<command> := files) from the commands' real imports.

Each module of each named package (a command package such as `textcode.commands`, or a folder of
scripts such as `bench`) gets one variable: the files of its import closure
(textcode.core.dependencies).
"""
from __future__ import annotations

import argparse
import pkgutil
from pathlib import Path

from textcode.core import artifacts
from textcode.core.dependencies import closure


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="textcode deps", description=__doc__)
    p.add_argument("packages", nargs="+", help="packages whose modules are commands, e.g. textcode.commands bench")
    p.add_argument("--root", default=".", help="the project folder the packages are in (default: .)")
    p.add_argument("--out", required=True, help="Make fragment to write, e.g. .deps/commands.d")
    args = p.parse_args(argv)
    root = Path(args.root).resolve()
    roots = tuple(sorted({pkg.split(".")[0] for pkg in args.packages} | {"textcode"}))
    lines, owner = [], {}
    for package in args.packages:
        folder = root.joinpath(*package.split("."))
        if not folder.is_dir():
            p.error(f"{package}: no such folder under {root}")
        for info in sorted(pkgutil.iter_modules([str(folder)]), key=lambda i: i.name):
            if info.name.startswith("_"):
                continue
            name = info.name.replace("_", "-") if package.endswith("commands") else info.name
            if name in owner:
                p.error(f"{package}.{info.name} and {owner[name]} would both be DEPS.{name}")
            owner[name] = f"{package}.{info.name}"
            files = closure(root, f"{package}.{info.name}", roots)
            lines.append(f"DEPS.{name} := {' '.join(f.as_posix() for f in files)}\n")
    text = "# written by `textcode deps` from the commands' imports; do not edit\n" + "".join(lines)
    artifacts.write_text(args.out, text)
    return 0
