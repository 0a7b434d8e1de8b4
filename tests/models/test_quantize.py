import pytest
import torch

from textcode.gen.config import QuantizerConfig
from textcode.gen.residual_vq import ResidualVQ, VectorQuantizer


def clustered(n: int, d: int, centers: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    c = torch.randn(centers, d, generator=g) * 3
    return c[torch.randint(centers, (n,), generator=g)] + 0.05 * torch.randn(n, d, generator=g)


@pytest.mark.parametrize("update", ["ema", "grad"])
def test_vq_forward_returns_codes_that_decode_to_the_output(update):
    torch.manual_seed(0)
    vq = VectorQuantizer(QuantizerConfig(codebook_size=16, dim=8, update=update))
    x = clustered(200, 8, 5)
    vq.train()
    vq(x)  # data-dependent init + one update
    vq.eval()
    q, idx, loss = vq(x)
    assert q.shape == x.shape and idx.shape == (200,) and loss.ndim == 0
    assert torch.allclose(vq.decode(idx), q, atol=1e-6)
    # each vector goes to its nearest code
    dist = torch.cdist(x, vq.embed)
    assert torch.equal(idx, dist.argmin(1))


def test_straight_through_gradient_reaches_the_input_unchanged():
    vq = VectorQuantizer(QuantizerConfig(codebook_size=8, dim=4, commitment=0.0))
    x = torch.randn(10, 4, requires_grad=True)
    q, _, _ = vq(x)
    (q * torch.arange(4.0)).sum().backward()
    assert torch.allclose(x.grad, torch.arange(4.0).expand(10, 4))


def test_residual_stack_round_trip_and_each_depth_reduces_error():
    torch.manual_seed(0)
    rvq = ResidualVQ(QuantizerConfig(n_codebooks=3, codebook_size=32, dim=8, decay=0.8))
    x = torch.randn(2000, 8)
    rvq.train()
    for _ in range(30):
        rvq(x)
    rvq.eval()
    q, idx, _ = rvq(x)
    assert idx.shape == (2000, 3)
    assert torch.allclose(rvq.decode(idx), q, atol=1e-5)
    partial = []
    for k in range(1, 4):
        recon = sum(rvq.layers[j].decode(idx[:, j]) for j in range(k))
        partial.append(((x - recon) ** 2).mean().item())
    assert partial[0] > partial[1] > partial[2]
    assert partial[2] < 0.5 * partial[0]


def test_ema_codebook_learns_the_clusters():
    torch.manual_seed(0)
    # more codes than clusters, as in use: k-means from a random init then reaches every cluster
    vq = VectorQuantizer(QuantizerConfig(codebook_size=32, dim=4, decay=0.9))
    x = clustered(1000, 4, 8, seed=1)
    vq.initted.fill_(True)  # skip the data-dependent init: the codes start near 0, far from the clusters
    vq.eval()
    before = ((vq(x)[0] - x) ** 2).mean().item()
    vq.train()
    for _ in range(30):
        vq(x)
    vq.eval()
    after = ((vq(x)[0] - x) ** 2).mean().item()
    assert before > 1.0 and after < 0.05


def test_dead_codes_are_restarted_on_data():
    torch.manual_seed(0)
    cfg = QuantizerConfig(codebook_size=16, dim=4, decay=0.5, dead_threshold=0.5)
    vq = VectorQuantizer(cfg)
    x = clustered(500, 4, 16, seed=2)
    vq.train()
    vq(x)  # init
    with torch.no_grad():
        vq.embed[:8] = 100.0  # half the codebook far from any data: nothing is assigned to it
        vq.embed_avg[:8] = 100.0
    for _ in range(5):
        vq(x)
    assert (vq.embed.abs() < 50).all(), "far-away codes should have been moved onto data"
    vq.eval()
    _, idx, _ = vq(x)
    assert len(idx.unique()) > 8


def test_gradient_update_trains_the_codebook_parameter():
    vq = VectorQuantizer(QuantizerConfig(codebook_size=8, dim=4, update="grad"))
    x = torch.randn(50, 4)
    _, _, loss = vq(x)
    loss.backward()
    assert vq.embed.grad is not None and vq.embed.grad.abs().sum() > 0
