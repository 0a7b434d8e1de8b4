"""Sampling-temperature sweep: sample quality against usefulness, with the temperature chosen on validation windows.

Each point is one sampler at one temperature, or at one temperature per code level (a tuple, finest
level first: generate.level_temperatures): its samples' metrics (evaluate-generation) and a SASRec-ID
trained on them, scored on the generator's validation windows and on its test windows. The validation
windows choose each sampler's setting; the test windows only report it, so the chosen figure is not
selected on the data it is reported on.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.generation_report import RUN_LABELS, share_text  # noqa: E402
from experiments.utility_stats import share_between  # noqa: E402
from textcode.core import artifacts  # noqa: E402

METRIC = "ndcg@10"
PROTOCOL = "history_kept"  # the utility table's protocol
SAMPLE_KEYS = ("popularity_js", "bigram_precision", "repeat_rate", "items_covered")
XLABEL = "temperature (per-level lines: the finest level's)"


@dataclasses.dataclass(frozen=True)
class Point:
    run: str
    temperature: float | tuple[float, ...]  # one for every level, or one per code level, finest first
    sample: dict  # SAMPLE_KEYS of the generated windows
    valid: float  # METRIC on the validation windows
    test: float  # METRIC on the test windows
    test_ci95: tuple[float, float] | None = None  # bootstrap over the test users (with all their events)
    test_over_real_ci95: tuple[float, float] | None = None  # of test / real's test, resampling users together


def utility_score(folder: str | Path) -> tuple[float, tuple[float, float] | None]:
    """An evaluate-utility folder -> (METRIC, its bootstrap 95% interval if recorded)."""
    m = artifacts.read_json(Path(folder) / "metrics.json")
    ci = m.get("ci95", {}).get(PROTOCOL, {}).get(METRIC)
    return float(m["test"][PROTOCOL][METRIC]), None if ci is None else (float(ci[0]), float(ci[1]))


def setting_text(temperature: float | list[float] | tuple[float, ...]) -> str:
    """A point's sampling setting as the tables print it: 0.8, or 0.6 / 1 / 1 (per level, finest first)."""
    if isinstance(temperature, (list, tuple)):
        return " / ".join(f"{t:g}" for t in temperature)
    return f"{temperature:g}"


def load_point(run: str, temperature: float | tuple[float, ...], folder: str | Path, real: str | Path) -> Point:
    """A sweep point folder: eval/ (evaluate-generation), valid/ and test/ (evaluate-utility); `real` is the
    utility folder of the SASRec-ID trained on real windows, whose eval/ scored the same test events."""
    folder = Path(folder)
    generated = artifacts.read_json(folder / "eval" / "metrics.json")["generated"]
    (valid, _), (test, ci) = utility_score(folder / "valid"), utility_score(folder / "test")
    share = share_between(folder / "test", Path(real) / "eval", PROTOCOL, METRIC)
    return Point(run, temperature, {k: generated[k] for k in SAMPLE_KEYS}, valid, test, ci, share)


def load_real(folder: str | Path) -> dict:
    """The utility folder of the SASRec-ID trained on real windows: eval-valid/ and eval/ (test windows)."""
    (valid, _), (test, ci) = utility_score(Path(folder) / "eval-valid"), utility_score(Path(folder) / "eval")
    return {"valid": valid, "test": test, "test_ci95": ci}


def summary(points: list[Point], real: dict[str, float], cell: str) -> dict:
    """Every point, and per sampler the setting with the best validation score and its test figures."""
    if not points:
        raise ValueError("a sweep needs at least one point")
    chosen = {}
    for run in dict.fromkeys(p.run for p in points):
        best = max((p for p in points if p.run == run), key=lambda p: p.valid)
        chosen[run] = {"temperature": _plain(best.temperature), f"valid_{METRIC}": best.valid, f"test_{METRIC}": best.test,
                       "test_ci95": best.test_ci95,
                       "test_over_real": best.test / real["test"] if real["test"] else None,
                       "test_over_real_ci95": best.test_over_real_ci95,
                       "popularity_js": best.sample["popularity_js"]}
    return {
        "cell": cell, "metric": METRIC, "protocol": PROTOCOL,
        "real": {f"valid_{METRIC}": real["valid"], f"test_{METRIC}": real["test"], "test_ci95": real.get("test_ci95")},
        "points": [{"run": p.run, "label": RUN_LABELS.get(p.run, p.run), "temperature": _plain(p.temperature), **p.sample,
                    f"valid_{METRIC}": p.valid,
                    f"test_{METRIC}": p.test, "test_ci95": p.test_ci95,
                    "valid_over_real": p.valid / real["valid"] if real["valid"] else None,
                    "test_over_real": p.test / real["test"] if real["test"] else None,
                    "test_over_real_ci95": p.test_over_real_ci95} for p in points],
        "chosen": chosen,
    }


def _plain(temperature: float | tuple[float, ...]) -> float | list[float]:
    """As JSON holds it (a list per level), so in-process summaries and re-read results compare alike."""
    return list(temperature) if isinstance(temperature, (list, tuple)) else temperature


def _series(points: list[dict]) -> list[tuple[str, list[float], list[dict]]]:
    """A sampler's points as lines against temperature: (suffix, x, points). Uniform points make one line;
    per-level points one line per setting of the coarser levels, plotted against the finest level's temperature."""
    groups: dict[tuple, list[dict]] = {}
    for p in points:
        t = p["temperature"]
        groups.setdefault(tuple(t[1:]) if isinstance(t, list) else (), []).append(p)
    out = []
    for coarser, pts in groups.items():
        x = [p["temperature"][0] if coarser else p["temperature"] for p in pts]
        order = sorted(range(len(pts)), key=x.__getitem__)
        suffix = f", finest level only (coarser at {' / '.join(f'{t:g}' for t in coarser)})" if coarser else ""
        out.append((suffix, [x[i] for i in order], [pts[i] for i in order]))
    return out


