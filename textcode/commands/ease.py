"""Command `ease`: fit the EASE baseline on the training sequences, l2 picked on validation NDCG@10.

Output: a self-describing model folder (kind "ease", textcode.core.model_folder) and
`validation.json` (the l2 curve). `train_wall_s` in the summary is the whole search (one fit
and one validation pass per l2), the honest cost of the model; `final_fit_s` is one fit alone.
"""
from __future__ import annotations

import logging
import time

from textcode.baselines import ease
from textcode.baselines.config import EaseConfig
from textcode.commands import common
from textcode.core import artifacts, model_folder
from textcode.core.config import to_dict
from textcode.core.settings import section
from textcode.data.domain import Domain
from textcode.data.split import leave_one_out

log = logging.getLogger("ease")


def main(argv: list[str] | None = None) -> int:
    args = common.parser("ease", ("prepared",), __doc__).parse_args(argv)
    common.setup_logging()
    cfg = common.resolved_config(args, "ease")
    ease_cfg = section(cfg, "ease", EaseConfig)
    prepared = common.input_path(args, "prepared")
    domain = Domain.load(prepared)
    split = leave_one_out(domain)
    start = time.perf_counter()
    model, curve = ease.select_and_fit(split, ease_cfg)
    train_wall_s = time.perf_counter() - start
    grid = sorted(c["l2"] for c in curve)
    at_edge = len(grid) > 1 and model.l2 in (grid[0], grid[-1])
    if at_edge:
        log.warning("best l2=%g is at the edge of the grid %s: widen ease.l2_grid", model.l2, grid)
    best = next(c for c in curve if c["l2"] == model.l2)
    with artifacts.OutputFolder(args.out, "ease", cfg, {"prepared": prepared}) as out:
        model_folder.save_model(out, ease.KIND, to_dict(ease_cfg), model.tensors(), n_items=model.n_items, l2=model.l2)
        artifacts.write_json(out.path("validation.json"), curve)
        out.summary.update(domain=domain.name, kind=ease.KIND, n_items=model.n_items, train_wall_s=round(train_wall_s, 3),
                           epochs=1, l2=model.l2, l2_at_grid_edge=at_edge, final_fit_s=best["fit_s"],
                           valid_ndcg10=best["valid_ndcg@10"], valid_curve=curve)
    log.info("%s: EASE l2=%g, valid NDCG@10 %.4f, %.1fs -> %s", domain.name, model.l2, best["valid_ndcg@10"],
             train_wall_s, args.out)
    return 0

