"""The autoencoder baselines (AutoRec, DeepRec, CDAE, Mult-DAE, Mult-VAE, SVAE) on a tiny planted-cluster split:
each learns the clusters (beats chance and popularity), its model folder scores exactly as the trained model, and a
killed fit or search resumes from its checkpoints to the uninterrupted result. The first layers that read a batch's
nonzeros (training.sparse_linear) compute what the dense product of the binary rows did, losses and gradients too."""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch.nn import functional as F

from textcode.baselines import autorec, cdae, deeprec, multvae, popularity, svae
from textcode.baselines.training import Rows, bags, sparse_linear
from textcode.core import artifacts, model_folder, model_kinds
from textcode.core.config import ConfigError, build, to_dict
from textcode.data.domain import from_sequences
from textcode.data.split import leave_one_out
from textcode.eval.evaluation import one_thread

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


def random_rows(n_rows: int = 7, width: int = 40, negatives: int = 0, seed: int = 0) -> tuple[Rows, sp.csr_matrix]:
    """A shuffled batch of every row of a random binary (n_rows, width) matrix ~10% dense, one row empty."""
    rng = np.random.default_rng(seed)
    dense = rng.random((n_rows, width)) < 0.1
    dense[1] = False
    dense[0, :3] = True
    matrix = sp.csr_matrix(dense.astype(np.float32))
    sampled = None
    if negatives:
        per_row = dense.sum(1) * negatives
        sampled = (np.repeat(np.arange(n_rows), per_row), rng.integers(0, width, int(per_row.sum())))
    return Rows.of(matrix, rng.permutation(n_rows), sampled), matrix


def record_first_layer(monkeypatch, module) -> list[torch.Tensor]:
    """Every output of the sparse first layer as `module` calls it, in order."""
    outputs: list[torch.Tensor] = []

    def recording(*args, **kwargs):
        outputs.append(sparse_linear(*args, **kwargs))
        return outputs[-1]

    monkeypatch.setattr(module, "sparse_linear", recording)
    return outputs


def assert_same_loss_and_gradients(objective: torch.nn.Module, new: torch.Tensor, old: torch.Tensor) -> None:
    params = [p for p in objective.parameters() if p.requires_grad]
    torch.testing.assert_close(new, old, rtol=1e-5, atol=1e-5)
    for name, g_new, g_old in zip([n for n, p in objective.named_parameters() if p.requires_grad],
                                  torch.autograd.grad(new, params), torch.autograd.grad(old, params)):
        torch.testing.assert_close(g_new, g_old, rtol=1e-5, atol=1e-5, msg=name)


