"""The launcher presets of conf/launcher/ (`+launcher=NAME`) under the ssd_optuna sweeper.

- Composition: `slurm`, `submitit_local` and `local_parallel` resolve to the launchers and values
  their files say (job folders under the sweep dir, parallelism = hydra.sweeper.n_jobs).
- End to end, real processes, the toy model (~15 s each): a sweep through `submitit_local` (the
  SLURM code path minus sbatch) and `local_parallel` (joblib); `slurm` itself through submitit's
  real SLURM executor against tests/apps/fake_slurm.py (sbatch/srun/sacct stand-ins on PATH).
- A job killed outside Python (SIGKILL) fails its own trial only; the sweep goes on.
Run: `pytest tests/test_launchers.py` (needs hydra-submitit-launcher, in the `dev` extra).
"""

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
from fixtures.studies import load_sweep_study
from hydra.core.plugins import Plugins
from omegaconf import DictConfig, OmegaConf

APPS = Path(__file__).parent / "apps"
_spec = importlib.util.spec_from_file_location("fake_slurm", APPS / "fake_slurm.py")
assert _spec is not None and _spec.loader is not None
fake_slurm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake_slurm)

SSD = Path(sys.executable).with_name("ssd")  # the console script, as users run it
SPHERE = APPS / "sphere" / "sphere.py"
# A toy trial in ~3 s: fewer samples and SGD steps than the preset (the launchers do not care).
TOY = ["model=toy", "tracking=none", "sampling.n=5000", "training.sgd.steps=50"]


# ---------------------------------------------------------------- composition
def _launcher(compose_cfg: Callable[..., DictConfig], *overrides: str) -> tuple[DictConfig, Any]:
    """The composed config (hydra node included) and the launcher Hydra would instantiate."""
    cfg = compose_cfg(["+sweep=teff_2d", "model=toy", *overrides], return_hydra_config=True)
    return cfg, Plugins.instance()._instantiate(cfg.hydra.launcher)


