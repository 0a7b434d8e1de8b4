"""Command `baseline`: train a registered baseline (EASE, popularity, ...) on a domain's training sequences.

The run's `baseline.kind` names the model (textcode.core.model_kinds); its other `baseline.*` keys are
that model's `Config`, checked strictly. Output: a self-describing model folder (textcode.core.model_folder)
that `textcode evaluate` scores, plus any extra JSON the model writes (EASE: validation.json, its l2 curve).

A run's `search` section (baseline key -> values) is a validation search: every combination is fitted with the
same seed and the one with the best validation NDCG@10 (history kept) is saved; search.json holds every
combination's score, epochs and seconds. `train_wall_s` is the chosen model's `fit` (selection inside it, such
as EASE's l2 grid or early stopping, included); `search_wall_s` is the whole search.
"""
from __future__ import annotations

import itertools
import logging
import time
from typing import Any

from textcode.commands import common
from textcode.core import artifacts, model_folder
from textcode.core.config import ConfigError, build, to_dict
from textcode.core.model_kinds import model_module
from textcode.data.domain import Domain
from textcode.data.split import leave_one_out
from textcode.runtime.seeding import seed_everything

log = logging.getLogger("baseline")


def main(argv: list[str] | None = None) -> int:
    args = common.parser("baseline", ("prepared",), __doc__).parse_args(argv)
    common.setup_logging()
    cfg = common.resolved_config(args, "baseline")
    settings = dict(cfg["baseline"])
    kind = settings.pop("kind", None)
    if kind is None:
        raise ConfigError("baseline.kind: missing (the model to train, e.g. ease)")
    module = model_module(kind, "baseline.kind")
    if not hasattr(module, "fit"):
        raise ConfigError(f"baseline.kind: {kind!r} is not trained by this command (it has no fit)")
    candidates = [build(module.Config, {**settings, **combo}, prefix="baseline.") for combo in combinations(cfg)]
    prepared = common.input_path(args, "prepared")
    domain = Domain.load(prepared)
    split = leave_one_out(domain)
    search_start = time.perf_counter()
    best, tried = None, []
    for i, model_cfg in enumerate(candidates):
        seed_everything(cfg["seed"])  # before any model is built: every candidate starts alike
        start = time.perf_counter()
        fitted = module.fit(split, model_cfg, seed=cfg["seed"])
        wall_s = time.perf_counter() - start
        if len(candidates) == 1:
            best = (model_cfg, fitted, wall_s)
            break
        score = validation_ndcg(module, kind, model_cfg, fitted, split)
        combo = {k: to_dict(getattr(model_cfg, k)) for k in cfg["search"]}
        tried.append({**combo, "valid_ndcg@10": score, "epochs": fitted.summary.get("epochs", 1),
                      "train_wall_s": round(wall_s, 3)})
        log.info("%s search %d/%d %s: valid NDCG@10 %.4f (%.1fs)", kind, i + 1, len(candidates), combo, score, wall_s)
        if best is None or score > tried[best[3]]["valid_ndcg@10"]:  # strict: on a tie the earlier one stays
            best = (model_cfg, fitted, wall_s, i)
    model_cfg, fitted, train_wall_s = best[:3]
    with artifacts.OutputFolder(args.out, "baseline", cfg, {"prepared": prepared}) as out:
        model_folder.save_model(out, kind, to_dict(model_cfg), fitted.tensors, **fitted.facts)
        for name, obj in fitted.files.items():
            artifacts.write_json(out.path(name), obj)
        extra: dict[str, Any] = {}
        if tried:
            artifacts.write_json(out.path("search.json"), tried)
            extra = {"search": {k: tried[best[3]][k] for k in cfg["search"]}, "search_tried": len(tried),
                     "search_wall_s": round(time.perf_counter() - search_start, 3)}
        out.summary.update({"epochs": 1, **fitted.summary, **extra}, domain=domain.name, kind=kind,
                           n_items=domain.n_items, train_wall_s=round(train_wall_s, 3))
    log.info("%s: %s trained in %.1fs -> %s", domain.name, kind, train_wall_s, args.out)
    return 0


def combinations(cfg: dict) -> list[dict[str, Any]]:
    """The `search` section's grid as baseline overrides: every combination, in the order the keys are given
    (one empty combination without a search)."""
    grid = cfg.get("search") or {}
    for key, values in grid.items():
        if key == "kind" or not isinstance(values, (list, tuple)) or not values:
            raise ConfigError(f"search.{key}: give a non-empty list of values of baseline.{key}")
    return [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]


def validation_ndcg(module, kind: str, model_cfg, fitted, split) -> float:
    """Validation NDCG@10 (history kept) of a fitted candidate, scored as `textcode evaluate` would load it."""
    import numpy as np
    import torch

    from textcode.baselines.training import resolve_device
    from textcode.eval.evaluation import evaluate

    tensors = {k: v.detach().cpu().numpy() if torch.is_tensor(v) else np.asarray(v) for k, v in fitted.tensors.items()}
    model = module.load({"kind": kind, "config": to_dict(model_cfg), **fitted.facts}, tensors,
                        resolve_device("auto"))  # where `fit` trained it
    return evaluate(model, split.valid, ks=(10,)).means()["history_kept"]["ndcg@10"]
