"""Stages popularity, ease, evaluate and report end to end on the embedded demo sample (600 users)."""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from textcode.commands import baseline as baseline_stage
from textcode.commands import evaluate as evaluate_stage
from textcode.commands import prepare as prepare_stage
from textcode.commands import report as report_stage
from textcode.core import artifacts
from textcode.eval.evaluation import per_user_file
from textcode.eval.report import (
    headline,
    load_run,
    markdown,
    published_rows,
    significance,
)

ROOT = Path(__file__).resolve().parents[1]
HEADLINE = {"recall@10", "ndcg@10", "recall@50", "ndcg@50", "mrr"}
DOMAIN = ["--domain", "demo-scientific", "--configs", str(ROOT / "configs")]


@pytest.fixture(scope="module")
def art(tmp_path_factory):
    """prepared -> pop, ease models -> their eval folders, in a temporary artifact folder."""
    art = tmp_path_factory.mktemp("art")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)  # the demo source path is relative to the project
        assert prepare_stage.main([*DOMAIN, "--out", str(art / "prepared")]) == 0
    prepared = ["--prepared", str(art / "prepared")]
    assert baseline_stage.main([*DOMAIN, "--run", "popularity", *prepared, "--out", str(art / "models/pop")]) == 0
    assert baseline_stage.main([*DOMAIN, "--run", "ease", *prepared, "--set", "baseline.l2_grid=[100]",
                                "--out", str(art / "models/ease")]) == 0
    for run in ("pop", "ease"):
        assert evaluate_stage.main([*DOMAIN, *prepared, "--set", "evaluate.n_boot=200", "--model", str(art / "models" / run),
                                    "--out", str(art / "eval" / run)]) == 0
    return art


def test_model_folders_describe_their_cost(art):
    summary = artifacts.read_manifest(art / "models/ease")["summary"]
    assert summary["epochs"] == 1 and summary["train_wall_s"] > 0 and summary["l2"] == 100.0
    assert [c["l2"] for c in summary["valid_curve"]] == [100.0]
    assert artifacts.read_manifest(art / "models/pop")["summary"]["epochs"] == 1


def test_metrics_json_and_per_user_arrays_agree(art):
    doc = artifacts.read_json(art / "eval/ease/metrics.json")
    assert doc["n_users"] == 600
    for split in ("valid", "test"):
        assert set(doc[split]) == {"history_kept", "history_removed"}
        assert doc["eval_s"][split] > 0
        for protocol in ("history_kept", "history_removed"):
            assert set(doc[split][protocol]) == HEADLINE
            for metric, mean in doc[split][protocol].items():
                values = artifacts.load_npy(art / "eval/ease" / per_user_file(split, protocol, metric))
                assert values.shape == (600,)
                assert mean == pytest.approx(float(values.mean()))
                lo, hi = doc["ci95"][split][protocol][metric]
                assert lo <= mean <= hi
    users = artifacts.load_npy(art / "eval/ease/per_user/test_users.npy")
    np.testing.assert_array_equal(users, np.arange(600))


