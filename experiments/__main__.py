"""`python -m experiments <command>`: the studies' commands (experiments/commands/), run like textcode's."""
import sys

from textcode.cli import main

sys.exit(main(package="experiments.commands", prog="python -m experiments"))
