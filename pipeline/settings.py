"""The schema of all settings, and which sections each stage reads.

`resolve()` merges the YAML layers (base < stage < domain < overrides), validates the whole
merged tree against `Settings` (so a typo anywhere is caught, wherever it lives), and returns
only the sections the stage reads: editing one stage's settings never invalidates another
stage's outputs.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pipeline.codes import CodesConfig
from pipeline.config import ConfigError, Layer, build, load_layer, merge_layers, to_dict
from pipeline.data.sources import SourceConfig
from pipeline.evaluation import EvaluateConfig
from pipeline.genconfig import GenerateConfig, GenEvalConfig, GeneratorSettings, PriorSettings, WindowConfig
from pipeline.models.ease import EaseConfig
from pipeline.report import ReportConfig
from pipeline.text import EncodeConfig


@dataclasses.dataclass(frozen=True)
class Settings:
    data_root: str = "../shared/data"  # where `{data_root}` in source paths points
    seed: int = 0
    source: SourceConfig = SourceConfig()
    encode: EncodeConfig = EncodeConfig()
    codes: CodesConfig = CodesConfig()
    ease: EaseConfig = EaseConfig()
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
    "ease": ("ease",),
    "popularity": (),
    "evaluate": ("seed", "evaluate"),
    "report": ("seed", "report"),
    "train-generator": ("seed", "windows", "generator"),
    "train-prior": ("seed", "prior"),  # windows: those of the generator it reads
    "generate": ("seed", "generate"),
    "evaluate-generation": ("seed", "gen_eval"),
    "evaluate-utility": ("seed", "evaluate"),  # a recommender trained on one data set, tested on real users
}


def layers_for(config_dir: str | Path, stage: str, domain: str | None) -> list[Layer]:
    """The YAML layers of a stage (and domain), in merge order; missing optional files are skipped."""
    config_dir = Path(config_dir)
    layers = [load_layer(config_dir / "base.yaml")]
    stage_file = config_dir / "stages" / f"{stage}.yaml"
    if stage_file.exists():
        layers.append(load_layer(stage_file))
    if domain:
        domain_file = config_dir / "domains" / f"{domain}.yaml"
        if not domain_file.exists():
            raise ConfigError(f"{domain_file}: no such domain config (domains are configs/domains/*.yaml)")
        layers.append(load_layer(domain_file))
    return layers


def resolve(layers: list[Layer], stage: str) -> tuple[Settings, dict[str, Any]]:
    """(validated settings, the plain dict of the sections `stage` reads)."""
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
