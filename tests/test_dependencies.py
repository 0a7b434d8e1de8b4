"""textcode.core.dependencies: import closures read from the code, lazy imports and registry strings included."""
from __future__ import annotations

from pathlib import Path

from textcode.core.dependencies import closure


def write(root: Path, rel: str, text: str = "") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_closure_follows_direct_lazy_relative_and_registry_imports(tmp_path):
    write(tmp_path, "pkg/__init__.py")
    write(tmp_path, "pkg/cmd.py", "import numpy\nfrom pkg import a\n\ndef run():\n    from pkg.lazy import f\n")
    write(tmp_path, "pkg/a.py", "from .b import x\nLOADERS = {'m': 'pkg.loaded:load'}\n")
    write(tmp_path, "pkg/b.py", "x = 1\n")
    write(tmp_path, "pkg/lazy.py", "def f(): pass\n")
    write(tmp_path, "pkg/loaded.py", "def load(): pass\n")
    write(tmp_path, "pkg/unrelated.py", "")
    files = [p.as_posix() for p in closure(tmp_path, "pkg.cmd", ("pkg",))]
    assert files == ["pkg/__init__.py", "pkg/a.py", "pkg/b.py", "pkg/cmd.py", "pkg/lazy.py", "pkg/loaded.py"]


def test_the_evaluate_command_depends_on_the_model_loaders_it_finds_by_name():
    root = Path(__file__).resolve().parents[1]
    files = {p.as_posix() for p in closure(root, "textcode.commands.evaluate", ("textcode",))}
    assert {"textcode/rec/sasrec.py", "textcode/baselines/ease.py", "textcode/eval/metrics.py"} <= files
    assert "textcode/gen/train.py" not in files
