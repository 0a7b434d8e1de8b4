"""Peers in the same run: RecBole 1.2.1's SASRec, MultiVAE, MultiDAE, CDAE and EASE against ours on one domain's
leave-one-out split, both scored by our evaluator; writes results/peers.json (docs/peers.md).

    make results/peers.json [DOMAIN=Scientific] [PEERS_ARGS="--sasrec-epochs 10"]
    make peers-quick                          1 epoch per model on demo-scientific (what tests/test_peers.py runs)
    .venv/bin/python bench/peers/run.py --domain Scientific --out results/peers.json

1. The split goes out as RecBole atomic files (bench/peers/atomic.py) and is read back and compared with ours.
2. For each model, our side trains in its own process of this environment (its resolved config:
   finetune.sasrec_id, baseline.<run>) and is evaluated on the test users; then RecBole's counterpart trains in
   its own process of .venv-recbole (bench/peers/recbole_worker.py), with the settings matched to ours, asserts
   that its leave-one-out is ours, and exports its scores of every item for our test histories.
3. RecBole's score matrix, wrapped as a Recommender, goes through the same evaluator (textcode.eval.evaluation).
Each side's process records its own per-epoch seconds, one full test pass and its peak resident memory.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.peers import atomic  # noqa: E402

# ours -> (stage of its resolved config, run, RecBole's model)
PEERS: dict[str, tuple[str, str, str]] = {
    "sasrec": ("finetune", "sasrec_id", "SASRec"),
    "multvae": ("baseline", "multvae", "MultiVAE"),
    "multdae": ("baseline", "multdae", "MultiDAE"),
    "cdae": ("baseline", "cdae", "CDAE"),
    "ease": ("baseline", "ease", "EASE"),
}
METRICS = ("recall@10", "ndcg@10", "recall@50", "ndcg@50")
QUICK_DOMAIN, QUICK_EPOCHS, QUICK_BOOT = "demo-scientific", 1, 200


def log(msg: str) -> None:
    print(f"[peers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- scoring, the same for both sides

def summarize(result, n_boot: int, seed: int) -> dict[str, dict[str, Any]]:
    """{"test": ..., "test_history_removed": ...}: the four metrics' means with 95% bootstrap intervals over users."""
    from textcode.eval.bootstrap import bootstrap_ci

    out = {}
    for protocol, key in (("history_kept", "test"), ("history_removed", "test_history_removed")):
        per = result.per_user[protocol]
        out[key] = {m: float(per[m].mean()) for m in METRICS}
        out[key]["ci95"] = {m: [round(x, 5) for x in bootstrap_ci(per[m], n_boot, seed)] for m in METRICS}
    return out


class RowHistory(np.ndarray):
    """A history that knows its user (`row`), so a precomputed score matrix can answer for it."""

    row: int


def with_rows(evalset):
    """`evalset` (textcode.data.split.EvalSet) whose histories carry their user index."""
    from textcode.data.split import EvalSet

    @dataclasses.dataclass(frozen=True)
    class RowEvalSet(EvalSet):
        def history(self, row: int) -> np.ndarray:
            h = super().history(row).view(RowHistory)
            h.row = int(self.users[row])
            return h

    return RowEvalSet(**{f.name: getattr(evalset, f.name) for f in dataclasses.fields(EvalSet)})


class ScoreMatrix:
    """A Recommender over precomputed (U, I) scores (RecBole's export): row u answers user u's history."""

    def __init__(self, path: Path):
        self.scores = np.load(path, mmap_mode="r", allow_pickle=False)
        self.n_items = int(self.scores.shape[1])

    def score_histories(self, histories: Sequence[RowHistory]):
        import torch

        return torch.from_numpy(np.ascontiguousarray(self.scores[[h.row for h in histories]]))


# ----------------------------------------------------------------------------- our side (a worker process)

