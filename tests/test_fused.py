"""Fused item embeddings (mean of code embeddings + a learned projection of the frozen text vector):
the vector is exactly the code part plus the text part; pre-training on a tiny two-domain corpus lowers
its loss; a fine-tune from that model onto a third domain (own codes and text, permutation on) transfers the
text projection, trains it under `codes_norm` and loads back strictly with the same scores; `ship` leaves
the corpus items' codes and text out and the shipped model rebuilds; the serving export indexes every item
(cold ones from their codes and text) and new items need their text too."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from textcode.commands import export as export_cmd
from textcode.commands import finetune as finetune_cmd
from textcode.commands import pretrain as pretrain_cmd
from textcode.commands import ship as ship_cmd
from textcode.core import artifacts, model_folder
from textcode.core.config import ConfigError, to_dict
from textcode.core.model_kinds import load_recommender
from textcode.data.domain import Domain, from_sequences
from textcode.data.split import leave_one_out
from textcode.data.windows import cut_from_end
from textcode.rec import pretrained as pretrained_mod
from textcode.rec import sasrec, serving
from textcode.rec.config import (
    CodesConfig,
    EncodeConfig,
    FinetuneConfig,
    PretrainConfig,
    SASRecConfig,
)
from textcode.rec.finetune import build_model, run, trainable
from textcode.rec.item_embedding import (
    ITEM_EMBEDDINGS,
    CodeItemEmbedding,
    DomainInputs,
    FusedItemEmbedding,
    TextItemEmbedding,
    kind_of,
)
from textcode.runtime import distributed as dist
from textcode.training.config import TrainConfig

D, M, DT, H = 4, 16, 12, 16  # sub-spaces, codes per sub-space, text dimensions, hidden
N_ITEMS, N_USERS = 60, 80
MODEL = SASRecConfig(n_layers=1, n_heads=1, hidden=H, ffn=16, dropout=0.0, max_len=8)


# ----------------------------------------------------------------------------- the module

def _fused(n: int = 30, seed: int = 0) -> FusedItemEmbedding:
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    emb = FusedItemEmbedding(torch.randint(0, M, (n, D), generator=g), M, torch.randn(n, DT, generator=g), H)
    with torch.no_grad():
        emb.bias.normal_()  # a non-zero bias, so (x - b) W is tested as such
    return emb


def test_fused_vector_is_the_code_part_plus_the_text_part_exactly():
    fused = _fused()
    code = CodeItemEmbedding(fused.codes.long(), M, H)
    text = TextItemEmbedding(fused.text, H).eval()
    with torch.no_grad():
        code.table.copy_(fused.table)
        text.bias.copy_(fused.bias)
        text.proj.weight.copy_(fused.proj.weight)
    items = torch.tensor([[0, 3, 29], [5, 5, 1]])
    assert fused(items).shape == (2, 3, H) and fused.all_items().shape == (30, H) and fused.n_items == 30
    assert torch.equal(fused(items), code(items) + text(items))
    assert torch.equal(fused.all_items(), code.all_items() + text.all_items())
    assert torch.equal(fused.text_part(items), text(items))
    # a code-table mixing (the permutation phase) changes the code part only
    mixing = torch.softmax(torch.randn(D, M, M), -1)
    assert torch.allclose(fused.all_items(fused.mixed_weight(mixing)),
                          code.all_items(code.mixed_weight(mixing)) + text.all_items(), atol=1e-6)
    # the semi-synthetic negative: other codes, the item's own text part
    other = torch.randint(0, M, (2, D))
    ids = torch.tensor([4, 7])
    assert torch.equal(fused.vectors_with_codes(ids, other), code.embed_codes(other) + text(ids))
    assert torch.equal(fused.vectors_with_codes(ids, fused.codes[ids]), fused(ids))
    # new items (serving) from codes and text; the text is required
    assert torch.allclose(fused.embed_new(fused.codes[ids], fused.text[ids]), fused(ids))
    with pytest.raises(ValueError, match="give the new items' text vectors"):
        fused.embed_new(fused.codes[ids])


def test_fused_is_registered_described_and_rebuilt_strictly():
    fused = _fused()
    assert ITEM_EMBEDDINGS["fused"] is FusedItemEmbedding and kind_of(fused) == "fused"
    assert FusedItemEmbedding.reads == ("codes", "text") and CodeItemEmbedding.reads == ("codes",)
    model = sasrec.SequenceEncoder(MODEL, fused).eval()
    meta = sasrec.describe(model)
    assert meta["item_embedding"] == {"kind": "fused", "n_codes": M, "n_subspaces": D, "text_dim": DT}
    tensors = {k: v.numpy() for k, v in model.state_dict().items()}
    assert {"items.codes", "items.table", "items.text", "items.bias", "items.proj.weight"} <= set(tensors)
    again = sasrec.build(meta, tensors).eval()  # strict
    h = [np.array([1, 2, 3]), np.array([9])]
    assert torch.equal(again.score_histories(h), model.score_histories(h))


def test_retarget_swaps_codes_and_text_and_keeps_the_weights():
    fused = _fused()
    table, proj = fused.table.detach().clone(), fused.proj.weight.detach().clone()
    codes, text = np.random.default_rng(1).integers(0, M, (11, D)), np.random.default_rng(2).normal(size=(11, DT))
    fused.retarget(DomainInputs(codes=codes, n_codes=M, text=text.astype(np.float32)))
    assert fused.n_items == 11 and fused.text.shape == (11, DT)
    assert torch.equal(fused.table, table) and torch.equal(fused.proj.weight, proj)
    with pytest.raises(ValueError, match="text projection takes 12"):
        fused.retarget(DomainInputs(codes=codes, n_codes=M, text=np.zeros((11, 5), np.float32)))


# ----------------------------------------------------------------------------- tiny corpus, commands

def _domain(name: str, seed: int, n_items: int = N_ITEMS) -> tuple[Domain, np.ndarray]:
    """Sequences that follow a fixed successor of each item and a random text vector per item; the last
    3 items are in no sequence (cold: recommendable from their codes and text only)."""
    rng = np.random.default_rng(seed)
    successor = rng.permutation(n_items - 3)
    seqs = []
    for _ in range(N_USERS):
        seq = [int(rng.integers(0, n_items - 3))]
        for _ in range(int(rng.integers(3, 8))):
            seq.append(int(successor[seq[-1]]))
        seqs.append(seq)
    dom = from_sequences(name, [f"{name}-{i}" for i in range(n_items)], [f"item {i} of {name}" for i in range(n_items)],
                         [f"u{u}" for u in range(N_USERS)], seqs)
    return dom, rng.normal(size=(n_items, DT)).astype(np.float32)


def _write(art: Path, name: str, seed: int) -> tuple[Domain, np.ndarray]:
    dom, text = _domain(name, seed)
    with artifacts.OutputFolder(art / name / "prepared", "prepare", {"stage": "prepare", "domain": name}) as out:
        dom.save(out)
        out.summary.update(domain=name, users=dom.n_users, items=dom.n_items, interactions=int(dom.n_interactions))
    encode = {"stage": "encode", "domain": name, "encode": to_dict(EncodeConfig())}
    with artifacts.OutputFolder(art / name / "text", "encode", encode) as out:
        artifacts.save_npy(out.path("embeddings.npy"), text)
        out.summary.update(domain=name, items=dom.n_items, dim=DT)
    return dom, text


def _config(path: Path, stage: str, run: str, domain: str = "", **sections) -> Path:
    cfg = {"stage": stage, "run": run, "domain": domain, "seed": 0, **{k: to_dict(v) for k, v in sections.items()}}
    if stage == "finetune":  # the sections a resolved fine-tune config holds besides these (settings.STAGES)
        cfg["selection"] = "history_kept"
    path.write_text(json.dumps(cfg))
    return path


PRE_TRAIN = TrainConfig(epochs=6, batch_size=32, lr=5e-3, patience=0, max_minutes=0.0, max_batch_tokens=0,
                        precision="fp32")
FT = FinetuneConfig(item_embedding="fused", init="pretrained", pretrained="fused", permutation=True,
                    permutation_epochs=2, permutation_batch_size=64, train_scope="codes_norm", eval_batch_size=64)
FT_TRAIN = TrainConfig(epochs=3, batch_size=32, lr=5e-3, patience=0, max_minutes=0.0, max_batch_tokens=0,
                       precision="fp32")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Two tiny domains pre-trained with fused item embeddings (the `pretrain` command), and a third domain
    (its own codes and text) to fine-tune on."""
    art = tmp_path_factory.mktemp("fused")
    for name, seed in (("syn-a", 0), ("syn-b", 1)):
        _write(art, name, seed)
    target, text = _write(art, "syn-c", 2)
    codes = np.random.default_rng(3).integers(0, M, (target.n_items, D)).astype(np.uint8)
    with artifacts.OutputFolder(art / "syn-c" / "codes", "codes", {"stage": "codes", "domain": "syn-c"}) as out:
        artifacts.save_npy(out.path("codes.npy"), codes)
        out.summary.update(n_centroids=M, n_subspaces=D)
    cfg = _config(art / "pretrain.fused.json", "pretrain", "fused",
                  codes=CodesConfig(n_subspaces=D, n_centroids=M, opq=False, threads=1),
                  model=MODEL, train=PRE_TRAIN,
                  pretrain=PretrainConfig(domains=("syn-a", "syn-b"), item_embedding="fused", valid_users=30,
                                          eval_batch_size=64))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is as fast, and leaves the other cores alone
    try:
        assert pretrain_cmd.main(["--config", str(cfg), "--art", str(art), "--out", str(art / "pretrain" / "fused")]) == 0
    finally:
        torch.set_num_threads(threads)
    return {"art": art, "pre": art / "pretrain" / "fused", "target": target, "text": text, "codes": codes}


