import dataclasses
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from textcode.core.config import parse_overrides
from textcode.core.settings import layers_for, resolve
from textcode.gen.config import QuantizerConfig, SeqAEConfig
from textcode.gen.rsvq import (
    SeqAutoencoder,
    load_autoencoder,
    pad_to_level_multiple,
    save_autoencoder,
)

ROOT = Path(__file__).resolve().parents[2]
SMALL = SeqAEConfig(d_model=32, d_item=16, dropout=0.0, quantizer=QuantizerConfig(n_codebooks=2, codebook_size=16, dim=8))


def batch(n_items=40, lengths=(20, 3, 7, 12, 1, 16), L=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    items = torch.randint(n_items, (len(lengths), L), generator=g)
    items[torch.arange(L)[None] >= lengths[:, None]] = -1
    return items, lengths


def trained_once(model, items, lengths):
    """One training-mode pass initialises the codebooks from data, as in real training."""
    model.train()
    model(items, lengths)
    return model.eval()


@pytest.mark.parametrize("variant", [
    {}, {"skips": "none"}, {"quantizer": dataclasses.replace(SMALL.quantizer, n_codebooks=1)}, {"block": "transformer"},
])
def test_decoding_the_codes_gives_the_forward_output(variant):
    torch.manual_seed(0)
    model = SeqAutoencoder(dataclasses.replace(SMALL, **variant), 40, 20)
    items, lengths = batch()
    trained_once(model, items, lengths)
    logits, codes, losses = model(items, lengths)
    assert logits.shape == (int(lengths.sum()), 40)
    assert set(codes) == set(model.cfg.quantized_levels)
    for level, c in codes.items():
        real = torch.arange(c.shape[1])[None] < -(-lengths[:, None] // 2 ** level)
        assert ((c[..., 0] >= 0) == real).all(), "codes exist exactly at the real positions of each level"
    assert torch.allclose(model.decode(codes, lengths), logits, atol=1e-5)


@pytest.mark.parametrize("block", ["conv", "transformer"])
def test_a_window_does_not_depend_on_padding_or_batch_mates(block):
    torch.manual_seed(0)
    model = SeqAutoencoder(dataclasses.replace(SMALL, block=block), 40, 20)
    items, lengths = batch()
    trained_once(model, items, lengths)
    logits, _, _ = model(items, lengths)
    # window 2 (length 7) alone, cut to the shortest multiple of 4 that holds it
    alone, _, _ = model(pad_to_level_multiple(items[2:3], lengths[2:3], 3), lengths[2:3])
    start = int(lengths[:2].sum())
    assert alone.shape[0] == 7
    assert torch.allclose(alone, logits[start:start + 7], atol=1e-5)
    # whatever sits in the padding is never read
    noisy = items.clone()
    noisy[noisy < 0] = 5
    assert torch.allclose(model(noisy, lengths)[0], logits, atol=1e-6)


def test_samplers_and_non_samplers_are_told_apart():
    ae = SeqAutoencoder(dataclasses.replace(SMALL, bottleneck="none", skips="continuous"), 40, 20)
    cskip = SeqAutoencoder(dataclasses.replace(SMALL, skips="continuous"), 40, 20)
    assert not ae.cfg.can_sample and not cskip.cfg.can_sample
    items, lengths = batch()
    trained_once(cskip, items, lengths)
    _, codes, _ = cskip(items, lengths)
    assert set(codes) == {2}  # only the top level has codes; its skips are continuous
    with pytest.raises(ValueError, match="decoded from codes"):
        cskip.decode(codes, lengths)
    with pytest.raises(Exception, match="skips=quantized needs bottleneck=vq"):
        dataclasses.replace(SMALL, bottleneck="gauss", skips="quantized")


def test_vae_has_a_kl_term_and_decodes_gaussian_samples():
    torch.manual_seed(0)
    vae = SeqAutoencoder(dataclasses.replace(SMALL, bottleneck="gauss", skips="none"), 40, 20)
    items, lengths = batch()
    vae.train()
    _, codes, losses = vae(items, lengths)
    assert codes == {} and losses["kl"] > 0
    vae.eval()
    z = torch.randn(len(lengths), 5, SMALL.d_gauss)
    assert vae.head(vae.decode_gaussian(z, lengths), lengths).shape == (int(lengths.sum()), 40)


@pytest.mark.parametrize("run,quantized,can_sample,adversary", [
    ("rsvq", (0, 1, 2), True, True), ("rsvq_noskip", (2,), True, True), ("rsvq_1cb", (0, 1, 2), True, True),
    ("rsvq_noadv", (0, 1, 2), True, False), ("rsvq_cskip", (2,), False, True), ("ae", (), False, False),
    ("vae", (), True, False), ("vqvae", (2,), True, False),
])
def test_run_presets_configure_the_harness(run, quantized, can_sample, adversary):
    settings, _ = resolve(layers_for(ROOT / "configs", f"train-generator.{run}", None) + [parse_overrides([])],
                          f"train-generator.{run}")
    model_cfg = settings.generator.model
    assert model_cfg.quantized_levels == quantized and model_cfg.can_sample == can_sample
    assert settings.generator.train.adversary == adversary
    SeqAutoencoder(model_cfg, 30, 20)  # builds


def test_it_learns_to_reconstruct_a_small_set():
    torch.manual_seed(0)
    model = SeqAutoencoder(dataclasses.replace(SMALL, quantizer=QuantizerConfig(n_codebooks=2, codebook_size=32, dim=8)), 30, 8)
    items = torch.randint(30, (64, 8))
    lengths = torch.full((64,), 8)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    model.train()
    for _ in range(150):
        logits, _, losses = model(items, lengths)
        loss = F.cross_entropy(logits, items.reshape(-1)) + losses["vq"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    acc = (model(items, lengths)[0].argmax(-1) == items.reshape(-1)).float().mean()
    assert acc > 0.9


def test_saved_model_reloads_strictly(tmp_path):
    model = SeqAutoencoder(SMALL, 40, 20)
    items, lengths = batch()
    trained_once(model, items, lengths)
    save_autoencoder(tmp_path, model)
    again = load_autoencoder(tmp_path)
    assert torch.allclose(again(items, lengths)[0], model(items, lengths)[0])


def test_window_length_must_fit_the_levels():
    with pytest.raises(ValueError, match="divisible"):
        SeqAutoencoder(SMALL, 40, 18)
