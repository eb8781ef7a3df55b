"""Screening: a cheap ideal-student study maps T_train, the expensive study starts at its peak."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from fixtures.studies import load_sweep_study

from hydra_plugins.ssd_optuna_sweeper._nested import is_inner

COMMON = [
    "model=toy",
    "tracking=none",
    "evaluation.num_problems=20",
    "evaluation.n=5",
    "hydra.sweeper.inner.method=grid",
    "+hydra.sweeper.inner.grid=[0.7,1.1]",
    "hydra.sweeper.enqueue=[]",
    "hydra/sweeper/sampler=random",
]


def ssd(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SSD_OUTPUT_DIR": str(tmp_path), "WANDB_MODE": "disabled"}
    proc = subprocess.run(
        [sys.executable, "-m", "ssd.cli", "-m", *args, *COMMON],
        capture_output=True, text=True, timeout=400, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def study(tmp_path: Path, name: str) -> optuna.Study:
    return load_sweep_study(tmp_path / "sweeps" / name, name)


@pytest.mark.slow  # two sweeps: ~17 s of CPU, minutes on loaded cores
def test_expensive_study_starts_at_the_screened_peak(tmp_path: Path) -> None:
    ssd(tmp_path, "+sweep=teff_screen", "hydra.sweeper.n_trials=4")
    screened = study(tmp_path, "teff_screen_toy")
    outer = [t for t in screened.get_trials() if not is_inner(t)]
    assert len(outer) == 4 and all(t.user_attrs["cost.trainings"] == 0 for t in outer)
    top = sorted(outer, key=lambda t: -float(t.value))[:2]  # type: ignore[arg-type]

    ssd(
        tmp_path, "+sweep=teff", "hydra.sweeper.n_trials=2", "sampling.n=1000",
        "training.sgd.steps=10", "hydra.sweeper.screen.study=teff_screen_toy",
        "hydra.sweeper.screen.top=2",
    )  # fmt: skip
    expensive = [t for t in study(tmp_path, "teff_toy").get_trials() if not is_inner(t)]
    assert [t.params for t in expensive] == [t.params for t in top]
    assert all(t.user_attrs["screened_from"] == "teff_screen_toy" for t in expensive)
    assert all(t.user_attrs["cost.trainings"] == 1 for t in expensive)
