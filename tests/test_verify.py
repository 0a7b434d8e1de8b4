"""Artifacts are checked against their manifests before use: truncated, edited and bit-flipped files,
non-finite embeddings, out-of-range codes, corrupt checkpoints and shards, and a full disk are all
refused with the file named and what to do. Tiny artifacts, built here."""
from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from textcode.commands import codes as codes_stage
from textcode.commands import encode as encode_stage
from textcode.commands import export as export_stage
from textcode.core import artifacts, model_folder
from textcode.data.domain import Domain, from_sequences
from textcode.rec import sasrec, serving
from textcode.rec.config import SASRecConfig
from textcode.rec.encoders import encode_texts
from textcode.rec.item_embedding import CodeItemEmbedding
from textcode.rec.opq import Codec
from textcode.runtime.distributed import Dist
from textcode.training.checkpoint import Checkpoint

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = ["--domain", "demo-scientific", "--configs", str(ROOT / "configs")]
N_ITEMS, DIM, D, M = 12, 8, 4, 4


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    """Each test verifies from scratch, in full mode unless it says otherwise."""
    monkeypatch.delenv(artifacts.VERIFY_ENV, raising=False)
    artifacts.clear_verified()
    yield
    artifacts.clear_verified()


def _finished(folder: Path, stage: str, files: dict, summary: dict | None = None, config: dict | None = None) -> Path:
    """A finished output folder holding `files` (name -> ndarray / dict / callable(path))."""
    with artifacts.OutputFolder(folder, stage, config or {"stage": stage}) as out:
        for name, value in files.items():
            if isinstance(value, np.ndarray):
                artifacts.save_npy(out.path(name), value)
            elif isinstance(value, dict):
                artifacts.write_json(out.path(name), value)
            else:
                value(out)
        out.summary.update(summary or {})
    return folder


