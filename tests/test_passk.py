"""Unbiased pass@k (``ssd.evaluation.passk``) against brute-force binomials.

Run: ``pytest tests/test_passk.py``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from ssd.evaluation.passk import estimate_pass_at_k, pass_at_k


def test_matches_math_comb_formula():
    for n in range(1, 21):
        for c in range(n + 1):
            for k in range(1, n + 1):
                exact = 1.0 - math.comb(n - c, k) / math.comb(n, k)
                assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12)


def test_matches_enumeration_of_k_subsets():
    # pass@k is the fraction of k-subsets of the n samples containing a correct one.
    n, c, k = 7, 2, 3
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(samples, k))
    assert pass_at_k(n, c, k) == pytest.approx(sum(any(s) for s in subsets) / len(subsets))


def test_known_values_and_edges():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(10, 6, 5) == 1.0  # fewer than k failures: every k-subset has a success
    assert pass_at_k(200, 1, 100) == pytest.approx(0.5)


def test_vectorised_and_large_n_is_finite():
    values = estimate_pass_at_k([10, 20], [1, 2], 1)
    np.testing.assert_allclose(values, [0.1, 0.1])
    assert 0.0 < pass_at_k(10_000, 3, 100) < 1.0


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="k must be"):
        pass_at_k(5, 1, 6)
    with pytest.raises(ValueError, match="c must be"):
        pass_at_k(5, 6, 1)
