"""Evaluation stage: decode a policy at T_eval and score it.

The toy model is scored exactly (success probability) and by pass@k from sampled sequences;
code benchmarks generate ``evaluation.n`` completions per problem and execute every one of them
in the sandbox (``ssd.evaluation.execute``). Writes ``problems.jsonl`` (per problem: n, c,
verdicts) beside ``metrics.json`` in the artifact folder, and ``completions.jsonl``, a bounded
sample of completions with verdicts (``ssd.evaluation.completions``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ssd.artifacts import write_json_atomic
from ssd.backends.base import Backend, Policy
from ssd.config import EvaluationConfig
from ssd.evaluation.completions import sample_rows, write_completions
from ssd.evaluation.passk import estimate_pass_at_k
from ssd.records import Prompt, Sample

log = logging.getLogger(__name__)

PROBLEMS_FILE = "problems.jsonl"
METRICS_FILE = "metrics.json"


def _write_problems(out_dir: Path, rows: Sequence[dict[str, Any]]) -> None:
    with (out_dir / PROBLEMS_FILE).open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")


def _evaluate_toy(
    backend: Any, policy: Policy, evaluation: EvaluationConfig, out_dir: Path
) -> dict[str, Any]:
    """Exact success probability plus pass@k estimated from sampled toy sequences.

    ``evaluation.num_problems`` independent repeats of the single toy problem stand in for
    problems, so the per-problem file supports the same bootstrap as a real benchmark.
    """
    decoding = evaluation.decoding()
    metrics: dict[str, Any] = backend.exact_metrics(policy, decoding, evaluation.k)
    repeats = 200 if evaluation.num_problems == -1 else evaluation.num_problems
    prompts = [Prompt(prompt_id=f"toy-{i}", messages=[]) for i in range(repeats)]
    rows: list[dict[str, Any]] = []
    texts: dict[str, list[str]] = {}

    def collect(batch: list[Sample]) -> None:
        passed = [bool(s.decoding[-1]["passed"]) for s in batch]
        texts[batch[0].prompt_id] = [s.completion for s in batch]
        rows.append(
            {
                "problem_id": batch[0].prompt_id,
                "difficulty": "toy",
                "n": len(batch),
                "c": int(sum(passed)),
                "verdicts": ["passed" if ok else "failed" for ok in passed],
            }
        )

    backend.generate(
        policy,
        prompts,
        decoding,
        n=evaluation.n,
        max_tokens=evaluation.max_tokens,
        seed=evaluation.seed,
        on_batch=collect,
    )
    for k in evaluation.k:
        metrics[f"pass@{k}"] = float(
            estimate_pass_at_k(evaluation.n, [r["c"] for r in rows], k).mean()
        )
    _write_problems(out_dir, rows)
    verdicts = {r["problem_id"]: r["verdicts"] for r in rows}
    kept = sample_rows(texts, verdicts, {}, evaluation.keep_completions)
    write_completions(out_dir, [{**r, "difficulty": "toy"} for r in kept])
    metrics["num_problems"] = len(rows)
    return metrics


def _evaluate_code(
    backend: Backend, policy: Policy, evaluation: EvaluationConfig, out_dir: Path
) -> dict[str, Any]:
    """Generate n completions per benchmark problem and grade every one in the sandbox."""
    from ssd.benchmarks import load_benchmark
    from ssd.evaluation.evaluate import grade_samples
    from ssd.evaluation.execute import Executor
    from ssd.prompts import render_messages

    problems = load_benchmark(
        evaluation.benchmark,
        data_path=evaluation.data_path,
        limit=evaluation.num_problems,
        download=evaluation.download,
    )
    prompts = [
        Prompt(prompt_id=p.problem_id, messages=render_messages(p, evaluation.template))
        for p in problems
    ]
    completions: dict[str, list[str]] = {p.problem_id: [] for p in problems}

    total = len(prompts) * evaluation.n
    progress = tqdm(total=total, desc="generating", unit="sample", disable=None)

    def collect(batch: list[Sample]) -> None:
        for s in batch:
            completions[s.prompt_id].append(s.completion)
        progress.update(len(batch))

    with progress:
        backend.generate(
            policy,
            prompts,
            evaluation.decoding(),
            n=evaluation.n,
            max_tokens=evaluation.max_tokens,
            seed=evaluation.seed,
            on_batch=collect,
        )
    workers = evaluation.workers or None
    with Executor(workers=workers, timeout_s=evaluation.timeout_s) as executor:
        result = grade_samples(problems, completions, executor, list(evaluation.k))
    result.write(out_dir)
    verdicts = {p.problem_id: [v.status for v in p.verdicts] for p in result.problems}
    difficulties = {p.problem_id: p.difficulty for p in result.problems}
    kept = sample_rows(completions, verdicts, difficulties, evaluation.keep_completions)
    write_completions(out_dir, kept)
    metrics = dict(result.metrics)
    metrics["num_problems"] = len(problems)
    return metrics


def evaluate(
    backend: Backend, policy: Policy, evaluation: EvaluationConfig, out_dir: Path
) -> dict[str, Any]:
    """Score ``policy`` under the evaluation decoding; writes metrics and per-problem rows.

    Returns:
        Metrics (``pass@k`` overall, per difficulty under ``by_difficulty``; the toy adds the
        exact ``success_probability``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    if evaluation.benchmark == "toy":
        metrics = _evaluate_toy(backend, policy, evaluation, out_dir)
    else:
        metrics = _evaluate_code(backend, policy, evaluation, out_dir)
    write_json_atomic(out_dir / METRICS_FILE, metrics)
    return metrics
