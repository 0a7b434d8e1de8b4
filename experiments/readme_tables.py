"""Regenerate the results tables of README.md and docs/**/*.md from results/*.json (never typed by hand).

Each table sits between `<!-- table:NAME -->` and `<!-- /table:NAME -->`; everything else in a
page is left alone. A table whose results file does not exist yet says so; a marker naming no
table here is an error. Published figures shown beside ours come from configs/published.yaml.

    python experiments/readme_tables.py            # rewrite README.md and docs/**/*.md in place
    python experiments/readme_tables.py --check    # exit 1 if any of them is out of date
    python experiments/readme_tables.py docs/results/vqrec.md   # only these pages
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Callable

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: python experiments/readme_tables.py
    sys.path.insert(0, str(ROOT))

from experiments.generation_report import share_text  # noqa: E402
from experiments.sweep_report import ci_text, setting_text  # noqa: E402

RESULTS = ROOT / "results"
PUBLISHED = ROOT / "configs" / "published.yaml"


def _published(section: str) -> dict:
    """One section of configs/published.yaml ({} when the file or section is absent)."""
    if not PUBLISHED.exists():
        return {}
    return (yaml.safe_load(PUBLISHED.read_text(encoding="utf-8")) or {}).get(section, {})


def _load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def _missing(name: str, target: str) -> str:
    return f"_No results yet: run `make {target}` to write `results/{name}`._"


def codes_table() -> str:
    data = _load("codes.json")
    if data is None:
        return _missing("codes.json", "results/codes.json")
    rows = ["| domain | items | encode items/s (threads) | OPQ train s | distinct codes at nearest centroids "
            "| items moved | distinct codes used | relative recon error (nearest -> used) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in data.items():
        speed = "resumed" if r["encode_items_per_s"] is None else f"{r['encode_items_per_s']:.1f} ({r['encode_threads']})"
        rows.append(f"| {name} | {r['items']:,} | {speed} | {r['opq_train_s']:.1f} | {r['nearest_distinct_codes']:,} "
                    f"({100 * r['nearest_distinct_codes'] / r['items']:.1f}%) | {r['moved_to_resolve_collisions']:,} "
                    f"| {r['distinct_codes']:,} | {r['nearest_recon_error']:.4f} -> {r['recon_error']:.4f} |")
    sci = data.get("Scientific")
    if sci:
        official = _published("vqrec_index").get("Scientific")
        ref = ("" if not official else f" (the official VQ-Rec index: {official['distinct_codes']:,} of "
               f"{official['train_items']:,}, collisions left in; configs/published.yaml)")
        rows += ["", f"At their nearest centroids Scientific's {sci['train_items']:,} training items get "
                     f"{sci['nearest_train_distinct_codes']:,} distinct code tuples from our codec{ref}."]
    return "\n".join(rows)


def bench_encode_table() -> str:
    data = _load("bench_encode.json")
    if data is None:
        return _missing("bench_encode.json", "results/bench_encode.json")
    ratio = data["ours_items_per_s"] / data["sentence_transformers_items_per_s"]
    return "\n".join([
        "| texts | max length | ours items/s | SentenceTransformer.encode items/s | ratio | max 1-cosine vs fp32 |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {data['texts']:,} | {data['max_length']} | {data['ours_items_per_s']:.1f} | "
        f"{data['sentence_transformers_items_per_s']:.1f} | {ratio:.2f}x | {data['max_abs_cosine_gap_vs_fp32']:.2e} |",
    ])


METRICS = ("recall@10", "ndcg@10", "recall@50", "ndcg@50", "mrr")


def scientific_table() -> str:
    data = _load("scientific.json")
    if data is None:
        return _missing("scientific.json", "results/scientific.json")
    head = ["| run | R@10 | N@10 | R@50 | N@50 | MRR | valid N@10 | fine-tune s | epochs |",
            "|---|---|---|---|---|---|---:|---:|---:|"]
    rows = []
    best = data.get("best_transfer")
    data = {name: r for name, r in data.items() if isinstance(r, dict)}  # "best_transfer" names a row
    for name, r in data.items():
        cells = []
        for m in METRICS:
            lo, hi = r["ci95"][m]
            cells.append(f"{r['test'][m]:.4f} [{lo:.4f}, {hi:.4f}]")
        wall = "" if r["finetune_wall_s"] is None else f"{r['finetune_wall_s']:.0f}"
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {r['valid']['ndcg@10']:.4f} | {wall} | {r['epochs']} |")
    removed = ["", "History removed from the ranking (test):", "",
               "| run | R@10 | N@10 | R@50 | N@50 | MRR |", "|---|---:|---:|---:|---:|---:|"]
    for name, r in data.items():
        removed.append(f"| {name} | " + " | ".join(f"{r['test_history_removed'][m]:.4f}" for m in METRICS) + " |")
    chosen = [] if best is None else ["", f"Best pre-trained transfer row, chosen on validation NDCG@10: `{best}`."]
    return "\n".join(head + rows + removed + chosen)


TRANSFER_REFERENCE = "vqrec_pretrained"  # the row the transfer reports test against (mk/transfer.mk)


def _p_cell(row: dict, protocol: str, metric: str) -> str:
    """The row minus the reference, with its paired-bootstrap p ('' for the reference itself)."""
    c = row.get("paired", {}).get(protocol, {}).get(metric)
    return "" if c is None else f"{c['diff']:+.4f} (p {c['p']:.3f})"


def _metric_cells(r: dict) -> list[str]:
    """A results row's test cells: R@10 and N@10 with their 95% intervals, R@50, N@50 (history kept), then R@10 and
    N@10 with history removed."""
    ci = r["ci95"]["history_kept"]
    kept = [f"{r['test'][m]:.4f} [{ci[m][0]:.4f}, {ci[m][1]:.4f}]" if m in ("recall@10", "ndcg@10")
            else f"{r['test'][m]:.4f}" for m in METRICS[:4]]
    return kept + [f"{r['test_history_removed'][m]:.4f}" for m in ("recall@10", "ndcg@10")]


def _trained_on(rows: dict) -> tuple[str, str | None]:
    """(the CPUs that trained a domain's rows, the run their `paired` tests compare against, None without any)."""
    cpus = sorted({r["cpu"] for r in rows.values() if r.get("cpu")})
    reference = next((r["paired"]["reference"] for r in rows.values() if "paired" in r), None)
    return ", ".join(cpus) or "an unrecorded CPU", reference


def _per_domain(data: dict, caption, header: str, align: str, row) -> str:
    """One table per domain of a {domain: {row name: entry}} results file: `caption(cpus, reference, rows)` above
    it, `row(name, entry)` for each line."""
    out = []
    for domain, rows in data.items():
        cpus, reference = _trained_on(rows)
        out += [f"**{domain}** ({caption(cpus, reference, rows)}):", "", header, align]
        out += [row(name, r) for name, r in rows.items()]
        out.append("")
    return "\n".join(out).rstrip()


def baselines_table() -> str:
    """results/baselines.json: per domain, each model's test metrics in both protocols, cost and stop reason."""
    data = _load("baselines.json")
    if data is None:
        return _missing("baselines.json", "results/baselines.json")

    def row(name: str, r: dict) -> str:
        peak = "" if r.get("peak_rss_mb") is None else f"{r['peak_rss_mb']:,.0f}"
        return (f"| {name} | " + " | ".join(_metric_cells(r)) + f" | {r['train_wall_s']:.0f} | {r['epochs']} | "
                f"{r['stopped'] or '-'} | {peak} | {_p_cell(r, 'test', 'ndcg@10')} | "
                f"{_p_cell(r, 'test_history_removed', 'ndcg@10')} |")

    def caption(cpus: str, ref: str | None, rows: dict) -> str:
        selected = " and ".join(sorted({r["selection"].replace("_", " ") for r in rows.values()}))
        return (f"test; history kept, then removed; selected on validation with {selected}; trained on {cpus}; the "
                f"last two columns: the model minus `{ref or 'the reference'}`, paired bootstrap")
    return _per_domain(
        data, caption,
        "| model | R@10 | N@10 | R@50 | N@50 | removed: R@10 | N@10 | train s | epochs | stopped | peak MB "
        "| vs reference N@10 | removed: N@10 |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|---|", row)


def transfer_table() -> str:
    """results/transfer.json: per target domain, every run's test metrics in both protocols, its cost, and the paired
    test against the pre-trained transfer."""
    data = _load("transfer.json")
    if data is None:
        return _missing("transfer.json", "-j2 OMP_NUM_THREADS=1 results/transfer.json")

    def row(name: str, r: dict) -> str:
        return (f"| {name} | " + " | ".join(_metric_cells(r)) + f" | {r['valid_ndcg@10']:.4f} | {r['epochs']} | "
                f"{r['wall_s']:.0f} | {_p_cell(r, 'test', 'ndcg@10')} | "
                f"{_p_cell(r, 'test_history_removed', 'ndcg@10')} |")
    return _per_domain(
        data, lambda cpus, ref, rows: f"test; trained on {cpus}; the last two columns: the run "
                                      f"minus `{ref or TRANSFER_REFERENCE}`, paired bootstrap",
        "| run | R@10 | N@10 | R@50 | N@50 | removed: R@10 | N@10 | valid N@10 | epochs | s "
        "| vs reference N@10 | removed: N@10 |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|", row)


def headline_transfer_table() -> str:
    """README: per target domain, what pre-training buys (zero-shot, pre-trained, from scratch) and the best other run."""
    data = _load("transfer.json")
    if data is None:
        return _missing("transfer.json", "-j2 OMP_NUM_THREADS=1 results/transfer.json")
    rows = ["| target domain | zero-shot N@10 | pre-trained N@10 | from scratch N@10 | scratch minus pre-trained (p) "
            "| best other run, N@10 |", "|---|---:|---:|---:|---|---|"]
    for domain, runs in data.items():
        def n10(name: str) -> str:
            return f"{runs[name]['test']['ndcg@10']:.4f}" if name in runs else "–"
        others = {k: r for k, r in runs.items() if k not in (TRANSFER_REFERENCE, "vqrec_scratch", "vqrec_zero_shot")}
        best = max(others, key=lambda k: others[k]["test"]["ndcg@10"]) if others else None
        scratch = runs.get("vqrec_scratch")
        rows.append(f"| {domain} | {n10('vqrec_zero_shot')} | {n10(TRANSFER_REFERENCE)} | {n10('vqrec_scratch')} | "
                    f"{_p_cell(scratch, 'test', 'ndcg@10') if scratch else '–'} | "
                    f"{'–' if best is None else best + ' ' + n10(best)} |")
    return "\n".join(rows)


def _peer_sasrec() -> tuple[dict, str]:
    """RecBole's SASRec as measured beside ours on Scientific (results/peers.json, bench/peers), and a label; no
    figure when that run has not been made (the figures once quoted here were not measured beside ours)."""
    doc = _load("peers.json")
    if not doc or doc.get("quick") or doc.get("domain") != "Scientific" or "sasrec" not in doc:
        return {}, "RecBole SASRec: not measured yet, `make results/peers.json`"
    rb = doc["sasrec"]["recbole"]
    return ({"epoch_s": round(rb["epoch_s"], 1), "eval_s": round(rb["eval_s"], 2), "peak_rss_mb": round(rb["peak_rss_mb"])},
            "RecBole SASRec, measured beside ours (`results/peers.json`)")


def peers_table() -> str:
    """results/peers.json: each model, ours beside RecBole's, trained on one split in one run and scored by our
    evaluator: test NDCG@10 in both protocols, whether ours reaches RecBole's 95% interval, speed and memory."""
    doc = _load("peers.json")
    if doc is None:
        return _missing("peers.json", "results/peers.json DOMAIN=Scientific")
    models = [k for k, v in doc.items() if isinstance(v, dict) and "settings" in v]  # not machine, versions
    rows = [f"{doc['domain']}{' (quick mode: 1 epoch each, not a result)' if doc.get('quick') else ''}, "
            f"{doc['n_users']:,} users, {doc['n_items']:,} items; test NDCG@10 with 95% intervals, history kept "
            "(removed in the next columns); seconds per training epoch, one full test pass, peak resident memory:", "",
            "| model | ours N@10 | RecBole N@10 | ours within or above RecBole's interval | removed: ours | RecBole "
            "| within or above | epochs ours / RecBole | s/epoch ours / RecBole (speed-up) | eval s ours / RecBole "
            "| peak MB ours / RecBole |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in models:
        o, r = doc[name]["ours"], doc[name]["recbole"]

        def n10(e: dict, protocol: str = "test") -> str:
            lo, hi = e[protocol]["ci95"]["ndcg@10"]
            return f"{e[protocol]['ndcg@10']:.4f} [{lo:.4f}, {hi:.4f}]"

        def ok(protocol: str) -> str:
            return "yes" if o[protocol]["ndcg@10"] >= r[protocol]["ci95"]["ndcg@10"][0] else "**no**"
        removed = "test_history_removed"
        rows.append(f"| {name} | {n10(o)} | {n10(r)} | {ok('test')} | {n10(o, removed)} | {n10(r, removed)} | "
                    f"{ok(removed)} | {o['epochs']} / {r['epochs']} | "
                    f"{o['epoch_s']:.2f} / {r['epoch_s']:.2f} ({r['epoch_s'] / o['epoch_s']:.1f}x) | "
                    f"{o['eval_s']:.2f} / {r['eval_s']:.2f} | {o['peak_rss_mb']:,.0f} / {r['peak_rss_mb']:,.0f} |")
    m = doc.get("machine", {})
    if m:
        threads = m.get("threads", {})
        rows += ["", f"Measured on: {m['cpu']}, {m['cores']} cores ({', '.join(m.get('simd') or []) or 'no SIMD flags read'}), "
                 f"threads ours {threads.get('ours')} / RecBole {threads.get('recbole')}; load average "
                 f"{m['load_avg'][0]:.2f} at the end; versions: RecBole {doc['versions']['recbole'].get('recbole')}, "
                 f"torch {doc['versions']['ours']['torch']}. The whole run: {doc['wall_s']:,.0f} s."]
    return "\n".join(rows)


def bench_finetune_table() -> str:
    data = _load("bench_finetune.json")
    if data is None:
        return _missing("bench_finetune.json", "results/bench_finetune.json")
    peer, label = _peer_sasrec()
    pre = data["pretrain_seq_per_s"]
    prec = data.get("precision", {"finetune": "fp32", "pretrain": "fp32"})
    rows = [
        "| run | precision (fine-tune / pretrain) | fine-tune epoch s | full evaluation s | peak RSS MB "
        "| pretrain seq/s (1 proc) | pretrain seq/s (2 procs) |",
        "|---|---|---:|---:|---:|---:|---:|",
        f"| ours, hidden {data['hidden']}, as configured | {prec['finetune']} / {prec['pretrain']} | {data['epoch_s']:.1f} "
        f"| {data['eval_s']:.2f} | {data['peak_rss_mb']:.0f} | {pre['1']:.0f} | {pre['2']:.0f} |",
    ]
    other = data.get("other_precision")
    if other:
        rows.append(f"| ours, hidden {data['hidden']}, other precision | {other['finetune']} / {other['pretrain']} "
                    f"| {other['epoch_s']:.1f} | {other['eval_s']:.2f} | {other['peak_rss_mb']:.0f} "
                    f"| {other['pretrain_seq_per_s_1']:.0f} | |")
    rows.append(f"| {label} | fp32 | {peer.get('epoch_s', '–')} | {peer.get('eval_s', '–')} | "
                f"{peer.get('peak_rss_mb', '–')} | | |")
    return "\n".join(rows + _machine_line(data.get("machine")) + _memory_table(data["details"]["finetune"].get("memory_mb"), data["peak_rss_mb"]))


def _machine_line(m: dict | None, load: str | None = None) -> list[str]:
    """`load`: what to say of the load instead of the machine record's own (taken at the end)."""
    if not m or "simd" not in m:
        return []
    simd = ", ".join(m["simd"]) if m["simd"] else "no SIMD flags read"
    load = load or f"load average {m['load_avg'][0]:.2f} at the end"
    return ["", f"Measured on: {m['cpu']}, {m['cores']} cores ({simd}), {load}."]


def _memory_table(mem: dict | None, peak: float) -> list[str]:
    if not mem:
        return []
    return ["", "Resident memory of the fine-tune benchmark process, MB:", "",
            "| after imports | + data, split, codes, model | training peak | after training | after `malloc_trim` | peak with evaluation |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {mem['imports']:.0f} | {mem['setup']:.0f} | {mem['training_peak']:.0f} | {mem['after_training']:.0f} "
            f"| {mem['after_trim']:.0f} | {peak:.0f} |"]


def _fmt(x, spec: str) -> str:
    return "–" if x is None else format(x, spec)


def _share(x: float | None, ci: list[float] | None) -> str:
    """A share of train-on-real, with its 95% interval where recorded."""
    return "–" if x is None else share_text(x, ci, 0)


def rsvqae_table() -> str:
    data = _load("rsvqae.json")
    if data is None:
        return _missing("rsvqae.json", "results/rsvqae.json")
    rows = ["| data | L | model | recon CE | accuracy | paper accuracy | popularity JS | bigram overlap | copied | "
            "TSTR / TRTR NDCG@10 (95% CI of the share) | codebook perplexity |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for domain, cells in data.items():
        if domain == "augmentation":
            continue
        for length, runs in sorted(cells.items(), key=lambda kv: int(kv[0])):
            for run, r in runs.items():
                tstr, trtr, c = r.get("tstr_ndcg@10"), r.get("trtr_ndcg@10"), r.get("tstr_share_ci95")
                util = "–" if tstr is None or trtr is None else f"{tstr:.4f} / {trtr:.4f} = {_share(tstr / trtr, c)}"
                rows.append(f"| {domain} | {length} | {run} | {r['recon_ce']:.4f} | {100 * r['accuracy']:.2f}% | "
                            f"{_fmt(r.get('paper_accuracy') and 100 * r['paper_accuracy'], '.2f')} | "
                            f"{_fmt(r.get('popularity_js'), '.4f')} | {_fmt(r.get('bigram_overlap'), '.4f')} | "
                            f"{_fmt(r.get('copied_fraction'), '.4f')} | {util} | {_fmt(r.get('codebook_perplexity'), '.1f')} |")
    aug = data.get("augmentation")
    if aug:
        rows += ["", "Augmentation (SASRec-ID on Scientific, leave-one-out test, history kept):", "",
                 "| cell | trained on | R@10 | N@10 | R@50 | N@50 | N@10 / real (paired 95% CI) |",
                 "|---|---|---:|---:|---:|---:|---:|"]
        for cell, runs in aug.items():
            for trained, m in runs.items():
                share = m.get("ndcg@10_vs_real")
                rows.append(f"| {cell} | {trained} | {m['recall@10']:.4f} | {m['ndcg@10']:.4f} | "
                            f"{m['recall@50']:.4f} | {m['ndcg@50']:.4f} | "
                            f"{'–' if share is None else _share(share, m.get('ndcg@10_vs_real_ci95'))} |")
    return "\n".join(rows)


def sampling_sweep_table(name: str = "sampling_sweep.json") -> str:
    data = _load(name)
    if data is None:
        return _missing(name, f"results/{name}")
    rows = ["* = the temperature the validation windows choose (a / b / c: one per code level, finest first); NDCG@10 "
            "with history kept, one event per held-out window (share of train-on-real); 95% intervals resample users.", "",
            "| cell | sampler | temperature | popularity JS | bigram precision | repeat rate | valid NDCG@10 "
            "| test NDCG@10 | test 95% interval | test share of real (95% interval) |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for cell, doc in data.items():
        real = doc["real"]
        rows.append(f"| {cell} | trained on real | – | – | – | – | {real['valid_ndcg@10']:.4f} | {real['test_ndcg@10']:.4f} "
                    f"| {ci_text(real.get('test_ci95'))} | – |")
        for p in doc["points"]:
            star = "*" if doc["chosen"][p["run"]]["temperature"] == p["temperature"] else ""
            rows.append(f"| {cell} | {p['label']} | {setting_text(p['temperature'])}{star} | {p['popularity_js']:.4f} | "
                        f"{p['bigram_precision']:.3f} | {p['repeat_rate']:.3f} | {p['valid_ndcg@10']:.4f} "
                        f"({_share(p['valid_over_real'], None)}) | {p['test_ndcg@10']:.4f} "
                        f"| {ci_text(p.get('test_ci95'))} | {_share(p['test_over_real'], p.get('test_over_real_ci95'))} |")
    return "\n".join(rows)


def synthetic_volume_table(name: str = "synthetic_volume.json") -> str:
    data = _load(name)
    if data is None:
        return _missing(name, f"results/{name}")
    rows = ["NDCG@10 with history kept on the test windows (one event per held-out window); shares with paired 95% "
            "intervals that resample users; 1x = as many windows as the held-out test windows.", "",
            "| cell | size | real windows | real NDCG@10 | real / real 1x | RSVQ-AE windows (T) | RSVQ-AE NDCG@10 "
            "| RSVQ-AE / real 1x | RSVQ-AE / real same size | popularity JS |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for cell, doc in data.items():
        for p in doc["points"]:
            r, s = p.get("real"), p.get("rsvq")
            row = f"| {cell} | {p['factor']}x | "
            row += ("– | – | – | " if r is None else
                    f"{r['windows']:,} | {r['test_ndcg@10']:.4f} | {_share(r['over_real_1x']['share'], r['over_real_1x']['share_ci95'])} | ")
            same = s and s["over_real_same_size"]
            row += ("– | – | – | – | – |" if s is None else
                    f"{s['windows']:,} ({doc['temperature']:g}) | {s['test_ndcg@10']:.4f} "
                    f"| {_share(s['over_real_1x']['share'], s['over_real_1x']['share_ci95'])} "
                    f"| {_share(same['share'], same['share_ci95']) if same else '–'} | {s['popularity_js']:.4f} |")
            rows.append(row)
    return "\n".join(rows)


def bench_generation_table() -> str:
    data = _load("bench_generation.json")
    if data is None:
        return _missing("bench_generation.json", "results/bench_generation.json")
    gen = {g["length"]: g for g in data["generation"]}
    rows = [f"RSVQ-AE at the default sizes, {data['threads']} thread(s); training: one epoch of full-length windows "
            "(adversary on); generation: prior sampling + decoding. Speeds: the median of "
            f"{data.get('repeats', 1)} runs (their range).", "",
            "| L | training sequences/s | training positions/s | peak RSS MiB (after imports) | generation sequences/s |",
            "|---:|---:|---:|---:|---:|"]

    def speed(r: dict) -> str:  # the median run, and the range over the repeats
        runs = r.get("sequences_per_s_runs")
        return f"{r['sequences_per_s']:.1f}" + (f" ({min(runs):.1f}-{max(runs):.1f})" if runs else "")

    for t in data["training"]:
        g = gen.get(t["length"])
        rows.append(f"| {t['length']} | {speed(t)} | {t['positions_per_s']:,.0f} | "
                    f"{t['peak_rss_mib']:,.0f} ({t['rss_after_imports_mib']:,.0f}) | {speed(g) if g else '–'} |")
    load = f"load average {data['load_average_before'][0]:.2f} before and {data['load_average_after'][0]:.2f} after"
    return "\n".join(rows + _machine_line(data.get("machine"), load))


def bench_encode_candidates_table() -> str:
    data = _load("bench_encode.json")
    if data is None:
        return _missing("bench_encode.json", "results/bench_encode.json")
    rows = ["| candidate | texts | items/s | min cosine vs fp32 | items with a changed OPQ code | changed codes |",
            "|---|---:|---:|---:|---:|---:|"]
    for c in data.get("candidates", []):
        rows.append(f"| {c['name']} | {c['texts']:,} | {c['items_per_s']:.1f} | {c['min_cosine']:.5f} "
                    f"| {100 * c['items_with_changed_codes']:.1f}% | {100 * c['changed_subcodes']:.2f}% |")
    chosen = data.get("ours_chosen", {})
    if chosen.get("precision_reason"):
        rows += ["", f"`encode.precision: auto` chose {chosen['precision']} on {chosen['device']}: "
                     f"{chosen['precision_reason']}."]
    hw = data.get("hardware", {})
    if hw.get("cpu_model"):
        load = f"load average {hw['loadavg_before'][0]:.2f} before and {hw['loadavg_after'][0]:.2f} after"
        rows += ["", f"Measured on: {hw['cpu_model']}, {hw['cpu_count']} cores, {load}."]
    return "\n".join(rows)


def scientific_published_table() -> str:
    """Our runs beside the published ones of the same name (configs/published.yaml), test, history kept."""
    data = _load("scientific.json")
    if data is None:
        return _missing("scientific.json", "results/scientific.json")
    ours = {"VQ-Rec": "vqrec_pretrained", "SASRec-ID": "sasrec_id"}
    rows = ["| model | metric | published | ours (95% CI) | ours / published | published inside our CI |",
            "|---|---|---:|---:|---:|---|"]
    for pub in _published("vqrec").get("Scientific", []):
        run = next((r for key, r in ours.items() if pub["label"].startswith(key + ",")), None)
        if run is None or run not in data:
            continue
        for m in METRICS:
            if m not in pub["metrics"]:
                continue
            value, (lo, hi), ref = data[run]["test"][m], data[run]["ci95"][m], float(pub["metrics"][m])
            rows.append(f"| {run} | {LABELS[m]} | {ref:.4f} | {value:.4f} [{lo:.4f}, {hi:.4f}] | {100 * value / ref:.1f}% "
                        f"| {'yes' if lo <= ref <= hi else 'no'} |")
    return "\n".join(rows)


def bench_metrics_table() -> str:
    data = _load("bench_metrics.json")
    if data is None:
        return _missing("bench_metrics.json", "results/bench_metrics.json")
    runs = data.get("rank_s_runs") or [data["rank_s_median"]]
    return "\n".join([
        "| users | items | users per batch | ranking and metrics, wall s (median of runs, range) | evaluate() CPU s (median) |",
        "|---:|---:|---:|---:|---:|",
        f"| {data['users']:,} | {data['items']:,} | {data['batch_size']} | {data['rank_s_median']:.3f} "
        f"({min(runs):.3f}-{max(runs):.3f}, {len(runs)} runs) | {data['evaluate_cpu_s_median']:.3f} |",
    ] + _machine_line(data.get("machine")))


LABELS = {"recall@10": "R@10", "ndcg@10": "N@10", "recall@50": "R@50", "ndcg@50": "N@50", "mrr": "MRR"}

# README headline tables: one compact table per capability; the docs pages hold the full ones.
HEADLINE_RUNS = {
    "vqrec_pretrained": "VQ-Rec: pre-trained on 7 other domains, codes fine-tuned here",
    "vqrec_scratch": "the same code model, trained on Scientific only",
    "text_only": "frozen text embedding + learned projection",
    "sasrec_id": "SASRec with item-ID embeddings",
    "ease": "EASE (non-sequential)",
}


def headline_vqrec_table() -> str:
    data = _load("scientific.json")
    if data is None:
        return _missing("scientific.json", "results/scientific.json")
    shown = ("recall@10", "ndcg@10", "recall@50", "ndcg@50")
    rows = ["| run | what it is | " + " | ".join(LABELS[m] for m in shown) + " |", "|---|---|" + "---:|" * len(shown)]
    for run, what in HEADLINE_RUNS.items():
        if run in data:
            rows.append(f"| {run} | {what} | " + " | ".join(f"{data[run]['test'][m]:.4f}" for m in shown) + " |")
    for pub in _published("vqrec").get("Scientific", []):
        cells = [f"{float(pub['metrics'][m]):.4f}" if m in pub["metrics"] else "–" for m in shown]
        rows.append(f"| *{pub['label']}* | not run here | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def headline_speed_table() -> str:
    """README: ours beside RecBole's own implementations, trained in one run on one machine (results/peers.json),
    then VQ-Rec's own fine-tune and pre-training figures (results/bench_finetune.json) and the text encoder's."""
    rows = ["| measurement | ours | peer |", "|---|---:|---:|"]
    doc = _load("peers.json")
    if doc and not doc.get("quick"):
        for name, label in (("sasrec", "SASRec-ID"), ("multvae", "Mult-VAE")):  # the rest: docs/peers.md
            if name in doc:
                o, r = doc[name]["ours"], doc[name]["recbole"]
                rows.append(f"| {label} on {doc['domain']}: s per training epoch / test N@10 | {o['epoch_s']:.2f} / "
                            f"{o['test']['ndcg@10']:.4f} | {r['epoch_s']:.2f} / {r['test']['ndcg@10']:.4f} (RecBole) |")
        rows.append(f"| SASRec-ID: full evaluation pass s / peak MB | {doc['sasrec']['ours']['eval_s']:.2f} / "
                    f"{doc['sasrec']['ours']['peak_rss_mb']:,.0f} | {doc['sasrec']['recbole']['eval_s']:.2f} / "
                    f"{doc['sasrec']['recbole']['peak_rss_mb']:,.0f} (RecBole) |")
        peers_cpu = doc["machine"]["cpu"]
    else:
        rows.append("| RecBole beside ours | – | not measured yet: `make results/peers.json` |")
        peers_cpu = None
    data = _load("bench_finetune.json")
    if data:
        pre = data["pretrain_seq_per_s"]
        rows += [f"| VQ-Rec fine-tune epoch s / evaluation s / peak MB (Scientific) | {data['epoch_s']:.1f} / "
                 f"{data['eval_s']:.2f} / {data['peak_rss_mb']:,.0f} | – |",
                 f"| VQ-Rec pre-training, windows/s on 1 / 2 processes | {pre['1']:,.0f} / {pre['2']:,.0f} | – |"]
    enc = _load("bench_encode.json")
    if enc:
        rows.append(f"| item-text encoding, items/s | {enc['ours_items_per_s']:.1f} "
                    f"| {enc['sentence_transformers_items_per_s']:.1f} (SentenceTransformer.encode) |")
    where = []
    if peers_cpu:
        where.append(f"RecBole rows: `results/peers.json`, {peers_cpu}, {doc['machine']['cores']} cores")
    for name, d in (("bench_finetune.json", data), ("bench_encode.json", enc)):
        m = (d or {}).get("machine")
        if m:
            where.append(f"`results/{name}`: {m['cpu']}, {m['cores']} cores")
    return "\n".join(rows + (["", "Measured on: " + "; ".join(where) + "."] if where else []))


def headline_generation_table() -> str:
    data = _load("rsvqae.json")
    if data is None:
        return _missing("rsvqae.json", "results/rsvqae.json")
    rows = ["| data | L | RSVQ-AE token accuracy (paper) | popularity JS: RSVQ-AE (real held-out) "
            "| train-on-synthetic / train-on-real NDCG@10: RSVQ-AE (95% CI) | VAE | VQ-VAE |",
            "|---|---:|---:|---:|---:|---:|---:|"]

    def share(r: dict | None) -> str:
        if not r or r.get("tstr_ndcg@10") is None or not r.get("trtr_ndcg@10"):
            return "–"
        return _share(r["tstr_ndcg@10"] / r["trtr_ndcg@10"], r.get("tstr_share_ci95"))

    for domain, cells in data.items():
        if domain == "augmentation":
            continue
        for length, runs in sorted(cells.items(), key=lambda kv: int(kv[0])):
            r = runs.get("rsvq")
            if not r:
                continue
            paper = r.get("paper_accuracy")
            real = r.get("reference_real", {}).get("popularity_js")
            rows.append(f"| {domain} | {length} | {100 * r['accuracy']:.2f}% ({_fmt(paper and 100 * paper, '.2f')}%) "
                        f"| {_fmt(r.get('popularity_js'), '.3f')} ({_fmt(real, '.3f')}) | {share(r)} "
                        f"| {share(runs.get('vae'))} | {share(runs.get('vqvae'))} |")
    return "\n".join(rows)


def commands_table() -> str:
    """One row per `textcode` command, its help line (the first line of its module's docstring)."""
    from textcode.cli import commands, summary

    rows = ["| command | what it does |", "|---|---|"]
    rows += [f"| `{name}` | {summary(module)} |" for name, module in commands().items()]
    return "\n".join(rows)


TABLES: dict[str, Callable[[], str]] = {
    "commands": commands_table,
    "codes": codes_table,
    "bench_encode": bench_encode_table,
    "bench_encode_candidates": bench_encode_candidates_table,
    "scientific": scientific_table,
    "scientific_published": scientific_published_table,
    "baselines": baselines_table,
    "transfer": transfer_table,
    "headline_transfer": headline_transfer_table,
    "bench_finetune": bench_finetune_table,
    "peers": peers_table,
    "bench_metrics": bench_metrics_table,
    "rsvqae": rsvqae_table,
    "sampling_sweep": sampling_sweep_table,
    "level_temperature": lambda: sampling_sweep_table("level_temperature.json"),
    "synthetic_volume": synthetic_volume_table,
    "synthetic_volume_8x": lambda: synthetic_volume_table("synthetic_volume_8x.json"),
    "bench_generation": bench_generation_table,
    "headline_vqrec": headline_vqrec_table,
    "headline_speed": headline_speed_table,
    "headline_generation": headline_generation_table,
}

MARKER = re.compile(r"<!-- table:([\w-]+) -->\n.*?<!-- /table:\1 -->", re.S)


def pages() -> list[Path]:
    """The pages that hold tables: README.md and every markdown file under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def render(text: str, where: str = "text") -> str:
    """`text` with every table block rewritten; a block naming no table is an error."""
    unknown = sorted({m.group(1) for m in MARKER.finditer(text)} - set(TABLES))
    if unknown:
        raise SystemExit(f"{where}: no table named {', '.join(unknown)} (tables: {', '.join(TABLES)})")
    for name, make in TABLES.items():
        pattern = re.compile(rf"(<!-- table:{name} -->\n).*?(<!-- /table:{name} -->)", re.S)
        text = pattern.sub(lambda m: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pages", nargs="*", help="pages to rewrite (default: README.md and docs/**/*.md)")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a page is out of date")
    args = p.parse_args()
    stale = []
    for path in [Path(x) for x in args.pages] or pages():
        old = path.read_text(encoding="utf-8")
        new = render(old, str(path))
        if new == old:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(new, encoding="utf-8")
            print(f"updated {path}")
    if args.check and stale:
        for path in stale:
            print(f"{path} is out of date: run python experiments/readme_tables.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