def test_pretraining_a_fused_model_lowers_its_loss(corpus):
    manifest = artifacts.read_manifest(corpus["pre"])
    summary = manifest["summary"]
    assert summary["item_embedding"] == "fused" and summary["items"] == 2 * N_ITEMS
    losses = [row["loss"] for row in summary["history"]]
    assert len(losses) == PRE_TRAIN.epochs and losses[-1] < losses[0] - 0.1, losses
    meta = model_folder.load_meta(corpus["pre"])
    assert meta["config"]["item_embedding"] == {"kind": "fused", "n_codes": M, "n_subspaces": D, "text_dim": DT}
    model = load_recommender(corpus["pre"])  # strict
    # the model holds every corpus item's text vector, in the corpus' global order (syn-a then syn-b)
    texts = [artifacts.load_npy(corpus["art"] / n / "text" / "embeddings.npy") for n in ("syn-a", "syn-b")]
    np.testing.assert_array_equal(model.items.text.numpy(), np.concatenate(texts))
    np.testing.assert_array_equal(model.items.codes.numpy(), artifacts.load_npy(corpus["pre"] / "codes" / "codes.npy"))


def test_pretraining_code_item_embeddings_is_still_the_default(corpus, tmp_path):
    cfg = _config(tmp_path / "pretrain.code.json", "pretrain", "code",
                  codes=CodesConfig(n_subspaces=D, n_centroids=M, opq=False, threads=1), model=MODEL,
                  train=dataclasses.replace(PRE_TRAIN, epochs=1),
                  pretrain=PretrainConfig(domains=("syn-a", "syn-b"), valid_users=30, eval_batch_size=64))
    assert PretrainConfig().item_embedding == "code"
    assert pretrain_cmd.main(["--config", str(cfg), "--art", str(corpus["art"]), "--out", str(tmp_path / "code")]) == 0
    model = load_recommender(tmp_path / "code")
    assert kind_of(model.items) == "code" and "items.text" not in model.state_dict()
    assert artifacts.read_manifest(tmp_path / "code")["summary"]["item_embedding"] == "code"


