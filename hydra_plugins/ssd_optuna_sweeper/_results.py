"""What a sweep reports: trial values and metrics in, trials.csv and optimization_results.yaml out.

Tests: tests/test_sweeper.py.
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

from ._grid import is_void
from ._search_space import SearchParam

log = logging.getLogger(__name__)

RESULTS_FILE = "optimization_results.yaml"
TRIALS_FILE = "trials.csv"
_SKIPPED_RESULT_KEYS = ("config", "cache")  # results.json parts that are not metrics


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
            if isinstance(value, dict):
                walk(f"{prefix}{key}.", value)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                flat[f"{prefix}{key}"] = value

    walk("", json.loads(path.read_text()))
    return flat


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
    if complete and len(study.directions) == 1:
        best = study.best_trial
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


def _metrics(trial: FrozenTrial) -> dict[str, Any]:
    skip = ("owner", "heartbeat", "job_dir", "error", "retries", "retry_of")
    return {k: v for k, v in trial.user_attrs.items() if k not in skip}


def _atomic_write(path: Path, text: str) -> None:
    # Several workers may finish at once: write aside, then rename over the old file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
