"""The autoencoder baselines (AutoRec, DeepRec, CDAE, Mult-DAE, Mult-VAE, SVAE) on a tiny planted-cluster split:
each learns the clusters (beats chance and popularity), and its model folder scores exactly as the trained model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from textcode.baselines import autorec, cdae, deeprec, multvae, popularity, svae
from textcode.core import artifacts, model_folder, model_kinds
from textcode.core.config import ConfigError, build, to_dict
from textcode.data.domain import from_sequences
from textcode.data.split import leave_one_out

# three clusters of 8 items; cluster 0 has as many users as the two others together, so popularity ranks its items
# first for everyone and fails the other clusters' users
CLUSTERS = [np.arange(0, 8), np.arange(8, 16), np.arange(16, 24)]
USERS_PER_CLUSTER = (24, 12, 12)
N_ITEMS = 24

LOOP = {"epochs": 12, "batch_size": 12, "lr": 0.03, "patience": 0, "eval_batch_size": 64}
# case -> (model kind, module, overrides of its Config): tiny models
CASES = {
    "autorec": ("autorec", autorec, {"hidden": 8, "l2": 0.1, **LOOP}),
    "autorec_user": ("autorec", autorec, {"variant": "user", "hidden": 8, "l2": 0.1, **LOOP}),
    "deeprec": ("deeprec", deeprec, {"layers": [16, 8], "dropout": 0.2, **LOOP}),
    "cdae": ("cdae", cdae, {"hidden": 8, "corruption": 0.2, "negatives": 2, "l2": 0.001, **LOOP, "epochs": 20}),
    "multdae": ("multdae", multvae, {"variant": "dae", "hidden": [8], **LOOP}),
    "multvae": ("multvae", multvae, {"variant": "vae", "hidden": [16, 8], "total_anneal_steps": 50, **LOOP}),
    "svae": ("svae", svae, {"item_embed": 8, "rnn": 16, "hidden": 8, "latent": 4, "next_k": 2, "max_len": 8,
                            "total_anneal_sequences": 200, "weight_decay": 0.0, **LOOP, "epochs": 20}),
}


@pytest.fixture(scope="module")
def split():
    rng = np.random.default_rng(0)
    seqs, cluster_of = [], []
    for c, n_users in enumerate(USERS_PER_CLUSTER):
        for _ in range(n_users):
            seqs.append(rng.choice(CLUSTERS[c], size=int(rng.integers(5, 8)), replace=False))
            cluster_of.append(c)
    domain = from_sequences("clusters", [str(i) for i in range(N_ITEMS)], None, [str(u) for u in range(len(seqs))], seqs)
    return leave_one_out(domain), np.asarray(cluster_of)


def cluster_auc(model, split, cluster_of) -> float:
    """Mean over test users of the fraction of other clusters' items scored below the user's test target."""
    test = split.test
    scores = model.score_histories([test.history(r) for r in range(len(test))]).detach().cpu().numpy()
    aucs = []
    for r, target in enumerate(test.targets):
        others = np.concatenate([CLUSTERS[c] for c in range(len(CLUSTERS)) if c != cluster_of[r]])
        aucs.append(np.mean(scores[r, target] > scores[r, others]) + 0.5 * np.mean(scores[r, target] == scores[r, others]))
    return float(np.mean(aucs))


@pytest.fixture(scope="module")
def trained(split):
    """case -> (Config, trained Recommender, loop Result, tensors), each trained once (torch on one thread)."""
    data, _ = split
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = {}
    try:
        for case, (_, module, overrides) in CASES.items():
            cfg = build(module.Config, overrides)
            model, result = module.train(data, cfg, seed=0, device="cpu")
            out[case] = (cfg, model, result, model.tensors())
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_learns_the_clusters_better_than_chance_and_popularity(case, split, trained):
    data, cluster_of = split
    cfg, model, result, _ = trained[case]
    pop = cluster_auc(popularity.count(data.train_items, data.n_items), data, cluster_of)
    auc = cluster_auc(model, data, cluster_of)
    assert pop < 0.75  # the planted structure defeats popularity
    assert auc > 0.9 and auc > pop + 0.15, (case, auc, pop)
    assert 1 <= result.best_epoch <= result.epochs_run == cfg.epochs and result.stopped == "max_epochs"


@pytest.mark.parametrize("case", list(CASES))
def test_model_folder_scores_exactly_as_the_trained_model(case, split, trained, tmp_path):
    """As the baseline command saves a model: config, tensors and facts (those of `fit`) in a model folder."""
    data, _ = split
    cfg, model, _, tensors = trained[case]
    kind = CASES[case][0]
    facts = {"n_items": data.n_items, "variant": getattr(cfg, "variant", None)}
    with artifacts.OutputFolder(tmp_path / case, "baseline", {}) as out:
        model_folder.save_model(out, kind, to_dict(cfg), tensors, **facts)
    loaded = model_kinds.load_recommender(tmp_path / case)
    histories = [data.test.history(r) for r in range(len(data.test))] + [np.array([3, 3, 9]), np.array([20])]
    assert loaded.n_items == N_ITEMS
    np.testing.assert_array_equal(loaded.score_histories(histories).numpy(), model.score_histories(histories).numpy())


def test_fit_summary_has_what_the_report_reads(split):
    data, _ = split
    fitted = multvae.fit(data, build(multvae.Config, {**CASES["multvae"][2], "epochs": 2}), seed=0, device="cpu")
    assert {"epochs", "best_epoch", "best_valid_ndcg@10", "stopped", "notes"} <= set(fitted.summary)
    assert fitted.summary["epochs"] == 2 and fitted.facts["variant"] == "vae" and "history.json" in fitted.files
    assert fitted.summary["final_beta"] == 7 / 50  # the last of 2 x 4 updates on a 50-step ramp
    assert any("beta reached" in note for note in fitted.summary["notes"])


def test_a_multvae_folder_whose_variant_does_not_match_its_kind_is_refused(split, trained, tmp_path):
    cfg, _, _, tensors = trained["multdae"]
    with artifacts.OutputFolder(tmp_path / "m", "baseline", {}) as out:
        model_folder.save_model(out, "multvae", to_dict(cfg), tensors, n_items=N_ITEMS)
    with pytest.raises(artifacts.ArtifactError, match="variant"):
        model_kinds.load_recommender(tmp_path / "m")


@pytest.mark.parametrize("module, key", [(autorec, "hiden"), (deeprec, "layer"), (cdae, "negative"),
                                         (multvae, "beta_cap"), (svae, "latent_size")])
def test_a_misspelled_config_key_is_an_error_naming_it(module, key):
    with pytest.raises(ConfigError, match=f"baseline.{key}"):
        build(module.Config, {"variant": "vae", key: 1} if module is multvae else {key: 1}, prefix="baseline.")


def test_training_is_a_function_of_the_seed(split):
    data, _ = split
    cfg = build(cdae.Config, {**CASES["cdae"][2], "epochs": 2})
    runs = [cdae.fit(data, cfg, seed=s, device="cpu").tensors["decoder.weight"] for s in (0, 0, 1)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_item_autorec_scores_a_history_by_the_ridge_fit_of_its_output_row():
    """The fold-in (autorec.ItemFoldIn) against a direct solve of min_w,b ||x - Z w - b||^2 + l2/2 ||w||^2."""
    rng = np.random.default_rng(1)
    z, l2 = rng.random((10, 3)), 0.4
    history = np.array([1, 4, 4, 7])
    x = np.zeros(10)
    x[history] = 1.0
    a = np.hstack([z, np.ones((10, 1))])  # the intercept column, unpenalised
    wb = np.linalg.solve(a.T @ a + np.diag([l2 / 2] * 3 + [0.0]), a.T @ x)
    fitted = z @ wb[:3]  # the row's predictions without its bias, which is the same for every item
    scores = autorec.ItemFoldIn(z.astype(np.float32), l2).score_histories([history]).numpy()[0]
    np.testing.assert_allclose(scores - scores.mean(), fitted - fitted.mean(), atol=1e-5)


def test_a_search_keeps_the_candidate_best_on_validation_and_records_every_one(tmp_path):
    """`search` in a baseline run: every combination is fitted and scored on validation; the saved model is the
    best one, its config says so, and search.json lists each candidate's score."""
    import json
    from pathlib import Path

    import yaml

    from textcode.commands import baseline
    from textcode.commands.baseline import combinations

    rng = np.random.default_rng(1)
    seqs = [rng.choice(CLUSTERS[u % 3], size=6, replace=False) for u in range(48)]
    domain = from_sequences("clusters", [str(i) for i in range(N_ITEMS)], None, [str(u) for u in range(48)], seqs)
    with artifacts.OutputFolder(tmp_path / "prepared", "prepare", {}) as out:
        domain.save(out)
        out.summary["domain"] = domain.name
    configs = tmp_path / "configs"
    root = Path(__file__).resolve().parents[2] / "configs"
    for sub in ("base.yaml", "stages"):
        (configs / sub).parent.mkdir(parents=True, exist_ok=True)
        if sub == "stages":
            import shutil
            shutil.copytree(root / sub, configs / sub)
        else:
            (configs / sub).write_text((root / sub).read_text())
    (configs / "domains").mkdir()
    (configs / "domains" / "clusters.yaml").write_text("source: {format: table, interactions: x.csv, items: y.csv}\n")
    (configs / "runs" / "baseline").mkdir(parents=True)
    run = {"baseline": {"kind": "multdae", "variant": "dae", "hidden": [8], **LOOP},
           "search": {"dropout": [0.0, 0.5], "lr": [0.03, 1e-6]}}  # lr 1e-6 learns nothing: never chosen
    (configs / "runs" / "baseline" / "grid.yaml").write_text(yaml.safe_dump(run))
    args = ["--domain", "clusters", "--configs", str(configs), "--run", "grid"]
    assert baseline.main([*args, "--prepared", str(tmp_path / "prepared"), "--out", str(tmp_path / "m")]) == 0
    tried = json.loads((tmp_path / "m" / "search.json").read_text())
    assert [(t["dropout"], t["lr"]) for t in tried] == [(0.0, 0.03), (0.0, 1e-6), (0.5, 0.03), (0.5, 1e-6)]
    best = max(tried, key=lambda t: t["valid_ndcg@10"])
    assert best["lr"] == 0.03
    meta = model_folder.load_meta(tmp_path / "m")
    assert (meta["config"]["dropout"], meta["config"]["lr"]) == (best["dropout"], best["lr"])
    summary = artifacts.read_manifest(tmp_path / "m")["summary"]
    assert summary["search"] == {"dropout": best["dropout"], "lr": best["lr"]} and summary["search_tried"] == 4
    with pytest.raises(ConfigError, match="search.hidden"):
        combinations({"search": {"hidden": []}})
