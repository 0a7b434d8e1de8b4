"""Utility data (real/synthetic/augmented over one item table) and scoring across data sets."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from experiments.commands import evaluate_utility
from experiments.utility_data import augmented, filtered, window_events, windows_domain
from textcode.commands import baseline
from textcode.core import artifacts
from textcode.data.config import WindowConfig
from textcode.data.domain import Domain, from_sequences
from textcode.data.errors import DataError
from textcode.data.windows import cut_chunks, split_windows
from textcode.eval.bootstrap import bootstrap_ci, share_ci

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ["--domain", "demo-movielens", "--configs", str(ROOT / "configs")]


def toy(n_users=40, n_items=30, seed=0, name="toy"):
    rng = np.random.default_rng(seed)
    return from_sequences(name, [f"i{i}" for i in range(n_items)], [f"item {i}" for i in range(n_items)],
                          [f"u{u}" for u in range(n_users)], [rng.integers(0, n_items, rng.integers(3, 30)) for _ in range(n_users)])


def test_every_utility_domain_keeps_the_source_item_table():
    src = toy()
    split = split_windows(src, WindowConfig(length=8), seed=0)
    real = windows_domain(src, split.train, "real", n=10, min_length=3, seed=0)
    test, _ = window_events(src, split.test, "test", min_length=3)
    for d in (real, test, filtered(real, 5, "f"), augmented(src, real, "aug", 3)):
        assert np.array_equal(d.item_ids, src.item_ids) and np.array_equal(d.item_text, src.item_text)
    assert real.n_users == 10 and real.lengths().min() >= 3
    assert {u.split("#")[0] for u in test.user_ids} <= {src.user_ids[u] for u in split.users.test}
    aug = augmented(src, real, "aug", 3)
    assert aug.n_users == src.n_users + 10 and np.array_equal(aug.sequence(0), src.sequence(0))
    with pytest.raises(DataError, match="asked for 999 windows"):
        windows_domain(src, split.train, "real", n=999, min_length=3, seed=0)
    with pytest.raises(DataError, match="one item table"):
        augmented(src, toy(n_items=31), "aug", 3)


def test_window_events_test_every_held_out_window_with_its_users_history():
    src = from_sequences("s", [str(i) for i in range(20)], None, ["a", "b", "c"],
                         [list(range(10)), [1, 2], list(range(19, 5, -1))])  # 10, 2 and 14 items
    held_out = cut_chunks(src, np.arange(3), length=4, stride=4, min_length=2)
    events, owners = window_events(src, held_out, "ev", min_length=3)
    # a: chunks end at 4, 8, 10; b: its only chunk (2 items) is too short to test; c: 4, 8, 12, 14
    assert list(events.user_ids) == ["a#w0", "a#w1", "a#w2", "c#w0", "c#w1", "c#w2", "c#w3"]
    assert list(owners) == [0, 0, 0, 2, 2, 2, 2]
    assert list(events.lengths()) == [4, 8, 10, 4, 8, 12, 14]
    for e, owner in enumerate(owners):  # every event is a prefix of its user's sequence
        seq = events.sequence(e)
        assert np.array_equal(seq, src.sequence(int(owner))[:len(seq)])
    shuffled = held_out.subset(np.arange(len(held_out))[::-1])
    with pytest.raises(DataError, match="is not chunk 0"):  # windows out of order are not chunks of their sequence
        window_events(src, shuffled, "ev", min_length=3)


def test_intervals_resample_users_with_all_their_events():
    rng = np.random.default_rng(0)
    per_user = rng.random(50)
    values = np.repeat(per_user, 10)  # each user's 10 events agree: they carry one user's worth of information
    users = np.repeat(np.arange(50), 10)
    lo, hi = bootstrap_ci(values, n_boot=500, seed=1, groups=users)
    assert (lo, hi) == pytest.approx(bootstrap_ci(per_user, n_boot=500, seed=1))
    naive_lo, naive_hi = bootstrap_ci(values, n_boot=500, seed=1, groups=np.arange(500))  # events as if independent
    assert hi - lo > 2 * (naive_hi - naive_lo)
    assert lo < values.mean() < hi
    # the share of two models on the same events: exact when one is a multiple of the other
    assert share_ci(0.6 * values, values, users, n_boot=200) == pytest.approx((0.6, 0.6))
    b = values + rng.random(500)
    lo, hi = share_ci(values, b, users, n_boot=500)
    assert lo < values.mean() / b.mean() < hi
    with pytest.raises(ValueError, match="differ in shape"):
        share_ci(values, b[:-1], users)


def save(domain: Domain, folder: Path) -> Path:
    with artifacts.OutputFolder(folder, "prepare", {}) as out:
        domain.save(out)
        out.summary["domain"] = domain.name
    return folder


def test_a_model_trained_on_one_data_set_is_scored_on_the_real_users_of_another(tmp_path):
    train = save(toy(seed=1, name="synthetic"), tmp_path / "train")
    test = save(toy(seed=2, name="real-test"), tmp_path / "test")
    assert baseline.main([*CONFIG, "--run", "popularity", "--prepared", str(train), "--out", str(tmp_path / "pop")]) == 0
    assert evaluate_utility.main([*CONFIG, "--set", "evaluate.n_boot=50", "--model", str(tmp_path / "pop"),
                                  "--prepared", str(test), "--out", str(tmp_path / "eval")]) == 0
    doc = artifacts.read_json(tmp_path / "eval/metrics.json")
    assert doc["trained_on"]["domain"] == "synthetic" and doc["tested_on"]["domain"] == "real-test"
    assert doc["n_users"] == 40 and 0 <= doc["test"]["history_kept"]["ndcg@10"] <= 1
    assert doc["training"] == {"epochs": 1, "best_epoch": None, "stopped": None, "wall_s": None}  # popularity: one pass
    lo, hi = doc["ci95"]["history_kept"]["ndcg@10"]
    assert lo <= doc["test"]["history_kept"]["ndcg@10"] <= hi
    other = save(toy(n_items=31, name="other"), tmp_path / "other")
    with pytest.raises(DataError, match="one item table"):
        evaluate_utility.main([*CONFIG, "--model", str(tmp_path / "pop"), "--prepared", str(other), "--out", str(tmp_path / "x")])


def test_utility_metrics_say_how_the_model_stopped(tmp_path):
    """A SASRec-ID from stage finetune: epochs, best epoch and stopping reason reach metrics.json."""
    from textcode.commands import finetune

    train = save(toy(seed=1, name="synthetic"), tmp_path / "train")
    test = save(toy(seed=2, name="real-test"), tmp_path / "test")
    small = ["--set", "model.hidden=16", "--set", "model.ffn=16", "--set", "train.epochs=2", "--set", "train.max_minutes=0"]
    assert finetune.main([*CONFIG, "--run", "sasrec_id", *small, "--prepared", str(train), "--out", str(tmp_path / "m")]) == 0
    assert evaluate_utility.main([*CONFIG, "--set", "evaluate.n_boot=20", "--model", str(tmp_path / "m"),
                                  "--prepared", str(test), "--out", str(tmp_path / "eval")]) == 0
    training = artifacts.read_json(tmp_path / "eval/metrics.json")["training"]
    assert training["epochs"] == 2 and training["stopped"] == "max_epochs" and 1 <= training["best_epoch"] <= 2
    assert training["wall_s"] > 0


def test_utility_table_gives_the_ratio_to_real_and_how_each_model_stopped():
    from experiments.generation_report import Utility, utility_table

    def entry(trained, ndcg, training):
        m = {"test": {"history_kept": {"ndcg@10": ndcg, "recall@10": 2 * ndcg}},
             "ci95": {"history_kept": {"ndcg@10": [ndcg - .01, ndcg + .01]}}, "trained_on": {"users": 500},
             "training": training}
        return Utility("movielens-1m/L20", trained, m)

    rows = utility_table([dataclasses.replace(entry("rsvq", .02, {"epochs": 9, "best_epoch": 6, "stopped": "early_stopping",
                                                                  "wall_s": 90.0}), share_ci95=(.41, .6)),
                          entry("real", .04, {"epochs": 30, "best_epoch": 30, "stopped": "max_epochs", "wall_s": 300.0})])
    real, rsvq = rows.splitlines()[2:]
    assert "real windows" in real and real.endswith("| 30 (30) | max epochs |")
    assert "| 50.00% (41-60%) |" in rsvq and rsvq.endswith("| 9 (6) | early stopping |")
    # with the test users' repeat share known, each cell gets its no-training floor row
    floor = Utility("movielens-1m/L20", "real", entry("real", .04, {"epochs": 1, "best_epoch": 1, "stopped": "x",
                                                                      "wall_s": 1.0}).metrics, repeat_last=0.01)
    last = utility_table([floor]).splitlines()[-1]
    assert "nothing" in last and "| ≥ 0.0100 | ≥ 0.0100 | ≥ 25.00% |" in last


def test_repeat_last_share_counts_targets_equal_to_the_last_history_item():
    from experiments.generation_report import repeat_last_share

    # users: [1, 2, 2] repeats; [3, 1] does not; [4] is too short to have a history; [5, 5] repeats
    d = from_sequences("t", [str(i) for i in range(6)], None, ["a", "b", "c", "d"], [[1, 2, 2], [3, 1], [4], [5, 5]])
    assert repeat_last_share(d) == pytest.approx(2 / 3)


def test_window_events_are_scored_per_event_and_compared_with_real_on_the_same_events(tmp_path):
    """evaluate-utility on window events: intervals resample source users; the report pairs two models' events."""
    from experiments.generation_report import load_utility
    from experiments.utility_data import EVENT_USERS

    src = toy(n_users=200, seed=3, name="real")  # 20 test users with several windows each
    events, owners = window_events(src, split_windows(src, WindowConfig(length=4), seed=0).test, "real-test-windows", 3)
    with artifacts.OutputFolder(tmp_path / "events", "utility-data", {}) as out:
        events.save(out)
        artifacts.save_npy(out.path(EVENT_USERS), owners)
        out.summary["domain"] = events.name
    folders = {}
    for trained, seed in (("real", 1), ("rsvq", 2)):
        train = save(toy(seed=seed, name=trained), tmp_path / f"train-{trained}")
        assert baseline.main([*CONFIG, "--run", "popularity", "--prepared", str(train), "--out", str(tmp_path / f"pop-{trained}")]) == 0
        folders[trained] = tmp_path / f"eval-{trained}"
        assert evaluate_utility.main([*CONFIG, "--set", "evaluate.n_boot=100", "--model", str(tmp_path / f"pop-{trained}"),
                                      "--prepared", str(tmp_path / "events"), "--out", str(folders[trained])]) == 0
    doc = artifacts.read_json(folders["rsvq"] / "metrics.json")
    assert doc["n_users"] == events.n_users and doc["n_groups"] == len(set(owners.tolist())) < events.n_users
    entries = {u.trained: u for u in load_utility([(f"toy/L4/{t}", f) for t, f in folders.items()])}
    assert entries["real"].share_ci95 is None
    lo, hi = entries["rsvq"].share_ci95
    ratio = doc["test"]["history_kept"]["ndcg@10"] / artifacts.read_json(folders["real"] / "metrics.json")["test"]["history_kept"]["ndcg@10"]
    assert lo <= ratio <= hi
    # the same on the events whose target does not repeat the last history item
    from experiments.generation_report import repeat_last_mask
    from experiments.utility_stats import event_metric

    repeats = repeat_last_mask(events)
    assert 0 < repeats.sum() < len(repeats), "the toy windows should have some repeat targets and some others"
    (ev, mine, _), (_, theirs, _) = (event_metric(folders[t], "history_kept", "ndcg@10") for t in ("rsvq", "real"))
    novel = entries["rsvq"].novel
    assert novel["events"] == int((~repeats[ev]).sum())
    assert novel["ndcg@10"] == pytest.approx(mine[~repeats[ev]].mean())
    assert novel["share"] == pytest.approx(mine[~repeats[ev]].mean() / theirs[~repeats[ev]].mean())
    assert novel["share_ci95"][0] <= novel["share"] <= novel["share_ci95"][1]
    assert "share" not in entries["real"].novel


