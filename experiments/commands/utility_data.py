"""Command `utility-data`: training and test data for the utility experiments, over the source's items.

--kind real-train  N random training windows of a generator's split (at least 3 items: leave-one-out)
--kind samples     the generated windows of --samples with at least 3 items
--kind test-windows  one test event per held-out test window of the generator: its user's sequence up to
                     the window's last item (experiments.utility_data.window_events), plus event_users.npy
--kind valid-windows the same for its validation users (for choosing generation settings)
--kind augmented   --prepared's users followed by the generated windows of --samples
Each output is a `prepared`-style folder (Domain.load), so stage finetune trains on it. The window
kinds also write event_users.npy (the source user of each event), which stage evaluate-utility uses
to resample users, not events, for its intervals.
"""
from __future__ import annotations

import argparse
import logging

from experiments.utility_data import (
    EVENT_USERS,
    augmented,
    filtered,
    window_events,
    windows_domain,
)
from textcode.commands import common
from textcode.core import artifacts
from textcode.core.config import build
from textcode.data.config import WindowConfig
from textcode.data.domain import Domain
from textcode.data.windows import split_windows

log = logging.getLogger("utility-data")
MIN_LENGTH = 3  # leave-one-out keeps two items for validation and test


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments utility-data", description=__doc__)
    p.add_argument("--kind", required=True, choices=["real-train", "samples", "test-windows", "valid-windows", "augmented"])
    p.add_argument("--prepared", required=True, help="the source domain")
    p.add_argument("--generator", help="generator folder whose split defines real-train and the test/valid windows")
    p.add_argument("--samples", help="generate output")
    p.add_argument("--n", type=int, default=0, help="real-train: how many windows (0 = all)")
    p.add_argument("--like-test", action="store_true",
                   help="real-train: as many windows as the held-out test windows (what generate makes by default)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    common.setup_logging()
    prepared = common.input_path(args, "prepared")
    source = Domain.load(prepared)
    inputs = {"prepared": prepared}
    config = {"kind": args.kind, "n": args.n, "like_test": args.like_test, "min_length": MIN_LENGTH}
    event_users = None
    if args.kind in ("real-train", "test-windows", "valid-windows"):
        generator = common.input_path(args, "generator", f"for --kind {args.kind}")
        inputs["generator"] = generator
        gen_cfg = artifacts.read_manifest(generator)["config"]
        split = split_windows(source, build(WindowConfig, gen_cfg["windows"], prefix="windows."), gen_cfg["seed"])
        if args.kind == "real-train":
            n = len(split.test) if args.like_test else args.n
            domain = windows_domain(source, split.train, f"{source.name}-real-windows", n, MIN_LENGTH, gen_cfg["seed"])
        else:
            part = args.kind.split("-")[0]
            domain, event_users = window_events(source, getattr(split, part), f"{source.name}-{part}-windows", MIN_LENGTH)
    else:
        samples = common.input_path(args, "samples", f"for --kind {args.kind}")
        inputs["samples"] = samples
        synthetic = Domain.load(samples)
        if args.kind == "samples":
            domain = filtered(synthetic, MIN_LENGTH, synthetic.name)
        else:
            domain = augmented(source, synthetic, f"{source.name}-augmented", MIN_LENGTH)
    with artifacts.OutputFolder(args.out, "utility-data", config, inputs) as out:
        domain.save(out)
        if event_users is not None:
            artifacts.save_npy(out.path(EVENT_USERS), event_users)
            out.summary["source_users"] = int(len(set(event_users.tolist())))
        out.summary.update(domain=domain.name, **domain.counts(), kind=args.kind)
    log.info("%s: %s -> %s", domain.name, domain.counts(), args.out)
    return 0

