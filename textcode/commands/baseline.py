"""Command `baseline`: train a registered baseline (EASE, popularity, ...) on a domain's training sequences.

The run's `baseline.kind` names the model (textcode.core.model_kinds); its other `baseline.*` keys are
that model's `Config`, checked strictly. Output: a self-describing model folder (textcode.core.model_folder)
that `textcode evaluate` scores, plus any extra JSON the model writes (EASE: validation.json, its l2 curve).

A run's `search` section (baseline key -> values) is a validation search: every combination is fitted with the
same seed and the one with the best validation NDCG@10 (in the protocol the top-level `selection` names,
history kept by default) is saved; search.json holds every combination's score, epochs and seconds.
`train_wall_s` is the chosen model's `fit` (selection inside it, such as EASE's l2 grid or early stopping,
included); `search_wall_s` is the whole search.

Resumes after a kill, as `finetune` does: the output's `<out>.partial/` is kept when the rerun has the same
config, and each candidate i trains with its checkpoint in `<out>.partial/candidate<i>/` (textcode/baselines/
training.py, "Resuming"). A rerun resumes the killed candidate where its last checkpoint was; a candidate that
had finished resumes straight to its end (its best weights, its history) and is scored again, so a resumed
search saves the same model and the same search.json (timings aside) as an uninterrupted one. The candidates'
folders are removed before the model folder is finished: it holds no checkpoint. A resumed candidate's
`train_wall_s` (and `search_wall_s`) adds the loop seconds its checkpoint recorded to this process's (the work
after a killed run's last checkpoint is not counted); the summary's `resumed` maps each resumed candidate to the
epoch its checkpoint had reached. A model whose `fit` takes no `work` (closed form, or a minimal one) starts over.
"""
from __future__ import annotations

import itertools
import logging
import shutil
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
    from textcode.baselines.training import checkpoint_counters

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
    split = leave_one_out(domain, selection=cfg["selection"])
    search_start = time.perf_counter()
    best, tried, resumed, earlier_s = None, [], {}, 0.0
    # entered before fitting: takes the output's lock and keeps (or starts) <out>.partial, where the candidates'
    # checkpoints live; an error leaves it for the rerun to resume from
    with artifacts.OutputFolder(args.out, "baseline", cfg, {"prepared": prepared}, resume=True) as out:
        for i, model_cfg in enumerate(candidates):
            work = out.tmp / f"candidate{i}"
            seed_everything(cfg["seed"])  # before any model is built: every candidate starts alike
            before = checkpoint_counters(work) or {}  # the loop's counters where a killed run left this candidate
            if before:
                resumed[i] = before.get("epoch", 0)
                log.info("%s candidate %d/%d resumes from %s after epoch %d (batch %d of the next)", kind, i + 1,
                         len(candidates), work, resumed[i], before.get("batch", 0))
            earlier_s += float(before.get("wall_s", 0.0))  # a resumed fit: its earlier runs' loop seconds too
            start = time.perf_counter()
            fitted = module.fit(split, model_cfg, seed=cfg["seed"], **resumable(module.fit, work))
            wall_s = time.perf_counter() - start + float(before.get("wall_s", 0.0))
            if len(candidates) == 1:
                best = (model_cfg, fitted, wall_s)
                break
            score = validation_ndcg(module, kind, model_cfg, fitted, split)
            combo = {k: to_dict(getattr(model_cfg, k)) for k in cfg["search"]}
            tried.append({**combo, "valid_ndcg@10": score, "epochs": fitted.summary.get("epochs", 1),
                          "train_wall_s": round(wall_s, 3)})
            log.info("%s search %d/%d %s: valid NDCG@10 %.4f (%.1fs)", kind, i + 1, len(candidates), combo, score,
                     wall_s)
            if best is None or score > tried[best[3]]["valid_ndcg@10"]:  # strict: on a tie the earlier one stays
                best = (model_cfg, fitted, wall_s, i)
        model_cfg, fitted, train_wall_s = best[:3]
        model_folder.save_model(out, kind, to_dict(model_cfg), fitted.tensors, **fitted.facts)
        for name, obj in fitted.files.items():
            artifacts.write_json(out.path(name), obj)
        extra: dict[str, Any] = {}
        if tried:
            artifacts.write_json(out.path("search.json"), tried)
            extra = {"search": {k: tried[best[3]][k] for k in cfg["search"]}, "search_tried": len(tried),
                     "search_wall_s": round(time.perf_counter() - search_start + earlier_s, 3)}
        if resumed:  # candidate -> the epoch its checkpoint had reached
            extra["resumed"] = {str(i): epoch for i, epoch in resumed.items()}
        out.summary.update({"epochs": 1, **fitted.summary, **extra}, domain=domain.name, kind=kind,
                           selection=split.valid.selection, n_items=domain.n_items, train_wall_s=round(train_wall_s, 3))
        for i in range(len(candidates)):  # last: a kill before this point resumes every candidate at its end
            shutil.rmtree(out.tmp / f"candidate{i}", ignore_errors=True)
    log.info("%s: %s trained in %.1fs -> %s", domain.name, kind, train_wall_s, args.out)
    return 0


def resumable(fit, work) -> dict[str, Any]:
    """{"work": work} for a `fit` that takes a work folder (every baseline of textcode.baselines); nothing for one
    that follows the protocol's minimum, `fit(split, cfg, *, seed)` (docs/extending.md): it starts over."""
    import inspect

    params = inspect.signature(fit).parameters
    takes = "work" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return {"work": work} if takes else {}


def combinations(cfg: dict) -> list[dict[str, Any]]:
    """The `search` section's grid as baseline overrides: every combination, in the order the keys are given
    (one empty combination without a search)."""
    grid = cfg.get("search") or {}
    for key, values in grid.items():
        if key == "kind" or not isinstance(values, (list, tuple)) or not values:
            raise ConfigError(f"search.{key}: give a non-empty list of values of baseline.{key}")
    return [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]


def validation_ndcg(module, kind: str, model_cfg, fitted, split) -> float:
    """Validation NDCG@10 (in the protocol of `split.valid.selection`) of a fitted candidate, scored as `textcode evaluate` would load it."""
    import numpy as np
    import torch

    from textcode.baselines.training import resolve_device
    from textcode.eval.evaluation import evaluate

    tensors = {k: v.detach().cpu().numpy() if torch.is_tensor(v) else np.asarray(v) for k, v in fitted.tensors.items()}
    model = module.load({"kind": kind, "config": to_dict(model_cfg), **fitted.facts}, tensors,
                        resolve_device("auto"))  # where `fit` trained it
    return evaluate(model, split.valid, ks=(10,)).means()[split.valid.selection]["ndcg@10"]
