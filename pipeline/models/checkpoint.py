"""Self-describing model folders: `model.safetensors` (weights) + `model.json` (what to build).

`model.json` holds the model kind, its config dataclass as a dict, and the facts needed to
rebuild it (e.g. n_items); loading builds the model from that and loads the weights strictly,
so a mismatch is an error rather than a half-loaded model.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Mapping

from pipeline import artifacts

WEIGHTS = "model.safetensors"
META = "model.json"

# kind -> "module:function" (imported on first use); the function takes (meta dict, tensors dict,
# device) and returns a Recommender. One line per model kind.
LOADERS: dict[str, str] = {
    "sasrec": "pipeline.models.sasrec:load",
    "ease": "pipeline.models.ease:load",
    "pop": "pipeline.models.popularity:load",
}


def save_model(out: artifacts.OutputFolder | Path, kind: str, config: Mapping[str, Any], tensors: Mapping[str, Any],
               **facts: Any) -> None:
    path = out.path if isinstance(out, artifacts.OutputFolder) else (lambda n: Path(out) / n)
    artifacts.save_tensors(path(WEIGHTS), dict(tensors), {"kind": kind})
    artifacts.write_json(path(META), {"kind": kind, "config": dict(config), **facts})


def load_meta(folder: str | Path) -> dict[str, Any]:
    return artifacts.read_json(Path(folder) / META)


def load_recommender(folder: str | Path, device: str = "cpu"):
    """Rebuild the model saved in `folder` (a finished stage output) for scoring."""
    folder = Path(folder)
    artifacts.read_manifest(folder)
    meta = load_meta(folder)
    kind = meta.get("kind")
    if kind not in LOADERS:
        raise artifacts.ArtifactError(f"{folder / META}: unknown model kind {kind!r} (known: {', '.join(sorted(LOADERS))})")
    module, func = LOADERS[kind].split(":")
    tensors, _ = artifacts.load_tensors(folder / WEIGHTS)
    return getattr(importlib.import_module(module), func)(meta, tensors, device)
