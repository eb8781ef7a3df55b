"""Verification of SSD samples against their prompt's own tests (rejection-sampling fine-tuning).

The paper trains on raw, unverified samples; ``training.filter.verify`` is the usual baseline
that keeps only the samples passing the prompt's tests. Tests come with the prompts:

- tiny world SSD prompts carry their task's hidden asserts (``metadata["test_code"]``);
- prompt files carry LiveCodeBench-style test cases under ``data.tests_field``
  (``metadata["tests"]``: ``[{"input", "output", "testtype"}, ...]``; rStar-Coder's seed
  problems have them);
- the toy machine's samples say themselves whether they reached the success state.

Every program runs through the project's sandboxed grader (``ssd.evaluation.evaluate``), exactly
as an evaluation completion does. The verdicts are a cached artifact (``verdicts.jsonl``).
Test: ``pytest tests/test_verify.py``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ssd.benchmarks.base import HUMANEVAL, Problem, TestCase
from ssd.records import Prompt, Sample

VERDICTS_FILE = "verdicts.jsonl"


def prompt_problem(prompt: Prompt) -> Problem | None:
    """The gradable problem behind a prompt, or None when the prompt carries no tests."""
    meta = prompt.metadata
    if meta.get("test_code"):
        return Problem(
            problem_id=prompt.prompt_id,
            question=str(meta.get("question", "")),
            kind=HUMANEVAL,
            starter_code=str(meta.get("starter_code", "")),
            entry_point=str(meta.get("entry_point", "f")),
            test_code=str(meta["test_code"]),
        )
    if meta.get("tests"):
        tests = [
            TestCase(str(t["input"]), str(t["output"]), str(t["testtype"])) for t in meta["tests"]
        ]
        return Problem(
            problem_id=prompt.prompt_id,
            question=str(meta.get("question", "")),
            kind=tests[0].testtype,
            starter_code=str(meta.get("starter_code", "")),
            entry_point=str(meta.get("entry_point", "")),
            tests=tests,
        )
    return None


def sample_key(s: Sample) -> str:
    return f"{s.prompt_id}#{s.sample_index}"


def verify_samples(
    samples: Sequence[Sample],
    prompts: Sequence[Prompt],
    out_dir: Path,
    *,
    timeout_s: float = 6.0,
    workers: int | None = None,
) -> dict[str, Any]:
    """Grade every sample against its prompt's tests; write ``verdicts.jsonl`` into ``out_dir``.

    Raises:
        ValueError: a sample's prompt carries no tests (nothing to verify against).

    Returns:
        Counts for the manifest: checked, passed, and verdicts by status.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    statuses: dict[str, str] = {}
    toy = [s for s in samples if s.decoding and "passed" in s.decoding[-1]]
    for s in toy:
        statuses[sample_key(s)] = "passed" if s.decoding[-1]["passed"] else "wrong_answer"
    rest = [s for s in samples if sample_key(s) not in statuses]
    if rest:
        by_id = {p.prompt_id: p for p in prompts}
        problems: dict[str, Problem] = {}
        for s in rest:
            if s.prompt_id not in problems:
                problem = prompt_problem(by_id[s.prompt_id])
                if problem is None:
                    raise ValueError(
                        f"training.filter.verify: prompt {s.prompt_id!r} carries no tests "
                        "(expected tiny-world prompts or a prompt file with data.tests_field)"
                    )
                problems[s.prompt_id] = problem
        completions: dict[str, list[str]] = {pid: [] for pid in problems}
        order: dict[str, list[Sample]] = {pid: [] for pid in problems}
        for s in rest:
            completions[s.prompt_id].append(s.completion)
            order[s.prompt_id].append(s)
        from ssd.evaluation.evaluate import grade_samples
        from ssd.evaluation.execute import Executor

        with Executor(workers=workers, timeout_s=timeout_s) as executor:
            result = grade_samples(list(problems.values()), completions, executor, [1])
        for problem_result in result.problems:
            for s, verdict in zip(
                order[problem_result.problem_id], problem_result.verdicts, strict=True
            ):
                statuses[sample_key(s)] = verdict.status
    with (out_dir / VERDICTS_FILE).open("w") as handle:
        for s in samples:
            row = {"prompt_id": s.prompt_id, "sample_index": s.sample_index}
            handle.write(json.dumps({**row, "status": statuses[sample_key(s)]}) + "\n")
    by_status: dict[str, int] = {}
    for status in statuses.values():
        by_status[status] = by_status.get(status, 0) + 1
    return {
        "checked": len(samples),
        "passed": by_status.get("passed", 0),
        "by_status": dict(sorted(by_status.items())),
    }


def load_passed(folder: Path) -> set[str]:
    """Keys (``prompt_id#sample_index``) of the samples that passed, from a verdicts artifact."""
    passed = set()
    with (Path(folder) / VERDICTS_FILE).open() as handle:
        for line in handle:
            row = json.loads(line)
            if row["status"] == "passed":
                passed.add(f"{row['prompt_id']}#{row['sample_index']}")
    return passed