def fit_sasrec(cfg: dict, split, seed: int) -> dict:
    """Our SASRec-ID as `textcode finetune` trains it (finetune.init: scratch, item-ID embeddings)."""
    from textcode.core.settings import section
    from textcode.data.windows import cut_from_end
    from textcode.rec.config import FinetuneConfig, SASRecConfig
    from textcode.rec.finetune import build_model, train_model
    from textcode.rec.item_embedding import DomainInputs
    from textcode.runtime.distributed import Dist
    from textcode.training.config import TrainConfig

    ft, mc = section(cfg, "finetune", FinetuneConfig), section(cfg, "model", SASRecConfig)
    tc = section(cfg, "train", TrainConfig)
    model = build_model(mc, ft, split.n_items, DomainInputs(), None)
    windows = cut_from_end(split.train_offsets, split.train_items, mc.max_len)
    summary = train_model(model, windows, split.valid, ft, tc, Dist(), None, seed)
    history = summary["history"]
    return {"scorer": model.eval(), "eval_batch": ft.eval_batch_size, "history": history,
            "best_epoch": summary["best_epoch"], "stopped": summary["stopped"], "max_epochs": tc.epochs,
            "best_valid_ndcg@10": summary["best_valid_ndcg@10"],
            # what one optimizer step trains on, in RecBole's unit (one example per target)
            "targets_per_step": windows.n_targets() * len(history) / max(1, history[-1]["steps"])}


def fit_baseline(name: str, module, mcfg, split, seed: int) -> dict:
    """One of our baselines with one Config, as `textcode baseline` fits it; with its validation NDCG@10."""
    if name == "ease":
        scorer, curve = module.select_and_fit(split, mcfg)
        best = next(c for c in curve if c["l2"] == scorer.l2)
        # one closed-form fit at the chosen l2 stands for an epoch; the l2 search is in train_s
        return {"scorer": scorer, "eval_batch": mcfg.batch_size, "history": [{"train_s": best["fit_s"]}],
                "best_epoch": 1, "stopped": "closed_form", "max_epochs": 1, "l2": scorer.l2,
                "best_valid_ndcg@10": best["valid_ndcg@10"], "l2_tried": [c["l2"] for c in curve]}
    scorer, res = module.train(split, mcfg, seed=seed, device="cpu")
    return {"scorer": scorer, "eval_batch": mcfg.eval_batch_size, "history": res.history, "best_epoch": res.best_epoch,
            "stopped": res.stopped, "max_epochs": mcfg.epochs, "best_valid_ndcg@10": res.best_metric}


def train_ours(name: str, cfg: dict, prepared: Path, n_boot: int, threads: int) -> dict:
    """Train our model of `name` with its resolved config, evaluate it on the test users; the result's fields.

    A baseline run's `search` section is followed as `textcode baseline` does (every combination with the same
    seed, the best validation NDCG@10 kept, the earlier on a tie); the timings are the chosen fit's, `search`
    names its values (RecBole is given them) and `search_s` is the whole search."""
    import torch

    from textcode.core import artifacts
    from textcode.core.config import build
    from textcode.core.model_kinds import model_module
    from textcode.data.domain import Domain
    from textcode.data.split import leave_one_out
    from textcode.eval.evaluation import evaluate
    from textcode.runtime.seeding import seed_everything

    if threads:
        torch.set_num_threads(threads)
    seed = int(cfg["seed"])
    split = leave_one_out(Domain.load(prepared))
    grid = cfg.get("search") or {}
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]  # [{}] without a search
    search_start = time.perf_counter()
    chosen: dict[str, Any] | None = None
    for combo in combos:
        seed_everything(seed)  # before any model is built: every candidate starts alike
        start = time.perf_counter()
        if name == "sasrec":
            fitted = fit_sasrec(cfg, split, seed)
        else:
            settings = dict(cfg["baseline"])
            module = model_module(settings.pop("kind"))
            mcfg = build(module.Config, {**settings, **combo}, prefix="baseline.")
            fitted = fit_baseline(name, module, mcfg, split, seed)
        fitted["train_s"] = time.perf_counter() - start
        if len(combos) > 1:
            log(f"{name}: search {combo}: valid NDCG@10 {fitted['best_valid_ndcg@10']:.4f}")
        if chosen is None or fitted["best_valid_ndcg@10"] > chosen["best_valid_ndcg@10"]:
            chosen = {**fitted, "search": combo}
    assert chosen is not None
    result = evaluate(chosen.pop("scorer"), split.test, batch_size=chosen.pop("eval_batch"))
    epoch_s = [row["train_s"] for row in chosen.pop("history")]
    if len(combos) > 1:
        chosen.update(search_tried=len(combos), search_s=time.perf_counter() - search_start)
    else:
        chosen.pop("search")
    return {**summarize(result, n_boot, seed), "epochs": len(epoch_s),
            "epoch_s": statistics.median(epoch_s[1:] if len(epoch_s) > 1 else epoch_s),  # the first epoch warms up
            "epoch_s_all": [round(s, 3) for s in epoch_s], "eval_s": result.wall_s, "peak_rss_mb": artifacts.peak_rss_mb(),
            "threads": torch.get_num_threads(), **chosen}


