"""Baselines trained by the generic `textcode baseline` command, found by name.

A baseline is one module (registered in textcode.core.model_kinds.MODEL_KINDS) with:
  `Config`                        a frozen dataclass of its settings (strict: unknown keys are errors);
  `fit(split, cfg, *, seed, device="auto", work=None) -> Fitted`
                                  train on a domain's leave-one-out split (textcode.data.split), select on
                                  its validation users only; `seed` (the run's top-level seed) drives every
                                  random draw (closed-form models draw none); `work`, a folder of this fit's
                                  own, holds its checkpoint: a rerun into it resumes (closed-form models
                                  ignore it, and `device`). The minimum is `fit(split, cfg, *, seed)`: the
                                  command passes `work` only to a fit that takes it;
  `load(meta, tensors, device)`   the model that scores histories (textcode.eval.recommender).
Its settings are one run file, configs/runs/baseline/<name>.yaml, whose `baseline.kind` names the module;
make finds every such run by that file (docs/extending.md).
"""
from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class Fitted:
    """What `fit` returns: the model folder's contents and the facts worth a line in the manifest."""

    tensors: dict[str, Any]  # saved in model.safetensors
    facts: dict[str, Any]  # saved in model.json beside kind and config; `load` reads them (n_items, ...)
    # manifest summary fields; `epochs` (default 1, a closed-form fit), `stopped` and `notes` reach the report
    summary: dict[str, Any] = dataclasses.field(default_factory=dict)
    files: dict[str, Any] = dataclasses.field(default_factory=dict)  # extra JSON files: name -> object