def ci_text(ci) -> str:
    """A 95% interval of a metric, or a dash where none was recorded."""
    return "–" if ci is None else f"{ci[0]:.4f}-{ci[1]:.4f}"


def markdown(cells: dict[str, dict], figure: str, results: str) -> str:
    """The report of every swept cell ({cell: summary}); `results` is the headline JSON the stage writes."""
    m = METRIC.upper()
    lines = [
        "# Sampling temperature: sample quality against usefulness", "",
        f"Generated by `make {results}`. Each row: one sampler at one temperature (RSVQ-AE and "
        "VQ-VAE: the code prior's softmax temperature, or one per code level, finest level first, written "
        "a / b / c; VAE: the scale of its N(0, I) latent). Its windows are scored "
        "like Table 2 of the generation report, and a SASRec-ID trained on them alone is scored on the generator's "
        f"validation windows and on its test windows ({m}, history kept, as in the utility table: one event per held-out "
        "window, its last item with the user's history before it). The validation windows choose each sampler's "
        "temperature (marked *); the test columns report it. Intervals: 95%, bootstrap over users (each with all its "
        "events); the share's interval resamples the same users for both models.", "",
    ]
    for cell, doc in cells.items():
        real = doc["real"]
        lines += [
            f"## {cell}", "",
            f"Trained on real windows: validation {real[f'valid_{METRIC}']:.4f}, test {real[f'test_{METRIC}']:.4f} "
            f"(95% interval {ci_text(real.get('test_ci95'))}).", "",
            f"| sampler | temperature | popularity JS | bigram prec. | repeat rate | items covered | valid {m} | "
            f"valid / real | test {m} | test 95% interval | test / real (95% interval) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for p in doc["points"]:
            star = "*" if doc["chosen"][p["run"]]["temperature"] == p["temperature"] else ""
            lines.append(f"| {p['label']} | {setting_text(p['temperature'])}{star} | {p['popularity_js']:.4f} | "
                         f"{p['bigram_precision']:.3f} | {p['repeat_rate']:.3f} | {p['items_covered']:,} | "
                         f"{p[f'valid_{METRIC}']:.4f} | {share_text(p['valid_over_real'], None, 0)} | {p[f'test_{METRIC}']:.4f} | "
                         f"{ci_text(p['test_ci95'])} | {share_text(p['test_over_real'], p['test_over_real_ci95'], 0)} |")
        lines.append("")
    lines += [f"![sweep]({figure})", ""]
    return "\n".join(lines)


def plot(cells: dict[str, dict], path: Path) -> None:
    """One row per cell: usefulness (share of train-on-real) and popularity JS against temperature, and the
    two against each other (the trade-off temperature moves along; the shaded corner meets both targets).
    Per-level settings are lines of their own, against the finest level's temperature."""
    fig, axes = plt.subplots(len(cells), 3, figsize=(15, 4 * len(cells)), squeeze=False)
    for (cell, doc), (ax_u, ax_js, ax_f) in zip(cells.items(), axes):
        lines = [(run, *series) for run in doc["chosen"] for series in _series([p for p in doc["points"] if p["run"] == run])]
        for i, (run, suffix, t, pts) in enumerate(lines):
            color, name = f"C{i}", RUN_LABELS.get(run, run) + suffix  # one colour per line in every panel
            ax_u.plot(t, [100 * (p["valid_over_real"] or 0) for p in pts], "o-", color=color, label=f"{name} (validation)")
            test = [100 * (p["test_over_real"] or 0) for p in pts]
            cis = [p["test_over_real_ci95"] or (p["test_over_real"] or 0,) * 2 for p in pts]
            err = [[y - 100 * c[0] for y, c in zip(test, cis)], [100 * c[1] - y for y, c in zip(test, cis)]]
            ax_u.errorbar(t, test, yerr=err, fmt="x--", color=color, capsize=3, label=f"{name} (test, 95% interval)")
            js = [p["popularity_js"] for p in pts]
            ax_js.plot(t, js, "o-", color=color, label=name)
            ax_f.errorbar(js, test, yerr=err, fmt="o-", color=color, capsize=3, label=f"{name} (test)")
            for x, y, p in zip(js, test, pts):
                ax_f.annotate(f"T={setting_text(p['temperature'])}", (x, y), textcoords="offset points", xytext=(4, 4),
                              fontsize=7, color=color)
        ax_u.axhline(70, color="grey", lw=0.8, ls=":", label="target 70%")
        ax_u.set(xlabel=XLABEL, ylabel=f"train-on-synthetic / train-on-real {METRIC} (%)", title=f"{cell}: usefulness")
        ax_js.axhline(0.05, color="grey", lw=0.8, ls=":", label="target 0.05")
        ax_js.set(xlabel=XLABEL, ylabel="popularity JS vs test windows", title=f"{cell}: popularity fidelity")
        top = max(100.0, ax_f.get_ylim()[1])
        ax_f.fill_between([0, 0.05], 70, top, color="green", alpha=0.08, label="both targets")
        ax_f.set(xlim=(0, None), ylim=(0, top), xlabel="popularity JS vs test windows",
                 ylabel=f"test share of train-on-real {METRIC} (%)", title=f"{cell}: usefulness against fidelity")
        for ax in (ax_u, ax_js, ax_f):
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
