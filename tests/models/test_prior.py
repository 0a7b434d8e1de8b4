import pytest
import torch

from textcode.gen.config import PriorConfig
from textcode.gen.prior import CodePrior, SlotLayout, load_prior, save_prior

TINY = PriorConfig(d_model=32, n_layers=2, n_heads=2, dropout=0.0)


def per_level_codes(lengths, L=8, levels=(0, 1, 2), K=2, M=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = {}
    for v in levels:
        c = torch.randint(M, (len(lengths), L // 2 ** v, K), generator=g)
        real = torch.arange(L // 2 ** v)[None] < -(-lengths[:, None] // 2 ** v)
        out[v] = c.masked_fill(~real[..., None], -1)
    return out


def test_layout_orders_slots_coarse_to_fine_and_round_trips():
    layout = SlotLayout(8, (0, 1, 2))
    assert layout.levels == (2, 1, 0) and layout.max_slots == 2 + 4 + 8
    lengths = torch.tensor([8, 3, 1])
    lvl, pos, real = layout.slots(lengths)
    # a 3-item window has 1 top slot, 2 middle slots, 3 fine slots
    assert lvl[1, :6].tolist() == [0, 1, 1, 2, 2, 2] and pos[1, :6].tolist() == [0, 0, 1, 0, 1, 2]
    assert real.sum(1).tolist() == [14, 6, 3]
    codes = per_level_codes(lengths)
    slot_codes = layout.gather(codes, lengths)
    back = layout.scatter(slot_codes, lengths, 2)
    assert all(torch.equal(back[v], codes[v]) for v in codes)


def test_nll_is_causal_a_later_slot_does_not_change_earlier_terms():
    torch.manual_seed(0)
    layout = SlotLayout(8, (0, 1, 2))
    prior = CodePrior(TINY, layout, 2, 5).eval()
    lengths = torch.tensor([8, 8])
    slot_codes = layout.gather(per_level_codes(lengths), lengths)
    changed = slot_codes.clone()
    changed[1, -1] = (changed[1, -1] + 1) % 5  # only the last slot of window 1
    a_len, a_code = prior(lengths, slot_codes)
    b_len, b_code = prior(lengths, changed)
    assert torch.allclose(a_len, b_len)
    assert torch.isclose(a_code[0], b_code[0]) and not torch.isclose(a_code[1], b_code[1])


def test_sampling_with_the_cache_reproduces_what_it_learned():
    """Fit a one-sequence data set; sampling (incremental, cached) must return it exactly."""
    torch.manual_seed(0)
    layout = SlotLayout(8, (0, 1, 2))
    prior = CodePrior(TINY, layout, 2, 5)
    lengths = torch.tensor([6] * 16)
    codes = per_level_codes(lengths[:1])
    codes = {v: c.expand(16, -1, -1) for v, c in codes.items()}
    slot_codes = layout.gather(codes, lengths)
    prior.length_logprob.fill_(-float("inf"))
    prior.length_logprob[6] = 0.0  # every window has 6 items
    opt = torch.optim.Adam(prior.parameters(), lr=3e-3)
    prior.train()
    for _ in range(150):
        len_nll, code_nll = prior(lengths, slot_codes)
        loss = (len_nll + code_nll).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    prior.eval()
    sampled_len, sampled = prior.sample(4, temperature=0.1, generator=torch.Generator().manual_seed(1))
    assert sampled_len.tolist() == [6] * 4
    assert torch.equal(sampled, slot_codes[:4, :sampled.shape[1]])


def test_saved_prior_reloads_strictly(tmp_path):
    layout = SlotLayout(8, (2,))
    prior = CodePrior(TINY, layout, 1, 5).eval()
    save_prior(tmp_path, prior)
    again = load_prior(tmp_path)
    lengths = torch.tensor([8, 5])
    slot_codes = layout.gather(per_level_codes(lengths, levels=(2,), K=1), lengths)
    assert torch.allclose(again(lengths, slot_codes)[1], prior(lengths, slot_codes)[1])


def test_lengths_follow_the_training_frequencies_with_add_one_smoothing():
    torch.manual_seed(0)
    layout = SlotLayout(4, (0, 1))
    prior = CodePrior(TINY, layout, 1, 3).eval()
    prior.set_length_distribution(torch.tensor([4] * 90 + [2] * 6))  # counts + 1 over lengths 1..4: 1, 7, 1, 91
    expected = torch.tensor([0.0, 1, 7, 1, 91]) / 100
    assert torch.allclose(prior.length_logprob.exp(), expected, atol=1e-6)
    lengths, _ = prior.sample(2000, temperature=0.5, top_k=1, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(lengths, minlength=5).double() / 2000
    assert torch.allclose(freq, expected.double(), atol=0.03)
    len_nll, _ = prior(torch.tensor([4, 2]), layout.gather(per_level_codes(torch.tensor([4, 2]), L=4, levels=(0, 1), K=1, M=3),
                                                           torch.tensor([4, 2])))
    assert torch.allclose(len_nll, -expected[[4, 2]].log())


def test_level_temperatures_are_given_finest_first_and_reach_each_slot_of_that_level(monkeypatch):
    """Each code is drawn at the temperature of its slot's level (levels given finest first)."""
    import textcode.gen.prior as prior_module

    torch.manual_seed(0)
    layout = SlotLayout(8, (0, 1, 2))
    prior = CodePrior(TINY, layout, 2, 5).eval()
    seen = []
    draw = prior_module._draw

    def recording_draw(logits, temperature, top_k, generator):
        seen.append(temperature.clone())
        return draw(logits, temperature, top_k, generator)

    monkeypatch.setattr(prior_module, "_draw", recording_draw)
    lengths, codes = prior.sample(6, temperature=(0.25, 0.5, 1.5), generator=torch.Generator().manual_seed(0))
    lvl, _, real = layout.slots(lengths)
    by_level = {0: 1.5, 1: 0.5, 2: 0.25}  # layout index 0 is the coarsest level (v=2), index 2 the finest (v=0)
    for s in range(lvl.shape[1]):
        expected = torch.tensor([by_level[i] for i in lvl[:, s].tolist()])
        for k in range(2):  # both stack depths of the slot
            assert torch.equal(seen[1 + 2 * s + k], expected)
    assert torch.equal(seen[0], torch.ones(6)), "lengths are drawn from the data's frequencies, untouched"


def test_equal_level_temperatures_sample_exactly_what_one_temperature_samples():
    torch.manual_seed(0)
    prior = CodePrior(TINY, SlotLayout(8, (0, 1, 2)), 2, 5).eval()
    one = prior.sample(16, temperature=0.7, generator=torch.Generator().manual_seed(3))
    per_level = prior.sample(16, temperature=[0.7, 0.7, 0.7], generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(one, per_level))


def test_level_temperatures_must_match_the_prior_levels():
    prior = CodePrior(TINY, SlotLayout(8, (0, 1, 2)), 2, 5).eval()
    with pytest.raises(ValueError, match=r"2 level temperatures given; this prior's codes have 3 levels \[0, 1, 2\]"):
        prior.sample(2, temperature=(0.5, 1.0))
