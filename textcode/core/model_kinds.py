"""The registry of model kinds: how a model folder's `kind` becomes a scoring model.

Kept apart from `model_folder` (the folder format), so a command that only writes a model folder
does not depend on every model's code. A new recommender is one model file with a `load(meta,
tensors, device)` function plus one line here (docs/extending.md).
"""
from __future__ import annotations

import importlib
from pathlib import Path

from textcode.core import artifacts
from textcode.core.model_folder import META, WEIGHTS, load_meta

# kind -> "module:function" (imported on first use); the function takes (meta dict, tensors dict,
# device) and returns a Recommender. One line per model kind.
LOADERS: dict[str, str] = {
    "sasrec": "textcode.rec.sasrec:load",
    "ease": "textcode.baselines.ease:load",
    "pop": "textcode.baselines.popularity:load",
}


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
