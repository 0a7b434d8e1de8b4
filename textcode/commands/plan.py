"""Command `plan`: write Make's run plan from the YAML configs: the runs of each stage and what each reads.

Make cannot read YAML, and a run's inputs follow from its settings: a fine-tune reads the domain
artifacts its `finetune.item_embedding` kind reads (`reads` in textcode.rec.item_embedding: codes, text,
both, or none; FT_READS lists them space-separated), and
a pre-trained model when `finetune.init` is pretrained (`finetune.pretrained`: a pre-training run's folder
under $(ART)/pretrain/, or a model shipped under pretrained/, textcode.rec.pretrained);
a pre-training run reads the domains `pretrain.domains` lists. So adding a domain (configs/domains/)
or a run (configs/runs/<stage>/) needs no make edit: make remakes this file when a config changes.
Overrides given with SET are not seen here; `textcode finetune` refuses a pre-trained model of
another run than its resolved config names.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from textcode.core import artifacts
from textcode.core.settings import layers_for, resolve
from textcode.rec import pretrained

# the stages whose runs make builds (configs/runs/<stage>/<run>.yaml)
RUN_STAGES = ("pretrain", "finetune", "baseline", "train-generator")


def runs(configs: Path, stage: str) -> list[str]:
    return sorted(p.stem for p in (configs / "runs" / stage).glob("*.yaml"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="textcode plan", description=__doc__)
    p.add_argument("--configs", default="configs")
    p.add_argument("--out", required=True, help="Make fragment to write, e.g. artifacts/plan.mk")
    args = p.parse_args(argv)
    from textcode.rec.item_embedding import (
        embedding_class,  # torch: only when the configs changed
    )

    configs = Path(args.configs)
    domains = sorted(p.stem for p in (configs / "domains").glob("*.yaml"))
    lines = [f"{stage.upper().replace('-', '_')}_RUNS := {' '.join(runs(configs, stage))}\n" for stage in RUN_STAGES]
    for run in runs(configs, "pretrain"):
        settings, _ = resolve(layers_for(configs, f"pretrain.{run}", None), f"pretrain.{run}")
        lines.append(f"INPUT_DOMAINS.pretrain.{run} := {' '.join(settings.pretrain.domains)}\n")
    for domain in domains:
        for run in runs(configs, "finetune"):
            job = f"finetune.{run}"
            settings, _ = resolve(layers_for(configs, job, domain), job)
            ft = settings.finetune
            reads = embedding_class(ft.item_embedding, f"{configs}/runs/finetune/{run}.yaml finetune.item_embedding").reads
            lines.append(f"FT_READS.{domain}.{run} := {' '.join(reads)}\n")
            if ft.init == "pretrained":
                lines.append(f"FT_PRETRAINED.{domain}.{run} := {pretrained.folder(ft.pretrained, configs)}\n")
    text = "# written by `textcode plan` from the YAML configs; do not edit\n" + "".join(lines)
    artifacts.write_text(args.out, text)
    return 0
