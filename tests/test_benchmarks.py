"""``ssd.benchmarks.load_benchmark``: one set of options for every benchmark, routed to the loader
that can use them; an option a benchmark cannot honour is refused by name, never ignored.

Run: ``pytest tests/test_benchmarks.py`` (HumanEval and LiveCodeBench loading itself:
``tests/test_humaneval.py``, ``tests/test_livecodebench.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ssd.backends.base import Policy
from ssd.benchmarks import TINYWORLD_DEFAULT_LIMIT, load_benchmark
from ssd.config import EvaluationConfig
from ssd.evaluation.stage import evaluate


def test_tinyworld_takes_limit():
    assert len(load_benchmark("tinyworld", limit=3)) == 3
    assert len(load_benchmark("tinyworld")) == TINYWORLD_DEFAULT_LIMIT
    assert len(load_benchmark("tinyworld", limit=-1)) == TINYWORLD_DEFAULT_LIMIT
    # Defaults of the other options are not "asked for": the stage passes them always.
    assert len(load_benchmark("tinyworld", data_path=None, download=False, limit=2)) == 2


@pytest.mark.parametrize(
    ("name", "option", "shown"),
    [
        ("tinyworld", {"data_path": "/data/tw"}, "data_path='/data/tw'"),
        ("tinyworld", {"download": True}, "download=True"),
        ("tinyworld", {"cache_dir": "/tmp/hub"}, "cache_dir='/tmp/hub'"),
        ("humaneval", {"download": True}, "download=True"),
        ("humaneval", {"cache_dir": "/tmp/hub"}, "cache_dir='/tmp/hub'"),
    ],
)
def test_an_option_the_benchmark_cannot_use_is_refused_by_name(name, option, shown):
    with pytest.raises(ValueError, match=f"benchmark '{name}' cannot use {shown}"):
        load_benchmark(name, **option)


def test_the_refusal_lists_what_the_benchmark_accepts():
    with pytest.raises(ValueError, match="it accepts: limit, data_path$"):
        load_benchmark("humaneval", download=True)
    with pytest.raises(ValueError, match="it accepts: limit$"):
        load_benchmark("tinyworld", data_path="x", download=True)


def test_unknown_names_win_over_option_checks():
    with pytest.raises(ValueError, match="unknown benchmark 'nope'"):
        load_benchmark("nope", download=True)


def test_evaluation_passes_every_option_and_the_benchmark_decides(tmp_path: Path):
    # The stage does not special-case LiveCodeBench: download=true reaches HumanEval, which
    # refuses it before any generation (so no backend is needed to see it). Config validation
    # refuses it earlier still; set after construction to reach the stage's own check.
    evaluation = EvaluationConfig(benchmark="humaneval", num_problems=2)
    with pytest.raises(ValueError, match="'humaneval' cannot use download=True"):
        EvaluationConfig(benchmark="humaneval", download=True)
    evaluation.download = True
    with pytest.raises(ValueError, match="'humaneval' cannot use download=True"):
        evaluate(None, Policy(), evaluation, tmp_path)  # type: ignore[arg-type]
