"""The generation report: tables laid out like the RSVQ-AE paper's, beside its figures, and charts.

Input: the `metrics.json` of evaluate-generation runs, named `<domain>/L<length>/<run>`.
Output: markdown, PNGs and a headline JSON; nothing here trains or scores anything.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import yaml

from experiments.utility_stats import event_metric, paired_event_metric
from textcode.core import artifacts
from textcode.data.domain import Domain
from textcode.eval.bootstrap import share_ci

# The paper's figures (RSVQ-AE reconstruction loss and token accuracy per data set and window length)
# are data: section `rsvqae` of this file.
PUBLISHED_FILE = Path(__file__).resolve().parents[1] / "configs" / "published.yaml"


def paper_figures(path: str | Path = PUBLISHED_FILE) -> dict[tuple[str, int], dict[str, float]]:
    """(domain, window length) -> {"loss", "accuracy"} of the RSVQ-AE paper's abstract."""
    path = Path(path)
    if not path.exists():
        raise artifacts.ArtifactError(f"{path}: the published reference figures are missing")
    cells = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("rsvqae", {})
    return {(domain, int(length)): {k: float(v) for k, v in fig.items()}
            for domain, lengths in cells.items() for length, fig in lengths.items()}


RUN_LABELS = {
    "ae": "AE (plain, cannot sample)",
    "vae": "VAE",
    "vqvae": "VQ-VAE",
    "rsvq": "RSVQ-AE",
    "rsvq_noskip": "RSVQ-AE w/o skips",
    "rsvq_1cb": "RSVQ-AE w/ one codebook",
    "rsvq_noadv": "RSVQ-AE w/o adversary",
    "rsvq_cskip": "RSVQ-AE w/ continuous skips (cannot sample)",
}
DOMAIN_LABELS = {"movielens-1m": "ML-1M", "retailrocket": "Retail Rocket"}


@dataclasses.dataclass(frozen=True)
class Entry:
    domain: str
    length: int
    run: str
    metrics: dict
    prior_training: dict | None = None  # train-prior's summary (best_epoch, train_seconds, stopped) for prior runs

    @property
    def cell(self) -> tuple[str, int]:
        return self.domain, self.length


def load_entries(pairs: list[tuple[str, str | Path]]) -> list[Entry]:
    """(name, eval folder) -> entries; the name must be `<domain>/L<length>/<run>` and match the metrics."""
    entries = []
    for name, folder in pairs:
        parts = name.split("/")
        if len(parts) != 3 or not parts[1].startswith("L") or not parts[1][1:].isdigit():
            raise artifacts.ArtifactError(f"--eval {name!r}: the name must be <domain>/L<length>/<run>")
        manifest = artifacts.read_manifest(folder)
        metrics = artifacts.read_json(Path(folder) / "metrics.json")
        domain, length, run = parts[0], int(parts[1][1:]), parts[2]
        if (metrics["domain"], metrics["length"]) != (domain, length):
            raise artifacts.ArtifactError(f"{folder}/metrics.json: {metrics['domain']} L={metrics['length']}, "
                                          f"but it was named {name!r}")
        entries.append(Entry(domain, length, run, metrics, _prior_training(folder, manifest)))
    return entries


def _prior_training(folder: str | Path, manifest: dict) -> dict | None:
    """How the code prior an evaluation read was trained (its train-prior summary), checked to be that prior."""
    source = manifest["inputs"].get("prior")
    if source is None:
        return None
    prior = Path(source["path"])
    if artifacts.sha256_file(prior / artifacts.MANIFEST) != source["manifest_sha256"]:
        raise artifacts.ArtifactError(f"{folder}: its prior {prior} was retrained after the evaluation; "
                                      f"re-run evaluate-generation")
    summary = artifacts.read_manifest(prior)["summary"]
    return {k: summary[k] for k in ("best_epoch", "train_seconds", "stopped")}