def test_augmentation_rows_carry_the_paired_share_of_the_real_trained_model():
    from experiments.generation_report import Utility, augmentation_table, headline

    def entry(trained, ndcg, share_ci95=None):
        m = {"test": {"history_kept": {"ndcg@10": ndcg, "recall@10": 2 * ndcg, "recall@50": .3, "ndcg@50": .1}},
             "ci95": {"history_kept": {"ndcg@10": [ndcg - .01, ndcg + .01], "recall@10": [0, 1]}},
             "trained_on": {"users": 10}, "training": {"epochs": 3, "best_epoch": 2, "stopped": "early_stopping"}}
        return Utility("Scientific", trained, m, share_ci95=share_ci95)

    aug = [entry("augmented", .045, (.85, .97)), entry("real", .05)]
    real_row, aug_row = augmentation_table(aug).splitlines()[2:]
    assert "real training data" in real_row and "| – |" in real_row
    assert "| 90.00% (85-97%) |" in aug_row
    doc = headline([], augmentation=aug)["augmentation"]["Scientific"]
    assert doc["augmented"]["ndcg@10_vs_real"] == pytest.approx(.9) and doc["augmented"]["ndcg@10_vs_real_ci95"] == (.85, .97)
    assert "ndcg@10_vs_real" not in doc["real"] and doc["real"]["ndcg@10"] == .05


