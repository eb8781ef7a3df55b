"""Output comparison exactly as LiveCodeBench grades it (runs in the trusted parent).

stdin problems: strip the whole output, split into lines, strip each line; the line counts must
match and each line must be equal, or else equal as a list of ``Decimal`` numbers (the numeric
fallback: "1.0" equals "1.00", "1e3" equals "1000"). Functional problems: the returned value
(tuples become lists) must ``==`` the JSON-decoded expected output.
Tests: ``pytest tests/test_grading.py``.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation


def stripped_lines(text: str) -> list[str]:
    """The output as LiveCodeBench sees it: outer whitespace dropped, each line stripped."""
    return [line.strip() for line in text.strip().split("\n")]


def _as_decimals(line: str) -> list[Decimal] | None:
    try:
        return [Decimal(token) for token in line.split()]
    except InvalidOperation:
        return None


def compare_stdout(actual: str, expected: str) -> bool:
    """Whether a stdin program's output matches the expected output.

    Args:
        actual: everything the program wrote to stdout.
        expected: the test's expected output.

    Returns:
        True when every line matches exactly or numerically.
    """
    actual_lines, expected_lines = stripped_lines(actual), stripped_lines(expected)
    if len(actual_lines) != len(expected_lines):
        return False
    for got, want in zip(actual_lines, expected_lines, strict=True):
        if got == want:
            continue
        got_numbers, want_numbers = _as_decimals(got), _as_decimals(want)
        if got_numbers is None or want_numbers is None:
            return False
        try:
            if got_numbers != want_numbers:
                return False
        except InvalidOperation:  # comparing a signalling NaN
            return False
    return True


def compare_functional(actual_json: str | None, expected: str) -> bool:
    """Whether a functional problem's return value (as JSON text) equals the expected output.

    Args:
        actual_json: ``json.dumps`` of the returned value (tuples already lists), or None.
        expected: the test's expected output, one JSON value.

    Returns:
        True when the decoded values are equal (``==``, so ``1 == 1.0`` as in LiveCodeBench).
    """
    if actual_json is None:
        return False
    try:
        return bool(json.loads(actual_json) == json.loads(expected))
    except (ValueError, RecursionError):
        return False
