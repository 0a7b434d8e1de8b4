"""Print what the pipeline has produced: finished stages, a report's runs x metrics table, output paths.

One line per finished stage of each `--domains` domain, the test metrics of every run of each `--report`
folder in both protocols, and the `--paths` given."""
from __future__ import annotations

import argparse
from pathlib import Path

from textcode.core import artifacts

# stage folder -> the summary fields worth a glance
FIELDS = {
    "prepared": ("users", "items", "interactions", "mean_length"),
    "text": ("items", "dim", "items_per_s", "wall_s"),
    "codes": ("train_items", "opq_train_s"),
}
METRICS = ("recall@10", "ndcg@10", "recall@50", "ndcg@50")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="textcode show", description=__doc__)
    p.add_argument("--art", default="artifacts")
    p.add_argument("--domains", nargs="+", default=[])
    p.add_argument("--report", action="append", default=[], help="a report folder (textcode report): its runs x metrics")
    p.add_argument("--paths", nargs="+", default=[], metavar="LABEL=PATH", help="outputs to point at, in this order")
    p.add_argument("--then", action="append", default=[], metavar="COMMAND", help="a command to suggest next")
    args = p.parse_args(argv)
    if args.domains:
        print(f"{'domain':<22} {'stage':<10} summary")
    for name in args.domains:
        for folder, fields in FIELDS.items():
            path = Path(args.art) / name / folder
            if not (path / artifacts.MANIFEST).exists():
                continue
            summary = artifacts.read_manifest(path)["summary"]
            parts = [f"{k}={_fmt(summary[k])}" for k in fields if k in summary]
            if folder == "codes":
                parts.append(f"distinct_codes={summary['all']['distinct_codes']}/{summary['all']['items']}")
                parts.append(f"recon_error={summary['all']['recon_error']:.4f}")
            print(f"{name:<22} {folder:<10} {' '.join(parts)}")
    for folder in args.report:
        print()
        print(runs_table(Path(folder)))
    if args.paths:
        print()
        for item in args.paths:
            label, _, path = item.partition("=")
            print(f"{label + ':':<14} {path}{'' if Path(path).exists() else '  (not made)'}")
    for command in args.then:
        print(f"{'next:':<14} {command}")
    return 0


def runs_table(folder: Path) -> str:
    """The test metrics of every run of a report, both protocols, with each run's wall time and stop reason."""
    summary = artifacts.read_json(folder / "summary.json")
    domain = artifacts.read_manifest(folder)["summary"].get("domain", folder.name)
    head = " ".join(f"{m:>9}" for m in METRICS)
    lines = [f"{domain}: test, history kept | history removed (report: {folder / 'report.md'})",
             f"{'run':<18} {head} | {head} {'wall_s':>8}  stopped"]
    for name, row in summary.items():
        kept = " ".join(f"{row['test'][m]:>9.4f}" for m in METRICS)
        removed = " ".join(f"{row['test_history_removed'][m]:>9.4f}" for m in METRICS)
        stopped = row.get("stopped") or "-"
        notes = "; ".join(row.get("notes") or [])
        lines.append(f"{name:<18} {kept} | {removed} {row['wall_s']:>8.1f}  {stopped}{'  ' + notes if notes else ''}")
    return "\n".join(lines)


def _fmt(v):
    return f"{v:.2f}" if isinstance(v, float) else v
