"""Golden strings for code extraction (``ssd.evaluation.extract``).

Run: ``pytest tests/test_extract.py``.
"""

from __future__ import annotations

import pytest

from ssd.benchmarks.base import HUMANEVAL, STDIN, Problem
from ssd.evaluation.extract import candidate_code, extract_code

CASES = [
    ("plain block", "Here:\n```python\nprint(1)\n```\nDone.", "print(1)\n"),
    ("last block wins", "```python\na = 1\n```\ntext\n```py\nb = 2\n```", "b = 2\n"),
    ("no language tag", "```\nx = 3\n```", "x = 3\n"),
    ("indented fence", "  ```python\n  y = 4\n  ```", "  y = 4\n"),
    ("longer fence holds backticks", "````python\ns = '```'\n````", "s = '```'\n"),
    ("unclosed last block ignored", "```python\nok = 1\n```\n```python\ntrunc", "ok = 1\n"),
    ("only unclosed", "```python\nwhile True:", None),
    ("no block", "just prose, no code", None),
    ("empty block", "```python\n\n```", None),
    ("after think", "<think>\n```python\ndraft\n```\n</think>\n```python\nfinal\n```", "final\n"),
    ("blank lines kept", "```python\ndef f():\n\n    return 1\n```", "def f():\n\n    return 1\n"),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_extract_code_golden(text, expected):
    assert extract_code(text) == expected


def test_candidate_code_humaneval_uses_raw_completion_without_fences():
    he = Problem("h", "q", HUMANEVAL, starter_code="def f():\n")
    assert candidate_code(he, "    return 1\n") == "    return 1\n"
    assert (
        candidate_code(he, "```python\ndef f():\n    return 1\n```") == "\ndef f():\n    return 1\n"
    )
    assert candidate_code(he, "   \n") is None


def test_candidate_code_stdin_needs_a_fence():
    lcb = Problem("s", "q", STDIN)
    assert candidate_code(lcb, "print(1)") is None
    assert candidate_code(lcb, "```python\nprint(1)\n```") == "print(1)\n"
