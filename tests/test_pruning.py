"""Pruning: real toy sweeps with a pruner spend fewer SFT steps for the same best value.

The toy's SGD students report pass@1 every few steps (ssd.fidelity) to a real journal study;
pruned trials are PRUNED in the study and in trials.csv with the step they reached, and keep
their last checkpoint. The slow tests kill a sweep with SIGKILL and rerun it, and run three
workers on one storage: every study ends with exactly n_trials trials.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from fixtures.studies import load_sweep_study
from optuna.trial import TrialState

from hydra_plugins.ssd_optuna_sweeper._trials import Ledger
from ssd.config import RunConfig
from ssd.pipeline import run_tracked
from ssd.study_link import StudyLink
from ssd.tracking import read_offline_run

# T_train far from the toy's sweet spot (0.3, 2.5) gives students that are bad from step 5 on.
GRID = "hydra.sweeper.params={sampling.temperature: 'choice(1.0, 0.9, 1.1, 0.3, 2.5)'}"
FAST = [
    "model=toy",
    "tracking=none",
    "sampling.n=1000",
    "training.sgd.steps=20",
    "evaluation.num_problems=20",
    "evaluation.n=5",
    "hydra.sweeper.inner=null",
    "hydra.sweeper.enqueue=[]",
    "hydra.sweeper.fidelity.every_steps=5",
    "hydra.sweeper.fidelity.num_problems=20",
]


def sweep_cmd(name: str, *overrides: str) -> list[str]:
    return [
        sys.executable, "-m", "ssd.cli", "-m", "+sweep=teff", *FAST,
        f"hydra.sweeper.study_name={name}", *overrides,
    ]  # fmt: skip


def env_for(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "SSD_OUTPUT_DIR": str(tmp_path), "WANDB_MODE": "disabled"}


def run(tmp_path: Path, name: str, *overrides: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        sweep_cmd(name, *overrides), capture_output=True, text=True, timeout=400,
        env=env_for(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def load(tmp_path: Path, name: str) -> optuna.Study:
    return load_sweep_study(tmp_path / "sweeps" / name, name)


def sft_steps(study: optuna.Study) -> int:
    return sum(int(t.user_attrs.get("cost.sft_steps", 0)) for t in study.get_trials())


@pytest.mark.integration
def test_median_pruner_saves_sft_steps_for_the_same_best_value(tmp_path: Path) -> None:
    grid = ["hydra/sweeper/sampler=grid", GRID]
    run(tmp_path, "plain", *grid, f"paths.cache_dir={tmp_path / 'cache_a'}")
    proc = run(
        tmp_path, "pruned", *grid, f"paths.cache_dir={tmp_path / 'cache_b'}",
        "hydra/sweeper/pruner=median", "hydra.sweeper.pruner.n_startup_trials=3",
    )  # fmt: skip
    plain, pruned = load(tmp_path, "plain"), load(tmp_path, "pruned")
    assert sft_steps(plain) == 5 * 20
    assert sft_steps(pruned) < sft_steps(plain)
    assert pruned.best_value == pytest.approx(plain.best_value)
    stopped = [t for t in pruned.get_trials() if t.state == TrialState.PRUNED]
    assert stopped and all(t.params["sampling.temperature"] in (0.3, 2.5) for t in stopped)
    for t in stopped:
        assert t.user_attrs["pruned_step"] < 20 and t.intermediate_values
        assert Path(t.user_attrs["pruned_checkpoint"], "student_logprobs.pt").is_file()
        # A normal outcome: one line with the trial, the step it reached and its value.
        step = t.user_attrs["pruned_step"]
        line = f"Trial {t.number} pruned at SFT step {step}: success_probability="
        assert proc.stdout.count(line) == 1, proc.stdout[-3000:]
        assert f"{t.intermediate_values[step]:.4f}" in proc.stdout.split(line)[1].split()[0]
    # ... not a failed job: no "Error executing job", no traceback.
    assert "Error executing job" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    rows = list(csv.DictReader((tmp_path / "sweeps" / "pruned" / "trials.csv").open()))
    assert {r["state"] for r in rows} == {"COMPLETE", "PRUNED"}
    pruned_rows = [r for r in rows if r["state"] == "PRUNED"]
    assert all(
        r["user_attrs_pruned_step"] and r["user_attrs_pruned_checkpoint"] for r in pruned_rows
    )
    # Completed trials reported too (the pruner compares against them), and the pruner never
    # changed their student: same values as without a pruner.
    done = {t.params["sampling.temperature"]: t.value for t in plain.get_trials()}
    for t in pruned.get_trials(states=(TrialState.COMPLETE,)):
        assert len(t.intermediate_values) == 3  # steps 5, 10, 15
        assert t.value == pytest.approx(done[t.params["sampling.temperature"]])


@pytest.mark.integration
def test_pruned_nested_trial_records_what_it_spent(tmp_path: Path) -> None:
    """A nested trial pruned during its first inner point's SFT: its sampling, the SFT steps it
    reached and its intermediate evaluations count in trials.csv and in the study's totals."""
    nested = [o for o in FAST if o != "hydra.sweeper.inner=null"]
    nested += ["hydra.sweeper.inner.method=grid", "+hydra.sweeper.inner.grid=[0.9,1.1]"]
    nested += ["hydra.sweeper.inner.base_scan=false"]
    cmd = sweep_cmd("nested", "hydra/sweeper/sampler=grid", GRID, "hydra/sweeper/pruner=median")
    cmd = [c for c in cmd if c not in FAST] + nested
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=env_for(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = load(tmp_path, "nested")
    stopped = [t for t in study.get_trials() if t.state == TrialState.PRUNED]
    assert stopped, proc.stdout[-2000:]
    for t in stopped:
        assert t.user_attrs["cost.sft_steps"] == t.user_attrs["pruned_step"] > 0
        assert t.user_attrs["cost.samplings"] == 1
        assert t.user_attrs["cost.evaluations"] == len(t.intermediate_values)
    outer = [t for t in study.get_trials() if not t.user_attrs.get("inner")]
    summary = yaml.safe_load((tmp_path / "sweeps" / "nested" / "optimization_results.yaml").open())
    assert summary["cost"]["sft_steps"] == sum(t.user_attrs["cost.sft_steps"] for t in outer)
    assert summary["cost"]["sft_steps"] < 5 * 20  # fewer than five full students


def pruned_run(
    tmp_path: Path,
    cfg: Any,
    name: str,
    every_steps: int,
    num_problems: int,
    match: str,
    out: str = "run",
) -> optuna.Study:
    """Run one trial of a real journal study whose ThresholdPruner stops any student below
    pass 1.0 at its first report; the trial is RUNNING, as the sweeper leaves it for its job."""
    journal = tmp_path / "optuna.journal"
    backend = optuna.storages.journal.JournalFileBackend(str(journal))
    study = optuna.create_study(
        study_name=name, storage=optuna.storages.JournalStorage(backend), direction="maximize"
    )
    study.ask()
    link = StudyLink(
        study_name=name,
        storage=str(journal),
        trial_number=0,
        pruner={"_target_": "optuna.pruners.ThresholdPruner", "lower": 1.0},
        fidelity={"every_steps": every_steps, "num_problems": num_problems},
    )
    with pytest.raises(optuna.TrialPruned, match=match):
        run_tracked(RunConfig.from_dictconfig(cfg), tmp_path / out, link=link)
    return study


@pytest.mark.integration
def test_pruned_sft_trial_records_its_steps_and_tokens(compose_cfg: Any, tmp_path: Path) -> None:
    """The TRL path of a pruned trial: its results.json counts the SFT steps it reached and the
    tokens the trainer saw by then (a ThresholdPruner stops any student below pass 1.0). Its
    checkpoint is the trainer's, with optimizer state: the next run of the same student resumes
    there and counts only what it trains itself, pruned again or not."""
    from ssd.backends.sft import resumable

    cfg = compose_cfg(
        ["model=tiny-random", "tracking=none", f"paths.cache_dir={tmp_path}/cache",
         "training.max_steps=6", "training.per_device_train_batch_size=2",
         "evaluation.num_problems=2", "evaluation.n=1", "evaluation.k=[1]"]
    )  # fmt: skip

    def record(out: str) -> dict[str, Any]:
        return json.loads((tmp_path / out / "results.json").read_text())

    def tokens_seen(checkpoint: str) -> int:
        return json.loads((Path(checkpoint) / "trainer_state.json").read_text())[
            "num_input_tokens_seen"
        ]

    pruned_run(tmp_path, cfg, "sft", 2, 2, "at SFT step 2: pass@1=")
    first = record("run")
    spent = first["cost"]
    assert spent["sft_steps"] == 2 and spent["trainings"] == 1 and spent["samplings"] == 1
    # Two batches of two rows, each row a prompt plus its sample: more than 4 tokens (0 before
    # the trainer's count reached the pruned record).
    assert spent["sft_tokens"] == tokens_seen(first["pruned"]["checkpoint"]) > 4
    assert resumable(Path(first["pruned"]["checkpoint"]))

    # Trial 2 of another study, same student: resumes at step 2, is pruned at step 4, and its
    # record counts steps 3-4 and their tokens only (not the 4 steps the checkpoint has seen).
    pruned_run(tmp_path, cfg, "sft2", 2, 2, "at SFT step 4: pass@1=", out="run2")
    second = record("run2")
    assert second["cost"]["sft_steps"] == 2 and second["cost"]["samplings"] == 0
    cumulative = tokens_seen(second["pruned"]["checkpoint"])
    assert second["cost"]["sft_tokens"] == cumulative - spent["sft_tokens"] > 0

    # Without a pruner the same student resumes at step 4 and trains the last 2 of 6 steps.
    again = run_tracked(RunConfig.from_dictconfig(cfg), tmp_path / "again")
    assert again["cost"]["sft_steps"] == 2 and again["cost"]["trainings"] == 1
    assert again["cost"]["samplings"] == 0  # the pruned trials' samples are cached


@pytest.mark.integration
def test_intermediate_evaluations_are_not_counted_twice_in_wall_time(
    compose_cfg: Any, tmp_path: Path
) -> None:
    """The intermediate evaluations run inside the training stage: the cost record gives their
    seconds to ``fidelity_evals`` and keeps only the training's own in ``train``, so the two add
    up to the stage's measured time (before, the study totals counted them twice)."""
    cfg = compose_cfg(["model=toy", "tracking=none", f"paths.cache_dir={tmp_path}/cache",
                       "sampling.n=1000", "training.sgd.steps=20", "evaluation.num_problems=20",
                       "evaluation.n=5"])  # fmt: skip
    journal = tmp_path / "optuna.journal"
    backend = optuna.storages.journal.JournalFileBackend(str(journal))
    storage = optuna.storages.JournalStorage(backend)
    optuna.create_study(study_name="wall", storage=storage, direction="maximize").ask()
    link = StudyLink(
        study_name="wall",
        storage=str(journal),
        trial_number=0,
        pruner={"_target_": "optuna.pruners.ThresholdPruner", "lower": -1.0},  # never prunes
        fidelity={"every_steps": 5, "num_problems": 20},
    )
    results = run_tracked(RunConfig.from_dictconfig(cfg), tmp_path / "run", link=link)
    stages = results["cost"]["stages"]
    assert stages["fidelity_evals"]["evaluations"] == 3  # steps 5, 10, 15 of 20
    assert stages["fidelity_evals"]["wall_s"] > 0
    measured = results["timings"]["train"]
    assert stages["train"]["wall_s"] + stages["fidelity_evals"]["wall_s"] == pytest.approx(
        measured,
        abs=0.004,  # rounding of four 3-decimal numbers
    )


def _done(study: optuna.Study, n_trials: int) -> int:
    return Ledger.of(study, n_trials).done


@pytest.mark.slow
def test_sigkill_and_rerun_end_with_exactly_n_trials(tmp_path: Path) -> None:
    args = ["hydra/sweeper/sampler=random", "hydra/sweeper/pruner=median",
            "hydra.sweeper.n_trials=5", "training.sgd.steps=60"]  # fmt: skip
    proc = subprocess.Popen(
        sweep_cmd("killed", *args), env=env_for(tmp_path), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    journal = tmp_path / "sweeps" / "killed" / "optuna.journal"
    deadline = time.time() + 300
    while time.time() < deadline:  # kill once a trial is done and another is running
        if journal.is_file() and len(load(tmp_path, "killed").get_trials()) >= 2:
            break
        time.sleep(1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    run(tmp_path, "killed", *args)
    study = load(tmp_path, "killed")
    assert _done(study, 5) == 5
    assert (
        sum(t.state.is_finished() and "retried" not in t.user_attrs for t in study.get_trials())
        == 5
    )


@pytest.mark.slow
def test_three_workers_on_one_storage_end_with_exactly_n_trials(tmp_path: Path) -> None:
    args = ["hydra/sweeper/sampler=random", "hydra/sweeper/pruner=successive_halving",
            "hydra.sweeper.n_trials=6"]  # fmt: skip
    procs = [
        subprocess.Popen(
            sweep_cmd("shared", *args),
            env=env_for(tmp_path),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    study = load(tmp_path, "shared")
    assert _done(study, 6) == 6
    budget = Ledger.of(study, 6).budget
    assert len(budget) == 6 and all(t.state.is_finished() for t in budget)
    assert len({t.user_attrs["owner"] for t in budget}) >= 2  # the workers shared the work


TINY_SMALL = [
    "tracking=none",
    "data.num_prompts=8",
    "sampling.max_tokens=16",
    "training.max_steps=4",
    "training.warmup_steps=0",
    "evaluation.num_problems=2",
    "evaluation.n=2",
    "evaluation.k=[1]",
    "evaluation.max_tokens=16",
    "evaluation.workers=1",
    "hydra.sweeper.fidelity.every_steps=2",
    "hydra.sweeper.fidelity.num_problems=2",
    "hydra.sweeper.pruner.n_startup_trials=1",
    "hydra.sweeper.n_trials=2",
    "hydra.sweeper.params={sampling.temperature: 'choice(1.0, 1.4)'}",
    "hydra.sweeper.inner.grid=[0.7,1.0]",
]


@pytest.mark.slow
def test_tiny_world_nested_study_with_pruner_reports_sft_checkpoints(tmp_path: Path) -> None:
    """The TRL SFT path: intermediate checkpoints saved, scored and reported to the study."""
    env = env_for(tmp_path)
    args = [sys.executable, "-m", "ssd.cli", "-m", "experiment=tiny_prune", *TINY_SMALL]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = load(tmp_path, "tiny_prune")
    outer = [t for t in study.get_trials() if not t.user_attrs.get("inner")]
    assert len(outer) == 2 and all(t.state.is_finished() for t in outer)
    assert all(t.intermediate_values.keys() == {2} for t in outer)  # step 2 of 4
    inner = [t for t in study.get_trials() if t.user_attrs.get("inner")]
    done = [t for t in outer if t.state == TrialState.COMPLETE]
    assert len(inner) == 2 * len(done)
    assert sum(int(t.user_attrs.get("cost.sft_steps", 0)) for t in outer) <= 8


@pytest.mark.integration
def test_pruned_trial_is_recorded_pruned_in_its_wandb_run(
    compose_cfg: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job side of a pruned trial on a real study: its W&B run says PRUNED, where it stopped
    and which checkpoint it kept (a ThresholdPruner stops any student below pass 1.0)."""
    monkeypatch.delenv("WANDB_MODE", raising=False)
    cfg = compose_cfg(
        ["model=toy", "sampling.n=1000", "training.sgd.steps=20", "evaluation.num_problems=20",
         "evaluation.n=5", "tracking=wandb", f"tracking.dir={tmp_path}/wb"]
    )  # fmt: skip
    study = pruned_run(tmp_path, cfg, "wb", 5, 20, "at SFT step 5: success_probability=")
    (folder,) = sorted((tmp_path / "wb").glob("wandb/offline-run-*"))
    wb = read_offline_run(folder)
    assert wb.finished
    trial = study.get_trials()[0]
    assert wb.summary["state"] == "PRUNED"
    assert wb.summary["pruned_step"] == trial.user_attrs["pruned_step"] == 5
    assert wb.summary["pruned_checkpoint"] == trial.user_attrs["pruned_checkpoint"]
    assert wb.summary["cost.sft_steps"] == 5
