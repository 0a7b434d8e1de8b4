import dataclasses

import numpy as np
import pytest
import torch

from textcode.data.config import WindowConfig
from textcode.data.domain import from_sequences
from textcode.data.windows import split_windows
from textcode.gen import train as gentrain
from textcode.gen.config import (
    DiscriminatorConfig,
    GenTrainConfig,
    PriorConfig,
    PriorTrainConfig,
    QuantizerConfig,
    SeqAEConfig,
)
from textcode.gen.discriminator import SequenceDiscriminator
from textcode.gen.prior import CodePrior, SlotLayout
from textcode.gen.rsvq import SeqAutoencoder
from textcode.gen.train import (
    CodeData,
    batch_order,
    encode_codes,
    sample_candidates,
    train_autoencoder,
    train_prior,
)

MODEL = SeqAEConfig(d_model=16, d_item=8, dropout=0.1, quantizer=QuantizerConfig(n_codebooks=2, codebook_size=8, dim=4))
TRAIN = GenTrainConfig(batch_size=8, epochs=2, patience=5, checkpoint_every=2, adversary_start=0.3, eval_batch_size=16)


@pytest.fixture(scope="module")
def split():
    rng = np.random.default_rng(0)
    d = from_sequences("toy", [str(i) for i in range(30)], None, [f"u{i}" for i in range(60)],
                       [rng.integers(0, 30, rng.integers(2, 12)) for _ in range(60)])
    return split_windows(d, WindowConfig(length=8, valid_fraction=0.2, test_fraction=0.2), seed=0)


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
    reference = train_autoencoder(model, disc, split, TRAIN, DiscriminatorConfig(d_model=8, n_layers=1), tmp_path / "a",
                                  seed=0)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    original = gentrain.warmup_cosine

    def killed_at_step_5(total_steps):
        rate = original(total_steps)

        def killing(base, step):
            if step == 5:
                raise KeyboardInterrupt("simulated kill")
            return rate(base, step)
        return killing

    model, disc = fresh()
    monkeypatch.setattr(gentrain, "warmup_cosine", killed_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        train_autoencoder(model, disc, split, TRAIN, DiscriminatorConfig(d_model=8, n_layers=1), tmp_path / "b", seed=0)
    monkeypatch.setattr(gentrain, "warmup_cosine", original)
    model, disc = fresh(seed=123)  # a new process: different init, everything must come from the checkpoint
    result = train_autoencoder(model, disc, split, TRAIN, DiscriminatorConfig(d_model=8, n_layers=1), tmp_path / "b", seed=0)
    assert result.steps == 2 * int(np.ceil(len(split.train) / TRAIN.batch_size))
    for k, v in model.state_dict().items():
        assert torch.equal(v, weights[k]), k
    untimed = [[{k: v for k, v in row.items() if not k.endswith("_s")} for row in r.history] for r in (reference, result)]
    assert untimed[0] == untimed[1]  # the logged losses too, though the kill came mid-epoch


def test_the_generators_train_as_their_own_loop_did(split, tmp_path):
    """Validation numbers as the generators' former loop gave them (commit c0728e5; its epochs counted
    from 0): same RNG consumption, batch order and schedule. (Relative 1e-5: other CPUs may sum in
    another order.)"""
    model, disc = fresh()
    result = train_autoencoder(model, disc, split, TRAIN, DiscriminatorConfig(d_model=8, n_layers=1), tmp_path / "ae",
                               seed=0)
    assert [row["valid"]["ce"] for row in result.history] == pytest.approx([3.4982567082590132, 3.440885148831268],
                                                                          rel=1e-5)
    assert result.steps == 14
    data = {s: CodeData(getattr(split, s).lengths(), encode_codes(model, getattr(split, s), 16)) for s in ("train", "valid")}
    torch.manual_seed(0)
    prior = CodePrior(PriorConfig(d_model=16, n_layers=1, n_heads=2), SlotLayout(8, MODEL.quantized_levels), 2, 8)
    result = train_prior(prior, data["train"], data["valid"], PriorTrainConfig(batch_size=8, epochs=2),
                         tmp_path / "prior", seed=0)
    assert [row["valid"]["nll_per_token"] for row in result.history] == pytest.approx([2.00345058295563,
                                                                                       1.9755500618738073], rel=1e-5)


def test_a_cut_by_the_time_budget_is_reported(split, tmp_path):
    model, _ = fresh()
    result = train_autoencoder(model, None, split, dataclasses.replace(TRAIN, max_minutes=1e-9), DiscriminatorConfig(),
                               tmp_path, seed=0)
    assert result.stopped == "time_budget" and result.steps == 1 and result.history[0]["batches"] == 1
    assert result.best_epoch == 1 and result.history[0]["valid"]["accuracy"] == result.best_metric


def test_training_keeps_the_best_validated_weights(split, tmp_path):
    model, _ = fresh()
    result = train_autoencoder(model, None, split, dataclasses.replace(TRAIN, epochs=3), DiscriminatorConfig(),
                               tmp_path, seed=0)
    scores = [h["valid"]["accuracy"] for h in result.history]
    assert result.best_epoch == int(np.argmax(scores)) + 1 and result.best_metric == max(scores)
    assert result.stopped == "max_epochs"
    assert (tmp_path / "ckpt" / "best.safetensors").exists()


def test_prior_trains_on_the_generator_codes(split, tmp_path):
    model, _ = fresh()
    model.train()
    model(torch.from_numpy(split.train.padded().clip(0)), torch.from_numpy(split.train.lengths()))  # init codebooks
    data = {s: CodeData(getattr(split, s).lengths(), encode_codes(model, getattr(split, s), 16)) for s in ("train", "valid")}
    prior = CodePrior(PriorConfig(d_model=16, n_layers=1, n_heads=2), SlotLayout(8, MODEL.quantized_levels), 2, 8)
    result = train_prior(prior, data["train"], data["valid"], PriorTrainConfig(batch_size=8, epochs=2), tmp_path, seed=0)
    nll = [h["valid"]["nll_per_token"] for h in result.history]
    assert -result.best_metric == min(nll) and result.best_epoch == int(np.argmin(nll)) + 1
    assert min(nll) < np.log(8), "the prior should beat a uniform guess over 8 codes"


def test_chunked_evaluation_matches_the_forward_pass(split, monkeypatch):
    import torch.nn.functional as F

    model, _ = fresh()
    model.train()
    model(torch.from_numpy(split.train.padded().clip(0)), torch.from_numpy(split.train.lengths()))
    model.eval()
    monkeypatch.setattr(gentrain, "LOGIT_CHUNK", 7)  # many chunks, one of them partial
    rec = gentrain.reconstruct(model, split.valid, batch_size=5)
    items, lengths = torch.from_numpy(split.valid.padded()), torch.from_numpy(split.valid.lengths())
    with torch.no_grad():
        logits, _, _ = model(items, lengths)
    targets = items[items >= 0]
    assert np.array_equal(rec["target"], targets.numpy())
    assert np.allclose(rec["nll"], F.cross_entropy(logits, targets, reduction="none").numpy(), atol=1e-5)
    assert np.array_equal(rec["pred"], logits.argmax(-1).numpy())
