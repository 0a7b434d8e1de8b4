import numpy as np
import pytest

from textcode.data.domain import Domain, from_sequences
from textcode.data.kcore import k_core


def random_domain(seed: int, n_users=60, n_items=40, max_len=12) -> Domain:
    rng = np.random.default_rng(seed)
    seqs = [rng.integers(0, n_items, size=rng.integers(1, max_len)) ** 2 // n_items for _ in range(n_users)]  # skewed
    times = [np.sort(rng.integers(0, 10**6, size=len(s))) for s in seqs]
    return from_sequences(f"random{seed}", [f"i{i}" for i in range(n_items)], [f"text {i}" for i in range(n_items)],
                          [f"u{u}" for u in range(n_users)], seqs, times, holdout=rng.random(n_users) < 0.2)


def reference_k_core(domain: Domain, k: int) -> set[tuple[str, int, str]]:
    """Kept (user id, position, item id) triples, by naive repeated counting over Python sets."""
    kept = {(domain.user_ids[u], p, domain.item_ids[i]) for u in range(domain.n_users)
            for p, i in enumerate(domain.sequence(u))}
    while True:
        users, items = {}, {}
        for u, _, i in kept:
            users[u] = users.get(u, 0) + 1
            items[i] = items.get(i, 0) + 1
        smaller = {t for t in kept if users[t[0]] < k or items[t[2]] < k}
        if not smaller:
            return kept
        kept -= smaller


def triples(original: Domain, filtered: Domain) -> set[tuple[str, int, str]]:
    """(user id, position in the ORIGINAL sequence, item id) of the filtered domain's interactions."""
    out = set()
    for u in range(filtered.n_users):
        src = int(np.flatnonzero(original.user_ids == filtered.user_ids[u])[0])
        orig_ids = original.item_ids[original.sequence(src)]
        ids = filtered.item_ids[filtered.sequence(u)]
        pos, start = [], 0
        # k-core keeps all or none of a (user, item) pair's clicks, so greedy left-to-right matching is exact
        for item in ids:
            start = start + int(np.flatnonzero(orig_ids[start:] == item)[0])
            pos.append(start)
            start += 1
        out |= {(filtered.user_ids[u], p, i) for p, i in zip(pos, ids)}
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [2, 3, 5])
def test_result_is_k_core_and_matches_naive_filtering(seed, k):
    domain = random_domain(seed)
    core = k_core(domain, k)
    core.validate("k-core")
    assert core.n_interactions > 0
    assert core.lengths().min() >= k
    assert np.bincount(core.items, minlength=core.n_items).min() >= k
    assert triples(domain, core) == reference_k_core(domain, k)


def test_cascade_over_several_rounds():
    # u2 has one click; without it c has one, then u1 has one, then b has one: four rounds for k=2
    d = from_sequences("c", ["a", "b", "c"], None, ["u0", "u1", "u2"], [[0, 0, 1], [1, 2], [2]])
    core = k_core(d, 2)
    assert list(core.user_ids) == ["u0"]
    assert list(core.item_ids) == ["a"]
    assert core.items.tolist() == [0, 0]


def test_idempotent():
    core = k_core(random_domain(3), 3)
    again = k_core(core, 3)
    for a, b in ((core.item_ids, again.item_ids), (core.user_ids, again.user_ids), (core.offsets, again.offsets),
                 (core.items, again.items), (core.times, again.times), (core.holdout, again.holdout)):
        np.testing.assert_array_equal(a, b)


def test_keeps_order_and_carries_times_text_and_holdout():
    domain = random_domain(4)
    core = k_core(domain, 3)
    # items and users keep their relative order
    item_pos = {iid: i for i, iid in enumerate(domain.item_ids)}
    assert [item_pos[i] for i in core.item_ids] == sorted(item_pos[i] for i in core.item_ids)
    user_pos = {uid: u for u, uid in enumerate(domain.user_ids)}
    assert [user_pos[u] for u in core.user_ids] == sorted(user_pos[u] for u in core.user_ids)
    text = dict(zip(domain.item_ids, domain.item_text))
    assert all(text[i] == t for i, t in zip(core.item_ids, core.item_text))
    for u, uid in enumerate(core.user_ids):
        src = user_pos[uid]
        assert core.holdout[u] == domain.holdout[src]
        # (item, time) pairs of the user are a subsequence of the original ones
        orig = list(zip(domain.item_ids[domain.sequence(src)], domain.times[domain.offsets[src]:domain.offsets[src + 1]]))
        kept = list(zip(core.item_ids[core.sequence(u)], core.times[core.offsets[u]:core.offsets[u + 1]]))
        it = iter(orig)
        assert all(pair in it for pair in kept)


def test_k_below_two_is_identity():
    domain = random_domain(5)
    assert k_core(domain, 1) is domain
    assert k_core(domain, 0) is domain
