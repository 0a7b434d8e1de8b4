"""`textcode recommend` and textcode.rec.recommend on a tiny exported model: top-k equals the model's own
ranking, history items are excluded, an item nobody interacted with is recommendable from its codes,
users by id, the Parquet batch mode, and unknown ids refused by name."""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from textcode.commands import export as export_stage
from textcode.commands import recommend as recommend_cmd
from textcode.core import artifacts, model_folder
from textcode.data.domain import from_sequences
from textcode.data.errors import DataError
from textcode.rec import sasrec, serving
from textcode.rec.config import SASRecConfig
from textcode.rec.item_embedding import CodeItemEmbedding
from textcode.rec.recommend import TopK, recommend

N_ITEMS, N_CODES = 40, 16
HISTORY = [1, 2, 3]


def _model(codes: torch.Tensor) -> sasrec.SequenceEncoder:
    """As tests/test_serving.py builds it; weights do not depend on the codes."""
    torch.manual_seed(0)
    return sasrec.SequenceEncoder(SASRecConfig(n_layers=1, n_heads=1, hidden=8, ffn=8, dropout=0.0, max_len=5),
                                  CodeItemEmbedding(codes, N_CODES, 8)).eval()


def _finished(folder: Path, stage: str, write, summary: dict | None = None) -> Path:
    with artifacts.OutputFolder(folder, stage, {"stage": stage}) as out:
        write(out)
        out.summary.update(summary or {})
    return folder


@pytest.fixture(scope="module")
def art(tmp_path_factory):
    """prepared + model + serving (by `export`); item COLD has no interactions and the codes of the
    best match of HISTORY, so it ties with that item at the top."""
    art = tmp_path_factory.mktemp("rec")
    codes = torch.randint(0, N_CODES, (N_ITEMS, 4), generator=torch.Generator().manual_seed(0))
    m0 = _model(codes)
    r0 = serving.Retriever(m0, serving.build_index(serving.item_vectors(m0)))
    _, top = r0.recommend([np.array(HISTORY)], k=1, exclude_history=True)
    best = int(top[0, 0])
    cold = N_ITEMS - 1 if best != N_ITEMS - 1 else N_ITEMS - 2
    codes = codes.clone()
    codes[cold] = codes[best]
    model = _model(codes)
    rng = np.random.default_rng(0)
    warm = np.setdiff1d(np.arange(N_ITEMS), [cold])
    seqs = [rng.permutation(warm)[:6].tolist() for _ in range(8)]
    domain = from_sequences("toy", [f"i{i}" for i in range(N_ITEMS)], [f"item number {i} " + "long " * 20 for i in range(N_ITEMS)],
                            [f"u{u}" for u in range(8)], seqs)
    _finished(art / "prepared", "prepare", domain.save, summary={"domain": "toy"})
    _finished(art / "model", "finetune", lambda out: model_folder.save_model(
        out, "sasrec", sasrec.describe(model), {k: v.detach() for k, v in model.state_dict().items()}))
    (art / "export.json").write_text(json.dumps({"stage": "export"}))
    assert export_stage.main(["--config", str(art / "export.json"), "--model", str(art / "model"),
                              "--prepared", str(art / "prepared"), "--out", str(art / "serving")]) == 0
    return {"art": art, "model": model, "domain": domain, "best": best, "cold": cold, "seqs": seqs}


def _brute_force(model, history, k, exclude=()):
    scores = model.score_histories([np.asarray(history)])[0].detach().numpy().copy()
    scores[list(exclude)] = -np.inf
    return np.argsort(-scores, kind="stable")[:k]


def _untie(art, ranking):
    """A ranking with the cold item read as its twin: the two share a vector, so their order is a tie."""
    return [art["best"] if int(i) == art["cold"] else int(i) for i in ranking]


def test_top_k_equals_the_models_own_ranking(art):
    recs = TopK.load(art["art"] / "serving", art["art"] / "prepared")
    history = [5, 6, 7, 8]
    (rows,) = recs.recommend([[f"i{i}" for i in history]], k=8, exclude_history=False)
    expected = _brute_force(art["model"], history, 8)
    got = [int(r.item[1:]) for r in rows]
    assert _untie(art, got) == _untie(art, expected)
    assert [r.rank for r in rows] == list(range(1, 9))
    assert all(a.score >= b.score for a, b in itertools.pairwise(rows))
    assert rows[0].text.startswith(f"item number {rows[0].item[1:]} ")


