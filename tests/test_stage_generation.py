"""Stages train-generator -> train-prior -> generate -> evaluate-generation on the embedded MovieLens demo."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from experiments.commands import report_generation, utility_data
from textcode.commands import (
    evaluate_generation,
    generate,
    prepare,
    train_generator,
    train_prior,
)
from textcode.core import artifacts
from textcode.core.config import ConfigError
from textcode.data.domain import Domain

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = ["--domain", "demo-movielens", "--configs", str(ROOT / "configs")]
TINY = ["--set", "generator.model.d_model=32", "--set", "generator.model.quantizer.codebook_size=32",
        "--set", "generator.train.epochs=1"]
TINY_PRIOR = ["--set", "prior.model.d_model=32", "--set", "prior.model.n_layers=1", "--set", "prior.train.epochs=1"]


@pytest.fixture(scope="module")
def art(tmp_path_factory):
    art = tmp_path_factory.mktemp("art")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)  # the demo source path is relative to the project
        assert prepare.main([*DOMAIN, "--out", str(art / "prepared")]) == 0
    prep = ["--prepared", str(art / "prepared")]
    for run in ("rsvq", "vae", "ae"):
        assert train_generator.main([*DOMAIN, "--run", run, *TINY, *prep, "--out", str(art / run / "model")]) == 0
    assert train_prior.main([*DOMAIN, *TINY_PRIOR, *prep, "--generator", str(art / "rsvq/model"),
                             "--out", str(art / "rsvq/prior")]) == 0
    assert generate.main([*DOMAIN, *prep, "--generator", str(art / "rsvq/model"), "--prior", str(art / "rsvq/prior"),
                          "--set", "generate.n_sequences=40", "--out", str(art / "rsvq/samples")]) == 0
    assert generate.main([*DOMAIN, *prep, "--generator", str(art / "vae/model"), "--out", str(art / "vae/samples")]) == 0
    for run, extra in (("rsvq", ["--samples", str(art / "rsvq/samples"), "--prior", str(art / "rsvq/prior")]),
                       ("vae", ["--samples", str(art / "vae/samples")]), ("ae", [])):
        assert evaluate_generation.main([*DOMAIN, *prep, "--generator", str(art / run / "model"), *extra,
                                         "--out", str(art / run / "eval")]) == 0
    return art


def test_generated_windows_are_a_dataset_over_the_source_items(art):
    source = Domain.load(art / "prepared")
    synthetic = Domain.load(art / "rsvq/samples")
    assert synthetic.name == "demo-movielens-synthetic" and synthetic.n_users == 40
    assert np.array_equal(synthetic.item_ids, source.item_ids) and np.array_equal(synthetic.item_text, source.item_text)
    assert synthetic.lengths().min() >= 1 and synthetic.lengths().max() <= 20
    vae = Domain.load(art / "vae/samples")
    test_windows = artifacts.read_json(art / "vae/model/windows.json")["test"]["windows"]
    assert vae.n_users == test_windows  # n_sequences 0 = as many as the held-out test windows


def test_metrics_cover_reconstruction_codes_and_samples(art):
    m = artifacts.read_json(art / "rsvq/eval/metrics.json")
    rec = m["reconstruction"]
    assert 0 <= rec["accuracy"] <= 1 and rec["ce"] > 0 and len(rec["accuracy_by_position"]) == 20
    assert rec["positions"] == m["windows"]["test"]["items"]
    assert set(m["codebooks"]) == {f"level{l}/depth{k}" for l in range(3) for k in range(4)}
    assert m["prior"]["test"]["nll_per_window"] > 0
    for side in ("generated", "reference_real"):
        assert 0 <= m[side]["popularity_js"] <= 1 and 0 <= m[side]["copied_windows"] <= 1
    ae = artifacts.read_json(art / "ae/eval/metrics.json")
    assert "generated" not in ae and "codebooks" not in ae


def test_validation_and_test_windows_of_a_generator_are_prefixes_of_disjoint_real_users(art, tmp_path):
    source = Domain.load(art / "prepared")
    owners = {}
    for kind in ("valid-windows", "test-windows"):
        assert utility_data.main(["--kind", kind, "--prepared", str(art / "prepared"), "--generator", str(art / "rsvq/model"),
                                  "--out", str(tmp_path / kind)]) == 0
        events = Domain.load(tmp_path / kind)
        owners[kind] = artifacts.load_npy(tmp_path / kind / "event_users.npy", mmap=False)
        assert events.name == f"demo-movielens-{kind}" and np.array_equal(events.item_ids, source.item_ids)
        assert len(owners[kind]) == events.n_users > len(set(owners[kind].tolist()))  # several windows per user
        for e, u in enumerate(owners[kind]):
            seq = events.sequence(e)
            assert np.array_equal(seq, source.sequence(int(u))[:len(seq)])
            assert events.user_ids[e].startswith(f"{source.user_ids[u]}#w")
    assert not set(owners["valid-windows"].tolist()) & set(owners["test-windows"].tolist())


def test_missing_prior_and_prior_for_a_continuous_model_fail_clearly(art):
    prep = ["--prepared", str(art / "prepared")]
    with pytest.raises(ConfigError, match="--prior is required"):
        generate.main([*DOMAIN, *prep, "--generator", str(art / "rsvq/model"), "--out", str(art / "x")])
    with pytest.raises(artifacts.ArtifactError, match="no discrete latents"):
        train_prior.main([*DOMAIN, *prep, "--generator", str(art / "ae/model"), "--out", str(art / "y")])


def test_per_level_temperatures_sample_the_prior_and_are_refused_where_they_do_not_fit(art, tmp_path):
    prep = ["--prepared", str(art / "prepared")]
    rsvq = ["--generator", str(art / "rsvq/model"), "--prior", str(art / "rsvq/prior")]
    args = [*DOMAIN, *prep, *rsvq, "--set", "generate.n_sequences=40"]
    assert generate.main([*args, "--set", "generate.level_temperatures=[0.5,1.0,1.0]", "--out", str(tmp_path / "s")]) == 0
    assert artifacts.read_manifest(tmp_path / "s")["config"]["generate"]["level_temperatures"] == [0.5, 1.0, 1.0]
    assert Domain.load(tmp_path / "s").n_users == 40
    with pytest.raises(ConfigError, match=r"generate.level_temperatures \[0.5, 1.0\]: 2 level temperatures given"):
        generate.main([*args, "--set", "generate.level_temperatures=[0.5,1.0]", "--out", str(tmp_path / "x")])
    with pytest.raises(ConfigError, match="generate.level_temperatures must be > 0"):
        generate.main([*args, "--set", "generate.level_temperatures=[0.5,0,1]", "--out", str(tmp_path / "x")])
    with pytest.raises(ConfigError, match="a VAE's latent has one scale"):
        generate.main([*DOMAIN, *prep, "--generator", str(art / "vae/model"), "--set", "generate.level_temperatures=[0.5]",
                       "--out", str(tmp_path / "x")])
    assert not (tmp_path / "x").exists(), "a refused run writes nothing"


def test_a_misspelled_setting_names_the_key(art):
    with pytest.raises(ConfigError, match="windows.lenght"):
        train_generator.main([*DOMAIN, "--set", "windows.lenght=20", "--prepared", str(art / "prepared"),
                              "--out", str(art / "z")])


def test_report_lays_out_every_run_beside_the_paper(art, tmp_path):
    evals = [f"--eval=demo-movielens/L20/{run}={art / run / 'eval'}" for run in ("rsvq", "vae", "ae")]
    assert report_generation.main([*evals, "--out", str(tmp_path / "report"), "--results", str(tmp_path / "r.json")]) == 0
    text = (tmp_path / "report/README.md").read_text()
    for label in ("| RSVQ-AE |", "| VAE |", "| AE (plain, cannot sample) |", "real held-out (reference)"):
        assert label in text
    for png in ("accuracy.png", "accuracy_by_position.png", "generation.png"):
        assert (tmp_path / "report" / png).stat().st_size > 0
    head = artifacts.read_json(tmp_path / "r.json")["demo-movielens"]["20"]  # the results/rsvqae.json schema
    rec = artifacts.read_json(art / "rsvq/eval/metrics.json")["reconstruction"]
    assert head["rsvq"]["accuracy"] == rec["accuracy"] and head["rsvq"]["recon_ce"] == rec["ce"]
    assert "popularity_js" in head["vae"] and "popularity_js" not in head["ae"]
    assert {"bigram_overlap", "copied_fraction", "tstr_ndcg@10", "trtr_ndcg@10"} <= set(head["rsvq"])
    assert head["rsvq"]["codebook_perplexity"] > 1 and head["vae"]["codebook_perplexity"] is None
    with pytest.raises(artifacts.ArtifactError, match="L=20, but it was named"):
        report_generation.main([f"--eval=demo-movielens/L100/rsvq={art / 'rsvq/eval'}", "--out", str(tmp_path / "bad")])


def test_report_says_how_each_prior_was_trained_and_refuses_a_prior_changed_since(art, tmp_path):
    summary = artifacts.read_manifest(art / "rsvq/prior")["summary"]
    report_generation.main([f"--eval=demo-movielens/L20/{run}={art / run / 'eval'}" for run in ("rsvq", "vae")]
                           + ["--out", str(tmp_path / "report")])
    rows = [line for line in (tmp_path / "report/README.md").read_text().splitlines() if line.startswith("| ML-1M")
            or line.startswith("| demo-movielens")]
    cost = [r for r in rows if r.count("|") == 13]  # Table 4's rows
    rsvq = next(r for r in cost if "| RSVQ-AE |" in r)
    assert f"| {summary['train_seconds']:.0f} | {summary['best_epoch']} | {summary['stopped']} |" in rsvq
    assert "| – | – | – |" in next(r for r in cost if "| VAE |" in r)  # no prior
    # a prior retrained after the evaluation no longer describes the evaluated samples
    copy = tmp_path / "art"
    shutil.copytree(art / "rsvq", copy / "rsvq")
    manifest = artifacts.read_json(copy / "rsvq/eval/manifest.json")
    manifest["inputs"]["prior"]["path"] = str(copy / "rsvq/prior")
    artifacts.write_json(copy / "rsvq/eval/manifest.json", manifest)
    doc = artifacts.read_json(copy / "rsvq/prior/manifest.json")
    doc["summary"]["stopped"] = "retrained"
    artifacts.write_json(copy / "rsvq/prior/manifest.json", doc)
    with pytest.raises(artifacts.ArtifactError, match="retrained after the evaluation"):
        report_generation.main([f"--eval=demo-movielens/L20/rsvq={copy / 'rsvq/eval'}", "--out", str(tmp_path / "bad")])
