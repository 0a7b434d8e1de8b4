"""Comparison of evaluated runs: markdown tables, paired significance, a bar chart, headline JSON.

A run is an eval folder (stage `evaluate`); its model folder is found through the eval
manifest's inputs, and must still be the one that was evaluated. Runs are compared only when
they were evaluated on the same prepared data and the same users.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import yaml

from textcode.core import artifacts
from textcode.eval.evaluation import METRICS_FILE, per_user_file, users_file

HEADLINE = ("recall@10", "ndcg@10", "recall@50", "ndcg@50", "mrr")
LABELS = {"recall@10": "R@10", "ndcg@10": "N@10", "recall@50": "R@50", "ndcg@50": "N@50", "mrr": "MRR"}
# a protocol's key in summary.json and the results files, beside "test" (history kept)
_KEY = {"history_kept": "test", "history_removed": "test_history_removed"}
PROTOCOL_TITLES = {
    "history_kept": "history kept (the published VQ-Rec protocol: history items stay rankable)",
    "history_removed": "history removed (the user's earlier items are excluded, except a repeated target)",
}

def published_rows(domain: str, path: str | Path) -> list[tuple[str, dict[str, float]]]:
    """(label, metrics) of the published VQ-Rec results for `domain` (section `vqrec` of a data file such as
    configs/published.yaml; only the canonical Scientific split is the paper's data); [] for none."""
    path = Path(path)
    if not path.exists():
        raise artifacts.ArtifactError(f"{path}: the published reference figures are missing")
    rows = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("vqrec", {}).get(domain, [])
    return [(row["label"], {k: float(v) for k, v in row["metrics"].items()}) for row in rows]


@dataclasses.dataclass(frozen=True)
class Run:
    name: str
    eval_dir: Path
    model_dir: Path
    domain: str
    prepared_sha256: str
    metrics: dict[str, Any]  # metrics.json
    model_summary: dict[str, Any]  # the model manifest's summary
    peak_rss_mb: float | None = None  # of the process that trained the model (None: made before it was recorded)
    cpu: str | None = None  # the CPU that trained it (its manifest's environment)
    pretrained: bool = False  # fine-tuned from a pre-trained model (finetune.init: pretrained): a transfer row

    def per_user(self, split: str, protocol: str, metric: str) -> np.ndarray:
        return artifacts.load_npy(self.eval_dir / per_user_file(split, protocol, metric), mmap=False)

    def users(self, split: str) -> np.ndarray:
        return artifacts.load_npy(self.eval_dir / users_file(split), mmap=False)

    @property
    def train_wall_s(self) -> float:
        return self.model_summary["train_wall_s"]

    @property
    def epochs(self) -> int:
        return self.model_summary["epochs"]

    @property
    def stopped(self) -> str | None:
        """What ended training (max_epochs, early_stopping, time_budget); None for a model fitted in one pass."""
        return self.model_summary.get("stopped")

    @property
    def selection(self) -> str:
        """The protocol whose validation NDCG@10 selected the model (the top-level setting `selection`)."""
        return self.model_summary.get("selection", "history_kept")  # the only protocol before the setting existed

    @property
    def notes(self) -> list[str]:
        """What the model's stage flagged for the reader (e.g. EASE's l2 at the edge of its search)."""
        return list(self.model_summary.get("notes", []))


def _require(doc: Mapping[str, Any], keys: Sequence[str], where: Path) -> Any:
    node: Any = doc
    for i, key in enumerate(keys):
        if not isinstance(node, Mapping) or key not in node:
            raise artifacts.ArtifactError(f"{where}: missing key '{'.'.join(keys[:i + 1])}'")
        node = node[key]
    return node


def load_run(name: str, eval_dir: str | Path) -> Run:
    """Read one eval folder and its model's manifest, checking everything the report will use."""
    eval_dir = Path(eval_dir)
    manifest = artifacts.read_manifest(eval_dir)
    where = eval_dir / artifacts.MANIFEST
    if manifest.get("stage") != "evaluate":
        raise artifacts.ArtifactError(f"{where}: written by stage {manifest.get('stage')!r}, not 'evaluate'")
    model_dir = Path(_require(manifest, ("inputs", "model", "path"), where))
    recorded = _require(manifest, ("inputs", "model", "manifest_sha256"), where)
    model_manifest = artifacts.read_manifest(model_dir)
    if artifacts.sha256_file(model_dir / artifacts.MANIFEST) != recorded:
        raise artifacts.ArtifactError(f"{eval_dir}: the model folder {model_dir} changed after it was evaluated; "
                                      "evaluate it again")
    model_where = model_dir / artifacts.MANIFEST
    for key in ("train_wall_s", "epochs"):
        _require(model_manifest, ("summary", key), model_where)
    metrics_path = eval_dir / METRICS_FILE
    doc = artifacts.read_json(metrics_path)
    for key in ("n_users", "n_items", "n_boot", "eval_s"):
        _require(doc, (key,), metrics_path)
    for split in ("valid", "test"):
        for protocol in PROTOCOL_TITLES:
            _require(doc, ("tied_targets", split, protocol), metrics_path)
            for metric in HEADLINE:
                _require(doc, (split, protocol, metric), metrics_path)
                _require(doc, ("ci95", split, protocol, metric), metrics_path)
    return Run(name, eval_dir, model_dir, _require(manifest, ("config", "domain"), where),
               _require(manifest, ("inputs", "prepared", "manifest_sha256"), where), doc, model_manifest["summary"],
               model_manifest.get("peak_rss_mb"), model_manifest.get("environment", {}).get("machine", {}).get("cpu"),
               model_manifest.get("config", {}).get("finetune", {}).get("init") == "pretrained")


def check_comparable(runs: Sequence[Run]) -> None:
    """Paired comparisons need the same users in the same order, on the same prepared data."""
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"run names must be unique, got {names}")
    first = runs[0]
    for run in runs[1:]:
        if run.prepared_sha256 != first.prepared_sha256:
            raise artifacts.ArtifactError(f"{run.eval_dir} and {first.eval_dir} were evaluated on different prepared data")
        for split in ("valid", "test"):
            if not np.array_equal(run.users(split), first.users(split)):
                raise artifacts.ArtifactError(f"{run.eval_dir} and {first.eval_dir} hold different {split} users")


