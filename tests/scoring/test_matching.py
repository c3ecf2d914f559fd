import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from vr2.scoring.claims import Claim
from vr2.scoring.matching import (greedy_matching, match_claims, max_weight_assignment, optimal_matching,
                                  temporal_matrix, time_gaps)


def point(t, text="x"):
    return Claim(float(t), float(t), text)


def test_time_gap_zero_when_intervals_overlap():
    gaps = time_gaps([Claim(10, 20, "a")], [Claim(15, 30, "b"), Claim(25, 26, "c"), Claim(0, 4, "d")])
    assert gaps.tolist() == [[0.0, 5.0, 6.0]]


def test_buffer_semantics_match_official_points():
    # official: each side widened by the buffer -> points match when |t_i - t_j| <= 2 * buffer
    t = temporal_matrix([point(10)], [point(14), point(14.01), point(6)], buffer_seconds=2)
    assert t.tolist() == [[True, False, True]]


def test_greedy_loses_a_pair_that_optimal_keeps():
    # pred 0 (earlier) prefers ref 0, but ref 0 is the only one pred 1 can use.
    pred = [point(10, "a"), point(11, "b")]
    allowed = np.array([[True, True], [True, False]])
    sim = np.array([[0.95, 0.80], [0.90, 0.0]])
    assert greedy_matching(pred, allowed, sim) == [(0, 0)]
    assert sorted(optimal_matching(allowed, sim)) == [(0, 1), (1, 0)]


def test_optimal_prefers_higher_similarity_among_maximum_matchings():
    allowed = np.ones((2, 2), dtype=bool)
    sim = np.array([[0.8, 0.9], [0.9, 0.8]])
    assert sorted(optimal_matching(allowed, sim)) == [(0, 1), (1, 0)]


def test_match_claims_applies_tau_and_buffer():
    pred = [point(10), point(50)]
    ref = [point(11), point(52)]
    sim = np.array([[0.9, 0.9], [0.7, 0.95]])
    matches = match_claims(pred, ref, sim, buffer_seconds=2, tau=0.75)
    assert [(m.pred, m.ref) for m in matches] == [(0, 0), (1, 1)]
    assert matches[1].gap == 2.0 and matches[1].similarity == 0.95
    assert match_claims(pred, ref, sim, buffer_seconds=0.4, tau=0.75) == []


def brute_force_size(allowed):
    n, m = allowed.shape
    best = 0
    for perm in itertools.permutations(range(m), min(n, m)) if n <= m else itertools.permutations(range(n), m):
        pairs = zip(range(n), perm) if n <= m else zip(perm, range(m))
        best = max(best, sum(bool(allowed[i, j]) for i, j in pairs))
    return best


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.data())
def test_optimal_is_maximum_and_one_to_one(n, m, data):
    allowed = np.array(data.draw(st.lists(st.lists(st.booleans(), min_size=m, max_size=m), min_size=n, max_size=n)))
    sim = np.array(data.draw(st.lists(st.lists(st.floats(-1, 1), min_size=m, max_size=m), min_size=n, max_size=n)))
    pairs = optimal_matching(allowed, sim)
    assert len({i for i, _ in pairs}) == len(pairs) == len({j for _, j in pairs})
    assert all(allowed[i, j] for i, j in pairs)
    assert len(pairs) == brute_force_size(allowed)
    pred = [point(k) for k in range(n)]
    assert len(greedy_matching(pred, allowed, sim)) <= len(pairs)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.booleans(), st.data())
def test_assignment_is_as_good_as_scipys(n, m, integer, data):
    # Integer weights make many exact ties (several optimal assignments); any of them will do,
    # but the total must be scipy's optimum.
    values = st.integers(0, 3).map(float) if integer else st.floats(0, 10)
    weight = np.array(data.draw(st.lists(st.lists(values, min_size=m, max_size=m), min_size=n, max_size=n)))
    pairs = max_weight_assignment(weight)
    assert len(pairs) == min(n, m)
    assert len({i for i, _ in pairs}) == len(pairs) == len({j for _, j in pairs})
    rows, cols = linear_sum_assignment(weight, maximize=True)
    assert abs(sum(weight[i, j] for i, j in pairs) - weight[rows, cols].sum()) < 1e-9


def test_assignment_at_the_claim_cap_matches_scipy():
    # 512 x 512 (the per-trace claim cap), random weights. Our solver is slower than scipy's
    # C++ (~0.16 s against ~0.01 s on an idle 2-core machine, BENCHMARKS.md); here only the result counts.
    weight = np.random.default_rng(0).random((512, 512))
    pairs = max_weight_assignment(weight)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    assert abs(sum(weight[i, j] for i, j in pairs) - weight[rows, cols].sum()) < 1e-9
