"""The registry of model kinds: how a model folder's `kind` becomes a scoring model.

Kept apart from `model_folder` (the folder format), so a command that only writes a model folder
does not depend on every model's code. A new recommender is one model file with a `load(meta,
tensors, device)` function plus one line here; a baseline that `textcode baseline` trains also has
`Config` and `fit` (textcode.baselines) and one run file (docs/extending.md).
"""
from __future__ import annotations

import importlib
from pathlib import Path

from textcode.core import artifacts
from textcode.core.config import ConfigError
from textcode.core.model_folder import META, WEIGHTS, load_meta

# kind -> module (imported on first use) whose `load(meta dict, tensors dict, device)` returns a
# Recommender. One line per model kind.
MODEL_KINDS: dict[str, str] = {
    "sasrec": "textcode.rec.sasrec",
    "ease": "textcode.baselines.ease",
    "popularity": "textcode.baselines.popularity",
    "autorec": "textcode.baselines.autorec",
    "deeprec": "textcode.baselines.deeprec",
    "cdae": "textcode.baselines.cdae",
    "multdae": "textcode.baselines.multvae",
    "multvae": "textcode.baselines.multvae",
    "svae": "textcode.baselines.svae",
    "cddrec": "textcode.baselines.cddrec",
}


def model_module(kind: str, where: str = "model kind"):
    """The module of a registered model kind; an unknown kind is a ConfigError naming the known ones."""
    if kind not in MODEL_KINDS:
        raise ConfigError(f"{where}: unknown model kind {kind!r} (known: {', '.join(sorted(MODEL_KINDS))})")
    return importlib.import_module(MODEL_KINDS[kind])


def load_recommender(folder: str | Path, device: str = "cpu"):
    """Rebuild the model saved in `folder` (a finished stage output) for scoring."""
    folder = Path(folder)
    artifacts.read_manifest(folder)
    meta = load_meta(folder)
    kind = meta.get("kind")
    if kind not in MODEL_KINDS:
        raise artifacts.ArtifactError(f"{folder / META}: unknown model kind {kind!r} (known: {', '.join(sorted(MODEL_KINDS))})")
    tensors, _ = artifacts.load_tensors(folder / WEIGHTS)
    return model_module(kind).load(meta, tensors, device)
