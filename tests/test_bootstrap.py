"""textcode.eval.bootstrap: the project's one resampling and interval (evaluate, report, utility experiments)."""
from __future__ import annotations

import numpy as np
import pytest

from textcode.eval import bootstrap


def test_recorded_intervals_are_reproduced_to_the_bit():
    """Pinned from the implementations the committed results were made with (textcode.eval.metrics and
    experiments.utility_stats before they were merged here): a change that moves any of these moves results."""
    rng = np.random.default_rng(7)
    v = (rng.random(300) < 0.2) / np.log2(rng.integers(2, 12, 300))
    w = rng.random(300)
    g = rng.integers(0, 60, 300)
    assert bootstrap.bootstrap_ci(v, 200, 3) == (0.07359428468181448, 0.11955988256604487)
    p = bootstrap.paired_bootstrap(v, w, 200, 3)
    assert (p.diff, p.ci, p.p_value) == (-0.39300652222075316, (-0.4325254669190688, -0.3574610357971539),
                                         0.004975124378109453)
    assert bootstrap.bootstrap_ci(v, 200, 3, groups=g) == (0.07719275947407839, 0.12316264977549778)
    assert bootstrap.share_ci(v, w + 0.5, g, 200, 3) == (0.07924753941958955, 0.1225454489809343)


def test_draws_do_not_depend_on_the_chunk_size():
    whole = np.random.default_rng(5).integers(0, 37, size=(250, 37))
    for chunk in (1, 100, 250, 1000):
        assert np.array_equal(np.concatenate(list(bootstrap.resample(37, 250, 5, chunk))), whole)
    counts = bootstrap.group_counts(37, 250, 5)
    assert np.array_equal(counts, np.stack([np.bincount(d, minlength=37) for d in whole]))


def test_users_and_groups_of_one_event_draw_the_same_resamples():
    values = np.random.default_rng(0).random(80)
    users = bootstrap.unit_means(values, 300, 2)
    groups = bootstrap.group_ratios(values, np.ones(80), np.arange(80), 300, 2)
    assert groups == pytest.approx(users, rel=1e-12)


def test_bad_arguments_fail_at_the_call():
    for call in (lambda: bootstrap.resample(0, 10, 0), lambda: bootstrap.resample(3, 0, 0),
                 lambda: bootstrap.bootstrap_ci(np.zeros(0)), lambda: bootstrap.bootstrap_ci(np.zeros((2, 2))),
                 lambda: bootstrap.bootstrap_ci(np.ones(3), groups=np.arange(4)),
                 lambda: bootstrap.share_ci(np.ones(3), np.zeros(3), np.arange(3))):
        with pytest.raises(ValueError):
            call()


def test_bootstrap_ci_contains_the_mean_and_shrinks_with_more_users():
    rng = np.random.default_rng(0)
    small = (rng.random(100) < 0.1).astype(float)
    large = (rng.random(10000) < 0.1).astype(float)
    lo_s, hi_s = bootstrap.bootstrap_ci(small, n_boot=500, seed=1)
    lo_l, hi_l = bootstrap.bootstrap_ci(large, n_boot=500, seed=1)
    assert lo_s <= small.mean() <= hi_s and lo_l <= large.mean() <= hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 5  # about 10x narrower for 100x the users
    assert bootstrap.bootstrap_ci(small, n_boot=500, seed=1) == (lo_s, hi_s)  # seeded: reproducible


def test_paired_bootstrap_identical_and_clearly_different():
    rng = np.random.default_rng(0)
    a = rng.random(2000)
    same = bootstrap.paired_bootstrap(a, a.copy(), n_boot=500, seed=0)
    assert same.diff == 0 and same.p_value == 1.0
    b = a - 0.1 + 0.05 * rng.standard_normal(2000)
    diff = bootstrap.paired_bootstrap(a, b, n_boot=500, seed=0)
    assert diff.p_value <= 2 / 501
    assert diff.ci[0] < 0.1 < diff.ci[1]
    noise = bootstrap.paired_bootstrap(a, a + 0.05 * rng.standard_normal(2000), n_boot=500, seed=0)
    assert noise.p_value > 0.01  # zero-mean noise: no significant difference


def test_paired_bootstrap_rejects_unpaired_arrays():
    with pytest.raises(ValueError, match="differ in shape"):
        bootstrap.paired_bootstrap(np.zeros(3), np.zeros(4))
