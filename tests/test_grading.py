"""LiveCodeBench output comparison (``ssd.evaluation.grading``).

Run: ``pytest tests/test_grading.py``.
"""

from __future__ import annotations

import pytest

from ssd.evaluation.grading import compare_functional, compare_stdout


@pytest.mark.parametrize(
    ("actual", "expected", "ok"),
    [
        ("3\n", "3", True),
        ("  1 2 \n3\n\n", "1 2\n3", True),  # outer whitespace and per-line spaces ignored
        ("a b\n", "a  b\n", False),  # inner spacing is compared exactly ...
        ("1 2\n", "1  2\n", True),  # ... unless the line parses as numbers (Decimal fallback)
        ("0.50\n", "0.5\n", True),
        ("1e3 2\n", "1000 2.0\n", True),
        ("0.333\n", "0.3333\n", False),  # numeric fallback is exact, not a tolerance
        ("1\n2\n", "1\n", False),  # line counts must match
        ("YES\n", "yes\n", False),
        ("nan\n", "NaN\n", False),  # Decimal NaN never equals itself
        ("sNaN\n", "snan\n", False),  # signalling NaN: no crash
        ("", "", True),
    ],
)
def test_compare_stdout(actual, expected, ok):
    assert compare_stdout(actual, expected) is ok


@pytest.mark.parametrize(
    ("actual", "expected", "ok"),
    [
        ("[1, 2]", "[1, 2]", True),
        ("3", "3.0", True),  # Python ==, as LiveCodeBench compares
        ('"a"', '"a"', True),
        ("[2, 1]", "[1, 2]", False),
        ("true", "1", True),
        (None, "1", False),
        ("{bad", "1", False),
    ],
)
def test_compare_functional(actual, expected, ok):
    assert compare_functional(actual, expected) is ok