@pytest.fixture(scope="module")
def art(tmp_path_factory) -> Path:
    """prepared, text, codes and a code-embedding SASRec model folder, all tiny."""
    art = tmp_path_factory.mktemp("art")
    rng = np.random.default_rng(0)
    seqs = [rng.permutation(N_ITEMS)[:5].tolist() for _ in range(6)]
    domain = from_sequences("toy", [f"i{i}" for i in range(N_ITEMS)], [f"item {i}" for i in range(N_ITEMS)],
                            [f"u{u}" for u in range(6)], seqs)
    _finished(art / "prepared", "prepare", {"domain": domain.save}, summary={"domain": "toy"})
    emb = rng.normal(size=(N_ITEMS, DIM)).astype(np.float32)
    _finished(art / "text", "encode", {"embeddings.npy": emb})
    codec = Codec(np.eye(DIM, dtype=np.float32), np.zeros(DIM, np.float32),
                  rng.normal(size=(D, M, DIM // D)).astype(np.float32))
    codes = codec.encode(emb)
    _finished(art / "codes", "codes", {"codes.npy": codes, "codec": lambda out: codec.save(out.path("codec.safetensors"))},
              summary={"n_centroids": M, "n_subspaces": D})
    torch.manual_seed(0)
    model = sasrec.SequenceEncoder(SASRecConfig(n_layers=1, n_heads=1, hidden=8, ffn=8, dropout=0.0, max_len=5),
                                   CodeItemEmbedding(torch.as_tensor(codes.astype(np.int64)), M, 8))
    _finished(art / "model", "finetune", {"model": lambda out: model_folder.save_model(
        out, "sasrec", sasrec.describe(model), {k: v.detach() for k, v in model.state_dict().items()})})
    (art / "export.json").write_text(json.dumps({"stage": "export"}))
    return art


def _copy(art: Path, tmp_path: Path, *names: str) -> Path:
    for name in names:
        shutil.copytree(art / name, tmp_path / name)
    return tmp_path


def _export(art: Path, tmp_path: Path, codes: bool = True) -> int:
    argv = ["--config", str(art / "export.json"), "--model", str(tmp_path / "model"),
            "--prepared", str(tmp_path / "prepared"), "--out", str(tmp_path / "serving")]
    return export_stage.main(argv + (["--codes", str(tmp_path / "codes")] if codes else []))


def _flip_byte(path: Path, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    at = len(data) - 5 if at is None else at
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path, keep: float = 0.5) -> None:
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])


# ----------------------------------------------------------------------------- manifests checked on read

def test_intact_artifacts_export_and_the_copies_match(art, tmp_path):
    _copy(art, tmp_path, "model", "prepared", "codes")
    assert _export(art, tmp_path) == 0
    for folder, name in (("codes", "codec.safetensors"), ("model", "model.safetensors"), ("model", "model.json"),
                         ("prepared", "items.parquet")):
        assert (tmp_path / "serving" / name).read_bytes() == (tmp_path / folder / name).read_bytes()
    artifacts.verify_folder(tmp_path / "serving")
    retriever = serving.load_retriever(tmp_path / "serving")
    assert retriever.index.ntotal == N_ITEMS


def test_export_refuses_a_truncated_codec_and_copies_nothing(art, tmp_path):
    _copy(art, tmp_path, "model", "prepared", "codes")
    _truncate(tmp_path / "codes/codec.safetensors")
    with pytest.raises(artifacts.ArtifactError, match=r"codec\.safetensors: \d+ bytes, but .*records .*Rerun `textcode codes`"):
        _export(art, tmp_path)
    assert not (tmp_path / "serving").exists()
    assert not (tmp_path / "serving.partial" / "codec.safetensors").exists()


def test_copy_verified_refuses_a_file_no_manifest_lists(tmp_path):
    (tmp_path / "loose.bin").write_bytes(b"x")
    with pytest.raises(artifacts.ArtifactError, match="loose.bin: no finished output's manifest lists"):
        artifacts.copy_verified(tmp_path / "loose.bin", tmp_path / "copy.bin")
    assert not (tmp_path / "copy.bin").exists()


def test_an_edited_model_json_is_refused(art, tmp_path):
    _copy(art, tmp_path, "model", "prepared")
    meta = tmp_path / "model/model.json"
    meta.write_text(meta.read_text().replace('"score": "cosine"', '"score": "dot"'))
    with pytest.raises(artifacts.ArtifactError, match=r"model\.json: .*records"):
        serving.load_model(tmp_path / "model")
    with pytest.raises(artifacts.ArtifactError, match=r"model\.json"):
        _export(art, tmp_path, codes=False)


def test_an_edited_n_items_of_the_same_size_is_refused_by_its_hash(art, tmp_path):
    _copy(art, tmp_path, "model")
    meta = tmp_path / "model/model.json"
    text = meta.read_text()
    assert f'"n_items": {N_ITEMS}' in text
    meta.write_text(text.replace(f'"n_items": {N_ITEMS}', f'"n_items": {N_ITEMS + 1}'))  # same byte count
    with pytest.raises(artifacts.ArtifactError, match=r"model\.json: content differs from .*manifest\.json"):
        model_folder.load_meta(tmp_path / "model")


def test_edited_code_values_are_refused(art, tmp_path):
    _copy(art, tmp_path, "codes")
    path = tmp_path / "codes/codes.npy"
    codes = np.load(path)
    codes[0, 0] = (codes[0, 0] + 1) % M  # still in range, same size
    np.save(path, codes)
    with pytest.raises(artifacts.ArtifactError, match=r"codes\.npy: content differs"):
        artifacts.load_npy(path, mmap=False)  # what finetune and pretrain call


def test_flipped_weight_bytes_are_refused(art, tmp_path):
    _copy(art, tmp_path, "model")
    _flip_byte(tmp_path / "model/model.safetensors")
    with pytest.raises(artifacts.ArtifactError, match=r"model\.safetensors: content differs"):
        serving.load_model(tmp_path / "model")
    with pytest.raises(artifacts.ArtifactError, match=r"model\.safetensors: content differs"):
        artifacts.load_tensors(tmp_path / "model/model.safetensors")


def test_a_missing_listed_file_is_refused(art, tmp_path):
    _copy(art, tmp_path, "prepared")
    (tmp_path / "prepared/items.npy").unlink()
    with pytest.raises(artifacts.ArtifactError, match=r"items\.npy: missing, but .*lists it"):
        artifacts.verify_folder(tmp_path / "prepared")


def test_a_prepared_array_edited_in_place_is_refused_by_domain_load(art, tmp_path):
    _copy(art, tmp_path, "prepared")
    _flip_byte(tmp_path / "prepared/items.npy")
    with pytest.raises(artifacts.ArtifactError, match=r"items\.npy: content differs"):
        Domain.load(tmp_path / "prepared")


# ----------------------------------------------------------------------------- unreadable files name themselves

@pytest.mark.parametrize("inside", ["out.partial", "plain"])
def test_truncated_npy_and_safetensors_are_named(art, tmp_path, inside):
    folder = tmp_path / inside / "sub"
    folder.mkdir(parents=True)
    artifacts.save_npy(folder / "a.npy", np.arange(1000, dtype=np.int64))
    artifacts.save_tensors(folder / "w.safetensors", {"w": np.ones((50, 50), np.float32)})
    _truncate(folder / "a.npy")
    _truncate(folder / "w.safetensors")
    hint = r".*delete .*out\.partial to start that stage over" if inside == "out.partial" else ""
    for mmap in (True, False):
        with pytest.raises(artifacts.ArtifactError, match=rf"a\.npy: unreadable \.npy file{hint}"):
            artifacts.load_npy(folder / "a.npy", mmap=mmap)
    with pytest.raises(artifacts.ArtifactError, match=rf"w\.safetensors: unreadable safetensors file{hint}"):
        artifacts.load_tensors(folder / "w.safetensors")


def test_a_truncated_file_of_a_finished_folder_names_the_file_and_the_stage(art, tmp_path):
    _copy(art, tmp_path, "text")
    _truncate(tmp_path / "text/embeddings.npy")
    with pytest.raises(artifacts.ArtifactError, match=r"embeddings\.npy: \d+ bytes.*Rerun `textcode encode`: delete"):
        artifacts.load_npy(tmp_path / "text/embeddings.npy")


# ----------------------------------------------------------------------------- embeddings and codes

def test_codes_refuses_nan_embeddings_naming_the_row(art, tmp_path):
    emb = np.load(art / "text/embeddings.npy")
    emb[3, 2] = np.nan
    _finished(tmp_path / "text", "encode", {"embeddings.npy": emb})  # the manifest matches: content is the problem
    with pytest.raises(artifacts.ArtifactError, match=r"embeddings\.npy: row 3 \(item 3\) holds a non-finite value"):
        codes_stage.main([*DOMAIN, "--prepared", str(art / "prepared"), "--text", str(tmp_path / "text"),
                          "--out", str(tmp_path / "codes")])
    assert not (tmp_path / "codes").exists()


def test_huge_embedding_values_are_refused(tmp_path):
    emb = np.zeros((4, 3), np.float32)
    emb[2, 1] = 1e30
    with pytest.raises(artifacts.ArtifactError, match=r"x\.npy: row 2 .*above"):
        artifacts.check_embeddings(emb, tmp_path / "x.npy")


class _NaNEncoder:
    """An encoder whose item 5 comes out NaN."""

    def __init__(self, cfg):
        self.cfg, self.dim, self.precision = cfg, 4, "fp32"

    def tokenize(self, texts):
        return [[int(t.split()[-1])] for t in texts]

    def embed_ids(self, ids):
        out = np.array([[i[0], 1, 2, 3] for i in ids], dtype=np.float32)
        out[out[:, 0] == 5] = np.nan
        return out

    def describe(self):
        return {"model": "nan-test"}


def test_encode_refuses_to_write_nan_embeddings(art, tmp_path, monkeypatch):
    monkeypatch.setattr(encode_stage, "build_encoder", _NaNEncoder)
    with pytest.raises(artifacts.ArtifactError, match=r"embeddings\.npy: row 5 \(item 5\) holds a non-finite value.*not written"):
        encode_stage.main([*DOMAIN, "--prepared", str(art / "prepared"), "--set", "encode.shard_size=4",
                           "--out", str(tmp_path / "text")])
    assert not (tmp_path / "text").exists() and not (tmp_path / "text.partial/embeddings.npy").exists()


def test_out_of_range_codes_are_refused_where_read(art, tmp_path):
    codes = np.load(art / "codes/codes.npy")
    codes[7, 2] = M + 3
    _finished(tmp_path / "codes", "codes", {"codes.npy": codes}, summary={"n_centroids": M})
    with pytest.raises(artifacts.ArtifactError, match=rf"codes\.npy: code {M + 3} at row 7, sub-space 2 is outside \[0, {M}\)"):
        artifacts.load_npy(tmp_path / "codes/codes.npy", mmap=False)  # finetune's and pretrain's read
    _copy(art, tmp_path, "model", "prepared")
    with pytest.raises(artifacts.ArtifactError, match=r"codes\.npy: code"):
        _export(art, tmp_path)  # export --codes checks the codes folder too
    assert not (tmp_path / "serving").exists()


def test_codes_out_of_range_in_a_model_are_refused_naming_the_weights(art, tmp_path):
    arrays, _ = artifacts.load_tensors(art / "model/model.safetensors")
    arrays["items.codes"] = arrays["items.codes"].copy()
    arrays["items.codes"][0, 0] = M + 1
    meta = artifacts.read_json(art / "model/model.json")

    def write(out):
        artifacts.save_tensors(out.path(model_folder.WEIGHTS), arrays, {"kind": "sasrec"})
        artifacts.write_json(out.path(model_folder.META), meta)

    _finished(tmp_path / "model", "finetune", {"model": write})
    with pytest.raises(artifacts.ArtifactError, match=r"model\.safetensors: codes must lie in"):
        serving.load_model(tmp_path / "model")


# ----------------------------------------------------------------------------- a stuck .partial

def _checkpoint(root: Path) -> Checkpoint:
    torch.manual_seed(0)
    module = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(module.parameters())
    module(torch.ones(1, 3)).sum().backward()
    opt.step()  # optimizer state to save
    return Checkpoint(root, {"net": module}, {"opt": opt}, Dist())


@pytest.mark.parametrize("name", ["last.safetensors", "optimizer.safetensors", "rng.safetensors", "state.json"])
def test_a_corrupt_checkpoint_inside_partial_says_what_to_delete(tmp_path, name):
    root = tmp_path / "model.partial"
    ckpt = _checkpoint(root)
    ckpt.save({"epoch": 1}, {}, best=True)
    assert _checkpoint(root).load() is not None
    _truncate(root / "ckpt" / name)
    with pytest.raises(artifacts.ArtifactError) as info:
        _checkpoint(root).load()
    message = str(info.value)
    assert str(root / "ckpt" / name) in message
    assert f"Delete {root / 'ckpt'}" in message and str(root) in message


def test_a_truncated_shard_inside_partial_names_it_and_what_to_delete(tmp_path):
    from textcode.rec.config import EncodeConfig

    shard_dir = tmp_path / "text.partial" / "shards"
    encoder = _NaNEncoder(EncodeConfig(shard_size=4, batch_size=4))
    texts = [f"item {i}" for i in range(4)]  # no item 5: finite
    emb, report = encode_texts(texts, encoder, shard_dir)
    assert report.computed_shards == 1
    _truncate(shard_dir / "shard_00000.npy")
    with pytest.raises(artifacts.ArtifactError, match=r"shard_00000\.npy: unreadable shard.*delete .*shard_00000\.npy.*text\.partial"):
        encode_texts(texts, encoder, shard_dir)


# ----------------------------------------------------------------------------- disk full

def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_names_the_file_and_the_partial_folder(tmp_path, monkeypatch):
    partial = tmp_path / "text.partial"
    partial.mkdir()
    (tmp_path / "text").mkdir()  # a previous complete output
    (tmp_path / "text/keep.npy").write_bytes(b"old")

    def half_written(path, array, allow_pickle=False):  # numpy's own message when the disk fills up
        Path(path).write_bytes(b"\x93NUMPY partial")
        raise OSError("853248 requested and 49120 written")

    monkeypatch.setattr(np, "save", half_written)
    with pytest.raises(artifacts.ArtifactError) as info:
        artifacts.save_npy(partial / "embeddings.npy", np.zeros((3, 3), np.float32))
    message = str(info.value)
    assert f"{partial / 'embeddings.npy'}: disk full" in message and f"delete {partial}" in message
    assert "853248 requested" in message
    assert not (partial / "embeddings.npy").exists()  # the half-written file does not keep taking space
    assert (tmp_path / "text/keep.npy").read_bytes() == b"old"
    monkeypatch.undo()

    monkeypatch.setattr(Path, "write_text", _enospc)
    with pytest.raises(artifacts.ArtifactError, match=r"stats\.json: disk full .*delete .*text\.partial"):
        artifacts.write_json(partial / "stats.json", {"a": 1})
    monkeypatch.undo()
    assert not list(partial.glob(".stats.json*"))

    import safetensors.numpy

    monkeypatch.setattr(safetensors.numpy, "save_file", _enospc)
    with pytest.raises(artifacts.ArtifactError, match=r"w\.safetensors: disk full"):
        artifacts.save_tensors(partial / "w.safetensors", {"w": np.ones(3, np.float32)})


def test_disk_full_while_writing_a_shard(tmp_path, monkeypatch):
    from textcode.rec.config import EncodeConfig

    monkeypatch.setattr(np, "save", _enospc)
    encoder = _NaNEncoder(EncodeConfig(shard_size=4, batch_size=4))
    with pytest.raises(artifacts.ArtifactError, match=r"shard_00000\.tmp\.npy: disk full .*delete .*text\.partial"):
        encode_texts(["item 0", "item 1"], encoder, tmp_path / "text.partial" / "shards")


# ----------------------------------------------------------------------------- modes and cost

def test_sizes_mode_skips_hashing(art, tmp_path, monkeypatch):
    _copy(art, tmp_path, "model", "prepared")
    _flip_byte(tmp_path / "model/model.safetensors")
    calls = []
    real = artifacts.sha256_file
    monkeypatch.setattr(artifacts, "sha256_file", lambda p, *a: calls.append(Path(p).name) or real(p, *a))
    monkeypatch.setenv(artifacts.VERIFY_ENV, "sizes")
    artifacts.verify_folder(tmp_path / "model")  # same size: passes without hashing
    artifacts.verify_folder(tmp_path / "prepared")
    assert calls == []
    _truncate(tmp_path / "prepared/items.npy")
    with pytest.raises(artifacts.ArtifactError, match=r"items\.npy: \d+ bytes"):
        artifacts.verify_folder(tmp_path / "prepared")  # sizes are still checked
    monkeypatch.setenv(artifacts.VERIFY_ENV, "full")
    with pytest.raises(artifacts.ArtifactError, match="content differs"):
        artifacts.verify_folder(tmp_path / "model")  # full mode re-checks what only passed the size check
    assert "model.safetensors" in calls


def test_full_mode_hashes_each_file_once_per_process(art, tmp_path, monkeypatch):
    _copy(art, tmp_path, "prepared")
    calls = []
    real = artifacts.sha256_file
    monkeypatch.setattr(artifacts, "sha256_file", lambda p, *a: calls.append(Path(p).name) or real(p, *a))
    artifacts.verify_folder(tmp_path / "prepared")
    first = sorted(calls)
    assert "items.npy" in first
    Domain.load(tmp_path / "prepared")
    artifacts.verify_folder(tmp_path / "prepared")
    assert sorted(calls) == first  # cached: no second hash
    _flip_byte(tmp_path / "prepared/items.npy")  # a changed file (new mtime) is checked again
    with pytest.raises(artifacts.ArtifactError, match="content differs"):
        Domain.load(tmp_path / "prepared")


def test_an_unknown_mode_is_an_error(art, monkeypatch):
    monkeypatch.setenv(artifacts.VERIFY_ENV, "none")
    with pytest.raises(artifacts.ArtifactError, match="TEXTCODE_VERIFY='none': expected one of full, sizes"):
        artifacts.verify_folder(art / "prepared")


def test_an_empty_tensor_file_reads_back(tmp_path):
    artifacts.save_tensors(tmp_path / "empty.safetensors", {})  # e.g. an optimizer before its first step
    assert artifacts.load_tensors(tmp_path / "empty.safetensors") == ({}, {})
