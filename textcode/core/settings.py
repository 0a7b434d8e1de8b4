"""The schema of all settings, and which sections each stage reads.

`resolve()` merges the YAML layers (base < stage < domain < run < overrides), validates the whole
merged tree against `Settings` (so a typo anywhere is caught, wherever it lives), and returns
only the sections the stage reads: editing one stage's settings never invalidates another
stage's outputs.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal, Mapping

from textcode.core.config import (
    ConfigError,
    Layer,
    build,
    load_layer,
    merge_layers,
    parse_overrides,
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
    # the ranking protocol whose validation NDCG@10 selects models (epochs, searches, EASE's l2): history_kept
    # (the published VQ-Rec protocol; Amazon users buy again) or history_removed (a domain whose users never
    # repeat an item, such as MovieLens ratings, where a non-sequential model's kept ranking is its own history)
    selection: Literal["history_kept", "history_removed"] = "history_kept"
    source: SourceConfig = SourceConfig()
    encode: EncodeConfig = EncodeConfig()
    codes: CodesConfig = CodesConfig()
    model: SASRecConfig = SASRecConfig()
    train: TrainConfig = TrainConfig()
    pretrain: PretrainConfig = PretrainConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    # a baseline run: `kind` (textcode.core.model_kinds) and that model's Config, checked by `textcode baseline`
    baseline: dict[str, Any] = dataclasses.field(default_factory=dict)
    # a baseline's validation search: baseline key -> the values to try; every combination is fitted and the best
    # on validation NDCG@10 kept (textcode/commands/baseline.py)
    search: dict[str, list[Any]] = dataclasses.field(default_factory=dict)
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
    "finetune": ("seed", "selection", "model", "train", "finetune"),
    "export": (),
    "baseline": ("seed", "selection", "baseline", "search"),
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


def overrides_for(items: list[str], job: str, *, require_scope: bool) -> Layer:
    """The layer of command-line overrides that applies to `job` ("finetune.vqrec_scratch").

    An override is `[SCOPE:]key=value`; SCOPE is a stage (`finetune`) or one run (`finetune.vqrec_scratch`)
    and limits it to those jobs. With `require_scope` (make's SET, which reaches every config resolved in
    one make call) an unscoped key is accepted only when its section is read by a single stage: an
    unscoped `train.epochs=3` meant for pre-training would otherwise also rewrite every fine-tune config.
    A single stage's command line (`textcode finetune --set ...`) is its own scope."""
    stage, _ = split_job(job)
    kept = []
    for item in items:
        scope, colon, rest = item.partition(":")
        if colon and "=" not in scope:
            scope_stage, _ = split_job(scope)
            if scope_stage not in STAGES:
                raise ConfigError(f"override {item!r}: unknown scope {scope!r} (a stage or stage.run; stages: "
                                  f"{', '.join(STAGES)})")
            if scope in (stage, job):
                kept.append(rest)
            continue
        if require_scope:
            section = item.partition("=")[0].split(".")[0]
            readers = [s for s, sections in STAGES.items() if section in sections]
            if len(readers) > 1:
                raise ConfigError(f"override {item!r}: section {section!r} is read by the stages {', '.join(readers)}; "
                                  f"say which, e.g. {readers[-1]}:{item} (one run: STAGE.RUN:{item})")
        kept.append(item)
    return parse_overrides(kept)


def layers_for(config_dir: str | Path, job: str, domain: str | None) -> list[Layer]:
    """The YAML layers of a job (a stage, optionally `.run`) and domain, in merge order:
    base < stages/<stage>.yaml < domains/<domain>.yaml < runs/<stage>/<run>.yaml < the domain's `runs.<job>`.

    A domain's `runs` section holds settings of single runs on that domain only (`runs: {baseline.cddrec:
    {baseline: {patience: 5}}}`): what a large domain needs of one model (a budget) and no other domain does.
    Its keys must name existing runs (`STAGE.RUN`), so a misspelled one is an error, not a silent no-op.

    A table source's relative file paths (`source.interactions`, `source.items`) are made relative to
    the folder of the YAML file that sets them (`rebase_table_paths`); command-line overrides stay
    relative to the working directory."""
    config_dir = Path(config_dir)
    stage, run = split_job(job)
    layers = [_load(config_dir / "base.yaml")]
    stage_file = config_dir / "stages" / f"{stage}.yaml"
    if stage_file.exists():
        layers.append(_load(stage_file))
    domain_runs: Mapping[str, Any] = {}
    if domain:
        domain_file = config_dir / "domains" / f"{domain}.yaml"
        if not domain_file.exists():
            raise ConfigError(f"{domain_file}: no such domain config (domains are configs/domains/*.yaml)")
        layer = _load(domain_file)
        domain_runs = _domain_runs(layer, config_dir)
        layers.append(Layer(layer.name, {k: v for k, v in layer.data.items() if k != "runs"}))
    if run:  # after the domain: a run is the variant it names on every domain (vqrec_no_semisynthetic's
             # pre-training wins over the pre-trained model a domain chooses for its runs)
        run_file = config_dir / "runs" / stage / f"{run}.yaml"
        if not run_file.exists():
            raise ConfigError(f"{run_file}: no such run (runs of {stage} are {config_dir}/runs/{stage}/*.yaml)")
        layers.append(_load(run_file))
    if job in domain_runs:  # last: this run on this domain
        layers.append(Layer(f"{domain_file} (runs.{job})", domain_runs[job]))
    return layers


def _domain_runs(layer: Layer, config_dir: Path) -> Mapping[str, Any]:
    """A domain layer's `runs` section, checked: STAGE.RUN -> a mapping of settings, every run existing."""
    runs = layer.data.get("runs") or {}
    if not isinstance(runs, Mapping):
        raise ConfigError(f"{layer.name}: runs must map STAGE.RUN to settings, got {type(runs).__name__}")
    for job, data in runs.items():
        stage, run = split_job(str(job))
        if stage not in STAGES or run is None or not (config_dir / "runs" / stage / f"{run}.yaml").exists():
            raise ConfigError(f"{layer.name}: runs.{job}: no such run (a key is STAGE.RUN with a file "
                              f"{config_dir}/runs/STAGE/RUN.yaml)")
        if not isinstance(data, Mapping):
            raise ConfigError(f"{layer.name}: runs.{job} must be a mapping of settings, got {type(data).__name__}")
    return runs


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
