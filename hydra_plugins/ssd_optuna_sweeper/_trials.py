"""Budget and liveness of a study's trials, shared by every worker of the ssd_optuna sweeper.

`Ledger` counts trials against `n_trials` (void trials -- cancelled surplus, abandoned and
retried -- and inner points of a nested search hold no budget); `Heartbeat` marks this
process's running trials as alive;
`stale_reason` says when a running trial's worker is gone. Tests: tests/test_sweeper.py.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState

from ._grid import is_void
from ._nested import is_inner

log = logging.getLogger(__name__)

_HOST = socket.gethostname()
OWNER = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"  # this process, in user attr "owner"


# ---------------------------------------------------------------- budget accounting
@dataclass
class Ledger:
    """Counts of a study's trials against the budget `n_trials`."""

    n_trials: int
    budget: list[FrozenTrial]  # in number order; void trials left out

    @classmethod
    def of(cls, study: optuna.Study, n_trials: int) -> Ledger:
        trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
        return cls(n_trials, [t for t in trials if not is_void(t) and not is_inner(t)])

    @property
    def done(self) -> int:
        return sum(t.state.is_finished() for t in self.budget[: self.n_trials])

    @property
    def failed(self) -> int:
        return sum(t.state == TrialState.FAIL for t in self.budget[: self.n_trials])

    @property
    def waiting(self) -> int:
        return sum(t.state == TrialState.WAITING for t in self.budget[: self.n_trials])

    @property
    def free(self) -> int:
        return max(0, self.n_trials - len(self.budget))

    def rank(self, number: int) -> int:
        return sum(t.number < number for t in self.budget)


# ---------------------------------------------------------------- liveness of running trials
class Heartbeat:
    """Marks this process's running trials as alive every `interval` seconds (a thread)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.active: dict[int, Trial] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ssd-optuna-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def claim(self, trial: Trial) -> None:
        trial.set_user_attr("owner", OWNER)
        trial.set_user_attr("heartbeat", time.time())
        self.active[trial.number] = trial

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for trial in list(self.active.values()):
                try:
                    trial.set_user_attr("heartbeat", time.time())
                except Exception as e:  # finished meanwhile, or storage busy: next beat
                    log.debug("heartbeat of trial %d skipped: %s", trial.number, e)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child that nobody reaped yet is a zombie: dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def stale_reason(trial: FrozenTrial, grace_period: float, now: float) -> str | None:
    """Why a RUNNING trial of another process is abandoned, or None if it may still be alive."""
    owner = str(trial.user_attrs.get("owner", ""))
    host, _, rest = owner.partition(":")
    pid, _, token = rest.partition(":")
    if owner and owner != OWNER and host == _HOST and pid.isdigit():
        if not _pid_alive(int(pid)) or int(pid) == os.getpid():
            return f"its worker process {pid} on {host} is gone"
    last = trial.user_attrs.get("heartbeat")
    if last is None and trial.datetime_start is not None:
        last = trial.datetime_start.timestamp()
    if last is not None and now - float(last) > grace_period:
        return f"no heartbeat for {now - float(last):.0f} s (grace_period {grace_period:g} s)"
    return None