def test_history_items_are_excluded_unless_kept(art):
    recs = TopK.load(art["art"] / "serving", art["art"] / "prepared")
    history = _brute_force(art["model"], [9, 10], 3).tolist()  # the history's own favourites
    ids = [f"i{i}" for i in history]
    (kept,) = recs.recommend([ids], k=5, exclude_history=False)
    (excl,) = recs.recommend([ids], k=5)
    assert {r.item for r in kept} & set(ids)
    assert len(excl) == 5 and not {r.item for r in excl} & set(ids)
    assert _untie(art, [int(r.item[1:]) for r in excl]) == _untie(art, _brute_force(art["model"], history, 5, exclude=history))
    # asking for more than there is returns every other item, once
    (everything,) = recs.recommend([ids], k=100)
    assert len(everything) == N_ITEMS - 3 and len({r.item for r in everything}) == N_ITEMS - 3


def test_an_item_without_interactions_is_recommended_from_its_codes(art):
    cold, best = art["cold"], art["best"]
    assert cold not in np.concatenate(art["seqs"])
    vectors = artifacts.load_npy(art["art"] / "serving" / serving.VECTORS)
    assert np.allclose(vectors[cold], vectors[best])  # its vector is its codes' (shared with `best`)
    (rows,) = recommend(art["art"] / "serving", art["art"] / "prepared", [[f"i{i}" for i in HISTORY]], k=2)
    assert {r.item for r in rows} == {f"i{best}", f"i{cold}"}


def test_users_by_id_use_their_whole_sequence(art):
    recs = TopK.load(art["art"] / "serving", art["art"] / "prepared")
    by_user = recs.recommend_users(["u3", "u0"], k=4)
    by_items = recs.recommend([[f"i{i}" for i in art["seqs"][3]], [f"i{i}" for i in art["seqs"][0]]], k=4)
    assert by_user == by_items
    with pytest.raises(DataError, match=r"\[nobody\]: unknown user id"):
        recs.recommend_users(["nobody"])


def test_unknown_item_id_is_named(art, capsys):
    recs = TopK.load(art["art"] / "serving", art["art"] / "prepared")
    with pytest.raises(DataError, match=r"\[i999\]: unknown item id"):
        recs.recommend([["i1", "i999"]])
    from textcode.cli import main as cli_main
    code = cli_main(["recommend", "--serving", str(art["art"] / "serving"), "--prepared", str(art["art"] / "prepared"),
                     "--items", "i1", "nope"])
    assert code == 2 and "[nope]: unknown item id" in capsys.readouterr().err


def test_command_prints_a_table_per_history(art, capsys):
    base = ["--serving", str(art["art"] / "serving"), "--prepared", str(art["art"] / "prepared")]
    assert recommend_cmd.main(base + ["--items", "i1", "i2", "i3", "--items", "i7", "--k", "3"]) == 0
    out = capsys.readouterr().out
    assert "history: i1 i2 i3" in out and "history: i7" in out
    lines = [ln for ln in out.splitlines() if ln.strip()[:1].isdigit()]
    assert len(lines) == 6 and all("…" in ln for ln in lines)  # long texts are truncated
    assert f"i{art['cold']}" in out  # the cold item, recommended for HISTORY
    assert recommend_cmd.main(base + ["--user", "u2", "--keep-history", "--k", "2"]) == 0
    assert "user u2 (6 items)" in capsys.readouterr().out


def test_all_users_writes_parquet(art, tmp_path):
    out = tmp_path / "sub" / "top.parquet"
    base = ["--serving", str(art["art"] / "serving"), "--prepared", str(art["art"] / "prepared")]
    assert recommend_cmd.main(base + ["--all-users", "--out", str(out), "--k", "4"]) == 0
    table = artifacts.load_table(out)
    assert set(table) == {"user", "rank", "item", "score"}
    assert len(table["user"]) == 8 * 4 and table["rank"].tolist() == [1, 2, 3, 4] * 8
    recs = TopK.load(art["art"] / "serving", art["art"] / "prepared")
    (u5,) = recs.recommend_users(["u5"], k=4)
    rows = table["user"] == "u5"
    assert table["item"][rows].tolist() == [r.item for r in u5]
    assert np.allclose(table["score"][rows], [r.score for r in u5])
    for u, seq in enumerate(art["seqs"]):  # no user is recommended what they already have
        assert not set(table["item"][table["user"] == f"u{u}"]) & {f"i{i}" for i in seq}
    assert [p.name for p in out.parent.iterdir()] == ["top.parquet"]  # no temporary file left behind
    from textcode.core.config import ConfigError
    with pytest.raises(ConfigError, match="--out"):
        recommend_cmd.main(base + ["--all-users"])
