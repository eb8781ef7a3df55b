"""Grade raw completions against a benchmark: extraction, sandboxed execution, pass@k.

``grade_samples`` runs every (problem, completion) pair through one ``Executor`` in parallel and
returns an ``EvalResult`` (pass@k overall and per difficulty) whose ``write(out_dir)`` saves
``problems.jsonl`` (one line per problem, for bootstrap over problems) and ``eval_results.json``.
Tests: ``pytest tests/test_humaneval.py tests/test_livecodebench.py``.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ssd.benchmarks.base import Problem
from ssd.evaluation.execute import ExecutionResult, Executor
from ssd.evaluation.extract import candidate_code
from ssd.evaluation.passk import estimate_pass_at_k

logger = logging.getLogger(__name__)


@dataclass
class ProblemResult:
    problem_id: str
    difficulty: str
    verdicts: list[ExecutionResult]

    @property
    def n(self) -> int:
        return len(self.verdicts)

    @property
    def c(self) -> int:
        return sum(v.passed for v in self.verdicts)

    def to_json(self) -> dict[str, Any]:
        return {
            "problem_id": self.problem_id,
            "difficulty": self.difficulty,
            "n": self.n,
            "c": self.c,
            "verdicts": [v.status for v in self.verdicts],
            "details": [v.to_json() for v in self.verdicts],
        }


@dataclass
class EvalResult:
    ks: list[int]
    problems: list[ProblemResult]
    pass_at_k: dict[str, float] = field(default_factory=dict)  # "pass@k" -> value
    by_difficulty: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, Any]:
        """``{"pass@k": ..., "by_difficulty": {difficulty: {"pass@k": ...}}}``."""
        return {**self.pass_at_k, "by_difficulty": self.by_difficulty}

    def to_json(self) -> dict[str, Any]:
        """The metrics plus counts, for ``results.json`` (the caller adds ``eval_dir``)."""
        counts = Counter(v.status for p in self.problems for v in p.verdicts)
        return {
            **self.metrics,
            "n_problems": len(self.problems),
            "n_samples": sum(p.n for p in self.problems),
            "status_counts": dict(sorted(counts.items())),
        }

    def write(self, out_dir: str | Path) -> Path:
        """Write ``problems.jsonl`` and ``eval_results.json`` into ``out_dir``; returns it."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "problems.jsonl", "w") as f:
            for problem in self.problems:
                f.write(json.dumps(problem.to_json()) + "\n")
        (out / "eval_results.json").write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return out


def _pass_at(problems: Sequence[ProblemResult], ks: Sequence[int]) -> dict[str, float]:
    ns, cs = [p.n for p in problems], [p.c for p in problems]
    return {f"pass@{k}": float(np.mean(estimate_pass_at_k(ns, cs, k))) for k in ks}


def grade_samples(
    problems: Sequence[Problem],
    completions_by_problem: Mapping[str, Sequence[str]],
    executor: Executor,
    ks: Sequence[int] = (1,),
) -> EvalResult:
    """Extract, execute and score every completion.

    Args:
        problems: the benchmark problems; each needs at least max(ks) completions.
        completions_by_problem: raw model texts per ``problem_id``.
        executor: a started ``Executor`` (``with Executor(...) as executor``).
        ks: the k of each pass@k to report.

    Returns:
        pass@k overall and per difficulty, with every verdict.
    """
    ks = sorted(set(ks))
    known = {p.problem_id for p in problems}
    unknown = sorted(set(completions_by_problem) - known)
    if unknown:
        raise ValueError(f"completions for unknown problem ids: {unknown[:5]}")
    for problem in problems:
        n = len(completions_by_problem.get(problem.problem_id, ()))
        if not ks or n < ks[-1] or ks[0] < 1:
            raise ValueError(
                f"problem {problem.problem_id}: {n} completions; "
                f"each k in ks={ks} must be in [1, n]"
            )
    items = [
        (problem, candidate_code(problem, text))
        for problem in problems
        for text in completions_by_problem[problem.problem_id]
    ]
    logger.info("grading %d completions of %d problems", len(items), len(problems))
    with tqdm(total=len(items), desc="grading", unit="program", disable=None) as progress:
        verdicts = iter(executor.run_many(items, on_result=lambda _: progress.update()))
    results = [
        ProblemResult(
            p.problem_id,
            p.difficulty,
            [next(verdicts) for _ in completions_by_problem[p.problem_id]],
        )
        for p in problems
    ]
    by_difficulty = {
        difficulty: _pass_at([r for r in results if r.difficulty == difficulty], ks)
        for difficulty in sorted({r.difficulty for r in results})
    }
    return EvalResult(ks, results, _pass_at(results, ks), by_difficulty)