def _inputs(corpus) -> DomainInputs:
    return DomainInputs(codes=corpus["codes"], n_codes=M, text=corpus["text"])


def _pretrained(folder: Path):
    tensors, _ = artifacts.load_tensors(folder / model_folder.WEIGHTS)
    return model_folder.load_meta(folder)["config"], tensors


def test_finetuning_from_the_fused_model_transfers_the_text_projection_and_loads_back(corpus, tmp_path):
    target = corpus["target"]
    meta, tensors = _pretrained(corpus["pre"])
    torch.manual_seed(0)
    model = build_model(MODEL, FT, target.n_items, _inputs(corpus), (meta, tensors))
    assert isinstance(model.items, FusedItemEmbedding) and model.n_items == target.n_items
    np.testing.assert_array_equal(model.items.proj.weight.detach().numpy(), tensors["items.proj.weight"])
    np.testing.assert_array_equal(model.items.text.numpy(), corpus["text"])
    chosen = {n for n, p in model.named_parameters() if id(p) in {id(q) for q in trainable(model, "codes_norm")}}
    assert chosen == {"items.table", "items.bias", "items.proj.weight", "norm.weight", "norm.bias"}
    split = leave_one_out(target)
    windows = cut_from_end(split.train_offsets, split.train_items, MODEL.max_len)
    summary = run(model, windows, split.valid, FT, FT_TRAIN, dist.Dist(), None, seed=0)
    assert summary["permutation"]["bijective"] and summary["train_scope"] == "codes_norm"
    state = {k: v.detach() for k, v in model.state_dict().items()}
    assert not np.array_equal(state["items.proj.weight"].numpy(), tensors["items.proj.weight"])  # trained
    np.testing.assert_array_equal(state["blocks.layers.0.linear1.weight"].numpy(), tensors["blocks.layers.0.linear1.weight"])
    with artifacts.OutputFolder(tmp_path / "model", "finetune", {"stage": "finetune"}) as out:
        model_folder.save_model(out, "sasrec", sasrec.describe(model), state)
    again = serving.load_model(tmp_path / "model")  # verified, strict
    histories = [split.test.history(i) for i in range(len(split.test))]
    assert torch.equal(again.score_histories(histories), model.eval().score_histories(histories))


