"""Nested search: one training per outer trial, every inner T_eval point a trial of its own.

A real `ssd -m` sweep on the toy (real SGD student, journal storage), and the outer sampler's
view checked on a real Optuna study: inner trials must not change what the sampler proposes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from fixtures.studies import load_sweep_study
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from analysis.sweep_report import fit_inputs, load_trials
from analysis.teff_map import load_sweep_dir
from hydra_plugins.ssd_optuna_sweeper._nested import OuterSampler, OuterStudy, is_inner
from hydra_plugins.ssd_optuna_sweeper._trials import Ledger
from ssd.figures import load_sweep_trials, plotted_trials

FAST = [
    "model=toy",
    "tracking=none",
    "sampling.n=1000",
    "training.sgd.steps=10",
    "evaluation.num_problems=20",
    "evaluation.n=5",
    "hydra/sweeper/sampler=grid",
    "hydra.sweeper.params={sampling.temperature: 'choice(0.8, 1.4)'}",
    "hydra.sweeper.inner.method=grid",
    "+hydra.sweeper.inner.grid=[0.6,1.0]",
    "hydra.sweeper.enqueue=[]",
]


def ssd_multirun(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SSD_OUTPUT_DIR": str(tmp_path), "WANDB_MODE": "disabled"}
    args = [sys.executable, "-m", "ssd.cli", "-m", "+sweep=teff", *FAST, *overrides]
    return subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)


def read_study(sweep: Path) -> optuna.Study:
    return load_sweep_study(sweep, "teff_toy")


@pytest.mark.integration
def test_nested_sweep_trains_once_per_outer_trial_and_records_every_point(
    tmp_path: Path,
) -> None:
    dry = ssd_multirun(tmp_path, "hydra.sweeper.dry_run=true")
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "runs exactly 2 samplings, 2 trainings (20 SFT steps), 10 evaluations" in dry.stdout
    assert not (tmp_path / "sweeps" / "teff_toy" / "optuna.journal").exists()

    proc = ssd_multirun(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = tmp_path / "sweeps" / "teff_toy"
    study = read_study(sweep)
    trials = study.get_trials()
    outer = [t for t in trials if not is_inner(t)]
    inner = [t for t in trials if is_inner(t)]
    assert [t.params for t in outer] == [
        {"sampling.temperature": 0.8},
        {"sampling.temperature": 1.4},
    ]
    assert len(inner) == 4 and all(t.state == TrialState.COMPLETE for t in trials)
    for o in outer:
        mine = [t for t in inner if t.user_attrs["outer_trial"] == o.number]
        assert sorted(t.params["evaluation.temperature"] for t in mine) == [0.6, 1.0]
        assert all(
            t.params["sampling.temperature"] == o.params["sampling.temperature"] for t in mine
        )
        assert o.value == max(t.value for t in mine)  # outer objective = best inner point
        assert o.user_attrs["cost.trainings"] == 1 and o.user_attrs["cost.sft_steps"] == 10
        for t in mine:  # every point has the folder a trial has: figure and reports read it
            saved = json.loads((sweep / str(t.number) / "results.json").read_text())
            assert saved["t_eval"] == t.params["evaluation.temperature"]
            assert saved["objective"] == t.value
    # The base's T_eval scan ran once: the second trial's base points are cache hits.
    second = json.loads((sweep / str(outer[1].number) / "results.json").read_text())
    assert second["nested"]["base_scan"]["best"]["value"] > 0
    assert second["cost"]["evaluations"] == 4  # ssd + ideal at 2 points; the base: cached
    summary = (sweep / "optimization_results.yaml").read_text()
    assert "n_inner: 4" in summary and "trainings: 2" in summary
    assert "evaluation.temperature" in summary.split("best_params:")[1]
    assert "spent: 2 samplings" in proc.stdout
    csv = (sweep / "trials.csv").read_text()
    assert "user_attrs_inner" in csv and "user_attrs_cost.sft_steps" in csv

    # Every evaluated point once in the figure, the report's fit and the T_eff map: an outer
    # trial's results.json (its best inner point again) is kept, marked, and left out.
    points = {(0.8, 0.6), (0.8, 1.0), (1.4, 0.6), (1.4, 1.0)}
    for o in outer:
        assert o.user_attrs["outer_summary"] is True
        assert json.loads((sweep / str(o.number) / "results.json").read_text())["outer_summary"]
    drawn = plotted_trials(load_sweep_trials(sweep, outer_summaries=True), "pass@1")
    keys = [
        (t.results["t_train"], t.results["t_eval"], policy)
        for t in drawn
        for policy in ("ssd", "ideal")
        if "pass@1" in t.results.get(policy, {})
    ]
    assert len(keys) == len(set(keys)) == 8 and {k[:2] for k in keys} == points
    assert len(load_sweep_trials(sweep, outer_summaries=True)) == 6  # the records are kept
    x, y = fit_inputs(load_trials(sweep), "pass@1")
    assert sorted(x.tolist()) == pytest.approx(sorted(a * b for a, b in points))
    assert len(y) == 4
    runs = load_sweep_dir(sweep).runs
    assert sorted(zip(runs["t_train"], runs["t_eval"], strict=True)) == sorted(points)
    assert (sweep / "pass_vs_teff.png").is_file()

    # Resume: the study holds its 2 outer trials; inner points take no budget: nothing runs.
    again = ssd_multirun(tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert len(read_study(sweep).get_trials()) == len(trials)


def _study_with(
    points: list[tuple[float, float]], inner: list[tuple[float, float, float]]
) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    dist = {"t_train": FloatDistribution(0.5, 2.0)}
    for t_train, value in points:
        study.add_trial(
            optuna.trial.create_trial(params={"t_train": t_train}, distributions=dist, value=value)
        )
    for t_train, t_eval, value in inner:
        study.add_trial(
            optuna.trial.create_trial(
                params={"t_train": t_train, "t_eval": t_eval},
                distributions={**dist, "t_eval": FloatDistribution(0.2, 2.0, log=True)},
                value=value,
                user_attrs={"inner": True, "outer_trial": 0},
            )
        )
    return study


def test_outer_sampler_ignores_inner_trials() -> None:
    outer = [(0.5 + 0.1 * i, 0.3 + 0.05 * (i % 5)) for i in range(12)]
    # Inner points that would pull a sampler towards T_train 0.55 if it saw them.
    noise = [(0.55, 0.2 + 0.1 * j, 0.9) for j in range(10)]
    plain, nested = _study_with(outer, []), _study_with(outer, noise)
    space = {"t_train": FloatDistribution(0.5, 2.0)}
    proposals = []
    for study in (plain, nested):
        study.sampler = OuterSampler(optuna.samplers.TPESampler(seed=3, n_startup_trials=5))
        proposals.append([study.ask(space).params["t_train"] for _ in range(3)])
    assert proposals[0] == proposals[1]
    # Unwrapped, the same sampler is confused by the inner points (what the wrapper prevents).
    raw = _study_with(outer, noise)
    raw.sampler = optuna.samplers.TPESampler(seed=3, n_startup_trials=5)
    assert [raw.ask(space).params["t_train"] for _ in range(3)] != proposals[0]
    view = OuterStudy(nested)
    assert len(view.get_trials()) == 12 + 3  # 12 outer + the 3 asked above, no inner
    assert not is_inner(view.best_trial) and view.best_trial.value == 0.5
    assert nested.best_trial.value == 0.9  # the study itself still holds the inner points
    assert Ledger.of(nested, 100).free == 100 - 15  # inner points hold no budget
