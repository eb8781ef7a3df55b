"""A trial whose sweeper died but whose job finished is recovered from the job's results.json.

- Real processes: a sweep through submitit (jobs are processes of their own) is SIGKILLed while
  its trials run; the orphaned jobs finish; the same command again tells those trials COMPLETE
  with their own values (no re-run, no retry) and the study ends with exactly n_trials.
- A prepared study of orphaned trials, one per way a folder can fail to vouch for its trial (no
  results.json, corrupt, another trial's overrides, no objective, older than the trial, no
  overrides.yaml, the wrong number of objectives): only the sound ones are recovered, the others
  abandoned and retried as before; a live worker's trial is left alone.
Run: `pytest tests/test_sweeper_harvest.py` (about 10 s).
"""

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState

from hydra_plugins.ssd_optuna_sweeper._results import finished_objective

APP = Path(__file__).parent / "apps" / "sphere" / "sphere.py"
SPACE = {"x": FloatDistribution(-2, 2), "y": FloatDistribution(-2, 2)}  # the app's params
HAS_SUBMITIT = importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is not None


def _load_app(name: str) -> Any:
    """A helper module of tests/apps by file (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(name, APP.parents[1] / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _command(sweep_dir: Path, *overrides: str) -> list[str]:
    return [
        sys.executable,
        str(APP),
        "-m",
        f"hydra.sweep.dir={sweep_dir}",
        "hydra/sweeper/sampler=random",
        *overrides,
    ]


def _storage(sweep_dir: Path) -> optuna.storages.JournalStorage:
    sweep_dir.mkdir(parents=True, exist_ok=True)
    backend = optuna.storages.journal.JournalFileBackend(str(sweep_dir / "optuna.journal"))
    return optuna.storages.JournalStorage(backend)


def _trials(sweep_dir: Path) -> list[FrozenTrial]:
    return optuna.load_study(study_name="sphere", storage=_storage(sweep_dir)).trials


def _wait_for(paths: list[Path], timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not all(p.exists() for p in paths):
        assert time.time() < deadline, f"{[str(p) for p in paths if not p.exists()]} missing"
        time.sleep(0.05)


def _sphere(trial: FrozenTrial) -> float:
    return (trial.params["x"] - 1.0) ** 2 + (trial.params["y"] + 0.5) ** 2


def _files(folder: Path) -> dict[str, tuple[float, bytes]]:
    """mtime and content of every file in a job folder (.hydra included)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------- real processes
@pytest.mark.integration
@pytest.mark.skipif(not HAS_SUBMITIT, reason="needs hydra-submitit-launcher (the `slurm` extra)")
def test_jobs_that_outlive_a_killed_sweeper_are_recovered(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    command = _command(
        sweep_dir,
        "hydra/launcher=ssd_submitit_local",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.n_jobs=2",
        "sleep=2",
    )
    first = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    # Both jobs of the first batch have started (Hydra wrote their overrides) and sleep 2 s.
    _wait_for([sweep_dir / str(n) / ".hydra" / "overrides.yaml" for n in (0, 1)])
    first.send_signal(signal.SIGKILL)  # the sweeper only: the submitit jobs run on
    first.wait(timeout=30)  # reaped: a zombie would still look alive
    assert not any((sweep_dir / str(n) / "results.json").exists() for n in (0, 1))
    _wait_for([sweep_dir / str(n) / "results.json" for n in (0, 1)])
    time.sleep(0.5)  # let the jobs write their result pickles and exit
    before = {n: _files(sweep_dir / str(n)) for n in (0, 1)}
    orphans = _trials(sweep_dir)
    assert all(t.state == TrialState.RUNNING for t in orphans)
    # Where each job runs was recorded at launch: the folder is found without the sweeper.
    assert [t.user_attrs["job_dir"] for t in orphans] == [
        str(sweep_dir / "0"),
        str(sweep_dir / "1"),
    ]

    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]

    trials = _trials(sweep_dir)
    assert [t.number for t in trials] == [0, 1, 2]  # no retry: nothing ran twice
    assert all(t.state == TrialState.COMPLETE for t in trials)
    for trial in trials:
        attrs = trial.user_attrs
        assert trial.value == pytest.approx(_sphere(trial))  # its own value
        assert attrs["job_dir"] == str(sweep_dir / str(trial.number))
        assert attrs["t_eff"] == pytest.approx(trial.params["x"] * trial.params["y"])
        assert "retry_of" not in attrs and "error" not in attrs
    recovered = {t.number: t.user_attrs.get("recovered", "") for t in trials}
    assert recovered[2] == ""  # launched and told by the second run as usual
    assert all(recovered[n].startswith("from results.json: its worker process") for n in (0, 1))
    assert {n: _files(sweep_dir / str(n)) for n in (0, 1)} == before  # not run again
    jobs = [p for p in (sweep_dir / ".submitit").iterdir() if p.name.isdigit()]  # by job id
    assert len(jobs) == 3  # 2 jobs, then 1
    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert (results.n_complete, results.n_failed) == (3, 0)
    assert results.best_value == pytest.approx(min(t.value for t in trials))


