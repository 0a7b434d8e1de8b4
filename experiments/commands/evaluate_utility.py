"""Command `evaluate-utility`: score a recommender trained on one data set on the real users of another.

The utility of generated data: a SASRec trained (stage finetune) on generated windows, on real
windows, or on real + generated sequences, is tested on real users with the leave-one-out test
split of `--prepared` (history = everything before the last item). Unlike stage evaluate, the
training data may differ from `--prepared`; what must agree is the item table, which is checked.
Where `--prepared` holds window events (stage utility-data, event_users.npy), the intervals
resample source users with all their events; otherwise each user is its own group.
Output: metrics.json (test means per protocol, with bootstrap intervals) and per_user/ (every
event's metrics and its group), so reports can compare two models event by event.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from experiments.utility_data import EVENT_USERS, same_items
from experiments.utility_stats import GROUPS_FILE
from textcode.commands import common
from textcode.core import artifacts, model_kinds
from textcode.core.settings import section
from textcode.data.domain import Domain
from textcode.data.split import leave_one_out
from textcode.eval.bootstrap import bootstrap_ci
from textcode.eval.config import EvaluateConfig
from textcode.eval.evaluation import evaluate, per_user_arrays

log = logging.getLogger("evaluate-utility")
TRAINING_KEYS = ("epochs", "best_epoch", "stopped", "wall_s")


def main(argv: list[str] | None = None) -> int:
    args = common.parser("evaluate-utility", ("model", "prepared"), __doc__, prog="python -m experiments").parse_args(argv)
    common.setup_logging()
    cfg = common.resolved_config(args, "evaluate-utility")
    eval_cfg = section(cfg, "evaluate", EvaluateConfig)
    model_dir, prepared = common.input_path(args, "model"), common.input_path(args, "prepared")
    manifest = artifacts.read_manifest(model_dir)
    trained_on = manifest.get("inputs", {}).get("prepared", {}).get("path")
    if trained_on is None:
        raise artifacts.ArtifactError(f"{model_dir}/manifest.json: no 'prepared' input recorded")
    # how the model's training ended, so a reader can tell converged models from cut ones (None where the
    # model's stage has no such notion, e.g. popularity has no early stopping)
    training = {k: manifest.get("summary", {}).get(k) for k in TRAINING_KEYS}
    test_domain, train_domain = Domain.load(prepared), Domain.load(Path(trained_on))
    same_items(train_domain, test_domain, str(prepared))
    model = model_kinds.load_recommender(model_dir, "cpu")
    result = evaluate(model, leave_one_out(test_domain).test, eval_cfg.ks, eval_cfg.batch_size)
    groups = np.asarray(result.users)
    events = Path(prepared) / EVENT_USERS
    if events.exists():
        owners = artifacts.load_npy(events, mmap=False)
        if len(owners) != test_domain.n_users:
            raise artifacts.ArtifactError(f"{events}: {len(owners)} rows for {test_domain.n_users} users")
        groups = owners[groups]
    means = result.means()
    doc = {"trained_on": {"path": trained_on, **train_domain.counts(), "domain": train_domain.name}, "training": training,
           "tested_on": {"path": str(prepared), **test_domain.counts(), "domain": test_domain.name},
           "test": means, "n_users": len(result.users), "n_groups": len(np.unique(groups)), "n_boot": eval_cfg.n_boot,
           "ci95": {p: {m: list(bootstrap_ci(v, eval_cfg.n_boot, cfg["seed"], 0.95, groups=groups))
                        for m, v in per.items()} for p, per in result.per_user.items()}}
    with artifacts.OutputFolder(args.out, "evaluate-utility", cfg, {"model": model_dir, "prepared": prepared}) as out:
        artifacts.write_json(out.path("metrics.json"), doc)
        for rel, values in {**per_user_arrays("test", result), GROUPS_FILE: np.asarray(groups, np.int64)}.items():
            artifacts.save_npy(out.path(rel), values)
        out.summary.update(domain=test_domain.name, trained_on=train_domain.name, test=means)
    log.info("trained on %s, tested on %s: %s", train_domain.name, test_domain.name, means["history_kept"])
    return 0

