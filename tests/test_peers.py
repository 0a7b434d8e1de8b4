"""bench/peers (docs/peers.md): the split's round trip through RecBole's atomic files, the score-matrix Recommender,
the settings matched to ours (no RecBole needed); and the quick mode end to end, when .venv-recbole exists."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.peers import atomic
from bench.peers.run import ScoreMatrix, recbole_settings, resolved_configs, with_rows
from textcode.data.domain import Domain
from textcode.data.split import leave_one_out
from textcode.eval.evaluation import evaluate

ROOT = Path(__file__).resolve().parents[1]
RECBOLE_PYTHON = ROOT / ".venv-recbole" / "bin" / "python"


def toy_domain(n_users: int = 40, n_items: int = 30, seed: int = 0) -> Domain:
    """Sequences of 3-9 items with repeats; the last item is in no sequence."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 10, n_users)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    items = rng.integers(0, n_items - 1, offsets[-1]).astype(np.int32)
    items[offsets[0] + 1] = items[offsets[0]]  # a repeated item
    return Domain("toy", np.array([f"i{i}" for i in range(n_items)], object), None,
                  np.array([f"u{u}" for u in range(n_users)], object), offsets, items)


def test_atomic_files_give_our_split_back(tmp_path):
    domain = toy_domain()
    ours = leave_one_out(domain)
    folder = atomic.write_atomic(tmp_path, "toy", domain.offsets, domain.items, domain.n_items)
    # the order of the rows must not matter: RecBole orders by the timestamp, and so does the reader
    inter = folder / "toy.inter"
    header, *rows = inter.read_text().splitlines()
    rows = [rows[i] for i in np.random.default_rng(1).permutation(len(rows))]
    inter.write_text("\n".join([header, *rows]) + "\n")
    offsets, items, n_items = atomic.read_atomic(tmp_path, "toy")
    back = atomic.leave_one_out(offsets, items, n_items)
    want = atomic.Split(ours.n_items, ours.train_offsets, ours.train_items, ours.valid.targets, ours.test.targets)
    assert atomic.same_split(back, want) == []
    assert n_items == domain.n_items  # the item that occurs nowhere is listed too
    for u in range(domain.n_users):
        assert np.array_equal(back.test_history(u), ours.test.history(u))
        assert np.array_equal(back.valid_history(u), ours.valid.history(u))
    atomic.save_split(tmp_path / "split.npz", back)
    assert atomic.same_split(atomic.load_split(tmp_path / "split.npz"), want) == []
    other = atomic.Split(want.n_items, want.train_offsets, want.train_items, want.valid_targets,
                         want.test_targets[::-1])
    assert atomic.same_split(other, want) == ["test_targets differs"]


class HistoryScores:
    """A Recommender whose scores are a function of the whole history (its items and their order)."""

    def __init__(self, n_items: int):
        self.n_items = n_items
        self.weights = np.random.default_rng(2).standard_normal((n_items, n_items)).astype(np.float32)

    def score_histories(self, histories):
        import torch

        return torch.from_numpy(np.stack([(self.weights[h] * np.arange(1, len(h) + 1)[:, None]).sum(0)
                                          for h in histories]).astype(np.float32))


def test_score_matrix_answers_each_user_with_its_row(tmp_path):
    split = leave_one_out(toy_domain())
    model = HistoryScores(split.n_items)
    histories = [split.test.history(r) for r in range(len(split.test))]
    np.save(tmp_path / "scores.npy", model.score_histories(histories).numpy())
    direct = evaluate(model, split.test, batch_size=7)
    matrix = evaluate(ScoreMatrix(tmp_path / "scores.npy"), with_rows(split.test), batch_size=7)  # other batches
    for protocol in direct.per_user:
        for name, values in direct.per_user[protocol].items():
            assert np.array_equal(values, matrix.per_user[protocol][name]), (protocol, name)
    assert direct.per_user["history_kept"]["ndcg@10"].std() > 0  # not a constant that any row order would give