def significance(runs: Sequence[Run], reference: str, n_boot: int, seed: int) -> dict[str, dict[str, dict[str, Any]]]:
    """protocol -> run -> metric -> PairedComparison of run minus reference on test (every run but the reference)."""
    from textcode.eval.bootstrap import paired_bootstrap

    by_name = {r.name: r for r in runs}
    if reference not in by_name:
        raise ValueError(f"reference run {reference!r} is not among the runs ({', '.join(by_name)})")
    ref = by_name[reference]
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for protocol in PROTOCOL_TITLES:
        out[protocol] = {}
        for run in runs:
            if run.name == reference:
                continue
            out[protocol][run.name] = {m: paired_bootstrap(run.per_user("test", protocol, m), ref.per_user("test", protocol, m),
                                                           n_boot, seed) for m in HEADLINE}
    return out


def headline(runs: Sequence[Run]) -> dict[str, Any]:
    """The results JSON: run -> valid/test means and test 95% CIs (history_kept), cost, history_removed test; and
    "best_transfer": the run fine-tuned from a pre-trained model with the best validation NDCG@10 (history kept),
    chosen on validation only (absent when no run was pre-trained)."""
    out: dict[str, Any] = {}
    for run in runs:
        doc = run.metrics
        out[run.name] = {
            "valid": {m: doc["valid"]["history_kept"][m] for m in HEADLINE},
            "test": {m: doc["test"]["history_kept"][m] for m in HEADLINE},
            "ci95": {m: list(doc["ci95"]["test"]["history_kept"][m]) for m in HEADLINE},
            "finetune_wall_s": run.train_wall_s,
            "epochs": run.epochs,
            "test_history_removed": {m: doc["test"]["history_removed"][m] for m in HEADLINE},
        }
    transfer = [run for run in runs if run.pretrained]
    if transfer:  # max keeps the first of equal ones
        out["best_transfer"] = max(transfer, key=lambda r: r.metrics["valid"]["history_kept"]["ndcg@10"]).name
    return out


def run_summary(runs: Sequence[Run], sig: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
                reference: str | None = None) -> dict[str, Any]:
    """summary.json of a report: run -> test metrics in both protocols, with 95% intervals, and the run's cost
    (`wall_s`: training, selection included, plus evaluation), what stopped it and what its stage flagged; with
    `sig` (significance()), each run but `reference` also gets `paired`: the run minus the reference per protocol
    and metric (mean difference, its 95% interval, two-sided paired-bootstrap p)."""
    out = {}
    for run in runs:
        doc = run.metrics
        paired = {}
        if sig is not None and run.name != reference:
            paired = {"paired": {"reference": reference, **{
                _KEY[p]: {m: {"diff": c.diff, "ci95": list(c.ci), "p": c.p_value} for m, c in sig[p][run.name].items()}
                for p in PROTOCOL_TITLES}}}
        out[run.name] = {
            "test": {m: doc["test"]["history_kept"][m] for m in HEADLINE},
            "test_history_removed": {m: doc["test"]["history_removed"][m] for m in HEADLINE},
            "ci95": {p: {m: list(doc["ci95"]["test"][p][m]) for m in HEADLINE} for p in PROTOCOL_TITLES},
            "selection": run.selection,
            "valid_ndcg@10": doc["valid"][run.selection]["ndcg@10"],  # what selected it
            "wall_s": round(run.train_wall_s + sum(doc["eval_s"].values()), 3),
            "train_wall_s": run.train_wall_s,
            "peak_rss_mb": run.peak_rss_mb,
            "cpu": run.cpu,
            "epochs": run.epochs,
            "stopped": run.stopped,
            "notes": run.notes,
            **paired,
        }
    return out


# ----------------------------------------------------------------------------- markdown

