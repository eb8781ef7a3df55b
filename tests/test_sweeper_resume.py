"""Resume and multi-worker tests of the `ssd_optuna` sweeper, with real processes.

- A sweep killed (SIGKILL, or Ctrl-C) mid-way and started again with the same command ends with
  exactly n_trials finished trials, continues the job numbers and leaves old job folders alone.
- Three processes on one study (journal file or SQLite) finish n_trials in total, each trial
  number once. Run: `pytest tests/test_sweeper_resume.py -m integration` (about 40 s).
"""

import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from fixtures.studies import load_sweep_study
from omegaconf import OmegaConf
from optuna.trial import TrialState

APP = Path(__file__).parent / "apps" / "sphere" / "sphere.py"
pytestmark = pytest.mark.integration


def _default_sigint() -> None:
    """Child side: SIGINT back to its default, so Python turns it into KeyboardInterrupt.

    A test run started in the background by a non-interactive shell inherits SIGINT ignored,
    and Python then leaves it ignored: the sweep would never see the Ctrl-C this test sends.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _command(sweep_dir: Path, *overrides: str) -> list[str]:
    sampler = [] if any("sampler=" in o for o in overrides) else ["hydra/sweeper/sampler=random"]
    return [sys.executable, str(APP), "-m", f"hydra.sweep.dir={sweep_dir}", *sampler, *overrides]


def _journal_study(sweep_dir: Path) -> optuna.Study:
    return load_sweep_study(sweep_dir, "sphere")


def _wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert time.time() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def _snapshot(sweep_dir: Path) -> dict[str, tuple[float, str]]:
    """mtime and content of every finished job's results.json."""
    return {
        str(p.parent.name): (p.stat().st_mtime, p.read_text())
        for p in sweep_dir.glob("*/results.json")
    }


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["sigkill", "sigint"])
def test_killed_sweep_resumes_to_exactly_n_trials(tmp_path: Path, sig: signal.Signals) -> None:
    sweep_dir = tmp_path / "sweep"
    command = _command(sweep_dir, "hydra.sweeper.n_trials=8", "sleep=0.4")
    first = subprocess.Popen(
        command, cwd=tmp_path, stderr=subprocess.DEVNULL, preexec_fn=_default_sigint
    )
    _wait_for(sweep_dir / "3")  # trial 3's job has started: it sleeps 0.4 s in there
    first.send_signal(sig)
    first.wait(timeout=30)  # reaped: a zombie would still look alive
    before = _snapshot(sweep_dir)
    numbers_before = {t.number for t in _journal_study(sweep_dir).trials}

    subprocess.run(command, cwd=tmp_path, check=True, capture_output=True, timeout=120)

    trials = _journal_study(sweep_dir).trials
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 8
    assert len({t.number for t in trials}) == len(trials)  # no number twice
    job_dirs = [t.user_attrs["job_dir"] for t in complete]
    assert len(set(job_dirs)) == 8 and all(
        d.endswith(f"/{t.number}") for d, t in zip(job_dirs, complete, strict=True)
    )
    assert {k: v for k, v in _snapshot(sweep_dir).items() if k in before} == before  # untouched
    new = {t.number for t in trials} - numbers_before
    assert min(new) > max(numbers_before)  # numbering continues
    abandoned = [t for t in trials if t.state == TrialState.FAIL]
    # The killed process's running trial was failed and retried with the same parameters.
    assert len(abandoned) == 1 and abandoned[0].user_attrs["error"].startswith("abandoned")
    retry = next(t for t in trials if t.user_attrs.get("retry_of") == abandoned[0].number)
    assert retry.params == abandoned[0].params and retry.state == TrialState.COMPLETE
    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert (results.n_complete, results.n_failed) == (8, 0)

    # A third run of the same command finds the study finished and launches nothing.
    subprocess.run(command, cwd=tmp_path, check=True, capture_output=True, timeout=60)
    assert len(_journal_study(sweep_dir).trials) == len(trials)


@pytest.mark.parametrize(
    "storage, sampler", [("journal", "random"), ("sqlite", "random"), ("journal", "grid")]
)
def test_three_workers_share_one_study(tmp_path: Path, storage: str, sampler: str) -> None:
    sweep_dir = tmp_path / "sweep"
    overrides = ["hydra.sweeper.n_trials=12", "sleep=0.5", f"hydra/sweeper/sampler={sampler}"]
    if storage == "sqlite":
        overrides.append(f"hydra.sweeper.storage=sqlite:///{tmp_path}/study.db")
    if sampler == "grid":  # 4 x 3 points, each to be run exactly once over all workers
        overrides += ["x=choice(-1,0,1,2)", "y=choice(-1,0,1)"]
    workers = [
        subprocess.Popen(_command(sweep_dir, *overrides), cwd=tmp_path, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, err.decode()[-2000:]

    if storage == "sqlite":
        study = optuna.load_study(study_name="sphere", storage=f"sqlite:///{tmp_path}/study.db")
    else:
        study = _journal_study(sweep_dir)
    trials = study.trials
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 12
    assert len({t.number for t in trials}) == len(trials)
    # Anything else is a trial cancelled because another worker took the last slot first.
    assert all("surplus" in t.user_attrs for t in trials if t.state != TrialState.COMPLETE)
    assert len({t.user_attrs["job_dir"] for t in complete}) == 12
    assert len({t.user_attrs["owner"] for t in complete}) >= 2  # the work was shared
    if sampler == "grid":
        assert len({(t.params["x"], t.params["y"]) for t in complete}) == 12
