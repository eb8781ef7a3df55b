"""Nested search, sweeper side: inner points become trials; outer samplers never see them.

With `hydra.sweeper.inner` set, an Optuna trial chooses only the expensive settings and its job
runs a cheap inner T_eval search on the trained student (`ssd.nested`). Every inner point is
then recorded in the same study as a COMPLETE trial of its own (`record_inner`): the outer
trial's parameters plus `evaluation.temperature` (log-scale distribution over the inner
range), user attrs `inner=True` and `outer_trial=<number>`, its metrics, and a folder
`<sweep dir>/<its number>/results.json`, so optimization_results.yaml, trials.csv, the T_eff
figure and W&B see every point. Inner trials cost no training and are not outer samples:
`OuterSampler` and `OuterPruner` give the configured sampler and pruner a view of the study
without them (`OuterStudy`), and the budget (`Ledger`) does not count them.
Tests: tests/test_nested_search.py.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Container, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

log = logging.getLogger(__name__)

INNER_PARAM = "evaluation.temperature"


def is_inner(trial: FrozenTrial) -> bool:
    """True for a trial recorded from a nested search's inner point (no training of its own)."""
    return bool(trial.user_attrs.get("inner"))


class OuterStudy(optuna.Study):
    """The study as outer samplers and pruners should see it: without inner trials."""

    def __init__(self, study: optuna.Study) -> None:
        super().__init__(
            study_name=study.study_name,
            storage=study._storage,
            sampler=study.sampler,
            pruner=study.pruner,
        )

    def _get_trials(
        self,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
        use_cache: bool = False,
    ) -> list[FrozenTrial]:
        trials = super()._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        return [t for t in trials if not is_inner(t)]

    def get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        return self._get_trials(deepcopy=deepcopy, states=states)

    @property
    def best_trial(self) -> FrozenTrial:
        done = self._get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not done:
            raise ValueError("no complete outer trial yet")
        pick = max if self.direction == optuna.study.StudyDirection.MAXIMIZE else min
        return pick(done, key=lambda t: float(t.value))  # type: ignore[arg-type]


class OuterSampler(BaseSampler):
    """Wraps a sampler so that every call sees `OuterStudy` (inner trials left out)."""

    def __init__(self, base: BaseSampler) -> None:
        self.base = base

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self.base.infer_relative_search_space(OuterStudy(study), trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.base.sample_relative(OuterStudy(study), trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self.base.sample_independent(
            OuterStudy(study), trial, param_name, param_distribution
        )

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.base.before_trial(OuterStudy(study), trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.base.after_trial(OuterStudy(study), trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()

    def __getattr__(self, name: str) -> Any:  # e.g. OrderedGridSampler.points / point_of
        return getattr(self.base, name)


class OuterPruner(BasePruner):
    """Wraps a pruner so that it compares a trial with outer trials only."""

    def __init__(self, base: BasePruner) -> None:
        self.base = base

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        return self.base.prune(OuterStudy(study), trial)


def inner_distribution(inner: dict[str, Any], points: Sequence[float] = ()) -> FloatDistribution:
    """The distribution inner trials record T_eval under (log scale over the inner range)."""
    values = [*(float(t) for t in inner.get("grid") or ()), *points]
    low = min([float(inner.get("low", 0.2)), *values])
    high = max([float(inner.get("high", 2.0)), *values])
    return FloatDistribution(low, high, log=True)


def record_inner(
    study: optuna.Study,
    outer: FrozenTrial,
    distributions: dict[str, BaseDistribution],
    inner: dict[str, Any],
    job_dir: Path,
    trial_dir: Callable[[int], Path],
    read_metrics: Callable[[Path], dict[str, float]],
) -> int:
    """Add one COMPLETE trial per inner point of `outer`'s job; returns how many were added.

    Idempotent: points already recorded for this outer trial (a rerun that recovers the outer
    trial from its results.json) are not added again.
    """
    results = json.loads((job_dir / "results.json").read_text())
    nested = results.get("nested")
    if not nested:
        return 0
    from ssd.nested import INNER_DIR, point_dir

    done = {
        t.params.get(INNER_PARAM)
        for t in study.get_trials(deepcopy=False)
        if is_inner(t) and t.user_attrs.get("outer_trial") == outer.number
    }
    t_evals = [float(p["t_eval"]) for p in nested["points"]]
    dists = {**distributions, INNER_PARAM: inner_distribution(inner, t_evals)}
    storage, study_id = study._storage, study._study_id
    # trials.csv marks the outer trial: its metrics are its best inner point's again.
    storage.set_trial_user_attr(outer._trial_id, "outer_summary", True)
    added = 0
    for point in nested["points"]:
        t_eval = float(point["t_eval"])
        if t_eval in done:
            continue
        source = point_dir(job_dir, t_eval, INNER_DIR) / "results.json"
        frozen = optuna.trial.create_trial(
            params={**outer.params, INNER_PARAM: t_eval},
            distributions=dists,
            value=float(point["value"]),
            user_attrs={
                **read_metrics(source),
                "inner": True,
                "outer_trial": outer.number,
                "inner_index": int(point["index"]),
                "job_dir": str(source.parent),  # where the outer trial's job wrote it
            },
        )
        trial_id = storage.create_new_trial(study_id, template_trial=frozen)
        number = storage.get_trial_number_from_id(trial_id)
        folder = trial_dir(number)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, folder / "results.json")  # <sweep dir>/<number>, as any trial
        added += 1
    log.info("Trial %d: %d inner points recorded as trials", outer.number, added)
    return added