def markdown(runs: Sequence[Run], sig: Mapping[str, Mapping[str, Mapping[str, Any]]], reference: str, n_boot: int,
             published: Sequence[tuple[str, Mapping[str, float]]] = ()) -> str:
    """The report; `published` rows (label, metrics) are shown under the history-kept table, marked as not run here."""
    domain = runs[0].domain or "(unnamed domain)"
    doc0 = runs[0].metrics
    lines = [
        f"# Evaluation report: {domain}",
        "",
        f"Leave-one-out by time, full ranking over all {doc0['n_items']:,} items, {doc0['n_users']:,} users; "
        "one target per user, so Recall@K is the hit rate. Ties are broken uniformly at random in expectation "
        "(exact expected metrics); *tied targets* is the share of users whose target shares its score with another "
        f"item. Brackets: 95% percentile bootstrap interval over users ({doc0['n_boot']} resamples). Train wall "
        "time: the model manifest's `train_wall_s` (for EASE the whole l2 search); times taken on different machines "
        "or under different load do not compare. *Stopped*: what ended training (`max_epochs`, `early_stopping`, or "
        "`time_budget`: the wall-clock safety net cut it, so that run's numbers depend on machine speed and load); "
        "– for a model fitted in one pass. *Notes*: what the model's stage flagged (e.g. a hyper-parameter chosen at "
        "the edge of its search). *Selected on*: the protocol whose validation NDCG@10 chose the epoch and settings.",
        "",
        "| run | selected on | stopped | notes | model folder | eval folder |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {r.name} | {r.selection.replace('_', ' ')} | {_stopped_cell(r.stopped)} | {'; '.join(r.notes) or '–'} "
              f"| `{r.model_dir}` | `{r.eval_dir}` |" for r in runs]
    for protocol, title in PROTOCOL_TITLES.items():
        lines += ["", f"## Test, {title}", ""]
        header = [LABELS[m] for m in HEADLINE] + ["valid N@10", "train wall (s)", "epochs", "tied targets"]
        lines += ["| run | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|"]
        for r in runs:
            doc = r.metrics
            cells = [f"{doc['test'][protocol][m]:.4f} [{doc['ci95']['test'][protocol][m][0]:.4f}, "
                     f"{doc['ci95']['test'][protocol][m][1]:.4f}]" for m in HEADLINE]
            cells += [f"{doc['valid'][protocol]['ndcg@10']:.4f}", f"{r.train_wall_s:.3g}", str(r.epochs),
                      f"{doc['tied_targets']['test'][protocol]:.1%}"]
            lines.append(f"| {r.name} | " + " | ".join(cells) + " |")
        if protocol == "history_kept":
            for label, numbers in published:
                cells = [f"{numbers[m]:.4f}" if m in numbers else "–" for m in HEADLINE] + ["–"] * 4
                lines.append(f"| *{label}; not run here* | " + " | ".join(cells) + " |")
    lines += ["", f"## Significance against `{reference}` (test, paired bootstrap over users, {n_boot} resamples)", "",
              "Each cell: mean difference (run − reference), its 95% interval, and the two-sided p-value "
              f"(the smallest attainable is {1 / (n_boot + 1):.4f})."]
    for protocol, per_run in sig.items():
        lines += ["", f"### {PROTOCOL_TITLES[protocol]}", ""]
        lines += ["| run | " + " | ".join(f"Δ{LABELS[m]}" for m in HEADLINE) + " |", "|---" * (len(HEADLINE) + 1) + "|"]
        for name, comps in per_run.items():
            cells = [f"{c.diff:+.4f} [{c.ci[0]:+.4f}, {c.ci[1]:+.4f}] p={c.p_value:.4f}" for c in
                     (comps[m] for m in HEADLINE)]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _stopped_cell(stopped: str | None) -> str:
    """A cut by the time budget is bold: it is the one way a run's numbers depend on the machine's speed and load."""
    if not stopped:
        return "–"
    return f"**{stopped}**" if stopped == "time_budget" else stopped


# ----------------------------------------------------------------------------- chart

def bar_chart(runs: Sequence[Run], path: str | Path, metrics: Sequence[str] = ("recall@10", "ndcg@10", "recall@50", "ndcg@50")) -> None:
    """Grouped bars of test metrics per run with 95% CI error bars, one panel per protocol."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PROTOCOL_TITLES), figsize=(6 * len(PROTOCOL_TITLES), 4), sharey=True)
    width = 0.8 / len(runs)
    x = np.arange(len(metrics))
    for ax, protocol in zip(axes, PROTOCOL_TITLES):
        for i, run in enumerate(runs):
            means = np.array([run.metrics["test"][protocol][m] for m in metrics])
            ci = np.array([run.metrics["ci95"]["test"][protocol][m] for m in metrics])  # (M, 2)
            err = np.stack([means - ci[:, 0], ci[:, 1] - means])
            ax.bar(x + (i - (len(runs) - 1) / 2) * width, means, width, yerr=err, capsize=3, label=run.name)
        ax.set_xticks(x, [LABELS[m] for m in metrics])
        ax.set_title(f"test, {protocol.replace('_', ' ')}")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize="small")
    fig.suptitle(runs[0].domain)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
