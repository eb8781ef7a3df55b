"""What a sweep reports: trial values and metrics in, trials.csv and optimization_results.yaml out.

Also reads back the result of a job whose sweeper died (`finished_objective`). Tests:
tests/test_sweeper.py, tests/test_sweeper_harvest.py.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from omegaconf import ListConfig, OmegaConf
from optuna.trial import FrozenTrial, TrialState

from ssd.config import is_number

from ._cost import format_cost, study_cost
from ._grid import is_void
from ._nested import is_inner
from ._search_space import SearchParam

log = logging.getLogger(__name__)

RESULTS_FILE = "optimization_results.yaml"
TRIALS_FILE = "trials.csv"
JOB_RESULTS = "results.json"  # what a job writes into its folder last (ssd.cli, the sphere app)
_SKIPPED_RESULT_KEYS = ("config", "cache")  # results.json parts that are not metrics
# A job's results.json older than its trial's start by more than this is a previous run's (the
# margin covers clocks of the sweeper host and the file server that disagree a little).
CLOCK_SLACK_S = 60.0


def as_values(value: Any, n_objectives: int) -> list[float]:
    """The task's return value as Optuna values; ValueError if it is not one score per objective."""
    items = list(value) if isinstance(value, Sequence | ListConfig) else [value]
    if len(items) != n_objectives or any(isinstance(v, bool | str) or v is None for v in items):
        raise ValueError(f"the task returned {value!r}; the sweeper needs {n_objectives} number(s)")
    values = [float(v) for v in items]
    if any(math.isnan(v) for v in values):
        raise ValueError(f"the task returned {value!r} (NaN)")
    return values


def read_metrics(path: Path) -> dict[str, float]:
    """Flatten the numbers of a run's results.json: {'t_eff': 1.2, 'ssd.pass@1': 0.4, ...}."""
    if not path.is_file():
        return {}
    flat: dict[str, float] = {}

    def walk(prefix: str, node: dict[str, Any]) -> None:
        for key, value in node.items():
            if not prefix and key in _SKIPPED_RESULT_KEYS:
                continue
            if prefix == "cost." and key == "stages":  # per-stage detail stays in results.json
                continue
            if isinstance(value, dict):
                walk(f"{prefix}{key}.", value)
            elif is_number(value):
                flat[f"{prefix}{key}"] = value

    walk("", json.loads(path.read_text()))
    return flat


def finished_objective(
    job_dir: Path, params: dict[str, str], started: float | None, n_objectives: int
) -> Any:
    """The "objective" a trial's job wrote to results.json; ValueError saying why there is none.

    A job can outlive its sweeper (SLURM, submitit) and finish after the sweeper died; its
    results.json then holds the value the sweeper never received. It counts only if it parses and
    holds one number per objective; if it was written after the trial started (`started`, a
    timestamp), so is not a previous study's in a reused folder; and if the folder's
    .hydra/overrides.yaml gives the trial's parameters (`params`: name -> override value text)
    exactly as the sweeper writes them, so the folder is this trial's.
    """
    path = job_dir / JOB_RESULTS
    if not path.is_file():
        raise ValueError(f"no {path}")
    if started is not None and path.stat().st_mtime < started - CLOCK_SLACK_S:
        raise ValueError(f"{path} is older than the trial")
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError) as e:  # half a file, not JSON, not text
        raise ValueError(f"{path} is unreadable: {e}") from e
    objective = results.get("objective") if isinstance(results, dict) else None
    as_values(objective, n_objectives)  # the ValueError names what is wrong with it
    mismatch = _params_mismatch(job_dir / ".hydra" / "overrides.yaml", params)
    if mismatch:
        raise ValueError(mismatch)
    return objective


def _params_mismatch(path: Path, params: dict[str, str]) -> str | None:
    """Why the job overrides in `path` do not set `params`, or None if they do."""
    try:
        lines = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except Exception as e:  # missing, unreadable or not YAML: the folder cannot be vouched for
        return f"{path}: {type(e).__name__}: {e}"
    if not isinstance(lines, list):
        return f"{path} is not a list of overrides"
    written: dict[str, str] = {}
    for line in lines:
        key, _, text = str(line).partition("=")
        written[key.lstrip("+")] = text
    wanted = {k: text for k, text in params.items() if written.get(k) != text}
    if wanted:
        found = {k: written.get(k) for k in wanted}
        return f"{path} sets {found}, the trial has {wanted}"
    return None


def write_results(
    study: optuna.Study,
    sweep_dir: Path,
    space: dict[str, SearchParam],
    n_trials: int,
    storage_text: str,
) -> None:
    """Write trials.csv (every trial) and optimization_results.yaml (best trial(s)) atomically."""
    by_name = {p.name: p for p in space.values()}

    def params_of(trial: FrozenTrial) -> dict[str, Any]:
        return {k: by_name[k].value(v) if k in by_name else v for k, v in trial.params.items()}

    trials = study.get_trials(deepcopy=False)
    frame = study.trials_dataframe(
        attrs=("number", "state", "value", "params", "user_attrs", "datetime_start", "duration")
    )
    frame = frame.drop(columns=[c for c in frame.columns if c == "user_attrs_heartbeat"])
    _atomic_write(sweep_dir / TRIALS_FILE, frame.to_csv(index=False))

    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    results: dict[str, Any] = {
        "name": "ssd_optuna",
        "study_name": study.study_name,
        "storage": storage_text,
        "directions": [d.name.lower() for d in study.directions],
        "n_trials": n_trials,
        "n_complete": len(complete),
        "n_failed": sum(t.state == TrialState.FAIL and not is_void(t) for t in trials),
    }
    spent = study_cost(trials)
    results["cost"] = dict(spent)
    n_inner = sum(is_inner(t) for t in trials)
    if n_inner:
        results["n_inner"] = n_inner
    results["n_pruned"] = sum(t.state == TrialState.PRUNED for t in trials)
    if complete and len(study.directions) == 1:
        # Ties (an outer trial's value is its best inner point's) go to the inner trial: it has
        # every parameter, T_eval included.
        sign = 1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1.0
        best = max(complete, key=lambda t: (sign * float(t.value), is_inner(t), -t.number))  # type: ignore[arg-type]
        results |= {
            "best_trial": best.number,
            "best_value": best.value,
            "best_params": params_of(best),
            "best_metrics": _metrics(best),
        }
    elif complete:
        results["best_trials"] = [
            {"number": t.number, "values": t.values, "params": params_of(t)}
            for t in study.best_trials
        ]
    _atomic_write(sweep_dir / RESULTS_FILE, OmegaConf.to_yaml(OmegaConf.create(results)))
    log.info("Results of study %s: %s", study.study_name, sweep_dir / RESULTS_FILE)
    if "best_value" in results:
        log.info("Best value %s with %s", results["best_value"], results["best_params"])
    log.info("Study %s spent: %s", study.study_name, format_cost(spent))


def _metrics(trial: FrozenTrial) -> dict[str, Any]:
    skip = ("owner", "heartbeat", "job_dir", "error", "retries", "retry_of", "recovered", "inner")
    return {k: v for k, v in trial.user_attrs.items() if k not in skip}


def _atomic_write(path: Path, text: str) -> None:
    # Several workers may finish at once: write aside, then rename over the old file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