@pytest.mark.integration
@pytest.mark.skipif(not HAS_SUBMITIT, reason="needs hydra-submitit-launcher (the `slurm` extra)")
def test_ctrl_c_leaves_slurm_trials_running_for_the_next_run(tmp_path: Path) -> None:
    """Ctrl-C stops the sweeper, not its SLURM jobs: their trials stay RUNNING (not failed and
    retried), and the same command again reads back what the jobs wrote meanwhile."""
    fake_slurm = _load_app("fake_slurm")
    fake_slurm.install(tmp_path / "bin")
    env = os.environ | {
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "FAKE_SLURM_DIR": str(tmp_path / "slurm"),
    }
    sweep_dir = tmp_path / "sweep"
    command = _command(
        sweep_dir,
        "hydra/launcher=ssd_submitit_slurm",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.n_jobs=2",
        "sleep=2",
    )
    first = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # see test_sweeper_resume
    )
    _wait_for([sweep_dir / str(n) / ".hydra" / "overrides.yaml" for n in (0, 1)])
    first.send_signal(signal.SIGINT)
    assert first.wait(timeout=30) != 0  # interrupted
    assert [t.state for t in _trials(sweep_dir)] == [TrialState.RUNNING] * 2  # not abandoned
    _wait_for([sweep_dir / str(n) / "results.json" for n in (0, 1)])
    time.sleep(0.5)  # let the jobs write their result pickles and exit

    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = _trials(sweep_dir)
    assert [t.number for t in trials] == [0, 1]  # nothing retried, nothing ran twice
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert all(t.value == pytest.approx(_sphere(t)) for t in trials)
    assert all(t.user_attrs["recovered"].startswith("from results.json") for t in trials)
    assert len(list((tmp_path / "slurm").glob("*.sbatch"))) == 1  # one job array, never resent


# ---------------------------------------------------------------- a prepared study
def _orphan(study: optuna.Study, x: float, y: float, owner: str, heartbeat: float) -> int:
    """A RUNNING trial at (x, y) as a sweeper process `owner` leaves it; returns its number."""
    study.enqueue_trial({"x": x, "y": y})
    trial = study.ask(SPACE)
    trial.set_user_attr("owner", owner)
    trial.set_user_attr("heartbeat", heartbeat)
    return trial.number


def _job_folder(job_dir: Path, overrides: list[str] | None, results: Any) -> None:
    """A job folder as Hydra and the app leave it: .hydra/overrides.yaml, then results.json."""
    if overrides is not None:
        (job_dir / ".hydra").mkdir(parents=True)
        (job_dir / ".hydra" / "overrides.yaml").write_text(OmegaConf.to_yaml(overrides))
    if results is not None:
        job_dir.mkdir(exist_ok=True)
        text = results if isinstance(results, str) else json.dumps(results)
        (job_dir / "results.json").write_text(text)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# name: (overrides.yaml, results.json, recovered?); every trial sits at x = 0.1 * index, y = 0.
GOOD = {"objective": 42.0, "t_eff": 7.0, "ssd": {"pass@1": 0.5}}
CASES: dict[str, tuple[list[str] | None, Any, bool]] = {
    "finished": (["x={x}", "y=0.0", "sleep=0.0"], GOOD, True),
    "no folder": (None, None, False),
    "killed mid-run": (["x={x}", "y=0.0"], None, False),
    "corrupt": (["x={x}", "y=0.0"], '{"objective": 42.0, "t_e', False),
    "another trial's": (["x=1.5", "y=0.0"], GOOD, False),
    "no objective": (["x={x}", "y=0.0"], {"objective": None, "t_eff": 7.0}, False),
    "older than the trial": (["x={x}", "y=0.0"], GOOD, False),
    "no overrides.yaml": (None, GOOD, False),
    "dead pid, this host": (["x={x}", "y=0.0"], GOOD, True),
}


