"""Command `baseline`: train a registered baseline (EASE, popularity, ...) on a domain's training sequences.

The run's `baseline.kind` names the model (textcode.core.model_kinds); its other `baseline.*` keys are
that model's `Config`, checked strictly. Output: a self-describing model folder (textcode.core.model_folder)
that `textcode evaluate` scores, plus any extra JSON the model writes (EASE: validation.json, its l2 curve).
`train_wall_s` is the whole of `fit`, selection on validation included.
"""
from __future__ import annotations

import logging
import time

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
    model_cfg = build(module.Config, settings, prefix="baseline.")
    seed_everything(cfg["seed"])  # before any model is built
    prepared = common.input_path(args, "prepared")
    domain = Domain.load(prepared)
    split = leave_one_out(domain)
    start = time.perf_counter()
    fitted = module.fit(split, model_cfg, seed=cfg["seed"])
    train_wall_s = time.perf_counter() - start
    with artifacts.OutputFolder(args.out, "baseline", cfg, {"prepared": prepared}) as out:
        model_folder.save_model(out, kind, to_dict(model_cfg), fitted.tensors, **fitted.facts)
        for name, obj in fitted.files.items():
            artifacts.write_json(out.path(name), obj)
        out.summary.update({"epochs": 1, **fitted.summary}, domain=domain.name, kind=kind, n_items=domain.n_items,
                           train_wall_s=round(train_wall_s, 3))
    log.info("%s: %s trained in %.1fs -> %s", domain.name, kind, train_wall_s, args.out)
    return 0
