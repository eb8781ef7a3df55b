"""Prompt templates (``ssd.prompts``). Run: ``pytest tests/test_prompts.py``."""

from __future__ import annotations

import pytest

from ssd.benchmarks.base import FUNCTIONAL, HUMANEVAL, STDIN, Problem
from ssd.prompts import TEMPLATES, render_messages

STDIN_PROBLEM = Problem("s", "Print the sum of two integers.", STDIN)
STARTER_PROBLEM = Problem(
    "f", "Return the sum.", FUNCTIONAL, starter_code="class Solution:\n    def add(self, a, b):\n"
)


def test_lcb_generic_has_system_message_and_both_format_variants():
    system, user = render_messages(STDIN_PROBLEM, "lcb_generic")
    assert system["role"] == "system" and system["content"].startswith("You are an expert Python")
    assert user["content"].startswith(
        "### Question:\nPrint the sum of two integers.\n\n### Format: Read"
    )
    assert "```python\n# YOUR CODE HERE\n```" in user["content"]
    assert user["content"].endswith("### Answer: (use the provided format with backticks)\n\n")
    _, starter = render_messages(STARTER_PROBLEM, "lcb_generic")
    assert "### Format: You will use the following starter code" in starter["content"]
    assert "```python\nclass Solution:\n    def add(self, a, b):\n\n```" in starter["content"]


def test_ssd_reference_is_a_single_user_turn():
    (turn,) = render_messages(STDIN_PROBLEM, "ssd_reference")
    assert turn["role"] == "user"
    assert (
        "Question: Print the sum of two integers.\n\nRead the inputs from stdin" in turn["content"]
    )
    assert turn["content"].endswith("```python\n  # YOUR CODE HERE\n```")
    (starter,) = render_messages(STARTER_PROBLEM, "ssd_reference")
    assert starter["content"].endswith(
        "```python\nclass Solution:\n    def add(self, a, b):\n\n```"
    )


def test_humaneval_completion_is_the_prompt_verbatim():
    problem = Problem("h", "q", HUMANEVAL, starter_code='def f(x):\n    """Doc."""\n')
    assert render_messages(problem, "humaneval_completion") == [
        {"role": "user", "content": 'def f(x):\n    """Doc."""\n'}
    ]


def test_unknown_template_lists_allowed_names():
    with pytest.raises(ValueError, match="allowed: " + ", ".join(TEMPLATES)):
        render_messages(STDIN_PROBLEM, "nope")
