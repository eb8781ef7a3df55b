"""The tiny world as a benchmark: held-out problems (``load_problems``) and SSD prompts.

Problems are HumanEval-kind records: the prompt is the starter code (signature + spec
docstring), the model continues the function body, and ``check(candidate)`` holds the hidden
tests. Evaluation problems come from evaluation families only, SSD prompts from SSD-prompt
families only (disjoint from each other and from pretraining; see ``ssd.tinyworld.tasks``).
Difficulty counts trap clauses: easy 0, medium 1, hard 2+.
"""

from __future__ import annotations

from ssd.benchmarks.base import HUMANEVAL, Problem
from ssd.records import Prompt
from ssd.tinyworld import tasks

DIFFICULTY = {0: "easy", 1: "medium"}


def _problem(task: tasks.Task, split: str, seed: int, i: int) -> Problem:
    return Problem(
        problem_id=f"tinyworld/{split}/{seed}/{i}",
        question=task.spec(),
        kind=HUMANEVAL,
        starter_code=task.starter(),
        entry_point="f",
        difficulty=DIFFICULTY.get(task.n_traps, "hard"),
        test_code=tasks.test_code(task, seed),
        metadata={
            "family": task.family,
            "n_traps": task.n_traps,
            "reference": tasks.reference_solutions(task)[1],
        },
    )


def load_problems(split: str = "eval", n: int = 200, seed: int = 0) -> list[Problem]:
    """``n`` problems of ``split`` (``eval`` for the benchmark), seeded and reproducible."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return [_problem(t, split, seed, i) for i, t in enumerate(tasks.generate_tasks(split, n, seed))]


def load_prompts(n: int = 2000, seed: int = 0) -> list[Prompt]:
    """``n`` unlabelled SSD prompts: starter code as one user turn, no solutions.

    The model sees only the starter code; ``metadata["test_code"]`` holds the task's hidden
    asserts for ``training.filter.verify`` (``ssd.verify``) and is never rendered into a prompt.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return [
        Prompt(
            prompt_id=f"tinyworld/ssd_prompt/{seed}/{i}",
            messages=[{"role": "user", "content": t.starter()}],
            metadata={
                "family": t.family,
                "n_traps": t.n_traps,
                "starter_code": t.starter(),
                "entry_point": "f",
                "test_code": tasks.test_code(t, seed),
            },
        )
        for i, t in enumerate(tasks.generate_tasks("ssd_prompt", n, seed))
    ]
