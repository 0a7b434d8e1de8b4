"""The project files a module's code depends on: its transitive import closure, read statically.

Make reruns a stage when any file its command imports changes, so these lists are computed
from the code itself instead of being kept by hand. Every `import`/`from ... import` anywhere
in a file counts (lazy imports inside functions too), and so does a string constant that
names a project module, such as a registry entry `"textcode.rec.sasrec:load"` resolved with
importlib at run time. Only modules under the given roots (package folders beside each other
in one project folder) are followed; third-party imports are not files of the project.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

MODULE_STRING = re.compile(r"^([A-Za-z_]\w*(?:\.\w+)+)(?::\w+)?$")


def module_file(root: Path, module: str) -> Path | None:
    """The file of `module` under project folder `root` (a module or a package's __init__), or None."""
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_names(path: Path, module: str) -> set[str]:
    """Modules named by a file: imports, `from x import y` (y may be a module), module strings."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = MODULE_STRING.match(node.value)
            if match:
                names.add(match.group(1))
    return names


def closure(root: Path, module: str, roots: tuple[str, ...]) -> list[Path]:
    """Files of `module` and of every project module it imports, directly or not (sorted, relative to root)."""
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or name.split(".")[0] not in roots:
            continue
        path = module_file(root, name)
        if path is None:
            continue
        seen[name] = path
        # a module's parent packages run first on import
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        todo.extend(_imported_names(path, name))
    return sorted(p.relative_to(root) for p in seen.values())