def _cells(entries: list[Entry]) -> list[tuple[str, int]]:
    return sorted({e.cell for e in entries}, key=lambda c: (c[0], c[1]))


def _runs(entries: list[Entry]) -> list[str]:
    order = list(RUN_LABELS)
    return sorted({e.run for e in entries}, key=lambda r: order.index(r) if r in order else len(order))


def _get(entries: list[Entry], cell: tuple[str, int], run: str) -> Entry | None:
    return next((e for e in entries if e.cell == cell and e.run == run), None)


def _pct(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def share_text(x: float | None, ci: tuple[float, float] | None, digits: int = 2) -> str:
    """A share of train-on-real as a percentage, with its 95% interval where known."""
    return _pct(x, digits) if ci is None else f"{_pct(x, digits)} ({100 * ci[0]:.0f}-{100 * ci[1]:.0f}%)"


def _num(x: float | None, digits: int = 4) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _cell_label(cell: tuple[str, int], sep: str = " ") -> str:
    return f"{DOMAIN_LABELS.get(cell[0], cell[0])}{sep}L={cell[1]}"


def reconstruction_table(entries: list[Entry]) -> str:
    cells = _cells(entries)
    head = "| model | " + " | ".join(f"{_cell_label(c)} CE | {_cell_label(c)} acc" for c in cells) + " |"
    rows = [head, "|---|" + "---:|---:|" * len(cells)]
    for run in _runs(entries):
        vals = []
        for c in cells:
            e = _get(entries, c, run)
            rec = e.metrics["reconstruction"] if e else None
            vals += [_num(rec["ce"]) if rec else "–", _pct(rec["accuracy"]) if rec else "–"]
        rows.append(f"| {RUN_LABELS.get(run, run)} | " + " | ".join(vals) + " |")
    figures, paper = paper_figures(), []
    for c in cells:
        p = figures.get(c)
        paper += [f"({p['loss']:g})" if p else "–", _pct(p["accuracy"]) if p else "–"]
    rows.append("| RSVQ-AE, paper (abstract; its loss is not a CE) | " + " | ".join(paper) + " |")
    return "\n".join(rows)


def generation_table(entries: list[Entry]) -> str:
    cols = [("popularity JS vs test", "popularity_js", 4), ("popularity JS vs train", "popularity_js_train", 4),
            ("copied windows", "copied_windows", 3),
            ("train 4-grams", "train_4gram_fraction", 3), ("bigram prec.", "bigram_precision", 3),
            ("bigram rec.", "bigram_recall", 3), ("mean length", ("length", "mean"), 2), ("length TV", "length_tv", 3),
            ("repeat rate", "repeat_rate", 3), ("items covered", "items_covered", 0)]
    rows = ["| cell | sample | " + " | ".join(c[0] for c in cols) + " |", "|---|---|" + "---:|" * len(cols)]
    for cell in _cells(entries):
        first = True
        for run in _runs(entries):
            e = _get(entries, cell, run)
            if not e or "generated" not in e.metrics:
                continue
            if first:
                rows.append(_gen_row(_cell_label(cell), "real held-out (reference)", e.metrics["reference_real"], cols))
                first = False
            rows.append(_gen_row("", RUN_LABELS.get(run, run), e.metrics["generated"], cols))
    return "\n".join(rows)


def _gen_row(cell: str, name: str, m: dict, cols) -> str:
    vals = []
    for _, key, digits in cols:
        v = m[key[0]][key[1]] if isinstance(key, tuple) else m[key]
        vals.append(f"{v:.{digits}f}" if digits else f"{int(round(v)):,}")
    return f"| {cell} | {name} | " + " | ".join(vals) + " |"


def codebook_table(entries: list[Entry]) -> str:
    rows = ["| cell | model | " + "codebook perplexity (used codes) by level/depth |", "|---|---|---|"]
    for cell in _cells(entries):
        for run in _runs(entries):
            e = _get(entries, cell, run)
            if not e or "codebooks" not in e.metrics:
                continue
            parts = [f"{k}: {v['perplexity']:.0f} ({v['used']})" for k, v in e.metrics["codebooks"].items()]
            rows.append(f"| {_cell_label(cell)} | {RUN_LABELS.get(run, run)} | " + "; ".join(parts) + " |")
    return "\n".join(rows)


def cost_table(entries: list[Entry]) -> str:
    rows = ["| cell | model | parameters | steps | train s | best epoch | stopped | prior train s | prior best epoch | "
            "prior stopped | prior test NLL/window | samples/s |",
            "|---|---|---:|---:|---:|---:|---|---:|---:|---|---:|---:|"]
    for cell in _cells(entries):
        for run in _runs(entries):
            e = _get(entries, cell, run)
            if not e:
                continue
            t = e.metrics["train"]
            prior = e.metrics.get("prior", {}).get("test", {}).get("nll_per_window")
            rate = e.metrics.get("sampling", {}).get("sequences_per_s")
            p = e.prior_training or {}
            rows.append(f"| {_cell_label(cell)} | {RUN_LABELS.get(run, run)} | {t['parameters']:,} | {t['steps']:,} | "
                        f"{t['train_seconds']:.0f} | {t['best_epoch']} | {t['stopped']} | {_num(p.get('train_seconds'), 0)} | "
                        f"{p.get('best_epoch', '–')} | {p.get('stopped', '–')} | {_num(prior, 1)} | {_num(rate, 1)} |")
    return "\n".join(rows)


@dataclasses.dataclass(frozen=True)
class Utility:
    """A SASRec-ID trained on some data (`trained`: real, a sampler run, or augmented), tested on real users."""

    cell: str  # "<domain>/L<length>", or a domain for the augmentation experiment
    trained: str
    metrics: dict
    # share of the test events whose target is their last history item again: any model that ranks that
    # item first scores at least this Recall@10 (and NDCG@10), whatever it was trained on
    repeat_last: float | None = None
    # 95% interval of NDCG@10 over the real-trained model's NDCG@10 on the same events (users resampled together)
    share_ci95: tuple[float, float] | None = None
    # the same on the events whose target is not their last history item (NDCG@10, share, share's interval):
    # where many sessions end in a repeat (Retail Rocket), this is what a model learned beyond the repeat
    novel: dict | None = None


def repeat_last_mask(test_users: Domain) -> np.ndarray:
    """Per user: 2+ items and the last equals the one before it (the target repeats the history's most recent item)."""
    ends = test_users.offsets[1:]
    long = np.diff(test_users.offsets) >= 2
    mask = np.zeros(test_users.n_users, dtype=bool)
    mask[long] = test_users.items[ends[long] - 1] == test_users.items[ends[long] - 2]
    return mask


def repeat_last_share(test_users: Domain) -> float:
    """Share of users (2+ items) whose last item equals the one before it."""
    long = np.diff(test_users.offsets) >= 2
    return float(repeat_last_mask(test_users)[long].mean()) if long.any() else 0.0


def _nonrepeat_scores(events: np.ndarray, values: np.ndarray, groups: np.ndarray, repeats: np.ndarray,
                      real_values: np.ndarray | None) -> dict | None:
    """NDCG@10 on the events whose target is not a repeat of the last history item, and, given the real-trained
    model's values on the same events, its share of them; None when every event is a repeat."""
    keep = ~repeats[events]
    if not keep.any():
        return None
    out = {"events": int(keep.sum()), "ndcg@10": float(values[keep].mean())}
    if real_values is not None:
        out["share"] = out["ndcg@10"] / float(real_values[keep].mean())
        out["share_ci95"] = share_ci(values[keep], real_values[keep], groups[keep])
    return out


def load_utility(pairs: list[tuple[str, str | Path]]) -> list[Utility]:
    """(name, evaluate-utility folder) -> entries; the name is `<cell>/<trained on>`."""
    out, floors, repeats = [], {}, {}  # the models of one cell share their test users: read them once
    named = {}
    for name, folder in pairs:
        cell, sep, trained = name.rpartition("/")
        if not sep:
            raise artifacts.ArtifactError(f"--utility {name!r}: the name must be <cell>/<trained on>")
        named[cell, trained] = folder
    for (cell, trained), folder in named.items():
        tested = artifacts.read_manifest(folder)["inputs"]["prepared"]["path"]
        if tested not in floors:
            users = Domain.load(tested)
            floors[tested], repeats[tested] = repeat_last_share(users), repeat_last_mask(users)
        real = named.get((cell, "real"))
        share = real_values = None
        if trained == "real" or real is None:
            events, values, groups = event_metric(folder, "history_kept", "ndcg@10")
        else:
            events, values, real_values, groups = paired_event_metric(folder, real, "history_kept", "ndcg@10")
            share = share_ci(values, real_values, groups)
        novel = _nonrepeat_scores(events, values, groups, repeats[tested], real_values)
        out.append(Utility(cell, trained, artifacts.read_json(Path(folder) / "metrics.json"), floors[tested], share, novel))
    return out


def _training(u: Utility) -> str:
    """'epochs (best) | how it stopped' of the SASRec-ID behind an entry."""
    t = {k: "–" if v is None else v for k, v in u.metrics["training"].items()}  # None: the stage has no such notion
    return f"{t['epochs']} ({t['best_epoch']}) | {str(t['stopped']).replace('_', ' ')}"


def utility_table(utility: list[Utility], protocol: str = "history_kept") -> str:
    rows = ["| cell | SASRec-ID trained on | training sequences | NDCG@10 (95% CI) | Recall@10 | NDCG@10 / real (95% CI) | "
            "NDCG@10, targets that are no repeat (events) | its / real (95% CI) | epochs (best) | stopped |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for cell in sorted({u.cell for u in utility}):
        group = [u for u in utility if u.cell == cell]
        real = next((u for u in group if u.trained == "real"), None)
        for u in sorted(group, key=lambda u: (u.trained != "real", u.trained)):
            t = u.metrics["test"][protocol]
            lo, hi = u.metrics["ci95"][protocol]["ndcg@10"]
            base = real.metrics["test"][protocol]["ndcg@10"] if real and u is not real else 0.0
            ratio = share_text(t["ndcg@10"] / base, u.share_ci95) if base > 0 else "–"
            label = "real windows" if u.trained == "real" else RUN_LABELS.get(u.trained, u.trained) + " windows"
            novel = u.novel or {}
            novel_ndcg = f"{novel['ndcg@10']:.4f} ({novel['events']:,})" if novel else "–"
            novel_share = share_text(novel["share"], novel["share_ci95"]) if "share" in novel else "–"
            rows.append(f"| {cell} | {label} | {u.metrics['trained_on']['users']:,} | {t['ndcg@10']:.4f} "
                        f"({lo:.4f}-{hi:.4f}) | {t['recall@10']:.4f} | {ratio} | {novel_ndcg} | {novel_share} | "
                        f"{_training(u)} |")
        floor = next((u.repeat_last for u in group if u.repeat_last is not None), None)
        if floor is not None:
            base = real.metrics["test"][protocol]["ndcg@10"] if real else 0.0
            rows.append(f"| {cell} | nothing (the last history item ranked first) | – | ≥ {floor:.4f} | ≥ {floor:.4f} | "
                        f"{'≥ ' + _pct(floor / base) if base > 0 else '–'} | – | – | – | – |")
    return "\n".join(rows)


def augmentation_share(utility: list[Utility], u: Utility) -> float | None:
    """NDCG@10 (history kept) of `u` over that of the real-trained model of its cell; None for that model."""
    real = next((r for r in utility if r.cell == u.cell and r.trained == "real"), None)
    if real is None or u is real:
        return None
    return u.metrics["test"]["history_kept"]["ndcg@10"] / real.metrics["test"]["history_kept"]["ndcg@10"]


def augmentation_table(utility: list[Utility], protocol: str = "history_kept") -> str:
    rows = ["| domain | SASRec-ID trained on | users (real + synthetic) | NDCG@10 (95% CI) | Recall@10 (95% CI) | "
            "NDCG@10 / real (paired 95% CI) | epochs (best) | stopped |",
            "|---|---|---:|---:|---:|---:|---:|---|"]
    for u in sorted(utility, key=lambda u: (u.cell, u.trained != "real")):
        t, ci = u.metrics["test"][protocol], u.metrics["ci95"][protocol]
        label = "real training data" if u.trained == "real" else "real + RSVQ-AE windows"
        share = augmentation_share(utility, u)
        rows.append(f"| {u.cell} | {label} | {u.metrics['trained_on']['users']:,} | {t['ndcg@10']:.4f} "
                    f"({ci['ndcg@10'][0]:.4f}-{ci['ndcg@10'][1]:.4f}) | {t['recall@10']:.4f} "
                    f"({ci['recall@10'][0]:.4f}-{ci['recall@10'][1]:.4f}) | "
                    f"{'–' if share is None else share_text(share, u.share_ci95)} | {_training(u)} |")
    return "\n".join(rows)


RESULT_DOMAINS = {"movielens-1m": "ml-1m", "retailrocket": "retailrocket"}


def codebook_perplexity(metrics: dict) -> float | None:
    """Mean perplexity over every (level, stack depth) codebook of a run; None without codebooks."""
    values = [book["perplexity"] for book in metrics.get("codebooks", {}).values()]  # keyed "level<l>/depth<k>"
    return float(np.mean(values)) if values else None


def _nonrepeat(novel: dict, cell: str, run: str) -> dict | None:
    mine, real = novel.get((cell, run)), novel.get((cell, "real"))
    if not mine or not real:
        return None
    return {"events": mine["events"], "ndcg@10": mine["ndcg@10"], "trtr_ndcg@10": real["ndcg@10"],
            "share": mine["share"], "share_ci95": mine["share_ci95"]}


def headline(entries: list[Entry], utility: list[Utility] = (), augmentation: list[Utility] = ()) -> dict:
    """results/rsvqae.json: {domain: {"<L>": {run: {...}}}}, plus "augmentation" when given.

    Every run has `recon_ce` and `accuracy`; samplers add the generated data's statistics
    (`bigram_overlap` = fraction of generated item bigrams found in the held-out real windows,
    `copied_fraction` = generated windows identical to a training window), and, where the utility
    experiment ran, `tstr_ndcg@10` (SASRec-ID trained on that run's samples) and `trtr_ndcg@10`
    (trained on real windows), both tested on the real held-out windows, and `tstr_share_ci95`, the
    95% interval of their ratio; `tstr_nonrepeat` gives the same on the test events whose target is not
    a repeat of the last history item (`ndcg@10`, `trtr_ndcg@10`, `share`, `share_ci95`, `events`).
    """
    out: dict = {}
    figures = paper_figures()
    util = {(u.cell, u.trained): u.metrics["test"]["history_kept"]["ndcg@10"] for u in utility}
    shares = {(u.cell, u.trained): u.share_ci95 for u in utility}
    novel = {(u.cell, u.trained): u.novel for u in utility}
    for e in entries:
        rec = e.metrics["reconstruction"]
        row: dict = {"recon_ce": rec["ce"], "accuracy": rec["accuracy"], "codebook_perplexity": codebook_perplexity(e.metrics)}
        if "generated" in e.metrics:
            g, r = e.metrics["generated"], e.metrics["reference_real"]
            cell = f"{e.domain}/L{e.length}"
            row.update(popularity_js=g["popularity_js"], bigram_overlap=g["bigram_precision"],
                       copied_fraction=g["copied_windows"], **{"tstr_ndcg@10": util.get((cell, e.run)),
                                                                "trtr_ndcg@10": util.get((cell, "real")),
                                                                "tstr_share_ci95": shares.get((cell, e.run)),
                                                                "tstr_nonrepeat": _nonrepeat(novel, cell, e.run)},
                       bigram_recall=g["bigram_recall"], popularity_js_train=g["popularity_js_train"],
                       length_tv=g["length_tv"], repeat_rate=g["repeat_rate"],
                       reference_real={k: r[k] for k in ("popularity_js", "bigram_precision", "copied_windows")})
        paper = figures.get(e.cell)
        if paper and e.run == "rsvq":
            row["paper_accuracy"] = paper["accuracy"]
        out.setdefault(RESULT_DOMAINS.get(e.domain, e.domain), {}).setdefault(str(e.length), {})[e.run] = row
    for u in augmentation:
        row = dict(u.metrics["test"]["history_kept"])
        share = augmentation_share(list(augmentation), u)
        if share is not None:  # the same users score both models: the paired interval says whether they differ
            row.update({"ndcg@10_vs_real": share, "ndcg@10_vs_real_ci95": u.share_ci95})
        out.setdefault("augmentation", {}).setdefault(u.cell, {})[u.trained] = row
    return out


def plot_accuracy(entries: list[Entry], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells, runs = _cells(entries), _runs(entries)
    fig, ax = plt.subplots(figsize=(2.2 + 1.6 * len(cells), 4))
    width = 0.8 / len(runs)
    for i, run in enumerate(runs):
        vals = [(_get(entries, c, run).metrics["reconstruction"]["accuracy"] if _get(entries, c, run) else np.nan) for c in cells]
        ax.bar(np.arange(len(cells)) + i * width, vals, width, label=RUN_LABELS.get(run, run))
    figures = paper_figures()
    for j, c in enumerate(cells):
        if c in figures:
            ax.hlines(figures[c]["accuracy"], j - 0.05, j + 0.85, colors="k", linestyles="--",
                      label="RSVQ-AE, paper" if j == 0 else None)
    ax.set_xticks(np.arange(len(cells)) + 0.4 - width / 2, [_cell_label(c, "\n") for c in cells])
    ax.set_ylabel("test token accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_by_position(entries: list[Entry], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = _cells(entries)
    fig, axes = plt.subplots(1, len(cells), figsize=(4 * len(cells), 3.4), squeeze=False)
    for ax, cell in zip(axes[0], cells):
        for run in _runs(entries):
            e = _get(entries, cell, run)
            if e:
                acc = np.array([np.nan if a is None else a for a in e.metrics["reconstruction"]["accuracy_by_position"]])
                ax.plot(np.arange(len(acc)), acc, label=RUN_LABELS.get(run, run), lw=1)
        ax.set_title(_cell_label(cell), fontsize=9)
        ax.set_xlabel("position in window")
        ax.set_ylim(0, 1.02)
    axes[0][0].set_ylabel("test token accuracy")
    axes[0][-1].legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_generation(entries: list[Entry], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = _cells(entries)
    samplers = [r for r in _runs(entries) if any("generated" in e.metrics for e in entries if e.run == r)]
    keys = [("popularity_js", "popularity JS (bits)"), ("bigram_precision", "bigram precision"),
            ("copied_windows", "copied windows")]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6))
    width = 0.8 / (len(samplers) + 1)
    for ax, (key, label) in zip(axes, keys):
        for i, run in enumerate(["reference"] + samplers):
            vals = []
            for c in cells:
                e = next((x for x in entries if x.cell == c and "generated" in x.metrics and (run == "reference" or x.run == run)), None)
                vals.append(np.nan if e is None else (e.metrics["reference_real"] if run == "reference" else e.metrics["generated"])[key])
            ax.bar(np.arange(len(cells)) + i * width, vals, width,
                   label="real held-out" if run == "reference" else RUN_LABELS.get(run, run), color="0.6" if run == "reference" else None)
        ax.set_xticks(np.arange(len(cells)) + 0.4 - width / 2, [_cell_label(c, "\n") for c in cells], fontsize=7)
        ax.set_title(label, fontsize=9)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# How to read the report (data, windows, split, metrics, capacity) is prose, kept in the docs.
READING_NOTES = ("How to read this (the data and how they differ from the paper's, windows, split, metrics, "
                 "capacity, and the design choices where the paper is silent): `docs/design-notes.md`, section "
                 "\"Sequence generation (RSVQ-AE)\"; what the results show: `docs/results/generation.md`.")


def markdown(entries: list[Entry], figures: dict[str, str], utility: list[Utility] = (),
             augmentation: list[Utility] = ()) -> str:
    cells = _cells(entries)
    data_rows = ["| cell | train windows | valid windows | test windows | test items | test mean length |",
                 "|---|---:|---:|---:|---:|---:|"]
    for cell in cells:
        w = next(e for e in entries if e.cell == cell).metrics["windows"]
        data_rows.append(f"| {_cell_label(cell)} | {w['train']['windows']:,} | {w['valid']['windows']:,} | "
                         f"{w['test']['windows']:,} | {w['test']['items']:,} | {w['test']['mean_length']:.2f} |")
    parts = [
        "# RSVQ-AE and baselines: reconstruction and generation of item windows",
        "",
        "Generated by `make results/rsvqae.json` (stages train-generator, train-prior, generate, "
        "evaluate-generation, report-generation); every number is read from the runs' `metrics.json`.",
        "",
        READING_NOTES,
        "",
        "## Windows",
        "",
        "\n".join(data_rows),
        "",
        "## Table 1. Reconstruction on held-out test users (cross-entropy in nats, token accuracy)",
        "",
        reconstruction_table(entries),
        "",
        f"![accuracy]({figures['accuracy']})  ![by position]({figures['by_position']})",
        "",
        "## Table 2. Generated windows against held-out test windows",
        "",
        "JS = Jensen-Shannon divergence of item popularity (log base 2, in [0, 1]) against the test windows, and "
        "against the training windows (a larger sample, so a lower noise floor); copied windows = generated "
        "windows identical to a training window (memorisation); train 4-grams = share of generated 4-grams seen in "
        "training; bigram precision/recall = distinct bigrams shared with the test windows, over the sample's / "
        "the test windows' distinct bigrams; length TV = total variation between length distributions.",
        "",
        generation_table(entries),
        "",
        f"![generation]({figures['generation']})",
        "",
        "## Table 3. Codebook usage on test windows",
        "",
        codebook_table(entries),
        "",
        "## Table 4. Training cost and sampling speed (2-core CPU, shared)",
        "",
        cost_table(entries),
        "",
    ]
    if utility:
        parts += ["## Table 5. Utility: SASRec-ID trained on generated windows only, tested on real held-out windows",
                  "",
                  "Stage finetune (run sasrec_id) trains on N windows (N = the number of held-out test windows; windows "
                  "under 3 items dropped, as leave-one-out needs them); stage evaluate-utility tests each model on the "
                  "generator's held-out test windows: one event per window, its last item the target and everything its "
                  "user did before it the history (history_kept protocol). The target is NDCG@10 of at least 70% of "
                  "training on real windows. Intervals are 95% bootstrap intervals that resample test users with all "
                  "their events; the share's interval resamples them for both models at once. The \"nothing\" "
                  "row is a floor, not a model: the share of test events whose target repeats their last history item; "
                  "any model that ranks that item first reaches it, whatever it was trained on.",
                  "", utility_table(utility), ""]
    if augmentation:
        parts += ["## Table 6. Sparse domain: Scientific with and without generated windows",
                  "",
                  "The generator saw only each user's leave-one-out training part (windows.holdout=train_part); both "
                  "SASRec-ID models are tested on Scientific's leave-one-out test split by the same stage.",
                  "", augmentation_table(augmentation), ""]
    return "\n".join(parts)
