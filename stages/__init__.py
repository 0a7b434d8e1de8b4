"""Thin command-line entry points, one per stage: `python -m stages.<name> --help`."""
