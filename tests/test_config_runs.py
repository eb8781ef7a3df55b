"""Every sweep file and every experiment file runs one cheap step: the first trial its search
space would run, at the smallest sizes (toy for sweeps, tiny for experiments), through the real
pipeline in this process. A file whose keys no longer fit the schema, or whose trial fails at
run time, fails here instead of on a user's first sweep.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
from omegaconf import DictConfig, OmegaConf

from ssd.config import RunConfig
from ssd.pipeline import run_trial

CONF = Path(__file__).resolve().parents[1] / "conf"
SWEEPS = sorted(p.stem for p in (CONF / "sweep").glob("*.yaml"))
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))

# Smallest sizes that still run every stage.
TOY_SMALL = ["sampling.n=2000", "++training.sgd.steps=20", "evaluation.num_problems=5"]
TINY_SMALL = [
    "data.num_prompts=2",
    "sampling.max_tokens=8",
    "training.max_steps=1",
    "evaluation.num_problems=1",
    "evaluation.n=1",
    "evaluation.k=[1]",
    "evaluation.max_tokens=8",
    "evaluation.workers=1",
    "evaluation.include_ideal=false",
]


def first_trial(hydra_cfg: DictConfig) -> list[str]:
    """The overrides of the sweep's first trial: its first enqueued point, else the first value
    (or lower end) of every parameter."""
    sweeper = hydra_cfg.sweeper
    enqueued = sweeper.get("enqueue")
    if enqueued:
        return [f"{k}={v}" for k, v in OmegaConf.to_container(enqueued[0]).items()]
    parser = OverridesParser.create()
    out = []
    for key, spec in sweeper.params.items():
        value = parser.parse_override(f"{key}={spec}").value()
        if isinstance(value, ChoiceSweep):
            first = value.list[0]
        elif isinstance(value, RangeSweep | IntervalSweep):
            first = value.start
        else:
            first = value
        out.append(f"{key}={first}")
    return out


def _run(compose_cfg: Callable[..., DictConfig], tmp: Path, overrides: list[str]) -> dict:
    hydra_cfg = compose_cfg(overrides, return_hydra_config=True).hydra
    trial = [*overrides, *first_trial(hydra_cfg)]
    run = RunConfig.from_dictconfig(compose_cfg(trial))
    results = run_trial(run, tmp / "trial")
    assert isinstance(results["objective"], float)
    return results


@pytest.mark.parametrize("sweep", SWEEPS)
def test_every_sweep_file_runs_its_first_trial(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path, sweep: str
) -> None:
    _run(compose_cfg, tmp_path, [f"+sweep={sweep}", "model=toy", *TOY_SMALL])


@pytest.mark.slow  # a tiny SFT step and sandboxed grading: ~1 min on 2 loaded cores
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_file_runs_its_first_trial(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path, experiment: str
) -> None:
    results = _run(compose_cfg, tmp_path, [f"experiment={experiment}", *TINY_SMALL])
    assert "training" in results  # a student was trained


def test_first_trial_reads_every_kind_of_search_space(
    compose_cfg: Callable[..., DictConfig],
) -> None:
    grid = first_trial(compose_cfg(["experiment=tiny_demo"], return_hydra_config=True).hydra)
    assert grid == ["sampling.temperature=0.7", "evaluation.temperature=1.0"]
    enqueued = first_trial(compose_cfg(["+sweep=teff"], return_hydra_config=True).hydra)
    assert enqueued == ["sampling.temperature=1.6", "evaluation.temperature=0.9"]
    ranged = first_trial(compose_cfg(["+sweep=bad_data"], return_hydra_config=True).hydra)
    assert ranged == ["evaluation.temperature=0.5"]