def test_evaluate_refuses_a_model_trained_on_other_data(art, tmp_path):
    other = tmp_path / "prepared"
    shutil.copytree(art / "prepared", other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["summary"]["note"] = "re-prepared"
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(artifacts.ArtifactError, match="trained on"):
        evaluate_stage.main([*DOMAIN, "--prepared", str(other), "--model", str(art / "models/ease"),
                             "--out", str(tmp_path / "eval")])


def test_report_tables_chart_and_results_json(art, tmp_path):
    results = tmp_path / "results.json"
    assert report_stage.main([*DOMAIN, "--eval", f"pop={art / 'eval/pop'}", "--eval", f"ease={art / 'eval/ease'}",
                              "--reference", "pop", "--set", "report.n_boot=200", "--out", str(tmp_path / "report"),
                              "--results", str(results)]) == 0
    text = (tmp_path / "report/report.md").read_text()
    assert text.count("| ease |") == 5  # the runs table, two metric tables, two significance tables (one per protocol)
    assert text.count("| pop |") == 3  # the reference has no significance rows
    assert "not run here" not in text  # the demo is not the published split: no published rows
    assert (tmp_path / "report/metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    headline = artifacts.read_json(results)
    assert list(headline) == ["pop", "ease"]
    model_summary = artifacts.read_manifest(art / "models/ease")["summary"]
    ease_row = headline["ease"]
    assert set(ease_row) == {"valid", "test", "ci95", "finetune_wall_s", "epochs", "test_history_removed"}
    for key in ("valid", "test", "ci95", "test_history_removed"):
        assert set(ease_row[key]) == HEADLINE
    assert ease_row["finetune_wall_s"] == model_summary["train_wall_s"] and ease_row["epochs"] == 1
    doc = artifacts.read_json(art / "eval/ease/metrics.json")
    assert ease_row["test"] == doc["test"]["history_kept"]
    assert ease_row["test_history_removed"] == doc["test"]["history_removed"]
    # summary.json: each run's test metrics in both protocols and its cost (training + evaluation)
    summary = artifacts.read_json(tmp_path / "report/summary.json")
    assert list(summary) == ["pop", "ease"]
    assert summary["ease"]["test"] == doc["test"]["history_kept"]
    assert summary["ease"]["test_history_removed"] == doc["test"]["history_removed"]
    assert summary["ease"]["wall_s"] == round(model_summary["train_wall_s"] + sum(doc["eval_s"].values()), 3)
    assert summary["ease"]["ci95"]["history_removed"]["ndcg@10"] == doc["ci95"]["test"]["history_removed"]["ndcg@10"]
    # the model's own cost and machine, from its manifest
    manifest = artifacts.read_manifest(art / "models/ease")
    assert summary["ease"]["train_wall_s"] == model_summary["train_wall_s"]
    assert summary["ease"]["peak_rss_mb"] == manifest["peak_rss_mb"] > 50  # a Python process with numpy
    assert summary["ease"]["cpu"] == manifest["environment"]["machine"]["cpu"]
    # each run but the reference carries its paired test against the reference, in both protocols
    assert "paired" not in summary["pop"]
    paired = summary["ease"]["paired"]
    assert paired["reference"] == "pop" and set(paired) == {"reference", "test", "test_history_removed"}
    for key in ("test", "test_history_removed"):
        assert set(paired[key]) == HEADLINE
        for m, c in paired[key].items():
            assert c["diff"] == pytest.approx(summary["ease"][key][m] - summary["pop"][key][m], abs=1e-9)
            assert 0 < c["p"] <= 1 and c["ci95"][0] <= c["diff"] <= c["ci95"][1]
    # results/baselines.json and results/transfer.json are these summaries per domain
    from experiments.commands import collect_reports
    for which in ("baselines", "transfer"):
        out = tmp_path / f"{which}.json"
        assert collect_reports.main(["--report", f"demo={tmp_path / 'report'}", "--set", which, "--out", str(out)]) == 0
        collected = artifacts.read_json(out)
        assert list(collected) == ["demo"] and list(collected["demo"]) == ["pop", "ease"]
        assert collected["demo"]["ease"] == {k: summary["ease"][k] for k in collect_reports.KEYS[which]}
    # the reference has no paired row; any other run without one is a report made before they were recorded
    assert "paired" not in collected["demo"]["pop"]
    del summary["ease"]["paired"]
    artifacts.write_json(tmp_path / "old-report/summary.json", summary)
    with pytest.raises(artifacts.ArtifactError, match="lacks paired"):
        collect_reports.collect({"demo": tmp_path / "old-report"}, collect_reports.KEYS["transfer"])


def test_the_report_says_what_a_stage_flagged(art, tmp_path):
    # EASE searched only l2 in (1, 3) and chose 3, the edge: the runs table carries the note
    assert baseline_stage.main([*DOMAIN, "--run", "ease", "--prepared", str(art / "prepared"), "--set", "baseline.l2_grid=[1, 3]",
                                "--set", "baseline.extend_at_edge=0", "--out", str(tmp_path / "models/ease")]) == 0
    assert evaluate_stage.main([*DOMAIN, "--prepared", str(art / "prepared"), "--set", "evaluate.n_boot=20", "--model",
                                str(tmp_path / "models/ease"), "--out", str(tmp_path / "eval/ease")]) == 0
    assert report_stage.main([*DOMAIN, "--eval", f"pop={art / 'eval/pop'}", "--eval", f"ease={tmp_path / 'eval/ease'}",
                              "--reference", "pop", "--set", "report.n_boot=20", "--out", str(tmp_path / "report")]) == 0
    text = (tmp_path / "report/report.md").read_text()
    assert f"| ease | history kept | – | l2=3 at the edge of the values tried (1..3) | `{tmp_path / 'models/ease'}` |" in text
    assert artifacts.read_json(tmp_path / "report/summary.json")["ease"]["notes"] == ["l2=3 at the edge of the values tried (1..3)"]


def test_report_rejects_an_unknown_reference(art, tmp_path):
    with pytest.raises(ValueError, match="reference run 'sasrec'"):
        report_stage.main([*DOMAIN, "--eval", f"pop={art / 'eval/pop'}", "--reference", "sasrec",
                           "--out", str(tmp_path / "report")])


def test_report_notices_a_model_changed_after_evaluation(art, tmp_path):
    shutil.copytree(art / "models/pop", tmp_path / "pop")
    assert evaluate_stage.main([*DOMAIN, "--prepared", str(art / "prepared"), "--set", "evaluate.n_boot=10",
                                "--model", str(tmp_path / "pop"), "--out", str(tmp_path / "eval")]) == 0
    load_run("pop", tmp_path / "eval")
    manifest = json.loads((tmp_path / "pop/manifest.json").read_text())
    manifest["summary"]["epochs"] = 2
    (tmp_path / "pop/manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(artifacts.ArtifactError, match="changed after it was evaluated"):
        load_run("pop", tmp_path / "eval")


def test_published_rows_only_for_the_canonical_split_and_only_in_the_markdown(art):
    runs = [dataclasses.replace(load_run(name, art / "eval" / name), domain="Scientific") for name in ("pop", "ease")]
    sig = significance(runs, "ease", n_boot=50, seed=0)
    text = markdown(runs, sig, "ease", n_boot=50, published=published_rows("Scientific", ROOT / "configs/published.yaml"))
    assert published_rows("demo-scientific", ROOT / "configs/published.yaml") == []
    kept_table = text.split("## Test, history kept")[1].split("## Test, history removed")[0]
    assert "| *VQ-Rec, published (Hou et al. WWW 2023); not run here* | 0.1211 | 0.0643 | 0.2369 | 0.0897 |" in kept_table
    assert "SASRec-ID, published" in kept_table
    assert text.count("not run here") == 2  # only in the history_kept table: that is the protocol they were measured in
    assert set(headline(runs)) == {"pop", "ease"}


def test_a_trained_autoencoder_baseline_goes_through_the_command_and_the_evaluator(art, tmp_path):
    # Mult-VAE, two epochs: the command seeds it, records its epochs and stop reason, and evaluate scores it
    small = ["--set", "baseline.hidden=[16, 8]", "--set", "baseline.epochs=2", "--set", "baseline.batch_size=100"]
    for seed in (0, 1):
        assert baseline_stage.main([*DOMAIN, "--run", "multvae", "--prepared", str(art / "prepared"), *small,
                                    "--set", f"seed={seed}", "--out", str(tmp_path / f"m{seed}")]) == 0
    summary = artifacts.read_manifest(tmp_path / "m0")["summary"]
    assert summary["epochs"] == 2 and summary["stopped"] == "max_epochs" and summary["kind"] == "multvae"
    weights = [artifacts.load_tensors(tmp_path / f"m{s}" / "model.safetensors")[0] for s in (0, 1)]
    assert evaluate_stage.main([*DOMAIN, "--prepared", str(art / "prepared"), "--set", "evaluate.n_boot=10", "--model",
                                str(tmp_path / "m0"), "--out", str(tmp_path / "eval")]) == 0
    assert artifacts.read_json(tmp_path / "eval/metrics.json")["n_users"] == 600
    assert any((weights[0][k] != weights[1][k]).any() for k in weights[0])  # another seed, other weights


def test_the_headline_names_the_best_pretrained_row_by_validation_only():
    from textcode.eval.report import Run, headline

    def run(name, valid, test, pretrained):
        means = {m: 0.0 for m in HEADLINE}
        doc = {"valid": {"history_kept": {**means, "ndcg@10": valid}},
               "test": {p: {**means, "ndcg@10": test} for p in ("history_kept", "history_removed")},
               "ci95": {"test": {"history_kept": {m: [0.0, 0.0] for m in HEADLINE}}}}
        return Run(name, None, None, "d", "", doc, {"train_wall_s": 1.0, "epochs": 1}, pretrained=pretrained)

    runs = [run("vqrec_pretrained", 0.06, 0.09, True), run("history", 0.08, 0.05, True),
            run("text_only", 0.09, 0.10, False)]
    out = headline(runs)
    assert out["best_transfer"] == "history"  # the best validation among pre-trained rows, whatever the test says
    assert "best_transfer" not in headline(runs[2:])
