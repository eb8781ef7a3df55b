"""Render a problem into chat turns from the Jinja templates in ``ssd/templates``.

``<name>.jinja`` is the user turn; an optional ``<name>.system.jinja`` is the system message.
Templates see ``question``, ``starter_code``, ``kind``, ``entry_point`` and ``difficulty``.
Tests: ``pytest tests/test_prompts.py``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATES = ("lcb_generic", "ssd_reference", "humaneval_completion")


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # prompts are plain text, not HTML
    )


def render_messages(problem: Any, template_name: str) -> list[dict[str, str]]:
    """Chat turns for ``problem``.

    Args:
        problem: an ``ssd.benchmarks.base.Problem``.
        template_name: ``lcb_generic`` (LiveCodeBench: system message + "### Question / ###
            Format / ### Answer"), ``ssd_reference`` (the SSD reference prompt, one user turn) or
            ``humaneval_completion`` (the HumanEval prompt verbatim, for plain continuation).

    Returns:
        ``[{"role": "system", ...}?, {"role": "user", ...}]``.
    """
    if template_name not in TEMPLATES:
        raise ValueError(
            f"unknown prompt template {template_name!r}; allowed: {', '.join(TEMPLATES)}"
        )
    env = _environment()
    context = {
        "question": problem.question,
        "starter_code": problem.starter_code,
        "kind": problem.kind,
        "entry_point": problem.entry_point,
        "difficulty": problem.difficulty,
    }
    messages = []
    if (TEMPLATE_DIR / f"{template_name}.system.jinja").is_file():
        system = env.get_template(f"{template_name}.system.jinja").render(context).strip()
        messages.append({"role": "system", "content": system})
    user = env.get_template(f"{template_name}.jinja").render(context)
    messages.append({"role": "user", "content": user})
    return messages
