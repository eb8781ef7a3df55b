"""Benchmarks behind one entry point: ``load_benchmark(name, **options) -> list[Problem]``."""

from __future__ import annotations

from typing import Any

from ssd.benchmarks.base import Problem

BENCHMARK_NAMES = "humaneval, tinyworld, lcb_v5, lcb_v6, lcb_release_vN (N >= 1)"


def load_benchmark(name: str, **options: Any) -> list[Problem]:
    """Load a benchmark by name.

    Args:
        name: ``humaneval``; ``tinyworld`` (the project's synthetic held-out problems);
            ``lcb_v5`` / ``lcb_v6`` (the paper's contest-date windows);
            ``lcb_release_vN`` (the dataset's cumulative release tag, files test..testN).
        **options: passed to the loader: ``data_path``, ``limit``; LiveCodeBench also
            ``download`` and ``cache_dir`` (see ``ssd.benchmarks.livecodebench``).

    Returns:
        The problems.
    """
    if name == "humaneval":
        from ssd.benchmarks.humaneval import load_humaneval

        return load_humaneval(**options)
    if name in ("lcb_v5", "lcb_v6"):
        from ssd.benchmarks.livecodebench import load_livecodebench

        return load_livecodebench(version=name.removeprefix("lcb_"), **options)
    if name.startswith("lcb_release_v") and name.removeprefix("lcb_release_v").isdigit():
        from ssd.benchmarks.livecodebench import load_livecodebench

        return load_livecodebench(version=name.removeprefix("lcb_"), **options)
    if name == "tinyworld":
        from ssd.tinyworld.benchmark import load_problems

        limit = options.get("limit")
        return load_problems(split="eval", n=200 if limit in (None, -1) else int(limit))
    raise ValueError(f"unknown benchmark {name!r}; allowed: {BENCHMARK_NAMES}")
