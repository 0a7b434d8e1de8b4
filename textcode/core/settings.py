"""The schema of all settings, and which sections each stage reads.

`resolve()` merges the YAML layers (base < stage < run < domain < overrides), validates the whole
merged tree against `Settings` (so a typo anywhere is caught, wherever it lives), and returns
only the sections the stage reads: editing one stage's settings never invalidates another
stage's outputs.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from textcode.core.config import (
    ConfigError,
    Layer,
    build,
    load_layer,
    merge_layers,
    to_dict,
)
from textcode.data.config import SourceConfig, WindowConfig, rebase_table_paths
from textcode.eval.config import EvaluateConfig, ReportConfig
from textcode.gen.config import (
    GenerateConfig,
    GeneratorSettings,
    GenEvalConfig,
    PriorSettings,
)
from textcode.rec.config import (
    CodesConfig,
    EncodeConfig,
    FinetuneConfig,
    PretrainConfig,
    SASRecConfig,
)
from textcode.training.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class Settings:
    data_root: str = "../shared/data"  # where `{data_root}` in source paths points
    seed: int = 0
    source: SourceConfig = SourceConfig()
    encode: EncodeConfig = EncodeConfig()
    codes: CodesConfig = CodesConfig()
    model: SASRecConfig = SASRecConfig()
    train: TrainConfig = TrainConfig()
    pretrain: PretrainConfig = PretrainConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    # a baseline run: `kind` (textcode.core.model_kinds) and that model's Config, checked by `textcode baseline`
    baseline: dict[str, Any] = dataclasses.field(default_factory=dict)
    evaluate: EvaluateConfig = EvaluateConfig()
    report: ReportConfig = ReportConfig()
    windows: WindowConfig = WindowConfig()  # sequence generation (RSVQ-AE family): windows and held-out split
    generator: GeneratorSettings = GeneratorSettings()
    prior: PriorSettings = PriorSettings()
    generate: GenerateConfig = GenerateConfig()
    gen_eval: GenEvalConfig = GenEvalConfig()


# stage -> the top-level sections it reads (its resolved config holds only these)
STAGES: dict[str, tuple[str, ...]] = {
    "prepare": ("data_root", "source"),
    "encode": ("encode",),
    "codes": ("seed", "codes"),
    "pretrain": ("seed", "codes", "model", "train", "pretrain"),
    "finetune": ("seed", "model", "train", "finetune"),
    "export": (),
    "baseline": ("baseline",),
    "evaluate": ("seed", "evaluate"),
    "report": ("seed", "report"),
    "train-generator": ("seed", "windows", "generator"),
    "train-prior": ("seed", "prior"),  # windows: those of the generator it reads
    "generate": ("seed", "generate"),
    "evaluate-generation": ("seed", "gen_eval"),
    "evaluate-utility": ("seed", "evaluate"),  # a recommender trained on one data set, tested on real users
}


def split_job(job: str) -> tuple[str, str | None]:
    """"finetune.vqrec_scratch" -> ("finetune", "vqrec_scratch"); "codes" -> ("codes", None)."""
    stage, _, run = job.partition(".")
    return stage, run or None


def layers_for(config_dir: str | Path, job: str, domain: str | None) -> list[Layer]:
    """The YAML layers of a job (a stage, optionally `.run`) and domain, in merge order:
    base < stages/<stage>.yaml < runs/<stage>/<run>.yaml < domains/<domain>.yaml.

    A table source's relative file paths (`source.interactions`, `source.items`) are made relative to
    the folder of the YAML file that sets them (`rebase_table_paths`); command-line overrides stay
    relative to the working directory."""
    config_dir = Path(config_dir)
    stage, run = split_job(job)
    layers = [_load(config_dir / "base.yaml")]
    stage_file = config_dir / "stages" / f"{stage}.yaml"
    if stage_file.exists():
        layers.append(_load(stage_file))
    if run:
        run_file = config_dir / "runs" / stage / f"{run}.yaml"
        if not run_file.exists():
            raise ConfigError(f"{run_file}: no such run (runs of {stage} are {config_dir}/runs/{stage}/*.yaml)")
        layers.append(_load(run_file))
    if domain:
        domain_file = config_dir / "domains" / f"{domain}.yaml"
        if not domain_file.exists():
            raise ConfigError(f"{domain_file}: no such domain config (domains are configs/domains/*.yaml)")
        layers.append(_load(domain_file))
    return layers


def _load(path: Path) -> Layer:
    layer = load_layer(path)
    return Layer(layer.name, rebase_table_paths(layer.data, path.parent))


def resolve(layers: list[Layer], job: str) -> tuple[Settings, dict[str, Any]]:
    """(validated settings, the plain dict of the sections the job's stage reads)."""
    stage, _ = split_job(job)
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r} (stages: {', '.join(STAGES)})")
    merged, origins = merge_layers(layers)
    settings = build(Settings, merged, origins)
    plain = to_dict(settings)
    return settings, {k: plain[k] for k in STAGES[stage]}


def section(resolved: dict[str, Any], name: str, cls: type):
    """Rebuild one section's dataclass from a resolved config file's dict, strictly."""
    if name not in resolved:
        raise ConfigError(f"resolved config has no section {name!r}")
    return build(cls, resolved[name], prefix=f"{name}.")
