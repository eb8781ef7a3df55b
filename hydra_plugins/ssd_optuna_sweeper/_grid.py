"""A grid sampler that visits each point once, in the order the overrides list the values.

Optuna's GridSampler shuffles the grid and calls `study.stop()` (which raises outside
`study.optimize`); the sweeper drives ask/tell itself and wants the order of Hydra's basic sweeper
(first key slowest), so it uses this one. A point is taken once any trial holds it (running,
waiting with fixed params, or finished); two workers racing for the same point are resolved by the
sweeper, which cancels the later-numbered duplicate. Tests: tests/test_sweeper.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from optuna import Study
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState


class OrderedGridSampler(BaseSampler):
    """Grid over `grid` (name -> values), enumerated with the first name varying slowest."""

    def __init__(self, grid: dict[str, Sequence[Any]]) -> None:
        self.names = list(grid)
        self.points = list(itertools.product(*grid.values()))
        self._picked: dict[int, tuple[Any, ...]] = {}

    def point_of(self, trial: FrozenTrial) -> tuple[Any, ...] | None:
        """The grid point a trial holds (its params, or the fixed params of a waiting trial)."""
        params = trial.params or trial.system_attrs.get("fixed_params", {})
        if not all(n in params for n in self.names):
            return None
        return tuple(params[n] for n in self.names)

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {}

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        taken = {
            self.point_of(t)
            for t in study.get_trials(deepcopy=False)
            if t.number != trial.number and not is_void(t)
        }
        free = [p for p in self.points if p not in taken]
        # With no free point left (a race with another worker) hand out the first one; the
        # sweeper sees the duplicate and cancels it.
        self._picked[trial.number] = free[0] if free else self.points[0]

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: Any
    ) -> Any:
        if param_name not in self.names:
            raise ValueError(
                f"the grid sampler only knows {self.names}; '{param_name}' (from "
                "custom_search_space?) cannot be sampled on a grid"
            )
        return self._picked[trial.number][self.names.index(param_name)]

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._picked.pop(trial.number, None)


def is_void(trial: FrozenTrial) -> bool:
    """True for trials that hold no budget: cancelled surplus, or abandoned and retried."""
    return "surplus" in trial.user_attrs or "retried" in trial.user_attrs