def test_slurm_preset_resolves_as_its_file_says(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    from hydra_plugins.ssd_submitit_launcher import SlurmLauncher

    cfg, launcher = _launcher(compose_cfg, "+launcher=slurm")
    assert type(launcher) is SlurmLauncher  # ours: a dead job fails alone (see below)
    sweep_dir = tmp_path / "sweeps" / "teff_2d_toy"
    assert cfg.hydra.sweep.dir == str(sweep_dir)
    expected = {
        "submitit_folder": f"{sweep_dir}/.submitit/%j",
        "array_parallelism": 8,
        "timeout_min": 720,
        "nodes": 1,
        "tasks_per_node": 1,
        "gpus_per_node": 1,
        "cpus_per_task": 16,
        "mem_gb": 128,
        "partition": None,
        "account": None,
        "max_num_timeout": 0,
        "name": "ssd",
    }
    assert {key: launcher.params[key] for key in expected} == expected
    assert cfg.hydra.sweeper.n_jobs == 8
    assert cfg.hydra.sweeper._target_.endswith("SsdOptunaSweeper")
    # A job the scheduler kills fails alone; a few of them do not stop a long cluster sweep.
    assert cfg.hydra.sweeper.max_failure_rate == 0.2

    # One knob: the array runs as many jobs at once as the sweeper puts in it.
    _, launcher = _launcher(
        compose_cfg, "+launcher=slurm", "hydra.sweeper.n_jobs=3", "hydra.launcher.partition=gpu"
    )
    assert (launcher.params["array_parallelism"], launcher.params["partition"]) == (3, "gpu")


@pytest.mark.parametrize("preset", ["submitit_local", "local_parallel"])
def test_local_presets_follow_the_sweeper_batch(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path, preset: str
) -> None:
    cfg, launcher = _launcher(compose_cfg, f"+launcher={preset}", "hydra.sweeper.n_jobs=3")
    if preset == "submitit_local":
        from hydra_plugins.ssd_submitit_launcher import LocalLauncher

        assert type(launcher) is LocalLauncher
        assert launcher.params["submitit_folder"] == f"{tmp_path}/sweeps/teff_2d_toy/.submitit/%j"
        assert launcher.params["gpus_per_node"] == 0
    else:
        assert type(launcher).__name__ == "JoblibLauncher" and launcher.joblib["n_jobs"] == 3
    assert cfg.hydra.sweeper.n_jobs == 3


# ---------------------------------------------------------------- end to end
def _env(**extra: str) -> dict[str, str]:
    return os.environ | {"OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", **extra}


def _toy_sweep(tmp_path: Path, *overrides: str, env: dict[str, str]) -> Path:
    """`ssd -m +sweep=teff_2d ...` on the toy model in a fresh process; returns the sweep folder."""
    proc = subprocess.run(
        [str(SSD), "-m", "+sweep=teff_2d", *TOY, *overrides],
        cwd=tmp_path,
        env=env | {"SSD_OUTPUT_DIR": str(tmp_path / "out")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp_path / "out" / "sweeps" / "teff_2d_toy"


def _check_complete_sweep(sweep_dir: Path, n_trials: int) -> pd.DataFrame:
    """Every trial COMPLETE, once, in its own folder = its number; results files written."""
    trials = pd.read_csv(sweep_dir / "trials.csv")
    assert list(trials["number"]) == list(range(n_trials))
    assert set(trials["state"]) == {"COMPLETE"}
    assert trials["user_attrs_job_dir"].tolist() == [
        str(sweep_dir / str(n)) for n in range(n_trials)
    ]
    assert trials["user_attrs_t_eff"].notna().all()  # metrics read from each results.json
    assert trials["user_attrs_owner"].nunique() == 1  # told by the one sweeper process
    for number in range(n_trials):
        assert (sweep_dir / str(number) / "results.json").is_file()
        job = OmegaConf.load(sweep_dir / str(number) / ".hydra" / "hydra.yaml").hydra.job
        assert job.num == number
    digits = {p.name for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()}
    assert digits == {str(n) for n in range(n_trials)}

    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert (results.n_trials, results.n_complete, results.n_failed) == (n_trials, n_trials, 0)
    assert results.best_value == pytest.approx(trials["value"].max())
    study = load_sweep_study(sweep_dir, "teff_2d_toy")
    assert sorted(t.number for t in study.trials) == list(range(n_trials))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    # The sweep file's enqueued paper settings ran first.
    assert [t.params["sampling.temperature"] for t in study.trials[:2]] == [1.6, 1.6]
    return trials


@pytest.mark.integration
@pytest.mark.parametrize("launcher", ["submitit_local", "local_parallel"])
def test_local_launcher_sweep_completes(tmp_path: Path, launcher: str) -> None:
    sweep_dir = _toy_sweep(
        tmp_path,
        f"+launcher={launcher}",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.n_jobs=2",
        env=_env(),
    )
    _check_complete_sweep(sweep_dir, 4)
    if launcher == "submitit_local":
        # Each trial was a submitit job: its own process, result pickled back, hydra.job.id its id.
        job_ids = {
            str(OmegaConf.load(sweep_dir / str(n) / ".hydra" / "hydra.yaml").hydra.job.id)
            for n in range(4)
        }
        assert len(job_ids) == 4
        for job_id in job_ids:
            assert (sweep_dir / ".submitit" / job_id / f"{job_id}_0_result.pkl").is_file()


@pytest.mark.integration
def test_slurm_preset_through_submitit_slurm_executor(tmp_path: Path) -> None:
    """`+launcher=slurm` with submitit's real SLURM executor; only sbatch/srun/sacct are fakes.

    3 trials in batches of 2: one job array (2 tasks), then a single job.
    """
    fake_slurm.install(tmp_path / "bin")
    state = tmp_path / "slurm"
    env = _env(
        PATH=f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}", FAKE_SLURM_DIR=str(state)
    )
    sweep_dir = _toy_sweep(
        tmp_path,
        "+launcher=slurm",
        "hydra.launcher.partition=debug",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.n_jobs=2",
        env=env,
    )
    _check_complete_sweep(sweep_dir, 3)
    job_ids = [
        str(OmegaConf.load(sweep_dir / str(n) / ".hydra" / "hydra.yaml").hydra.job.id)
        for n in range(3)
    ]
    assert job_ids == ["1000_0", "1000_1", "1001"]  # array tasks, then a plain job

    array, single = (state / "1000.sbatch").read_text(), (state / "1001.sbatch").read_text()
    for flag in [
        "--partition=debug",
        "--time=720",
        "--nodes=1",
        "--ntasks-per-node=1",
        "--gpus-per-node=1",
        "--cpus-per-task=16",
        "--mem=128GB",
        "--job-name=ssd",
        "--signal=USR2@120",
    ]:
        assert f"#SBATCH {flag}\n" in array and f"#SBATCH {flag}\n" in single
    assert "#SBATCH --array=0-1%2\n" in array and "--array" not in single
    assert f"#SBATCH --output={sweep_dir}/.submitit/%A_%a/%A_%a_0_log.out\n" in array
    assert "--account" not in array  # null settings are left out


@pytest.mark.integration
def test_a_killed_job_fails_only_its_trial(tmp_path: Path) -> None:
    """Trial 1's process is SIGKILLed (as by the OOM killer or a time limit) while trial 0, in
    the same batch, finishes: trial 1 is FAIL with submitit's error, the others COMPLETE.
    (hydra-submitit-launcher's own launcher raises here and loses the whole batch.)"""
    sweep_dir = tmp_path / "sweep"
    points = "[{x: 0.0, y: 0.0}, {x: 1.0, y: 0.0}, {x: 0.2, y: 0.1}, {x: -1.0, y: 0.0}]"
    proc = subprocess.run(
        [
            sys.executable,
            str(SPHERE),
            "-m",
            f"hydra.sweep.dir={sweep_dir}",
            "hydra/launcher=ssd_submitit_local",
            "hydra/sweeper/sampler=random",
            "hydra.sweeper.n_trials=4",
            "hydra.sweeper.n_jobs=2",
            "hydra.sweeper.max_failure_rate=0.25",
            f"hydra.sweeper.enqueue={points}",
            "die_above=0.5",
        ],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = pd.read_csv(sweep_dir / "trials.csv").set_index("number")
    assert trials["state"].to_dict() == {0: "COMPLETE", 1: "FAIL", 2: "COMPLETE", 3: "COMPLETE"}
    assert trials.loc[1, "user_attrs_error"].startswith("UncompletedJobError")
    assert trials.loc[0, "value"] == pytest.approx(1.25)  # (0 - 1)^2 + (0 + 0.5)^2
    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert (results.n_complete, results.n_failed) == (3, 1)