def test_the_finetune_command_reads_codes_and_text_and_refuses_another_encoder(corpus):
    art = corpus["art"]
    cfg = _config(art / "finetune.fused_pretrained.json", "finetune", "fused_pretrained", "syn-c",
                  model=MODEL, train=FT_TRAIN, finetune=FT)
    out = art / "syn-c" / "models" / "fused_pretrained"
    args = ["--config", str(cfg), "--prepared", str(art / "syn-c" / "prepared"), "--codes", str(art / "syn-c" / "codes"),
            "--text", str(art / "syn-c" / "text"), "--pretrained", str(corpus["pre"]), "--out", str(out)]
    with pytest.raises(ConfigError, match="--text is required for finetune.item_embedding: fused"):
        finetune_cmd.main([a for a in args if a not in ("--text", str(art / "syn-c" / "text"))])
    assert finetune_cmd.main(args) == 0
    manifest = artifacts.read_manifest(out)
    assert set(manifest["inputs"]) == {"prepared", "codes", "text", "pretrained"}
    assert manifest["summary"]["permutation"]["bijective"]
    model = load_recommender(out)  # strict
    assert kind_of(model.items) == "fused" and model.n_items == corpus["target"].n_items
    np.testing.assert_array_equal(model.items.codes.numpy(), corpus["codes"])
    np.testing.assert_array_equal(model.items.text.numpy(), corpus["text"])
    # a domain encoded by another model than the pre-training corpus is refused before any work
    other = art / "syn-c" / "text-other"
    cfg_other = {"stage": "encode", "domain": "syn-c", "encode": to_dict(EncodeConfig(model="some/other-encoder"))}
    with artifacts.OutputFolder(other, "encode", cfg_other) as o:
        artifacts.save_npy(o.path("embeddings.npy"), corpus["text"])
    with pytest.raises(ConfigError, match="encode.model: the domain's text vectors .* 'some/other-encoder'"):
        pretrained_mod.check_encoder(corpus["pre"], other)


def test_a_code_run_refuses_a_fused_pretrained_model_and_the_reverse(corpus):
    meta, tensors = _pretrained(corpus["pre"])
    with pytest.raises(ConfigError, match="asks for 'code' item embeddings but the pretrained model"):
        build_model(MODEL, FinetuneConfig(pretrained="fused"), 10, _inputs(corpus), (meta, tensors))
    with pytest.raises(ConfigError, match="asks for 'text' item embeddings but the pretrained model"):
        build_model(MODEL, FinetuneConfig(item_embedding="text"), 10, _inputs(corpus), (meta, tensors))
    with pytest.raises(ConfigError, match="'id' item embeddings do not transfer"):
        build_model(MODEL, FinetuneConfig(item_embedding="id"), 10, _inputs(corpus), (meta, tensors))
    with pytest.raises(ConfigError, match="built from the domain's codes and text; text not given"):
        build_model(MODEL, FT, 10, DomainInputs(codes=corpus["codes"], n_codes=M), (meta, tensors))
    wrong = DomainInputs(codes=corpus["codes"], n_codes=M, text=np.zeros((len(corpus["codes"]), 5), np.float32))
    with pytest.raises(ConfigError, match="text projection takes 12"):
        build_model(MODEL, FT, len(corpus["codes"]), wrong, (meta, tensors))


