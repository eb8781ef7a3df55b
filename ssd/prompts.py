"""Render a problem into chat turns from the Jinja templates in ``ssd/templates``.

``<name>.jinja`` is the user turn; an optional ``<name>.system.jinja`` is the system message.
Templates see ``question``, ``starter_code``, ``kind``, ``entry_point`` and ``difficulty``.
What a template asks the model for is recorded beside its name (``PromptTemplate``), so callers
ask the template instead of testing its name. Tests: ``pytest tests/test_prompts.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

TEMPLATE_DIR = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class PromptTemplate:
    """A template file and what its prompt asks of the model."""

    name: str
    # The prompt asks for the answer in a ```python block. Without one (plain continuation of a
    # function), answers are bare code, so "no extractable code" says nothing about them.
    fenced_code: bool
    # The prompt shows the problem statement. Without it (the starter code alone) a problem with
    # no starter code, like every LiveCodeBench stdin problem, renders as an empty prompt.
    shows_question: bool = True


_REGISTRY = {
    t.name: t
    for t in (
        PromptTemplate("lcb_generic", fenced_code=True),
        PromptTemplate("ssd_reference", fenced_code=True),
        PromptTemplate("humaneval_completion", fenced_code=False, shows_question=False),
    )
}
TEMPLATES = tuple(_REGISTRY)


def prompt_template(name: str) -> PromptTemplate:
    """The registered template ``name``; ValueError listing the allowed names otherwise."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown prompt template {name!r}; allowed: {', '.join(TEMPLATES)}")
    return _REGISTRY[name]


def asks_for_fenced_code(template_name: str) -> bool:
    """Whether answers to ``template_name`` are expected inside a fenced code block."""
    return prompt_template(template_name).fenced_code


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
    prompt_template(template_name)  # an unknown name fails here, with the allowed names
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