@pytest.mark.integration
def test_only_sound_results_are_recovered_the_rest_retried(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    study = optuna.create_study(study_name="sphere", storage=_storage(sweep_dir))
    host = socket.gethostname()
    numbers = {}
    for i, (name, (overrides, results, _)) in enumerate(CASES.items()):
        x = round(0.1 * i, 1)
        owner = f"{host}:{_dead_pid()}:abc" if "dead pid" in name else "other-host:1:abc"
        numbers[name] = n = _orphan(study, x, 0.0, owner, heartbeat=0.0)  # stale for ages
        lines = None if overrides is None else [o.format(x=x) for o in overrides]
        _job_folder(sweep_dir / str(n), lines, results)
    old = time.time() - 86400
    os.utime(sweep_dir / str(numbers["older than the trial"]) / "results.json", (old, old))
    # A live worker's trial (this process, beating now): never recovered nor abandoned.
    live = _orphan(study, 1.9, 0.0, f"{host}:{os.getpid()}:abc", heartbeat=time.time())
    _job_folder(sweep_dir / str(live), ["x=1.9", "y=0.0"], GOOD)
    before = _files(sweep_dir / str(numbers["finished"]))

    n_trials = len(CASES) + 1
    proc = subprocess.run(
        _command(sweep_dir, f"hydra.sweeper.n_trials={n_trials}"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    trials = {t.number: t for t in _trials(sweep_dir)}
    retries = {t.user_attrs["retry_of"]: t for t in trials.values() if "retry_of" in t.user_attrs}
    for name, (_, _, recovered) in CASES.items():
        trial = trials[numbers[name]]
        if recovered:
            assert trial.state == TrialState.COMPLETE and trial.value == 42.0, name
            assert trial.user_attrs["recovered"].startswith("from results.json: "), name
            assert (trial.user_attrs["t_eff"], trial.user_attrs["ssd.pass@1"]) == (7.0, 0.5)
            assert trial.user_attrs["job_dir"] == str(sweep_dir / str(trial.number))
            assert trial.number not in retries, name
        else:
            assert trial.state == TrialState.FAIL, name
            assert trial.user_attrs["error"].startswith("abandoned: "), name
            assert "recovered" not in trial.user_attrs, name
            retry = retries[trial.number]
            assert retry.params == trial.params and retry.state == TrialState.COMPLETE, name
            assert retry.value == pytest.approx(_sphere(retry)), name  # really run
    assert "no heartbeat" in trials[numbers["finished"]].user_attrs["recovered"]
    assert "gone" in trials[numbers["dead pid, this host"]].user_attrs["recovered"]
    assert _files(sweep_dir / str(numbers["finished"])) == before
    assert trials[live].state == TrialState.RUNNING and "recovered" not in trials[live].user_attrs
    assert len(trials) == n_trials + len(retries)  # the live trial holds the last slot
    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert (results.n_complete, results.n_failed) == (n_trials - 1, 0)


@pytest.mark.integration
def test_recovery_needs_one_value_per_objective(tmp_path: Path) -> None:
    """Two objectives: results.json's objective must be the pair the task returns."""
    sweep_dir = tmp_path / "sweep"
    study = optuna.create_study(
        study_name="sphere", storage=_storage(sweep_dir), directions=["minimize", "minimize"]
    )
    pair = _orphan(study, 0.5, 0.0, "other-host:1:abc", heartbeat=0.0)
    _job_folder(sweep_dir / str(pair), ["x=0.5", "y=0.0"], {"objective": [0.5, 0.25]})
    single = _orphan(study, 0.6, 0.0, "other-host:1:abc", heartbeat=0.0)
    _job_folder(sweep_dir / str(single), ["x=0.6", "y=0.0"], {"objective": 0.16})

    overrides = ["hydra.sweeper.n_trials=2", "hydra.sweeper.direction=[minimize,minimize]"]
    proc = subprocess.run(
        _command(sweep_dir, *overrides, "pair=true"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    trials = _trials(sweep_dir)
    assert trials[pair].state == TrialState.COMPLETE and trials[pair].values == [0.5, 0.25]
    assert trials[single].state == TrialState.FAIL  # one number for two objectives
    retry = next(t for t in trials if t.user_attrs.get("retry_of") == single)
    assert retry.state == TrialState.COMPLETE
    assert retry.values == pytest.approx([_sphere(retry), 0.6])  # run by the app: (value, |x|)


# ---------------------------------------------------------------- the folder check itself
def test_finished_objective_matches_overrides_as_the_sweeper_writes_them(tmp_path: Path) -> None:
    """Prefixed keys and quoted values compare as override text; the reason names the key."""
    _job_folder(tmp_path, ["+z=3", "label='p q'", "model=toy"], {"objective": 0.5})
    start = time.time()
    assert finished_objective(tmp_path, {"z": "3", "label": "'p q'"}, start, 1) == 0.5
    with pytest.raises(ValueError, match="label"):
        finished_objective(tmp_path, {"z": "3", "label": "'r,s'"}, start, 1)
    with pytest.raises(ValueError, match="older than the trial"):
        finished_objective(tmp_path, {"z": "3"}, start + 3600, 1)
    with pytest.raises(ValueError, match="2 number"):
        finished_objective(tmp_path, {"z": "3"}, start, 2)