def test_the_sparse_first_layer_is_the_dense_product():
    batch, _ = random_rows()
    layer = torch.nn.Linear(batch.width, 5)
    values = torch.rand(len(batch.rows))
    x = torch.zeros(len(batch), batch.width)
    x[batch.rows, batch.cols] = values
    new, old = sparse_linear(layer, batch, values), layer(x)
    torch.testing.assert_close(new, old, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sparse_linear(layer, batch), layer(batch.dense()), rtol=1e-5, atol=1e-5)
    for g_new, g_old in zip(torch.autograd.grad(new.square().sum(), [layer.weight, layer.bias]),
                            torch.autograd.grad(old.square().sum(), [layer.weight, layer.bias])):
        torch.testing.assert_close(g_new, g_old, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", ["vae", "dae"])
def test_mult_first_layer_and_likelihood_are_the_dense_ones(variant, monkeypatch):
    """Against the dense x: layer(x / ||x||_2) and -mean sum_i x_i log softmax(logits)_i (dropout off)."""
    batch, _ = random_rows()
    net = multvae.MultNet(batch.width, (8, 4) if variant == "vae" else (4,), variant, 0.5)
    objective = multvae.MultinomialELBO(net, 0.01, 0.2, 10).eval()  # eval: no dropout, the step stays
    objective.step.fill_(1)  # beta 0.1: the KL term counts
    first = record_first_layer(monkeypatch, multvae)
    torch.manual_seed(0)
    new, _ = objective(batch)

    torch.manual_seed(0)  # the same draw of z
    x = batch.dense()
    h = net.encoder[0](F.normalize(x, dim=1))
    torch.testing.assert_close(first[0], h, rtol=1e-5, atol=1e-5)
    for layer in net.encoder[1:]:
        h = layer(torch.tanh(h))
    if variant == "dae":
        z, kl = torch.tanh(h), 0.0
    else:
        mu, logvar = h[:, :4], h[:, 4:]
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        kl = objective.beta() * 0.5 * (-logvar + logvar.exp() + mu.square() - 1.0).sum(1).mean()
    old = -(F.log_softmax(net.decode(z), dim=1) * x).sum(1).mean() + kl
    old = old + 0.01 * sum(m.weight.square().sum() for m in net.modules() if isinstance(m, torch.nn.Linear))
    assert_same_loss_and_gradients(objective, new, old)


@pytest.mark.parametrize("loss, negatives", [("logistic", 2), ("squared", 2), ("logistic", 0)])
def test_cdae_first_layer_and_loss_are_the_dense_ones(loss, negatives, monkeypatch):
    """With negatives, the loss computed at the observed and sampled entries only is the dense loss masked to them
    (an entry drawn twice, or a draw hitting an observed item, counts once); without, every entry counts."""
    batch, _ = random_rows(negatives=negatives)
    cfg = cdae.Config(hidden=6, corruption=0.0, loss=loss, negatives=negatives, l2=0.1)
    net = cdae.CDAENet(batch.width, cfg.hidden, cfg.hidden_activation)
    objective = cdae.DenoisingLoss(net, 10, cfg)
    torch.nn.init.normal_(objective.users.weight)
    first = record_first_layer(monkeypatch, cdae)
    new, _ = objective(batch)

    x, v = batch.dense(), objective.users(batch.ids)
    torch.testing.assert_close(first[0], net.encoder(x), rtol=1e-5, atol=1e-5)
    logits = net.decoder(net.act(net.encoder(x) + v))
    err = F.binary_cross_entropy_with_logits(logits, x, reduction="none") if loss == "logistic" \
        else (logits - x).square()
    shared = sum(p.square().sum() for p in net.parameters())
    mask = torch.ones_like(x)
    if negatives:
        mask = torch.zeros_like(x)
        mask[batch.rows, batch.cols] = 1.0
        mask[batch.sampled_rows, batch.sampled_cols] = 1.0
    old = (err * mask).sum(1).mean() + 0.05 * (v.square().sum(1).mean() + shared / 10)
    assert_same_loss_and_gradients(objective, new, old)


@pytest.mark.parametrize("refeed", [True, False])
def test_deeprec_first_layer_and_loss_are_the_dense_ones(refeed, monkeypatch):
    """The sparse first pass against the dense one; the re-fed pass is dense in both."""
    batch, _ = random_rows()
    net = deeprec.DeepAutoencoder(batch.width, deeprec.Config(layers=(8, 4))).eval()
    objective = deeprec.MaskedMSE(net, 0.5, refeed)
    first = record_first_layer(monkeypatch, deeprec)
    new, _ = objective(batch)

    def dense_net(x):
        for layer in net.encoder:
            x = net.act(layer(x))
        for layer in net.decoder:
            x = net.act(layer(x))
        return x

    x = batch.dense()
    torch.testing.assert_close(first[0], net.encoder[0](x), rtol=1e-5, atol=1e-5)
    y = dense_net(x)
    m = x + 0.5 * (1.0 - x)
    old = (m * (y - x).square()).sum() / m.sum()
    if refeed:
        old = old + (dense_net(y.detach()) - y.detach()).square().mean()
    assert_same_loss_and_gradients(objective, new, old)


def test_autorec_first_layer_loss_and_item_codes_are_the_dense_ones(monkeypatch):
    batch, matrix = random_rows()
    net = autorec.AutoRecNet(batch.width, 6, "sigmoid", "identity")
    objective = autorec.Reconstruction(net, 0.5, 7)
    first = record_first_layer(monkeypatch, autorec)
    new, _ = objective(batch)

    r = batch.dense()
    torch.testing.assert_close(first[0], net.encoder(r), rtol=1e-5, atol=1e-5)
    reg = net.encoder.weight.square().sum() + net.decoder.weight.square().sum()
    old = (r - net.decoder(torch.sigmoid(net.encoder(r)))).square().sum(1).mean() + 0.5 / 14 * reg
    assert_same_loss_and_gradients(objective, new, old)
    with torch.no_grad():  # the fold-in's item codes (I-AutoRec: the rows are items), in batches of 3
        codes = torch.sigmoid(net.encoder(torch.from_numpy(matrix.toarray())))
        torch.testing.assert_close(autorec.item_codes(net, matrix, 3, "cpu"), codes, rtol=1e-5, atol=1e-5)


def test_bags_hold_each_history_item_once():
    rows = bags([np.array([3, 1, 3]), np.array([], np.int64), np.array([0])], 5, "cpu")
    expected = torch.zeros(3, 5)
    expected[0, [1, 3]] = expected[2, 0] = 1.0
    assert len(rows) == 3 and len(rows.rows) == 3
    torch.testing.assert_close(rows.dense(), expected)


def untimed(rows: list[dict]) -> list[dict]:
    """History or search rows without their seconds (which no two runs share)."""
    return [{k: v for k, v in row.items() if not k.endswith("_s")} for row in rows]


def record_kl_weights(monkeypatch, objective: type) -> list[float]:
    """The KL weight of every training update of `objective` (a module class with `beta()`), in order."""
    weights: list[float] = []
    forward = objective.forward

    def recording(self, batch):
        if self.training:
            weights.append(float(self.beta()))
        return forward(self, batch)

    monkeypatch.setattr(objective, "forward", recording)
    return weights


@pytest.mark.parametrize("case, objective", [("multvae", "MultinomialELBO"), ("svae", "NextKELBO")])
def test_a_killed_fit_resumes_from_its_work_folder_as_if_never_killed(case, objective, split, tmp_path, monkeypatch):
    """N epochs in one go (no work folder) against k epochs into a work folder, then N from it (a run killed after
    epoch k): the same weights, history and summary, and the same KL weight at every update (the anneal counter is
    checkpointed, not restarted)."""
    data, _ = split
    _, module, overrides = CASES[case]
    cfg = build(module.Config, {**overrides, "epochs": 4})
    weights = record_kl_weights(monkeypatch, getattr(module, objective))
    with one_thread():
        full = module.fit(data, cfg, seed=0, device="cpu")
        schedule = list(weights)
        weights.clear()
        module.fit(data, dataclasses.replace(cfg, epochs=2), seed=0, device="cpu", work=tmp_path / "work")
        assert (tmp_path / "work" / "ckpt" / "state.json").exists()
        resumed = module.fit(data, cfg, seed=0, device="cpu", work=tmp_path / "work")
    assert weights == schedule and len(set(schedule)) > 4  # a ramp, resumed where the killed run was
    if case == "multvae":
        assert schedule[-1] == np.float32(cfg.beta_max) > schedule[len(schedule) // 2 - 1]  # the cap is reached after the kill
    assert set(full.tensors) == set(resumed.tensors)
    for name, value in full.tensors.items():
        np.testing.assert_array_equal(resumed.tensors[name], value, err_msg=name)
    assert untimed(resumed.files["history.json"]) == untimed(full.files["history.json"])
    assert {k: v for k, v in resumed.summary.items() if not k.endswith("_s")} == \
        {k: v for k, v in full.summary.items() if not k.endswith("_s")}
    assert full.summary["final_beta"] == resumed.summary["final_beta"] > 0


def test_the_anneal_counters_are_buffers_kept_in_the_state_dict():
    """What a checkpoint keeps: the objectives' state dicts (textcode/training/checkpoint.py)."""
    mult = multvae.MultinomialELBO(multvae.MultNet(5, (4, 2), "vae", 0.0), 0.0, 0.2, 10)
    seq = svae.NextKELBO(svae.SVAENet(5, svae.Config(item_embed=4, rnn=4, hidden=4, latent=2)), 0.2, 10)
    assert "step" in mult.state_dict() and "seen" in seq.state_dict()
    mult.step.fill_(3)
    seq.seen.fill_(4)
    assert float(mult.beta()) == pytest.approx(0.2) and float(seq.beta()) == pytest.approx(0.2)
    mult.step.fill_(1)
    assert float(mult.beta()) == np.float32(1 / 10) and seq.beta_at(1) == 1 / 10


def make_search(tmp_path: Path, run: dict) -> list[str]:
    """A prepared clusters domain and a configs folder holding `run` as run "grid" -> the command's arguments
    (without --out)."""
    import yaml

    rng = np.random.default_rng(1)
    seqs = [rng.choice(CLUSTERS[u % 3], size=6, replace=False) for u in range(48)]
    domain = from_sequences("clusters", [str(i) for i in range(N_ITEMS)], None, [str(u) for u in range(48)], seqs)
    with artifacts.OutputFolder(tmp_path / "prepared", "prepare", {}) as out:
        domain.save(out)
        out.summary["domain"] = domain.name
    configs = tmp_path / "configs"
    root = Path(__file__).resolve().parents[2] / "configs"
    configs.mkdir()
    (configs / "base.yaml").write_text((root / "base.yaml").read_text())
    shutil.copytree(root / "stages", configs / "stages")
    (configs / "domains").mkdir()
    (configs / "domains" / "clusters.yaml").write_text("source: {format: table, interactions: x.csv, items: y.csv}\n")
    (configs / "runs" / "baseline").mkdir(parents=True)
    (configs / "runs" / "baseline" / "grid.yaml").write_text(yaml.safe_dump(run))
    return ["--domain", "clusters", "--configs", str(configs), "--run", "grid", "--prepared", str(tmp_path / "prepared")]


def test_a_search_keeps_the_candidate_best_on_validation_and_records_every_one(tmp_path):
    """`search` in a baseline run: every combination is fitted and scored on validation; the saved model is the
    best one, its config says so, and search.json lists each candidate's score."""
    from textcode.commands import baseline
    from textcode.commands.baseline import combinations

    run = {"baseline": {"kind": "multdae", "variant": "dae", "hidden": [8], **LOOP},
           "search": {"dropout": [0.0, 0.5], "lr": [0.03, 1e-6]}}  # lr 1e-6 learns nothing: never chosen
    assert baseline.main([*make_search(tmp_path, run), "--out", str(tmp_path / "m")]) == 0
    tried = json.loads((tmp_path / "m" / "search.json").read_text())
    assert [(t["dropout"], t["lr"]) for t in tried] == [(0.0, 0.03), (0.0, 1e-6), (0.5, 0.03), (0.5, 1e-6)]
    best = max(tried, key=lambda t: t["valid_ndcg@10"])
    assert best["lr"] == 0.03
    meta = model_folder.load_meta(tmp_path / "m")
    assert (meta["config"]["dropout"], meta["config"]["lr"]) == (best["dropout"], best["lr"])
    summary = artifacts.read_manifest(tmp_path / "m")["summary"]
    assert summary["search"] == {"dropout": best["dropout"], "lr": best["lr"]} and summary["search_tried"] == 4
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [  # no candidate's checkpoint is left
        "history.json", "manifest.json", "model.json", "model.safetensors", "search.json"]
    with pytest.raises(ConfigError, match="search.hidden"):
        combinations({"search": {"hidden": []}})


def test_selection_history_removed_selects_on_that_protocol_and_says_so(tmp_path):
    """The top-level `selection` names the protocol whose validation NDCG@10 selects (here EASE's l2 curve, the
    same code path as a search and early stopping); the manifest and the report say which it was."""
    from textcode.baselines import ease
    from textcode.commands import baseline
    from textcode.data.domain import Domain
    from textcode.eval.evaluation import evaluate

    grid = [0.1, 10.0, 1000.0]
    args = make_search(tmp_path, {"baseline": {"kind": "ease", "l2_grid": grid, "extend_at_edge": 0}})
    assert baseline.main([*args, "--out", str(tmp_path / "kept")]) == 0
    assert baseline.main([*args, "--set", "selection=history_removed", "--out", str(tmp_path / "removed")]) == 0
    split = leave_one_out(Domain.load(tmp_path / "prepared"))
    g = ease.gram(ease.binary_interactions(split.train_offsets, split.train_items, split.n_items))
    curves = {p: json.loads((tmp_path / p / "validation.json").read_text()) for p in ("kept", "removed")}
    for l2, kept, removed in zip(grid, curves["kept"], curves["removed"]):
        means = evaluate(ease.EASE(ease.ease_weights(g, l2), l2), split.valid, ks=(10,)).means()
        assert kept["valid_ndcg@10"] == pytest.approx(means["history_kept"]["ndcg@10"])
        assert removed["valid_ndcg@10"] == pytest.approx(means["history_removed"]["ndcg@10"])
    # the clusters' targets are never history items: removing history changes what selection sees
    assert [c["valid_ndcg@10"] for c in curves["kept"]] != [c["valid_ndcg@10"] for c in curves["removed"]]
    for folder, protocol in (("kept", "history_kept"), ("removed", "history_removed")):
        assert artifacts.read_manifest(tmp_path / folder)["summary"]["selection"] == protocol
    with pytest.raises(ConfigError, match="selection"):
        baseline.main([*args, "--set", "selection=history", "--out", str(tmp_path / "bad")])


class Killed(Exception):
    """Stands in for SIGKILL: raised inside the command, it leaves <out>.partial as a kill would."""


def test_a_search_killed_midway_resumes_to_the_output_of_an_uninterrupted_one(tmp_path, monkeypatch):
    """Killed as the second candidate starts its third epoch: the rerun resumes the first candidate straight to its
    end (no epoch trained), the second from its epoch-2 checkpoint, and saves what an uninterrupted search saves."""
    from textcode.commands import baseline

    run = {"baseline": {"kind": "multvae", "variant": "vae", "hidden": [8, 4], "total_anneal_steps": 20, **LOOP,
                        "epochs": 4}, "search": {"dropout": [0.0, 0.5]}}
    args = make_search(tmp_path, run)
    assert baseline.main([*args, "--out", str(tmp_path / "full")]) == 0
    epochs: list[int] = []  # the epochs trained, in order, over the candidates
    real = multvae.row_batches

    def row_batches(matrix, batch_size, seed, epoch, *rest):
        epochs.append(epoch)
        if kill_at and len(epochs) == kill_at:
            raise Killed
        return real(matrix, batch_size, seed, epoch, *rest)

    monkeypatch.setattr(multvae, "row_batches", row_batches)
    kill_at = 4 + 3  # candidate 0's four epochs, then candidate 1's first two; dies starting its third
    with pytest.raises(Killed):
        baseline.main([*args, "--out", str(tmp_path / "m")])
    partial = tmp_path / "m.partial"
    assert not (tmp_path / "m").exists()
    assert [artifacts.read_json(partial / f"candidate{i}/ckpt/state.json")["loop"]["epoch"] for i in (0, 1)] == [4, 2]
    epochs.clear()
    kill_at = 0
    assert baseline.main([*args, "--out", str(tmp_path / "m")]) == 0
    assert epochs == [3, 4]  # only what the kill lost
    assert not partial.exists() and not any(p.name.startswith("candidate") for p in (tmp_path / "m").iterdir())
    full, resumed = (artifacts.load_tensors(tmp_path / name / "model.safetensors")[0] for name in ("full", "m"))
    assert set(full) == set(resumed)
    for name, value in full.items():
        np.testing.assert_array_equal(resumed[name], value, err_msg=name)
    for name in ("search.json", "history.json"):
        assert untimed(artifacts.read_json(tmp_path / "m" / name)) == untimed(artifacts.read_json(tmp_path / "full" / name))
    assert artifacts.read_json(tmp_path / "m" / "model.json") == artifacts.read_json(tmp_path / "full" / "model.json")
    summaries = [artifacts.read_manifest(tmp_path / name)["summary"] for name in ("full", "m")]
    assert summaries[1].pop("resumed") == {"0": 4, "1": 2} and "resumed" not in summaries[0]
    assert [{k: v for k, v in s.items() if not k.endswith("_s")} for s in summaries[1:]] == \
        [{k: v for k, v in summaries[0].items() if not k.endswith("_s")}]
