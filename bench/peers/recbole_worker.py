"""The RecBole side of bench/peers: runs in .venv-recbole (RecBole 1.2.1, numpy<2), never in the project's .venv.

    .venv-recbole/bin/python bench/peers/recbole_worker.py --work W --dataset peers --model SASRec \
        --settings '{...}' --out W/recbole/SASRec

Reads <work>/atomic/<dataset>/ (RecBole's atomic files) and <work>/split.npz (our split, bench/peers/atomic.py),
checks that RecBole's leave-one-out is ours, trains one RecBole model with RecBole's own trainer (early stopping on
its validation NDCG@10, best checkpoint reloaded), times its epochs and one full test pass of its own evaluator, and
writes into --out:
  valid_scores.npy, test_scores.npy   (U, I) float32: the trained model's scores of every item (our item order) for
                                      our validation / test history of each user (our user order), computed from
                                      those histories (per model: docs/peers.md)
  result.json                         timings, epochs, RecBole's own test metrics, settings, versions
Run with the output folder as working directory: RecBole writes log/ and log_tensorboard/ there.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

# RecBole 1.2.1 reloads its own checkpoints (pickled configs and arrays) with torch.load, which torch >= 2.6 refuses
# by default; set before torch is imported
os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.peers.atomic import Split, load_split  # noqa: E402

METRICS = ("recall@10", "ndcg@10", "recall@50", "ndcg@50")


def base_config(work: Path, dataset: str, seed: int) -> dict:
    """What every model shares: our split (see bench/peers/atomic.py), full ranking, selection on NDCG@10."""
    return {
        "data_path": str(work / "atomic"), "dataset": dataset, "checkpoint_dir": "saved",
        "load_col": {"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id"]},
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user", "mode": "full"},
        "train_neg_sample_args": None,  # SASRec with CE and the autoencoders take no sampled negatives
        "metrics": ["Recall", "NDCG"], "topk": [10, 50], "valid_metric": "NDCG@10", "eval_step": 1,
        "use_gpu": False, "seed": seed, "reproducibility": True, "show_progress": False, "state": "INFO",
    }


def ids(dataset, field: str) -> np.ndarray:
    """RecBole id -> our index (the tokens are our indices; id 0 is RecBole's padding, -1 here)."""
    tokens = dataset.field2id_token[field]
    return np.array([-1] + [int(t) for t in tokens[1:]], np.int64)


def check_split(ours: Split, train, valid, test, item_of: np.ndarray, user_of: np.ndarray) -> dict:
    """Assert that RecBole's train / valid / test data are our split; returns what was compared."""
    lengths = np.diff(ours.train_offsets)
    for name, loader, targets in (("valid", valid, ours.valid_targets), ("test", test, ours.test_targets)):
        f = loader._dataset.inter_feat
        users, items = user_of[f["user_id"].numpy()], item_of[f["item_id"].numpy()]
        assert len(users) == ours.n_users and np.array_equal(np.sort(users), np.arange(ours.n_users)), \
            f"RecBole's {name} set does not hold every user once"
        assert np.array_equal(items, targets[users]), f"RecBole's {name} targets differ from ours"
        if "item_id_list" in f:  # sequential: the history RecBole feeds the model, its last MAX_ITEM_LIST_LENGTH items
            hist, n = item_of[f["item_id_list"].numpy()], f["item_length"].numpy()
            for row, u in enumerate(users):
                want = ours.valid_history(u) if name == "valid" else ours.test_history(u)
                want = want[-hist.shape[1]:]
                assert n[row] == len(want) and np.array_equal(hist[row, :n[row]], want), \
                    f"RecBole's {name} history of user {u} differs from ours"
    f = train._dataset.inter_feat
    users, items = user_of[f["user_id"].numpy()], item_of[f["item_id"].numpy()]
    pos = f["timestamp"].numpy().astype(np.int64)  # our position in the user's sequence
    assert (pos < lengths[users]).all(), "RecBole trains on a held-out position"
    assert np.array_equal(items, ours.train_items[ours.train_offsets[users] + pos]), "RecBole's training items differ"
    sequential = "item_id_list" in f
    # sequential: one example per training target (positions 1..), general: one row per training interaction
    want = lengths - 1 if sequential else lengths
    assert np.array_equal(np.bincount(users, minlength=ours.n_users), want), "RecBole's training rows per user differ"
    assert len(np.unique(users * (lengths.max() + 1) + pos)) == len(pos), "RecBole trains on a position twice"
    return {"users": ours.n_users, "train_rows": int(len(users)), "sequential": sequential}


def histories(split: Split, which: str) -> list[np.ndarray]:
    get = split.valid_history if which == "valid" else split.test_history
    return [get(u) for u in range(split.n_users)]


@torch.no_grad()
def score_rows(model, name: str, hist: list[np.ndarray], users: np.ndarray, rid: np.ndarray, n_ids: int) -> np.ndarray:
    """(B, n_ids) scores over RecBole ids for our histories (our item indices), from each model's own forward."""
    if name == "SASRec":
        width = model.max_seq_length
        seq = torch.zeros((len(hist), width), dtype=torch.long)  # left-aligned, 0-padded, as RecBole's
        lengths = torch.zeros(len(hist), dtype=torch.long)
        for i, h in enumerate(hist):
            h = rid[h[-width:]]
            seq[i, :len(h)], lengths[i] = torch.from_numpy(h), len(h)
        out = model.forward(seq, lengths)  # (B, H): the hidden state at each history's last item
        return (out @ model.item_embedding.weight.T).numpy()  # SASRec.full_sort_predict's scores
    rows = np.repeat(np.arange(len(hist)), [len(h) for h in hist])
    cols = rid[np.concatenate(hist)]
    if name == "EASE":
        import scipy.sparse as sp

        # the row RecBole's interaction_matrix would hold for this history: a repeated item counts twice
        x = sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(len(hist), n_ids))
        return np.asarray(x @ model.item_similarity, dtype=np.float32)
    x = torch.zeros((len(hist), n_ids))
    x[torch.from_numpy(rows), torch.from_numpy(cols)] = 1.0  # get_rating_matrix's binary row
    if name == "MultiVAE":
        return model.forward(x)[0].numpy()  # the decoded mean code (eval mode: no sampling, no dropout)
    if name == "MultiDAE":
        return model.forward(x).numpy()
    if name == "CDAE":  # the user's own trained node; logits (the output sigmoid is monotone and ties in float32)
        return model.forward(x, torch.from_numpy(users)).numpy()
    raise ValueError(f"no scoring for RecBole model {name}")


