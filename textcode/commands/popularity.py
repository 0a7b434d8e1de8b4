"""Command `popularity`: the popularity baseline (training interaction counts), the report's sanity floor."""
from __future__ import annotations

import logging
import time

from textcode.baselines import popularity
from textcode.commands import common
from textcode.core import artifacts, model_folder
from textcode.data.domain import Domain
from textcode.data.split import leave_one_out

log = logging.getLogger("popularity")


def main(argv: list[str] | None = None) -> int:
    args = common.parser("popularity", ("prepared",), __doc__).parse_args(argv)
    common.setup_logging()
    cfg = common.resolved_config(args, "popularity")
    prepared = common.input_path(args, "prepared")
    domain = Domain.load(prepared)
    split = leave_one_out(domain)
    start = time.perf_counter()
    model = popularity.fit(split.train_items, split.n_items)
    train_wall_s = time.perf_counter() - start
    with artifacts.OutputFolder(args.out, "popularity", cfg, {"prepared": prepared}) as out:
        model_folder.save_model(out, popularity.KIND, {}, model.tensors(), n_items=model.n_items)
        out.summary.update(domain=domain.name, kind=popularity.KIND, n_items=model.n_items,
                           train_wall_s=round(train_wall_s, 3), epochs=1)
    log.info("%s: popularity over %d training interactions -> %s", domain.name, len(split.train_items), args.out)
    return 0

