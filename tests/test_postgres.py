"""The README's cluster recipe against a real PostgreSQL server (tests/fixtures/postgres.py).

N independent `ssd -m` workers with `hydra.sweeper.n_jobs=1` share one `postgresql://` study;
the study's URL comes from a `conf/local/` file through `${oc.env:SSD_STUDY_DB}` and the password
from a pgpass file, never from the command line. Toy-model trials (closed-form student) keep it
fast. Checked: a worker SIGKILLed mid-trial (made to look as if it ran on another node, where
only its stopped heartbeat gives it away) has its trial failed by the heartbeat check and re-run,
and three workers then finish exactly n_trials COMPLETE trials with unique numbers between them.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from fixtures.postgres import PostgresServer, postgres_server  # noqa: F401
from optuna.trial import TrialState

pytestmark = pytest.mark.integration
SSD = str(Path(sys.executable).parent / "ssd")

# What a user puts in conf/local/default.yaml (git-ignored); here under another search path.
LOCAL_CONF = """\
# @package _global_
hydra:
  sweeper:
    storage: ${oc.env:SSD_STUDY_DB}
    engine_kwargs: {pool_pre_ping: true, pool_size: 2, max_overflow: 2}
"""


def _recipe(tmp_path: Path, server: PostgresServer, study: str, n_trials: int) -> tuple:
    """The cluster recipe's worker command and environment, with toy trials."""
    local = tmp_path / "searchpath" / "local"
    local.mkdir(parents=True, exist_ok=True)
    (local / "cluster_test.yaml").write_text(LOCAL_CONF)
    command = [
        SSD,
        "-m",
        "+sweep=teff",
        "model=toy",
        "training=ideal",  # the closed-form student: no SGD, seconds per trial
        "sampling.n=2000",
        "tracking=none",
        "hydra.sweeper.n_jobs=1",
        f"hydra.sweeper.n_trials={n_trials}",
        f"hydra.sweeper.study_name={study}",
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.heartbeat_interval=0.5",  # seconds, so that the test is short
        "hydra.sweeper.grace_period=3",
        "~hydra.callbacks.sweep_summary",  # no summary figure: not what is tested here
        f"hydra.searchpath=[file://{tmp_path / 'searchpath'}]",
        "local=cluster_test",
    ]
    env = {
        **server.env(),
        "SSD_STUDY_DB": server.url,
        "SSD_OUTPUT_DIR": str(tmp_path / "out"),
        "WANDB_MODE": "disabled",
        "OMP_NUM_THREADS": "1",
    }
    return command, env


def test_cluster_recipe_three_workers_and_a_killed_one(
    tmp_path: Path,
    postgres_server: PostgresServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    command, env = _recipe(tmp_path, postgres_server, "pg_cluster", n_trials=4)
    assert not any("postgresql://" in c or "password" in c.lower() for c in command)
    monkeypatch.setenv("PGPASSFILE", str(postgres_server.pgpass))
    storage = optuna.storages.RDBStorage(postgres_server.url)

    # A worker killed mid-trial (SGD on many sequences: its trial takes long enough).
    slow = [*command, "training=sgd", "sampling.n=200000"]
    first = subprocess.Popen(
        slow, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    job = tmp_path / "out" / "sweeps" / "pg_cluster" / "0"
    deadline = time.time() + 120
    while not job.exists():
        assert first.poll() is None and time.time() < deadline, "trial 0 never started"
        time.sleep(0.05)
    time.sleep(0.5)  # inside the trial: its results.json is seconds away
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    killed_at = time.time()
    assert not (job / "results.json").exists()
    # On one machine a dead worker's pid gives it away at once; on a cluster it ran on another
    # node, where only its stopped heartbeat tells. Make it look like that: the owner's host.
    study = optuna.load_study(study_name="pg_cluster", storage=storage)
    (running,) = study.get_trials(states=(TrialState.RUNNING,))
    owner = running.user_attrs["owner"].split(":", 1)[1]
    storage.set_trial_user_attr(running._trial_id, "owner", f"another-node:{owner}")
    time.sleep(max(0.0, killed_at + 3.5 - time.time()))  # past grace_period (3 s)

    # The recipe: three workers, n_jobs=1 each, on the one study.
    workers = [
        subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err.decode()[-3000:]

    every = optuna.load_study(study_name="pg_cluster", storage=storage).trials
    assert len({t.number for t in every}) == len(every)  # unique numbers
    # sweeps/teff nests: each outer trial's T_eval points are trials of their own (inner=True)
    inner = [t for t in every if t.user_attrs.get("inner")]
    assert inner and all(t.state == TrialState.COMPLETE for t in inner)
    trials = [t for t in every if not t.user_attrs.get("inner")]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 4
    assert {t.user_attrs["outer_trial"] for t in inner} <= {t.number for t in complete}
    assert len({t.user_attrs["job_dir"] for t in complete}) == 4
    assert len({t.user_attrs["owner"] for t in complete}) >= 2  # the work was shared
    assert all(0 < float(t.value) <= 1 for t in complete)  # toy success probabilities
    killed = next(t for t in trials if t.number == running.number)
    assert killed.state == TrialState.FAIL
    assert killed.user_attrs["error"].startswith("abandoned: no heartbeat for")
    retry = next(t for t in trials if t.user_attrs.get("retry_of") == killed.number)
    assert retry.state == TrialState.COMPLETE and retry.params == killed.params
    others = [t for t in trials if t.state != TrialState.COMPLETE and t is not killed]
    assert all("surplus" in t.user_attrs for t in others)  # lost the race for the last slot
