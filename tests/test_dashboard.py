"""optuna-dashboard serves a finished study (journal file and RDB) on localhost: `ssd.dashboard`.

A finished study in a real journal file (in a sweep folder, where the sweeper keeps it) or SQLite
database; `python -m ssd.dashboard` (what `make dashboard STUDY=...` runs) serves it, and the
trials are read back through the dashboard's HTTP API and compared with the study's own.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

pytest.importorskip("optuna_dashboard")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 30) -> dict:
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def _finished_study(storage: optuna.storages.BaseStorage) -> optuna.Study:
    """A study as the sweeper leaves it: named, trials with parameters, values, user attrs."""
    study = optuna.create_study(study_name="sphere", storage=storage)
    for _ in range(4):
        trial = study.ask()
        x, y = trial.suggest_float("x", -2, 2), trial.suggest_float("y", -2, 2)
        trial.set_user_attr("job_dir", f"sweep/{trial.number}")
        study.tell(trial, (x - 1) ** 2 + (y + 0.5) ** 2)
    return study


@pytest.mark.parametrize("storage", ["journal", "sqlite"])
def test_dashboard_serves_the_finished_study(tmp_path: Path, storage: str) -> None:
    if storage == "sqlite":
        study_arg = f"sqlite:///{tmp_path}/study.db"
        study = _finished_study(optuna.storages.RDBStorage(study_arg))
    else:
        study_arg = str(tmp_path / "sweep")  # a sweep folder: the sweeper's optuna.journal
        (tmp_path / "sweep").mkdir()
        backend = optuna.storages.journal.JournalFileBackend(f"{study_arg}/optuna.journal")
        study = _finished_study(optuna.storages.JournalStorage(backend))

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ssd.dashboard", study_arg, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        studies = _get(f"http://127.0.0.1:{port}/api/studies")["study_summaries"]
        assert [s["study_name"] for s in studies] == ["sphere"]
        detail = _get(f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    served = {t["number"]: t for t in detail["trials"]}
    expected = {t.number: t for t in study.trials}
    assert set(served) == set(expected) and len(served) == 4
    for number, trial in expected.items():
        assert served[number]["state"] == trial.state.name.capitalize() == "Complete"
        assert {a["key"]: a["value"] for a in served[number]["user_attrs"]} == trial.user_attrs
        assert served[number]["values"] == pytest.approx(trial.values)
        params = {p["name"]: float(p["param_external_value"]) for p in served[number]["params"]}
        assert params == pytest.approx(trial.params)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)


@pytest.mark.parametrize("study", ["no/such/sweep", "missing.journal"])
def test_bad_study_fails_in_one_line(tmp_path: Path, study: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ssd.dashboard", str(tmp_path / study)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "STUDY=" in done.stderr and "journal" in done.stderr