def test_a_text_model_pretrains_without_codes_and_transfers_its_projection(corpus, tmp_path):
    """pretrain.item_embedding: text (UniSRec-style): no codec, in-batch negatives only; a fine-tune takes the
    projection and the Transformer and swaps in its domain's text vectors."""
    from textcode.rec.item_embedding import TextItemEmbedding

    pre = PretrainConfig(domains=("syn-a", "syn-b"), item_embedding="text", rho=0.0, valid_users=30,
                         eval_batch_size=64)
    codes = CodesConfig(n_subspaces=D, n_centroids=M, opq=False, threads=1)
    cfg = _config(tmp_path / "pretrain.text.json", "pretrain", "text", codes=codes, model=MODEL, train=PRE_TRAIN,
                  pretrain=pre)
    assert pretrain_cmd.main(["--config", str(cfg), "--art", str(corpus["art"]), "--out", str(tmp_path / "text")]) == 0
    summary = artifacts.read_manifest(tmp_path / "text")["summary"]
    losses = [row["loss"] for row in summary["history"]]
    assert summary["item_embedding"] == "text" and summary["codes"] is None and losses[-1] < losses[0] - 0.1, losses
    assert not (tmp_path / "text" / "codes").exists()
    meta, tensors = _pretrained(tmp_path / "text")
    target = corpus["target"]
    ft = FinetuneConfig(item_embedding="text", pretrained="text", permutation=False, eval_batch_size=64)
    model = build_model(MODEL, ft, target.n_items, _inputs(corpus), (meta, tensors))
    assert isinstance(model.items, TextItemEmbedding) and model.n_items == target.n_items
    np.testing.assert_array_equal(model.items.text.numpy(), corpus["text"])
    np.testing.assert_array_equal(model.items.proj.weight.detach().numpy(), tensors["items.proj.weight"])
    split = leave_one_out(target)
    windows = cut_from_end(split.train_offsets, split.train_items, MODEL.max_len)
    run(model, windows, split.valid, ft, FT_TRAIN, dist.Dist(), None, seed=0)
    assert not np.array_equal(model.items.proj.weight.detach().numpy(), tensors["items.proj.weight"])  # trained
    with pytest.raises(ConfigError, match="permutation learning needs code"):
        run(build_model(MODEL, ft, target.n_items, _inputs(corpus), (meta, tensors)), windows, split.valid,
            dataclasses.replace(ft, permutation=True), FT_TRAIN, dist.Dist(), None, seed=0)
    bad = _config(tmp_path / "pretrain.bad.json", "pretrain", "text", codes=codes, model=MODEL, train=PRE_TRAIN,
                  pretrain=dataclasses.replace(pre, rho=0.75))
    with pytest.raises(ConfigError, match="pretrain.rho: 0.75 asks for semi-synthetic negatives"):
        pretrain_cmd.main(["--config", str(bad), "--art", str(corpus["art"]), "--out", str(tmp_path / "bad")])


def test_ship_leaves_the_corpus_items_out_and_the_shipped_model_rebuilds(corpus, tmp_path, monkeypatch):
    out = tmp_path / "fused-tiny"
    assert ship_cmd.main(["--pretrained", str(corpus["pre"]), "--name", "fused-tiny", "--out", str(out)]) == 0
    artifacts.verify_folder(out)
    manifest = artifacts.read_manifest(out)
    assert manifest["summary"]["item_embedding"] == "fused" and manifest["summary"]["corpus_items_dropped"] == 2 * N_ITEMS
    assert manifest["summary"]["pretrain_config"]["pretrain"]["item_embedding"] == "fused"
    meta, tensors = _pretrained(out)
    assert tensors["items.codes"].shape == (0, D) and tensors["items.text"].shape == (0, DT)
    shipped = sasrec.build(meta, tensors)  # strict
    assert shipped.n_items == 0 and kind_of(shipped.items) == "fused"
    _, full = _pretrained(corpus["pre"])
    for key in ("items.table", "items.bias", "items.proj.weight", "blocks.layers.0.linear1.weight"):
        np.testing.assert_array_equal(tensors[key], full[key])
    monkeypatch.setitem(pretrained_mod.SHIPPED, "fused-tiny", artifacts.sha256_file(out / artifacts.MANIFEST))
    pretrained_mod.check(out, "fused-tiny")
    pretrained_mod.check_encoder(out, corpus["art"] / "syn-c" / "text")  # the shipped manifest names the encoder
    ft = build_model(MODEL, FinetuneConfig(item_embedding="fused", pretrained="fused-tiny"), corpus["target"].n_items,
                     _inputs(corpus), (meta, tensors))
    scores = ft.eval().score_histories([np.array([1, 2, 3])])
    assert scores.shape == (1, corpus["target"].n_items) and torch.isfinite(scores).all()


