import dataclasses

import numpy as np
import pytest
import torch

from textcode.data.domain import from_sequences
from textcode.data.windows import make_windows
from textcode.gen.config import (
    DiscriminatorConfig,
    GenTrainConfig,
    PriorConfig,
    PriorTrainConfig,
    QuantizerConfig,
    SeqAEConfig,
    WindowConfig,
)
from textcode.gen.discriminator import SequenceDiscriminator
from textcode.gen.prior import CodePrior, SlotLayout
from textcode.gen.rsvq import SeqAutoencoder
from textcode.gen.train import (
    CodeData,
    Loop,
    batch_order,
    encode_codes,
    sample_candidates,
    train_autoencoder,
    train_prior,
)

MODEL = SeqAEConfig(d_model=16, d_item=8, dropout=0.1, quantizer=QuantizerConfig(n_codebooks=2, codebook_size=8, dim=4))
TRAIN = GenTrainConfig(batch_size=8, max_epochs=2, patience=5, checkpoint_every=2, adversary_start=0.3, eval_batch_size=16)


@pytest.fixture(scope="module")
def split():
    rng = np.random.default_rng(0)
    d = from_sequences("toy", [str(i) for i in range(30)], None, [f"u{i}" for i in range(60)],
                       [rng.integers(0, 30, rng.integers(2, 12)) for _ in range(60)])
    return make_windows(d, WindowConfig(length=8, valid_fraction=0.2, test_fraction=0.2), seed=0)


def fresh(seed=0):
    torch.manual_seed(seed)
    return SeqAutoencoder(MODEL, 30, 8), SequenceDiscriminator(DiscriminatorConfig(d_model=8, n_layers=1), MODEL.d_item)


def test_batches_are_reproducible_cover_everything_and_group_lengths():
    lengths = np.random.default_rng(0).integers(1, 100, 1000)
    a, b = batch_order(lengths, 10, seed=1, epoch=2), batch_order(lengths, 10, seed=1, epoch=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert np.array_equal(np.sort(np.concatenate(a)), np.arange(1000))
    spread = np.mean([np.ptp(lengths[x]) for x in a])
    assert spread < 10, "batches should hold windows of similar length"
    assert not all(np.array_equal(x, y) for x, y in zip(a, batch_order(lengths, 10, seed=1, epoch=3)))


def test_sampled_candidates_hold_every_target():
    targets = torch.tensor([5, 9, 5, 100])
    cand, idx = sample_candidates(targets, 1000, 64)
    assert torch.equal(cand[idx], targets) and len(cand) <= 64 and torch.equal(cand, cand.unique())


def test_killed_training_resumes_to_the_same_weights(split, tmp_path, monkeypatch):
    model, disc = fresh()
    train_autoencoder(model, disc, split, TRAIN, DiscriminatorConfig(d_model=8, n_layers=1), tmp_path / "a", seed=0)
    reference = {k: v.clone() for k, v in model.state_dict().items()}

    original = Loop.set_lr

    def killed_at_step_5(self):
        if self.state.step == 5:
            raise KeyboardInterrupt("simulated kill")
        original(self)

    model, disc = fresh()
    monkeypatch.setattr(Loop, "set_lr", killed_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        train_autoencoder(model, disc, split, TRAIN, DiscriminatorConfig(d_model=8, n_layers=1), tmp_path / "b", seed=0)
    monkeypatch.setattr(Loop, "set_lr", original)
    model, disc = fresh(seed=123)  # a new process: different init, everything must come from the checkpoint
    state = train_autoencoder(model, disc, split, TRAIN, DiscriminatorConfig(d_model=8, n_layers=1), tmp_path / "b", seed=0)
    assert state.step == 2 * int(np.ceil(len(split.train) / TRAIN.batch_size))
    for k, v in model.state_dict().items():
        assert torch.equal(v, reference[k]), k


def test_training_keeps_the_best_validated_weights(split, tmp_path):
    model, _ = fresh()
    state = train_autoencoder(model, None, split, dataclasses.replace(TRAIN, max_epochs=3), DiscriminatorConfig(),
                              tmp_path, seed=0)
    scores = [h["valid"]["accuracy"] for h in state.history]
    assert state.best_epoch == int(np.argmax(scores)) and state.best == max(scores)
    assert state.stopped


def test_prior_trains_on_the_generator_codes(split, tmp_path):
    model, _ = fresh()
    model.train()
    model(torch.from_numpy(split.train.items.clip(0)), torch.from_numpy(split.train.lengths))  # init codebooks
    data = {s: CodeData(getattr(split, s).lengths, encode_codes(model, getattr(split, s), 16)) for s in ("train", "valid")}
    prior = CodePrior(PriorConfig(d_model=16, n_layers=1, n_heads=2), SlotLayout(8, MODEL.quantized_levels), 2, 8)
    state = train_prior(prior, data["train"], data["valid"], PriorTrainConfig(batch_size=8, max_epochs=2), tmp_path, seed=0)
    nll = [h["valid"]["nll_per_token"] for h in state.history]
    assert -state.best == min(nll) and state.best_epoch == int(np.argmin(nll))
    assert min(nll) < np.log(8), "the prior should beat a uniform guess over 8 codes"


def test_chunked_evaluation_matches_the_forward_pass(split, monkeypatch):
    import torch.nn.functional as F

    from textcode.gen import train as gentrain

    model, _ = fresh()
    model.train()
    model(torch.from_numpy(split.train.items.clip(0)), torch.from_numpy(split.train.lengths))
    model.eval()
    monkeypatch.setattr(gentrain, "LOGIT_CHUNK", 7)  # many chunks, one of them partial
    rec = gentrain.reconstruct(model, split.valid, batch_size=5)
    items, lengths = torch.from_numpy(split.valid.items), torch.from_numpy(split.valid.lengths)
    with torch.no_grad():
        logits, _, _ = model(items, lengths)
    targets = items[items >= 0]
    assert np.array_equal(rec["target"], targets.numpy())
    assert np.allclose(rec["nll"], F.cross_entropy(logits, targets, reduction="none").numpy(), atol=1e-5)
    assert np.array_equal(rec["pred"], logits.argmax(-1).numpy())