def test_headline_carries_the_non_repeat_share_of_each_sampler():
    from experiments.generation_report import Entry, Utility, headline

    gen = {"popularity_js": .1, "bigram_precision": .2, "copied_windows": 0.0, "bigram_recall": .1,
           "popularity_js_train": .1, "length_tv": .0, "repeat_rate": .0}
    entry = Entry("retailrocket", 20, "rsvq", {"reconstruction": {"ce": 1.0, "accuracy": .5}, "generated": gen,
                                               "reference_real": {"popularity_js": .01, "bigram_precision": .2,
                                                                  "copied_windows": 0.0}})

    def util(trained, novel):
        return Utility("retailrocket/L20", trained, {"test": {"history_kept": {"ndcg@10": .2}}}, novel=novel)

    cell = headline([entry], [util("real", {"events": 70, "ndcg@10": .08}),
                              util("rsvq", {"events": 70, "ndcg@10": .04, "share": .5, "share_ci95": (.4, .6)})])
    got = cell["retailrocket"]["20"]["rsvq"]["tstr_nonrepeat"]
    assert got == {"events": 70, "ndcg@10": .04, "trtr_ndcg@10": .08, "share": .5, "share_ci95": (.4, .6)}
    assert headline([entry], [util("rsvq", None)])["retailrocket"]["20"]["rsvq"]["tstr_nonrepeat"] is None
