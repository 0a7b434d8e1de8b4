"""Command `hello`: greet, following docs/extending.md "A new command"."""
from __future__ import annotations

import argparse

from textcode.core.config import ConfigError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="textcode hello", description=__doc__)
    p.add_argument("name")
    args = p.parse_args(argv)
    if not args.name.isalpha():
        raise ConfigError(f"name: {args.name!r} is not a word")
    print(f"hello {args.name}")
    return 0