def export_scores(model, name: str, split: Split, item_of: np.ndarray, user_of: np.ndarray, out: Path,
                  batch: int = 1024) -> float:
    """valid_scores.npy and test_scores.npy; returns the seconds it took."""
    start = time.perf_counter()
    rid = np.zeros(split.n_items, np.int64)
    rid[item_of[1:]] = np.arange(1, len(item_of))  # our item -> RecBole id
    uid = np.zeros(split.n_users, np.int64)
    uid[user_of[1:]] = np.arange(1, len(user_of))
    model.eval()
    for which in ("valid", "test"):
        hist = histories(split, which)
        # written batch by batch through a plain file (a memory map's dirty pages would count in this process's RSS)
        with open(out / f"{which}_scores.npy", "wb") as f:
            np.lib.format.write_array_header_2_0(f, {"descr": "<f4", "fortran_order": False,
                                                     "shape": (split.n_users, split.n_items)})
            for lo in range(0, split.n_users, batch):
                part = score_rows(model, name, hist[lo:lo + batch], uid[lo:lo + batch], rid, len(item_of))
                f.write(np.ascontiguousarray(part[:, rid], dtype="<f4").tobytes())  # our item order
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", required=True, type=Path, help="holds atomic/<dataset>/ and split.npz")
    p.add_argument("--dataset", required=True)
    p.add_argument("--model", required=True, choices=["SASRec", "MultiVAE", "MultiDAE", "CDAE", "EASE"])
    p.add_argument("--settings", default="{}", help="RecBole config entries (JSON) over the shared ones")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args()
    sys.argv = sys.argv[:1]  # RecBole's Config reads --key=value arguments from the command line itself

    import recbole
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_logger, init_seed

    args.out.mkdir(parents=True, exist_ok=True)
    settings = json.loads(args.settings)
    config = Config(model=args.model, config_dict={**base_config(args.work.resolve(), args.dataset, args.seed),
                                                   **settings})
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    # importing recbole.model turns autograd anomaly detection on for the whole process (its SINE module does, at
    # import): every backward then checks for NaNs and keeps forward traces, about 1.3x slower. Off, as RecBole
    # meant for every model but SINE.
    torch.autograd.set_detect_anomaly(False)
    if args.threads:
        torch.set_num_threads(args.threads)
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    split = load_split(args.work / "split.npz")
    item_of, user_of = ids(dataset, "item_id"), ids(dataset, "user_id")
    checked = check_split(split, train, valid, test, item_of, user_of)
    print(f"[recbole] {args.model}: split checked, RecBole's leave-one-out is ours ({checked})", flush=True)

    start = time.perf_counter()
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])  # as run_recbole does
    model = get_model(config["model"])(config, train._dataset).to(config["device"])
    init_s = time.perf_counter() - start  # EASE solves its closed form here
    torch.autograd.set_detect_anomaly(False)  # in case building the model imported recbole.model again

    epoch_s: list[float] = []
    valid_s: list[float] = []
    valid_scores: list[float] = []

    class Timed(get_trainer(config["MODEL_TYPE"], config["model"])):  # type: ignore[misc]
        """RecBole's trainer for the model, timing each training epoch and each validation pass."""

        def _train_epoch(self, *a, **k):
            t = time.perf_counter()
            loss = super()._train_epoch(*a, **k)
            epoch_s.append(time.perf_counter() - t)
            return loss

        def _valid_epoch(self, *a, **k):
            t = time.perf_counter()
            score, result = super()._valid_epoch(*a, **k)
            valid_s.append(time.perf_counter() - t)
            valid_scores.append(float(score))
            return score, result

    trainer = Timed(config, model)
    start = time.perf_counter()
    trainer.fit(train, valid, saved=True, show_progress=False)
    train_s = time.perf_counter() - start
    # RecBole's own checkpoint, written a moment ago by this process's trainer and deleted below: it pickles its
    # config, so weights_only cannot read it; nothing a user hands in is ever loaded here
    checkpoint = torch.load(trainer.saved_model_file, map_location="cpu", weights_only=False)
    model.load_state_dict(checkpoint["state_dict"])
    model.load_other_parameter(checkpoint.get("other_parameter"))
    del checkpoint
    Path(trainer.saved_model_file).unlink()  # a pickle (config, optimizer, EASE's matrices): not kept as an output
    start = time.perf_counter()
    own = trainer.evaluate(test, load_best_model=False, show_progress=False)
    eval_s = time.perf_counter() - start
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB; before the export
    export_s = export_scores(model, args.model, split, item_of, user_of, args.out)
    # RecBole's early stopping keeps the later of equal scores (>=)
    best = len(valid_scores) - int(np.argmax(valid_scores[::-1])) if valid_scores else 0
    epochs = len(epoch_s)
    max_epochs = int(config["epochs"])
    if args.model == "EASE":  # its fit is the constructor; the trainer's one "epoch" does nothing
        epoch_s, epochs, max_epochs = [init_s], 1, 1
    result = {
        "epochs": epochs, "best_epoch": best, "max_epochs": max_epochs,
        "epoch_s": statistics.median(epoch_s[1:] if len(epoch_s) > 1 else epoch_s),  # the first epoch warms up
        "epoch_s_all": [round(s, 3) for s in epoch_s], "valid_s_all": [round(s, 3) for s in valid_s],
        "valid_ndcg@10": [round(s, 5) for s in valid_scores], "train_s": train_s, "init_s": init_s,
        "eval_s": eval_s, "export_s": export_s,
        "peak_rss_mb": peak_rss_mb,
        "own_test": {k.lower(): float(v) for k, v in own.items() if k.lower() in METRICS},
        "threads": torch.get_num_threads(), "split_check": checked,
        "settings": {k: config[k] for k in sorted(settings)},
        "versions": {"recbole": recbole.__version__, "torch": torch.__version__, "numpy": np.__version__},
        "anomaly_detection": torch.is_anomaly_enabled(),
    }
    (args.out / "result.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"[recbole] {args.model}: {epochs} epochs, {result['epoch_s']:.2f} s/epoch, test pass {eval_s:.2f} s, "
          f"peak {peak_rss_mb:.0f} MB; its own test NDCG@10 {result['own_test'].get('ndcg@10', float('nan')):.4f}",
          flush=True)


if __name__ == "__main__":
    main()