# ----------------------------------------------------------------------------- RecBole's settings from ours

def recbole_settings(name: str, cfg: dict, ours: dict, sasrec_epochs: int) -> dict:
    """RecBole config entries matching our model's settings as far as RecBole's model has them (docs/peers.md)."""
    def loop(epochs: int, patience: int, lr: float, batch: int) -> dict:
        # ours stops after `patience` epochs without a better validation NDCG@10 (0: never); RecBole after
        # stopping_step + 1 such epochs
        return {"epochs": epochs, "stopping_step": patience - 1 if patience else epochs, "learning_rate": lr,
                "train_batch_size": int(batch), "weight_decay": 0.0}

    if name == "sasrec":
        m, t = cfg["model"], cfg["train"]
        epochs = min(t["epochs"], sasrec_epochs) if sasrec_epochs else t["epochs"]
        return {"n_layers": m["n_layers"], "n_heads": m["n_heads"], "hidden_size": m["hidden"], "inner_size": m["ffn"],
                "hidden_dropout_prob": m["dropout"], "attn_dropout_prob": m["dropout"], "hidden_act": "gelu",
                "layer_norm_eps": m["layer_norm_eps"], "initializer_range": m["init_std"], "loss_type": "CE",
                "MAX_ITEM_LIST_LENGTH": m["max_len"],
                **loop(epochs, t["patience"], t["lr"], round(ours["targets_per_step"])),
                "weight_decay": t["weight_decay"]}
    if name == "ease":
        return {"reg_weight": ours["l2"]}
    from textcode.core.config import build
    from textcode.core.model_kinds import model_module

    settings = {**cfg["baseline"], **ours.get("search", {})}  # our run's values, as its search chose them
    b = build(model_module(settings.pop("kind")).Config, settings, prefix="baseline.")  # with its defaults
    base = loop(b.epochs, b.patience, b.lr, b.batch_size)
    if name in ("multvae", "multdae"):
        from textcode.baselines.multvae import resolved

        hidden, l2 = resolved(b)
        # RecBole's VAE encoder ends in 2 x latent (the mu and log var halves), its DAE's in the code itself
        latent = 2 * hidden[-1] if name == "multvae" else hidden[-1]
        out = {"mlp_hidden_size": list(hidden[:-1]), "latent_dimension": latent, "dropout_prob": b.dropout, **base}
        # our penalty l2 sum ||W||^2 as Adam's L2 term: gradient 2 l2 W (RecBole's models have no penalty of their
        # own; this one decays the biases too)
        out["weight_decay"] = 2 * l2
        if name == "multvae":
            out.update(anneal_cap=b.beta_max, total_anneal_steps=b.total_anneal_steps)
        return out
    if name == "cdae":
        return {"embedding_size": b.hidden, "hid_activation": b.hidden_activation, "out_activation": "sigmoid",
                "loss_type": "BCE" if b.loss == "logistic" else "MSE", "corruption_ratio": b.corruption,
                "reg_weight_1": 0.0, "reg_weight_2": b.l2, **base}
    raise ValueError(name)