def test_serving_export_indexes_every_fused_item_and_new_items_need_their_text(corpus, tmp_path):
    art = corpus["art"]
    target = corpus["target"]
    torch.manual_seed(0)
    model = build_model(MODEL, FinetuneConfig(item_embedding="fused", init="scratch", permutation=False),
                        target.n_items, _inputs(corpus), None).eval()
    with artifacts.OutputFolder(tmp_path / "model", "finetune", {"stage": "finetune"}) as out:
        model_folder.save_model(out, "sasrec", sasrec.describe(model), {k: v.detach() for k, v in model.state_dict().items()})
    (tmp_path / "export.json").write_text(json.dumps({"stage": "export"}))
    assert export_cmd.main(["--config", str(tmp_path / "export.json"), "--model", str(tmp_path / "model"),
                            "--prepared", str(art / "syn-c" / "prepared"), "--out", str(tmp_path / "serving")]) == 0
    retriever = serving.load_retriever(tmp_path / "serving")
    assert retriever.index.ntotal == target.n_items
    split = leave_one_out(target)
    cold = np.setdiff1d(np.arange(target.n_items), split.training_item_set())
    assert len(cold) >= 3  # items nobody trained on are indexed too, from their codes and text
    vectors = artifacts.load_npy(tmp_path / "serving" / serving.VECTORS)
    with torch.no_grad():
        expected = torch.nn.functional.normalize(model.items.all_items(), dim=-1).numpy()
    np.testing.assert_allclose(vectors[cold], expected[cold], rtol=1e-5, atol=1e-6)
    histories = [split.test.history(i) for i in range(5)]
    _, top = retriever.recommend(histories, k=5)
    np.testing.assert_array_equal(top, torch.topk(model.score_histories(histories), 5).indices.numpy())
    # a new item with an existing item's codes and text gets that item's vector
    best = int(top[0, 0])
    with pytest.raises(ValueError, match="text vectors"):
        retriever.add_items(corpus["codes"][[best]])
    new = retriever.add_items(corpus["codes"][[best]], corpus["text"][[best]])
    assert new.tolist() == [target.n_items]
    np.testing.assert_allclose(retriever.index.reconstruct(target.n_items), vectors[best], rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- one code path for 1 or N processes

def _dist_loss_and_grads(d: dist.Dist, rows: slice):
    """test_dist's global batch through a fused model's contrastive objective (semi-synthetic negatives off:
    their draws differ between one process and two)."""
    from test_dist import _batch

    from textcode.data.batching import Batch
    from textcode.rec.objectives import Contrastive

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    items = FusedItemEmbedding(torch.randint(0, M, (30, D), generator=g), M, torch.randn(30, DT, generator=g), H)
    objective = Contrastive(sasrec.SequenceEncoder(dataclasses.replace(MODEL, n_heads=2, max_len=5), items), 0.1, 0.0, d)
    wrapped = dist.wrap(d, objective)  # kept alive until backward: its hooks average the gradients
    b = _batch()
    loss, value = wrapped(Batch(b.inputs[rows], b.targets[rows], b.mask[rows]))
    loss.backward()
    total = dist.all_reduce_sum(d, value) / d.world
    return float(total), {k: p.grad.detach().clone() for k, p in objective.named_parameters() if p.grad is not None}


def _dist_worker(rank: int, world: int, port: int, out: str) -> None:
    import os

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), TORCHELASTIC_USE_AGENT_STORE="True")
    d = dist.setup("cpu")
    half = 8 // world
    loss, grads = _dist_loss_and_grads(d, slice(rank * half, (rank + 1) * half))
    if d.is_main:
        np.savez(out, loss=loss, **{k: v.numpy() for k, v in grads.items()})
    dist.cleanup(d)


@pytest.mark.distributed
def test_two_processes_pretrain_a_fused_model_as_one_does(tmp_path):
    import torch.multiprocessing as mp
    from test_dist import _launcher_store

    single_loss, single_grads = _dist_loss_and_grads(dist.Dist(), slice(0, 8))
    assert {"model.items.bias", "model.items.proj.weight", "model.items.table"} <= set(single_grads)
    out = str(tmp_path / "rank0.npz")
    store = _launcher_store()
    mp.spawn(_dist_worker, args=(2, store.port, out), nprocs=2, join=True)
    got = np.load(out)
    assert abs(float(got["loss"]) - single_loss) < 1e-5
    for name, grad in single_grads.items():
        np.testing.assert_allclose(got[name], grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
