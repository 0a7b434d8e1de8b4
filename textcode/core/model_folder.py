"""Self-describing model folders: `model.safetensors` (weights) + `model.json` (what to build).

`model.json` holds the model kind, its config dataclass as a dict, and the facts needed to
rebuild it (e.g. n_items); textcode.core.model_kinds builds the model of a folder from that and
loads the weights strictly, so a mismatch is an error rather than a half-loaded model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from textcode.core import artifacts

WEIGHTS = "model.safetensors"
META = "model.json"

def save_model(out: artifacts.OutputFolder | Path, kind: str, config: Mapping[str, Any], tensors: Mapping[str, Any],
               **facts: Any) -> None:
    path = out.path if isinstance(out, artifacts.OutputFolder) else (lambda n: Path(out) / n)
    artifacts.save_tensors(path(WEIGHTS), dict(tensors), {"kind": kind})
    artifacts.write_json(path(META), {"kind": kind, "config": dict(config), **facts})


def load_meta(folder: str | Path) -> dict[str, Any]:
    return artifacts.read_json(Path(folder) / META)
