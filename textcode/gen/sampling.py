"""Sampling item windows from a trained generator, and writing them as a dataset.

RSVQ-AE and VQ-VAE: the code prior draws a length and every code; the decoder turns codes into
a softmax per position. VAE: the length is drawn from the training windows' length distribution
(the VAE has no length latent) and the top-level latent from N(0, I). Each sampled window
becomes one synthetic user of a Domain that shares the source domain's item table, so every
other stage can read it like real data.
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from textcode.core.config import ConfigError
from textcode.data.domain import Domain, from_sequences
from textcode.gen.config import GenerateConfig
from textcode.gen.prior import CodePrior
from textcode.gen.rsvq import SeqAutoencoder, level_masks

LOGIT_CHUNK = 4096  # positions decoded at once: (chunk, n_items) logits


def _items_from_hidden(model: SeqAutoencoder, hidden: torch.Tensor, lengths: torch.Tensor, how: str,
                       gen: torch.Generator) -> list[np.ndarray]:
    """Decoder states -> one item per real position (argmax or a draw from the softmax), window by window."""
    h = model.real_positions(hidden, lengths)  # (N, D)
    picks = []
    for start in range(0, len(h), LOGIT_CHUNK):
        logits = model.logits(h[start:start + LOGIT_CHUNK])
        picks.append(logits.argmax(-1) if how == "argmax" else torch.multinomial(logits.softmax(-1), 1, generator=gen)[:, 0])
    picked = torch.cat(picks) if picks else torch.zeros(0, dtype=torch.long)
    out, start = [], 0
    for n in lengths.tolist():
        out.append(picked[start:start + n].numpy().astype(np.int64))
        start += n
    return out


@torch.no_grad()
def sample_from_prior(model: SeqAutoencoder, prior: CodePrior, n: int, cfg: GenerateConfig, seed: int) -> list[np.ndarray]:
    if prior.layout.length != model.length or set(prior.layout.levels) != set(model.cfg.quantized_levels):
        raise ValueError("the prior was trained on another autoencoder's code layout")
    temperature = cfg.prior_temperature()
    try:
        prior.level_temperatures(temperature)
    except ValueError as exc:
        raise ConfigError(f"generate.level_temperatures {list(cfg.level_temperatures)}: {exc}") from None
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    prior.eval()
    seqs: list[np.ndarray] = []
    for start in tqdm(range(0, n, cfg.batch_size), desc="sampling", leave=False):
        b = min(cfg.batch_size, n - start)
        lengths, slot_codes = prior.sample(b, temperature, cfg.top_k, gen)
        codes = prior.layout.scatter(slot_codes, lengths, prior.K)
        seqs.extend(_items_from_hidden(model, model.decode_hidden(codes, lengths), lengths, cfg.decode, gen))
    return seqs


@torch.no_grad()
def sample_from_gaussian(model: SeqAutoencoder, train_lengths: np.ndarray, n: int, cfg: GenerateConfig,
                         seed: int) -> list[np.ndarray]:
    if model.cfg.bottleneck != "gauss" or not model.cfg.can_sample:
        raise ValueError("sampling from N(0, I) needs a Gaussian bottleneck without continuous skips")
    if cfg.level_temperatures:
        raise ConfigError("generate.level_temperatures applies to code priors; a VAE's latent has one scale (generate.temperature)")
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    model.eval()
    top = model.cfg.n_levels - 1
    seqs: list[np.ndarray] = []
    for start in range(0, n, cfg.batch_size):
        b = min(cfg.batch_size, n - start)
        lengths = torch.from_numpy(rng.choice(train_lengths, size=b, replace=True))
        z = torch.randn(b, model.length // 2 ** top, model.cfg.d_gauss, generator=gen) * cfg.temperature
        z = z * level_masks(lengths, model.length, model.cfg.n_levels)[top][..., None]
        seqs.extend(_items_from_hidden(model, model.decode_gaussian(z, lengths), lengths, cfg.decode, gen))
    return seqs


def synthetic_domain(seqs: list[np.ndarray], source: Domain, name: str) -> Domain:
    """Generated windows as a Domain over the source's items: user `syn-<i>` is window i."""
    return from_sequences(name, source.item_ids, source.item_text, [f"syn-{i}" for i in range(len(seqs))], seqs)
