"""Prompt templates (``ssd.prompts``). Run: ``pytest tests/test_prompts.py``."""

from __future__ import annotations

import pytest

from ssd.benchmarks.base import FUNCTIONAL, HUMANEVAL, STDIN, Problem
from ssd.prompts import TEMPLATE_DIR, TEMPLATES, asks_for_fenced_code, render_messages

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


def test_every_template_file_is_registered_and_every_name_has_a_file():
    files = {p.name.removesuffix(".jinja") for p in TEMPLATE_DIR.glob("*.jinja")}
    assert {f for f in files if not f.endswith(".system")} == set(TEMPLATES)


@pytest.mark.parametrize("name", TEMPLATES)
@pytest.mark.parametrize("problem", [STDIN_PROBLEM, STARTER_PROBLEM], ids=["stdin", "starter"])
def test_fenced_code_flag_matches_what_the_prompt_asks_for(name, problem):
    user = render_messages(problem, name)[-1]["content"]
    assert asks_for_fenced_code(name) == ("```python" in user)


def test_fenced_code_flags_and_unknown_names():
    assert asks_for_fenced_code("ssd_reference") and asks_for_fenced_code("lcb_generic")
    assert not asks_for_fenced_code("humaneval_completion")
    with pytest.raises(ValueError, match="unknown prompt template 'nope'"):
        asks_for_fenced_code("nope")
