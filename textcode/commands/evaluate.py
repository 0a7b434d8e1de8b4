"""Command `evaluate`: full-ranking metrics of one model folder on the valid and test splits.

Outputs: `metrics.json` (means per split and protocol, 95% bootstrap intervals, timings) and
`per_user/<split>_<protocol>_<metric>.npy` (one value per user, rows in the order of
`per_user/<split>_users.npy`), which the report's paired tests need.
"""
from __future__ import annotations

import logging

from textcode.commands import common
from textcode.core import artifacts, model_folder, model_kinds
from textcode.core.settings import section
from textcode.data.domain import Domain
from textcode.data.split import leave_one_out
from textcode.eval.config import EvaluateConfig
from textcode.eval.evaluation import (
    METRICS_FILE,
    SPLITS,
    evaluate,
    metrics_document,
    per_user_arrays,
)
from textcode.rec.encoders import pick_device

log = logging.getLogger("evaluate")


def main(argv: list[str] | None = None) -> int:
    args = common.parser("evaluate", ("model", "prepared"), __doc__).parse_args(argv)
    common.setup_logging()
    cfg = common.resolved_config(args, "evaluate")
    eval_cfg = section(cfg, "evaluate", EvaluateConfig)
    model_dir, prepared = common.input_path(args, "model"), common.input_path(args, "prepared")
    _check_same_data(model_dir, prepared)
    device = pick_device(eval_cfg.device)
    model = model_kinds.load_recommender(model_dir, device)
    domain = Domain.load(prepared)
    if model.n_items != domain.n_items:
        raise artifacts.ArtifactError(f"{model_dir}: the model scores {model.n_items} items, {prepared} has {domain.n_items}")
    split = leave_one_out(domain)
    results = {}
    for name in SPLITS:
        results[name] = evaluate(model, getattr(split, name), eval_cfg.ks, eval_cfg.batch_size, eval_cfg.max_positions)
        log.info("%s %s: %s (%.1fs)", model_dir, name, _fmt(results[name].means()["history_kept"]), results[name].wall_s)
    doc = metrics_document(results, eval_cfg.n_boot, cfg["seed"])
    with artifacts.OutputFolder(args.out, "evaluate", cfg, {"model": model_dir, "prepared": prepared}) as out:
        for name, result in results.items():
            for rel, values in per_user_arrays(name, result).items():
                artifacts.save_npy(out.path(rel), values)
        artifacts.write_json(out.path(METRICS_FILE), doc)
        out.summary.update(domain=domain.name, kind=model_folder.load_meta(model_dir)["kind"], device=device,
                           n_users=doc["n_users"], test=doc["test"], eval_s=doc["eval_s"])
    log.info("test history_kept %s; history_removed %s -> %s", _fmt(doc["test"]["history_kept"]),
             _fmt(doc["test"]["history_removed"]), args.out)
    return 0


def _check_same_data(model_dir, prepared) -> None:
    """A model trained on other data (another domain, or an older prepare) must not be scored here.
    Checked when the model's manifest declares its `prepared` input, as every stage of this project does."""
    declared = artifacts.read_manifest(model_dir).get("inputs", {}).get("prepared")
    if declared is None:
        raise artifacts.ArtifactError(f"{model_dir}/manifest.json: no 'prepared' input recorded; cannot check that the "
                                      f"model was trained on {prepared}")
    current = artifacts.sha256_file(prepared / artifacts.MANIFEST)
    if declared.get("manifest_sha256") != current:
        raise artifacts.ArtifactError(f"{model_dir}: trained on {declared.get('path')} (manifest sha256 "
                                      f"{declared.get('manifest_sha256')}), which is not {prepared} (sha256 {current})")


def _fmt(means: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4f}" for k, v in means.items())