def test_recbole_settings_follow_ours():
    import argparse

    args = argparse.Namespace(config_dir=None, domain="demo-scientific", configs=str(ROOT / "configs"), epochs=3)
    cfg = resolved_configs(args, ["sasrec", "multvae", "multdae", "cdae", "ease"])
    assert cfg["sasrec"]["train"]["epochs"] == 3 and cfg["cdae"]["baseline"]["epochs"] == 3
    sas = recbole_settings("sasrec", cfg["sasrec"], {"targets_per_step": 789.6}, sasrec_epochs=2)
    m = cfg["sasrec"]["model"]
    assert (sas["hidden_size"], sas["inner_size"], sas["MAX_ITEM_LIST_LENGTH"]) == (m["hidden"], m["ffn"], m["max_len"])
    assert sas["epochs"] == 2 and sas["train_batch_size"] == 790 and sas["loss_type"] == "CE"
    vae = recbole_settings("multvae", cfg["multvae"], {}, 0)
    assert vae["mlp_hidden_size"] == [600] and vae["latent_dimension"] == 400  # mu and log var of 200 each
    assert vae["stopping_step"] == 19 and vae["train_batch_size"] == 500  # patience 20: stops at the 20th bad epoch
    dae = recbole_settings("multdae", cfg["multdae"], {}, 0)
    assert dae["mlp_hidden_size"] == [] and dae["latent_dimension"] == 200
    assert dae["weight_decay"] == pytest.approx(4e-5)  # 2 x l2: Adam's L2 gradient of our l2 sum W^2
    cdae = recbole_settings("cdae", cfg["cdae"], {}, 0)
    assert (cdae["embedding_size"], cdae["loss_type"], cdae["hid_activation"]) == (50, "BCE", "sigmoid")
    chosen = recbole_settings("cdae", cfg["cdae"], {"search": {"corruption": 0.2, "l2": 0.001}}, 0)
    assert (chosen["corruption_ratio"], chosen["reg_weight_2"]) == (0.2, 0.001)  # what our validation search chose
    assert recbole_settings("ease", cfg["ease"], {"l2": 300.0}, 0) == {"reg_weight": 300.0}


@pytest.mark.slow
@pytest.mark.skipif(not RECBOLE_PYTHON.exists(),
                    reason="needs RecBole's own environment .venv-recbole (make recbole-env; not part of "
                           "make test's install)")
def test_quick_mode_end_to_end(tmp_path):
    from textcode.commands import prepare as prepare_stage

    prepared = tmp_path / "prepared"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)  # the demo source path is relative to the project
        assert prepare_stage.main(["--domain", "demo-scientific", "--configs", "configs", "--out", str(prepared)]) == 0
    out = tmp_path / "peers.json"
    subprocess.run([sys.executable, str(ROOT / "bench" / "peers" / "run.py"), "--quick", "--prepared", str(prepared),
                    "--work", str(tmp_path / "work"), "--recbole-python", str(RECBOLE_PYTHON), "--out", str(out)],
                   cwd=ROOT, check=True)
    doc = json.loads(out.read_text())
    assert doc["domain"] == "demo-scientific" and doc["n_users"] == 600 and doc["quick"]
    assert doc["versions"]["recbole"]["recbole"] == "1.2.1" and doc["machine"]["cores"] >= 1
    for model in ("sasrec", "multvae", "multdae", "cdae", "ease"):
        for side in ("ours", "recbole"):
            entry = doc[model][side]
            assert entry["epochs"] == 1 and entry["epoch_s"] > 0 and entry["eval_s"] > 0 and entry["peak_rss_mb"] > 0
            for protocol in ("test", "test_history_removed"):
                for metric in ("recall@10", "ndcg@10", "recall@50", "ndcg@50"):
                    lo, hi = entry[protocol]["ci95"][metric]
                    assert 0 <= lo <= entry[protocol][metric] <= hi <= 1
        assert doc[model]["recbole"]["split_check"]["users"] == 600
        assert doc[model]["recbole"]["anomaly_detection"] is False
    # RecBole's SASRec scores the same histories with history kept: our evaluator over its exported scores must
    # agree with its own evaluator (up to ties, which RecBole breaks by position)
    sas = doc["sasrec"]["recbole"]
    for metric in ("recall@10", "ndcg@10", "recall@50", "ndcg@50"):
        assert sas["test"][metric] == pytest.approx(sas["own_test"][metric], abs=2e-3)
    chosen = doc["cdae"]["ours"].get("search", {})
    if "corruption" in chosen:  # RecBole gets what our validation search chose
        assert doc["cdae"]["settings"]["recbole"]["corruption_ratio"] == chosen["corruption"]
    assert not [p for p in (tmp_path / "work").glob("**/*") if p.suffix in (".pkl", ".pth", ".pickle")]