# ----------------------------------------------------------------------------- the driver

def resolved_configs(args: argparse.Namespace, names: Sequence[str]) -> dict[str, dict]:
    """Each model's resolved config: <config-dir>/<stage>.<run>.json (what make resolved), else resolved now."""
    from textcode.commands.common import resolved_config

    out = {}
    for name in names:
        stage, run, _ = PEERS[name]
        if args.config_dir:
            out[name] = json.loads((Path(args.config_dir) / f"{stage}.{run}.json").read_text())
        else:
            ns = argparse.Namespace(config=None, domain=args.domain, run=run, configs=args.configs, set=[])
            out[name] = resolved_config(ns, stage)
        if args.epochs:  # quick mode: a cap on every model's epochs
            section = out[name]["train" if stage == "finetune" else "baseline"]
            if "epochs" in section:
                section["epochs"] = min(section["epochs"], args.epochs)
    return out


def run_checked(cmd: list[str], **kw) -> None:
    log("$ " + " ".join(cmd if len(" ".join(cmd)) < 400 else cmd[:6] + ["..."]))
    done = subprocess.run(cmd, **kw)
    if done.returncode != 0:
        raise SystemExit(f"peers: {' '.join(cmd[:4])} ... failed (exit {done.returncode})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--domain", help=f"default Scientific; {QUICK_DOMAIN} with --quick")
    p.add_argument("--art", default="artifacts")
    p.add_argument("--prepared", help="the domain's prepared folder (default <art>/<domain>/prepared)")
    p.add_argument("--configs", default="configs")
    p.add_argument("--config-dir", help="resolved configs (<stage>.<run>.json; make passes <art>/<domain>/config); "
                                        "default: resolved now from --configs")
    p.add_argument("--models", nargs="+", choices=list(PEERS), default=list(PEERS))
    p.add_argument("--sasrec-epochs", type=int, default=0,
                   help="cap RecBole's SASRec epochs (it runs ~30x slower per epoch than ours; 0: ours' epochs)")
    p.add_argument("--epochs", type=int, default=0, help="cap every model's epochs, both sides (0: none)")
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK_DOMAIN}, {QUICK_EPOCHS} epoch per model, {QUICK_BOOT} bootstrap resamples")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--threads", type=int, default=0, help="torch threads on both sides (0: torch's default)")
    p.add_argument("--recbole-python", default=str(ROOT / ".venv-recbole" / "bin" / "python"))
    p.add_argument("--work", help="working folder (default <art>/<domain>/peers)")
    p.add_argument("--out", default="results/peers.json")
    p.add_argument("--worker", choices=["ours"], help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--config", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker == "ours":
        from textcode.commands.common import setup_logging

        setup_logging()
        result = train_ours(args.model, json.loads(Path(args.config).read_text()), Path(args.prepared), args.n_boot,
                            args.threads)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        return

    if args.quick:
        args.domain = args.domain or QUICK_DOMAIN
        args.epochs = args.epochs or QUICK_EPOCHS
        args.sasrec_epochs = args.sasrec_epochs or QUICK_EPOCHS
        args.n_boot = QUICK_BOOT
    args.domain = args.domain or "Scientific"
    recbole_python = Path(args.recbole_python).absolute()  # the worker runs in its own folder; no resolve(): the venv's python is a link
    if not recbole_python.exists():
        raise SystemExit(f"peers: no RecBole environment at {recbole_python} (make recbole-env)")
    from textcode.core import artifacts
    from textcode.data.domain import Domain
    from textcode.data.split import leave_one_out
    from textcode.eval.evaluation import evaluate
    from textcode.runtime import device

    start = time.perf_counter()
    prepared = Path(args.prepared or Path(args.art) / args.domain / "prepared").resolve()  # workers run in ROOT
    work = Path(args.work or Path(args.art) / args.domain / ("peers-quick" if args.quick else "peers")).resolve()
    domain = Domain.load(prepared)
    split = leave_one_out(domain)
    ours_split = atomic.Split(split.n_items, split.train_offsets, split.train_items, split.valid.targets,
                              split.test.targets)
    name = "peers"  # RecBole's dataset name: <work>/atomic/peers/peers.inter
    atomic.write_atomic(work / "atomic", name, domain.offsets, domain.items, domain.n_items)
    diffs = atomic.same_split(atomic.leave_one_out(*atomic.read_atomic(work / "atomic", name)), ours_split)
    if diffs:
        raise SystemExit(f"peers: the atomic files do not give our split back: {diffs}")
    atomic.save_split(work / "split.npz", ours_split)
    log(f"{args.domain}: {domain.n_users} users, {domain.n_items} items, {domain.n_interactions} interactions; "
        f"atomic files read back to our split -> {work}")

    configs = resolved_configs(args, args.models)
    doc: dict[str, Any] = {"domain": args.domain, "n_users": domain.n_users, "n_items": domain.n_items,
                           "quick": args.quick, "n_boot": args.n_boot}
    threads: dict[str, int] = {}
    recbole_versions: dict[str, str] = {}
    for model in args.models:
        stage, run, peer = PEERS[model]
        cfg, seed = configs[model], int(configs[model]["seed"])
        ours_dir, peer_dir = work / "ours" / model, work / "recbole" / peer
        ours_dir.mkdir(parents=True, exist_ok=True)
        peer_dir.mkdir(parents=True, exist_ok=True)
        (ours_dir / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        log(f"{model}: ours ({stage}.{run}) training")
        run_checked([sys.executable, __file__, "--worker", "ours", "--model", model,
                     "--config", str(ours_dir / "config.json"), "--prepared", str(prepared),
                     "--n-boot", str(args.n_boot), "--threads", str(args.threads),
                     "--out", str(ours_dir / "result.json")], cwd=ROOT)
        ours = json.loads((ours_dir / "result.json").read_text())
        log(f"{model}: ours {ours['epochs']} epochs, {ours['epoch_s']:.2f} s/epoch, "
            f"test NDCG@10 {ours['test']['ndcg@10']:.4f}")
        settings = recbole_settings(model, cfg, ours, args.sasrec_epochs)
        log(f"{model}: RecBole {peer} training")
        run_checked([str(recbole_python), str(ROOT / "bench" / "peers" / "recbole_worker.py"), "--work", str(work),
                     "--dataset", name, "--model", peer, "--settings", json.dumps(settings), "--seed", str(seed),
                     "--threads", str(args.threads), "--out", str(peer_dir)], cwd=peer_dir)
        theirs = json.loads((peer_dir / "result.json").read_text())
        result = evaluate(ScoreMatrix(peer_dir / "test_scores.npy"), with_rows(split.test))
        theirs.update(summarize(result, args.n_boot, seed))
        recbole_versions = theirs.pop("versions")
        threads = {"ours": ours.pop("threads"), "recbole": theirs.pop("threads")}
        theirs.pop("settings")
        doc[model] = {"ours": ours, "recbole": theirs,
                      "settings": {"ours": {k: v for k, v in cfg.items() if k not in ("stage", "run", "domain")},
                                   "recbole": settings}}
        own = theirs["own_test"].get("ndcg@10", float("nan"))
        log(f"{model}: RecBole {theirs['epochs']} epochs, {theirs['epoch_s']:.2f} s/epoch, "
            f"test NDCG@10 {theirs['test']['ndcg@10']:.4f} (its own evaluator: {own:.4f})")
    import torch

    doc["machine"] = {**device.describe(), "threads": threads}
    doc["versions"] = {"ours": {"torch": torch.__version__, "numpy": np.__version__}, "recbole": recbole_versions}
    doc["wall_s"] = round(time.perf_counter() - start, 1)
    artifacts.write_text(args.out, json.dumps(doc, indent=2) + "\n")  # atomic: make never sees half a file
    log(f"-> {args.out} ({doc['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
