"""`python -m textcode <command>`: the same as the `textcode` console script."""
import sys

from textcode.cli import main

sys.exit(main())
